// Package settings holds the test backend's run-time settings: the values that
// flags set at start and the control API changes while the backend runs.
package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
)

// MaxCapacity bounds the concurrency limit.
const MaxCapacity = 1_000_000

// Overflow says what happens to a request that arrives while Capacity requests
// are already being served.
type Overflow string

// The overflow policies.
const (
	OverflowQueue  Overflow = "queue"  // wait (FIFO) until a slot frees or the client goes away
	OverflowReject Overflow = "reject" // answer 503 at once
)

// ParseOverflow parses "queue" or "reject".
func ParseOverflow(s string) (Overflow, error) {
	switch o := Overflow(strings.ToLower(strings.TrimSpace(s))); o {
	case OverflowQueue, OverflowReject:
		return o, nil
	}
	return "", fmt.Errorf("must be %q or %q", OverflowQueue, OverflowReject)
}

// UnmarshalJSON accepts "queue" or "reject".
func (o *Overflow) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("must be %q or %q", OverflowQueue, OverflowReject)
	}
	v, err := ParseOverflow(s)
	if err != nil {
		return err
	}
	*o = v
	return nil
}

// Settings are the backend's behaviour knobs. A Settings value is never mutated
// once published: the server swaps whole copies (copy-on-write), so a request
// sees one consistent snapshot.
type Settings struct {
	// Latency is added before each workload request is served. Default none.
	Latency Latency `json:"latency"`
	// ErrorRate is the probability in [0, 1] that a workload request is answered
	// with ErrorStatus instead. Default 0.
	ErrorRate float64 `json:"error_rate"`
	// ErrorStatus is the status of injected errors, 400-599. Default 500.
	ErrorStatus int `json:"error_status"`
	// ResponseSize pads the JSON answer to this many bytes; 0 (default) means no padding.
	ResponseSize Size `json:"response_size"`
	// Capacity limits concurrent workload requests; 0 (default) means unlimited.
	Capacity int `json:"capacity"`
	// Overflow is the policy beyond Capacity. Default queue.
	Overflow Overflow `json:"overflow"`
	// Healthy makes /health answer 200; false makes it answer 503. Default true.
	Healthy bool `json:"healthy"`
}

// Default returns the settings of a backend started without flags.
func Default() Settings {
	return Settings{ErrorStatus: 500, Overflow: OverflowQueue, Healthy: true}
}

// FieldError is a bad value for one setting.
type FieldError struct {
	Field string // JSON name, e.g. "error_rate"
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Fields returns the names of the settings that err (from Validate or Apply) blames.
func Fields(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		var fe *FieldError
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		} else if errors.As(err, &fe) {
			out = append(out, fe.Field)
		}
	}
	walk(err)
	return out
}

// CheckErrorRate reports whether r is a valid error rate.
func CheckErrorRate(r float64) error {
	if math.IsNaN(r) || r < 0 || r > 1 {
		return errors.New("must be between 0 and 1")
	}
	return nil
}

// CheckErrorStatus reports whether c is a valid injected-error status.
func CheckErrorStatus(c int) error {
	if c < 400 || c > 599 {
		return errors.New("must be an HTTP error status between 400 and 599")
	}
	return nil
}

// CheckCapacity reports whether c is a valid concurrency limit.
func CheckCapacity(c int) error {
	if c < 0 || c > MaxCapacity {
		return fmt.Errorf("must be between 0 (unlimited) and %d", MaxCapacity)
	}
	return nil
}

// Validate checks every field and joins one FieldError per bad field; each
// message ends with the bad value.
func (s Settings) Validate() error {
	var errs []error
	add := func(field string, value any, err error) {
		if err != nil {
			errs = append(errs, &FieldError{Field: field, Err: fmt.Errorf("%w (got %v)", err, value)})
		}
	}
	add("error_rate", s.ErrorRate, CheckErrorRate(s.ErrorRate))
	add("error_status", s.ErrorStatus, CheckErrorStatus(s.ErrorStatus))
	add("capacity", s.Capacity, CheckCapacity(s.Capacity))
	_, err := checkSize(float64(s.ResponseSize))
	add("response_size", int64(s.ResponseSize), err)
	_, err = ParseOverflow(string(s.Overflow))
	add("overflow", fmt.Sprintf("%q", s.Overflow), err)
	switch s.Latency.Kind {
	case LatencyNone, LatencyFixed, LatencyNormal, LatencyUniform, LatencyExp, LatencyTail:
		if s.Latency.A < 0 || s.Latency.B < 0 || s.Latency.A > MaxLatency || s.Latency.B > MaxLatency {
			add("latency", s.Latency, fmt.Errorf("durations must lie in [0, %s]", MaxLatency))
		}
	default:
		add("latency", fmt.Sprintf("%q", s.Latency.Kind), errors.New("unknown distribution"))
	}
	return errors.Join(errs...)
}

// Apply returns a copy of s with the fields present in the JSON object patch
// replaced, e.g. {"latency":"50ms","error_rate":0.1,"healthy":false}. Fields
// absent from patch keep their values. Every bad or unknown field is reported as
// a FieldError (joined); on error s is returned unchanged.
func (s Settings) Apply(patch []byte) (Settings, error) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(patch))
	if err := dec.Decode(&fields); err != nil {
		return s, fmt.Errorf("decode settings: want a JSON object: %w", err)
	}
	if dec.More() {
		return s, errors.New("decode settings: trailing data after the JSON object")
	}
	next := s
	targets := map[string]any{
		"latency":       &next.Latency,
		"error_rate":    &next.ErrorRate,
		"error_status":  &next.ErrorStatus,
		"response_size": &next.ResponseSize,
		"capacity":      &next.Capacity,
		"overflow":      &next.Overflow,
		"healthy":       &next.Healthy,
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		target, ok := targets[name]
		if !ok {
			known := slices.Sorted(maps.Keys(targets))
			errs = append(errs, &FieldError{Field: name, Err: fmt.Errorf("unknown setting (known: %s)", strings.Join(known, ", "))})
			continue
		}
		if err := json.Unmarshal(fields[name], target); err != nil {
			errs = append(errs, &FieldError{Field: name, Err: fmt.Errorf("bad value %s: %w", short(fields[name]), cleanJSONErr(err))})
		}
	}
	// Range checks, for the fields that decoded.
	reported := Fields(errors.Join(errs...))
	if err, ok := next.Validate().(interface{ Unwrap() []error }); ok {
		for _, e := range err.Unwrap() {
			if !slices.Contains(reported, e.(*FieldError).Field) {
				errs = append(errs, e)
			}
		}
	}
	slices.SortStableFunc(errs, func(a, b error) int {
		return strings.Compare(a.(*FieldError).Field, b.(*FieldError).Field)
	})
	if err := errors.Join(errs...); err != nil {
		return s, err
	}
	return next, nil
}

// cleanJSONErr turns encoding/json's type errors into a short phrase.
func cleanJSONErr(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		switch te.Type.Kind() {
		case reflect.Bool:
			return errors.New("want true or false")
		case reflect.Int, reflect.Int64:
			return errors.New("want a whole number")
		case reflect.Float64:
			return errors.New("want a number")
		}
		return fmt.Errorf("want a %s", te.Type)
	}
	return err
}

func short(b json.RawMessage) string {
	s := string(b)
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}
