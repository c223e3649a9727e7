package report

import (
	"math"

	"github.com/lblab/lblab/loadtest/internal/attack"
	"github.com/lblab/lblab/loadtest/internal/scenario"
)

// Derived holds the figures of one fault (a backend taken out by kill, stop,
// pause, disconnect or scale down) or one addition (a scale up), as seen from
// the client.
type Derived struct {
	// Event says what happened, e.g. "kill backend:2".
	Event     string `json:"event"`
	Backend   string `json:"backend"`
	Container string `json:"container,omitempty"`
	// FaultMs is when the backend was taken out (absent for additions).
	FaultMs *float64 `json:"fault_ms,omitempty"`
	// FailedRequests counts the requests that failed from the fault's second
	// until the backend served again (or the run ended); SlowRequests those
	// that succeeded but slowly (caught by the fault, then retried), counted
	// by the second until the balancer showed the backend down.
	FailedRequests int `json:"failed_requests"`
	SlowRequests   int `json:"slow_requests"`
	// LastServedMs is the last request the backend served after the fault,
	// LastFailedMs the last failed request before the recovery action, and
	// LastSlowMs the last slow one sent before the balancer showed the
	// backend down (before the recovery action when that is not known).
	LastServedMs *float64 `json:"last_served_ms,omitempty"`
	LastFailedMs *float64 `json:"last_failed_ms,omitempty"`
	LastSlowMs   *float64 `json:"last_slow_ms,omitempty"`
	// DetectMs is the time to detect as the client sees it: from the fault
	// until the backend got no more traffic and no request failed or was
	// slow any more (the latest of the three, slow as LastSlowMs).
	DetectMs *float64 `json:"time_to_detect_ms,omitempty"`
	// BalancerDownMs is the time from the fault until the balancer's status
	// showed the backend down or gone (polled; absent without the admin API).
	BalancerDownMs *float64 `json:"balancer_down_ms,omitempty"`
	// BalancerUpMs is the time from the recovery action until the balancer's
	// status showed the backend up.
	BalancerUpMs *float64 `json:"balancer_up_ms,omitempty"`
	// Recovery names the action that brought the backend back (or added it).
	Recovery   string   `json:"recovery,omitempty"`
	RecoveryMs *float64 `json:"recovery_ms,omitempty"`
	// FirstServedMs is its first request after that action; RecoverMs the
	// time to recover, from the action to that request.
	FirstServedMs *float64 `json:"first_served_ms,omitempty"`
	RecoverMs     *float64 `json:"time_to_recover_ms,omitempty"`
}

// BalancerEvent is a change in a backend's state as the balancer's status
// showed it (the first sample of each backend included).
type BalancerEvent struct {
	AtMs float64 `json:"at_ms"`
	// Name and Address are as the balancer lists the backend.
	Name    string `json:"name"`
	Address string `json:"address"`
	// Backend is its X-Backend name, where known.
	Backend string `json:"backend,omitempty"`
	// State is up, down, draining, disabled, or gone (no longer listed).
	State string `json:"state"`
}

// Derive computes the failover figures of a run from its per-second series,
// the actions as they ran and the balancer's state changes (may be nil).
// endMs is when the run ended.
func Derive(seconds []attack.Second, actions []Action, events []BalancerEvent, endMs float64) []Derived {
	var out []Derived
	for i, a := range actions {
		if a.Error != "" {
			continue
		}
		switch {
		case scenario.IsFault(a.Action) && a.Backend != "":
			d := Derived{Event: a.Label(), Backend: a.Backend, Container: a.Container, FaultMs: ptr(a.AtMs)}
			until := endMs
			for _, r := range actions[i+1:] {
				if r.Error == "" && scenario.IsRecovery(r.Action) && r.Backend == a.Backend {
					until = r.AtMs
					d.Recovery, d.RecoveryMs = r.Label(), ptr(r.AtMs)
					break
				}
			}
			balancerTimes(&d, events)
			fault(&d, seconds, a.AtMs, until, endMs, true)
			out = append(out, d)
		case a.Action == scenario.Scale:
			for j, b := range a.Removed {
				d := Derived{Event: a.Label(), Backend: b, Container: at(a.RemovedNames, j), FaultMs: ptr(a.AtMs)}
				// A replica scaled away is drained, not lost: slow requests
				// after it are the load on the others, not its doing.
				balancerTimes(&d, events)
				fault(&d, seconds, a.AtMs, endMs, endMs, false)
				out = append(out, d)
			}
			for j, b := range a.Added {
				d := Derived{Event: a.Label(), Backend: b, Container: at(a.AddedNames, j), Recovery: a.Label(), RecoveryMs: ptr(a.AtMs)}
				if first, ok := firstServed(seconds, b, a.AtMs); ok {
					d.FirstServedMs, d.RecoverMs = ptr(first), ptr(first-a.AtMs)
				}
				balancerTimes(&d, events)
				out = append(out, d)
			}
		}
	}
	return out
}

// fault fills the figures of a fault at faultMs, whose recovery action (if
// any) ran at until. withSlow counts slow requests as caused by the fault:
// those sent before the balancer showed the backend down (d.BalancerDownMs,
// filled first), or before until when it is not known. A request sent after
// that never met the backend, so its slowness was the machine's (beside two
// busy loops, a 2.5 s stall of every backend 5.5 s after a kill counted as
// the kill's and made the time to detect 6.1 s, where the balancer had seen
// the backend down in 269 ms).
func fault(d *Derived, seconds []attack.Second, faultMs, until, endMs float64, withSlow bool) {
	slowUntil := until
	if d.BalancerDownMs != nil {
		slowUntil = min(until, faultMs+*d.BalancerDownMs)
	}
	lastServed, lastFailed, lastSlow := math.Inf(-1), math.Inf(-1), math.Inf(-1)
	for _, s := range seconds {
		lo, hi := float64(s.T)*1000, float64(s.T+1)*1000
		if hi <= faultMs || lo >= until {
			continue
		}
		if b, ok := s.Backends[d.Backend]; ok && b.Requests > b.Errors && b.LastMs >= faultMs && b.LastMs < until {
			lastServed = math.Max(lastServed, b.LastMs)
		}
		if withSlow && s.Slow > 0 {
			switch {
			case s.LastSlowMs >= faultMs && s.LastSlowMs < slowUntil:
				lastSlow = math.Max(lastSlow, s.LastSlowMs)
			case s.FirstSlowMs >= faultMs && s.FirstSlowMs < slowUntil:
				lastSlow = math.Max(lastSlow, s.FirstSlowMs) // the last before slowUntil is later, unknown
			}
		}
		if s.Errors > 0 {
			switch {
			case s.LastErrorMs >= faultMs && s.LastErrorMs < until:
				lastFailed = math.Max(lastFailed, s.LastErrorMs)
			case s.FirstErrorMs >= faultMs && s.FirstErrorMs < until:
				lastFailed = math.Max(lastFailed, s.FirstErrorMs)
			}
		}
	}
	if !math.IsInf(lastServed, -1) {
		d.LastServedMs = ptr(lastServed)
	}
	if !math.IsInf(lastFailed, -1) {
		d.LastFailedMs = ptr(lastFailed)
	}
	if !math.IsInf(lastSlow, -1) {
		d.LastSlowMs = ptr(lastSlow)
	}
	d.DetectMs = ptr(math.Max(0, max(lastServed, lastFailed, lastSlow)-faultMs))

	// Failures count until the backend served again, or to the end.
	failEnd := endMs
	if d.RecoveryMs != nil {
		failEnd = until
		if first, ok := firstServed(seconds, d.Backend, until); ok {
			d.FirstServedMs, d.RecoverMs = ptr(first), ptr(first-until)
			failEnd = first
		}
	}
	for _, s := range seconds {
		lo, hi := float64(s.T)*1000, float64(s.T+1)*1000
		if hi > faultMs && lo <= failEnd {
			d.FailedRequests += s.Errors
			if withSlow && lo < slowUntil {
				d.SlowRequests += s.Slow // by the second: all of the one slowUntil falls in
			}
		}
	}
}

// balancerTimes fills the balancer's view: the first state change of the
// backend after the fault (to anything but up) and after the recovery (to up).
func balancerTimes(d *Derived, events []BalancerEvent) {
	if d.Backend == "" {
		return
	}
	if d.FaultMs != nil {
		for _, e := range events {
			if e.Backend == d.Backend && e.AtMs >= *d.FaultMs && e.State != "up" {
				d.BalancerDownMs = ptr(e.AtMs - *d.FaultMs)
				break
			}
		}
	}
	if d.RecoveryMs != nil {
		from := *d.RecoveryMs
		for _, e := range events {
			if e.Backend == d.Backend && e.AtMs >= from && e.State == "up" {
				d.BalancerUpMs = ptr(e.AtMs - from)
				break
			}
		}
	}
}

// firstServed finds the first request backend served at or after fromMs.
func firstServed(seconds []attack.Second, backend string, fromMs float64) (float64, bool) {
	for _, s := range seconds {
		if float64(s.T+1)*1000 <= fromMs {
			continue
		}
		b, ok := s.Backends[backend]
		if !ok || b.Requests == b.Errors {
			continue
		}
		if b.FirstMs >= fromMs {
			return b.FirstMs, true
		}
		if b.LastMs >= fromMs {
			// The second straddles fromMs; its first request after it is
			// somewhere in (fromMs, LastMs]: take LastMs as the bound.
			return b.LastMs, true
		}
	}
	return 0, false
}

// ptr returns a time in ms to the microsecond (differences of times to
// the microsecond are not, in floating point).
func ptr(ms float64) *float64 {
	ms = attack.Round(ms, 3)
	return &ms
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}
