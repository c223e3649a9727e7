package scenario

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Configure sets a backend's run-time settings through its control API
// (PUT /__backend__/config): latency, error rate and status, capacity,
// overflow and health. What it changed is put back at the end of the run
// and on Ctrl-C, as the other actions are.
const Configure = "configure"

// BackendSettings lists the settings configure may set, in documentation
// order.
var BackendSettings = []string{"latency", "error_rate", "error_status", "capacity", "overflow", "healthy"}

// DefaultBackendPort is the port of the backends' control API in the lab.
const DefaultBackendPort = 8000

var latencyRe = regexp.MustCompile(`^(?i)(?:(fixed|normal|uniform|exp|exponential|tail):)?\s*([^,]+?)\s*(?:,\s*([^,]+?)\s*)?$`)

// ConfigurePatch checks a configure action's settings and returns the JSON
// patch for the backend's control API (error_rate as a fraction), or one
// error per bad setting, naming it.
func ConfigurePatch(settings map[string]any) (map[string]any, []error) {
	var errs []error
	bad := func(key string, v any, msg string) {
		errs = append(errs, fmt.Errorf("settings.%s: %v: %s", key, v, msg))
	}
	out := map[string]any{}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := settings[k]
		switch k {
		case "latency":
			s := strings.TrimSpace(fmt.Sprint(v))
			if err := checkLatency(s); err != nil {
				bad(k, v, err.Error())
				continue
			}
			out[k] = s
		case "error_rate":
			f, err := fraction(v)
			if err != nil {
				bad(k, v, err.Error())
				continue
			}
			out[k] = f
		case "error_status":
			n, ok := integer(v)
			if !ok || n < 400 || n > 599 {
				bad(k, v, "must be an HTTP error status, 400 to 599")
				continue
			}
			out[k] = n
		case "capacity":
			n, ok := integer(v)
			if !ok || n < 0 || n > 1_000_000 {
				bad(k, v, "must be a number of requests served at once, 0 (no limit) to 1000000")
				continue
			}
			out[k] = n
		case "overflow":
			s := strings.ToLower(fmt.Sprint(v))
			if s != "queue" && s != "reject" {
				bad(k, v, `must be "queue" or "reject"`)
				continue
			}
			out[k] = s
		case "healthy":
			b, ok := v.(bool)
			if !ok {
				bad(k, v, "must be true or false")
				continue
			}
			out[k] = b
		default:
			errs = append(errs, fmt.Errorf("settings.%s: unknown setting%s; known: %s", k, didYouMean(k, BackendSettings, ""), strings.Join(BackendSettings, ", ")))
		}
	}
	return out, errs
}

// checkLatency checks a latency as the backend takes it: "200ms",
// "fixed:200ms", "normal:MEAN,SD", "uniform:MIN,MAX", "exp:MEAN",
// "tail:BASE,SLOW" (1% of requests SLOW), "none".
func checkLatency(s string) error {
	switch strings.ToLower(s) {
	case "", "0", "none":
		return nil
	}
	m := latencyRe.FindStringSubmatch(s)
	if m == nil {
		return fmt.Errorf("not a latency: want e.g. 200ms, normal:20ms,5ms, uniform:10ms,50ms, exp:20ms or tail:2ms,100ms")
	}
	kind := strings.ToLower(cmpOr(m[1], "fixed"))
	want := map[string]int{"fixed": 1, "exp": 1, "exponential": 1, "normal": 2, "uniform": 2, "tail": 2}[kind]
	params := slices.DeleteFunc([]string{m[2], m[3]}, func(p string) bool { return p == "" })
	if len(params) != want {
		return fmt.Errorf("%s takes %d duration(s)", kind, want)
	}
	for _, p := range params {
		d, err := time.ParseDuration(p)
		if err != nil || d < 0 || d > 10*time.Minute {
			return fmt.Errorf("%q is not a duration between 0 and 10m", p)
		}
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// fraction reads 0.3 or "30%" as 0.3, within [0, 1].
func fraction(v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case int:
		f = float64(x)
	case float64:
		f = x
	case string:
		s := strings.TrimSpace(x)
		pct := strings.HasSuffix(s, "%")
		g, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
		if err != nil {
			return 0, fmt.Errorf("must be a fraction (0.3) or a percentage (\"30%%\")")
		}
		f = g
		if pct {
			f /= 100
		}
	default:
		return 0, fmt.Errorf("must be a fraction (0.3) or a percentage (\"30%%\")")
	}
	if math.IsNaN(f) || f < 0 || f > 1 {
		return 0, fmt.Errorf("must be between 0 and 1 (0%% and 100%%)")
	}
	return f, nil
}

func integer(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case float64:
		if x == math.Trunc(x) {
			return int(x), true
		}
	}
	return 0, false
}
