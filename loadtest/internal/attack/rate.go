package attack

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxRate bounds the rate ParseRate accepts, in requests per second.
const MaxRate = 1_000_000

// ParseRate reads a rate as vegeta's -rate takes it: a number of requests
// per second ("100"), or a count per duration ("100/1s", "50/500ms",
// "6000/1m"; a bare unit means one of it: "100/s"). "0" and "infinity" mean
// no rate: as vegeta, requests go as fast as the workers return (loadtest's
// closed model, with --concurrency workers). The rate must come to a whole
// number of requests per second, at most MaxRate: loadtest paces and
// records whole requests per second.
func ParseRate(s string) (int, error) {
	in := strings.TrimSpace(s)
	bad := func(format string, args ...any) (int, error) {
		return 0, fmt.Errorf("bad rate %q: "+format, append([]any{s}, args...)...)
	}
	if strings.EqualFold(in, "infinity") {
		return 0, nil
	}
	num, per, hasPer := strings.Cut(in, "/")
	n, err := strconv.ParseUint(strings.TrimSpace(num), 10, 63)
	if err != nil {
		return bad("want requests per second (100), a count per duration (100/1s, 50/500ms), or 0 or infinity (no rate: as fast as the workers go)")
	}
	d := time.Second
	if hasPer {
		per = strings.TrimSpace(per)
		dur := per
		if per != "" && (per[0] < '0' || per[0] > '9') && per[0] != '-' && per[0] != '+' && per[0] != '.' {
			dur = "1" + per // "100/s" is 100 per 1s
		}
		if d, err = time.ParseDuration(dur); err != nil {
			return bad("%q is not a duration (e.g. 1s, 500ms, 1m)", per)
		}
		if d <= 0 {
			return bad("the duration must be above 0")
		}
	}
	if n == 0 {
		return 0, nil
	}
	perSec := float64(n) * float64(time.Second) / float64(d)
	if perSec > MaxRate {
		return bad("above the most, %d requests per second", MaxRate)
	}
	if perSec != float64(int(perSec)) || perSec < 1 {
		return bad("%.3g requests per second; the rate must come to a whole number of requests per second, at least 1 (e.g. 100/1s, 50/500ms)", perSec)
	}
	return int(perSec), nil
}
