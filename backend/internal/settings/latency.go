package settings

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// MaxLatency bounds every latency parameter and every sampled delay.
const MaxLatency = time.Hour

// Rand is the randomness a Latency sample and the error-rate decision draw from.
// *math/rand/v2.Rand satisfies it. Implementations need not be safe for
// concurrent use; callers serialise access.
type Rand interface {
	Float64() float64
	NormFloat64() float64
	ExpFloat64() float64
}

// LatencyKind names the shape of a latency distribution.
type LatencyKind string

// The latency distributions. The zero LatencyKind means no added latency.
const (
	LatencyNone    LatencyKind = ""
	LatencyFixed   LatencyKind = "fixed"   // always A
	LatencyNormal  LatencyKind = "normal"  // mean A, standard deviation B, clamped to [0, MaxLatency]
	LatencyUniform LatencyKind = "uniform" // uniform in [A, B)
	LatencyExp     LatencyKind = "exp"     // exponential with mean A, clamped to MaxLatency
	// LatencyTail is a heavy tail: A for most requests, B for TailShare of
	// them (The Tail at Scale's shape: 1% of requests far slower).
	LatencyTail LatencyKind = "tail"
)

// TailShare is the share of requests that get the slow latency of a "tail"
// distribution.
const TailShare = 0.01

// Latency is a delay distribution added before a request is served.
// The zero value adds no delay. Values are immutable and safe to share.
type Latency struct {
	Kind LatencyKind
	A, B time.Duration
}

// ParseLatency parses a latency specification:
//
//	""  "0"  "none"            no added latency
//	"20ms"  "fixed:20ms"       a fixed delay
//	"normal:MEAN,STDDEV"       normal distribution, e.g. "normal:20ms,5ms" (clamped at 0)
//	"uniform:MIN,MAX"          uniform distribution, e.g. "uniform:10ms,50ms"
//	"exp:MEAN"                 exponential distribution, e.g. "exp:20ms"
//	"tail:BASE,SLOW"           BASE, except 1% of requests (TailShare) get SLOW, e.g. "tail:2ms,100ms"
//
// Kinds are case-insensitive ("exponential" is accepted for "exp"); durations use
// Go syntax (time.ParseDuration) and must lie in [0, MaxLatency].
func ParseLatency(s string) (Latency, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "0", "none":
		return Latency{}, nil
	}
	kind, params, hasKind := strings.Cut(s, ":")
	if !hasKind {
		kind, params = string(LatencyFixed), s
	}
	kind = strings.ToLower(strings.TrimSpace(kind))
	want := map[string]int{"fixed": 1, "normal": 2, "uniform": 2, "exp": 1, "exponential": 1, "tail": 2}
	n, ok := want[kind]
	if !ok {
		return Latency{}, fmt.Errorf("unknown distribution %q (want fixed, normal, uniform, exp or tail)", kind)
	}
	args := strings.Split(params, ",")
	if len(args) != n {
		return Latency{}, fmt.Errorf("%s takes %d duration(s), got %d", kind, n, len(args))
	}
	ds := make([]time.Duration, len(args))
	for i, a := range args {
		d, err := parseDuration(a)
		if err != nil {
			return Latency{}, err
		}
		ds[i] = d
	}
	var l Latency
	switch kind {
	case "fixed":
		l = Latency{Kind: LatencyFixed, A: ds[0]}
	case "normal":
		l = Latency{Kind: LatencyNormal, A: ds[0], B: ds[1]}
	case "uniform":
		if ds[1] < ds[0] {
			return Latency{}, fmt.Errorf("uniform: max %s is less than min %s", ds[1], ds[0])
		}
		l = Latency{Kind: LatencyUniform, A: ds[0], B: ds[1]}
	case "tail":
		l = Latency{Kind: LatencyTail, A: ds[0], B: ds[1]}
	default:
		l = Latency{Kind: LatencyExp, A: ds[0]}
	}
	return l.normalize(), nil
}

// normalize maps distributions that always yield zero to the zero Latency and
// degenerate ones to fixed, so that String round-trips.
func (l Latency) normalize() Latency {
	switch {
	case l.Kind == LatencyNormal && l.B == 0, (l.Kind == LatencyUniform || l.Kind == LatencyTail) && l.A == l.B:
		l = Latency{Kind: LatencyFixed, A: l.A}
	case l.Kind == LatencyExp && l.A == 0:
		l = Latency{}
	}
	if l.Kind == LatencyFixed && l.A == 0 {
		l = Latency{}
	}
	return l
}

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (want e.g. 20ms)", s)
	}
	if d < 0 || d > MaxLatency {
		return 0, fmt.Errorf("duration %s out of range [0, %s]", d, MaxLatency)
	}
	return d, nil
}

// String returns the canonical form, which ParseLatency accepts: "0s" for no
// latency, "20ms" for fixed, "normal:20ms,5ms", "uniform:10ms,50ms", "exp:20ms".
func (l Latency) String() string {
	switch l.Kind {
	case LatencyNone:
		return "0s"
	case LatencyFixed:
		return l.A.String()
	case LatencyNormal, LatencyUniform, LatencyTail:
		return fmt.Sprintf("%s:%s,%s", l.Kind, l.A, l.B)
	default:
		return fmt.Sprintf("%s:%s", l.Kind, l.A)
	}
}

// Random reports whether Sample draws from its Rand.
func (l Latency) Random() bool {
	return l.Kind == LatencyNormal || l.Kind == LatencyUniform || l.Kind == LatencyExp || l.Kind == LatencyTail
}

// Sample returns one delay from the distribution, in [0, MaxLatency]. It draws
// one value from r for random kinds and none otherwise.
func (l Latency) Sample(r Rand) time.Duration {
	var f float64
	switch l.Kind {
	case LatencyNone:
		return 0
	case LatencyFixed:
		return l.A
	case LatencyNormal:
		f = float64(l.A) + r.NormFloat64()*float64(l.B)
	case LatencyUniform:
		f = float64(l.A) + r.Float64()*float64(l.B-l.A)
	case LatencyExp:
		f = r.ExpFloat64() * float64(l.A)
	case LatencyTail:
		if r.Float64() < TailShare {
			return l.B
		}
		return l.A
	}
	switch {
	case math.IsNaN(f) || f <= 0:
		return 0
	case f >= float64(MaxLatency):
		return MaxLatency
	}
	return time.Duration(f)
}

// MarshalJSON encodes the latency as its canonical string.
func (l Latency) MarshalJSON() ([]byte, error) {
	return json.Marshal(l.String())
}

// UnmarshalJSON accepts a specification string (see ParseLatency) or a number of
// seconds for a fixed delay (fractions allowed, e.g. 0.05).
func (l *Latency) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := ParseLatency(s)
		if err != nil {
			return err
		}
		*l = v
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return errors.New("want a string such as \"20ms\" or \"normal:20ms,5ms\", or a number of seconds")
	}
	if math.IsNaN(secs) || secs < 0 || secs > MaxLatency.Seconds() {
		return fmt.Errorf("%v seconds out of range [0, %s]", secs, MaxLatency)
	}
	*l = Latency{Kind: LatencyFixed, A: time.Duration(secs * float64(time.Second))}.normalize()
	return nil
}
