package runner

import (
	"context"
	"strings"
	"time"

	"github.com/lblab/lblab/loadtest/internal/report"
)

// pollEvery is how often the balancer's status is read during a run.
const pollEvery = 250 * time.Millisecond

// poll reads the balancer's status until ctx ends and returns every change
// of a backend's state (the first sample of each backend included). It gives
// up quietly if the status cannot be read: the figures it feeds are extras.
//
// It also records the balancer's gray-failure counters at every sample into
// gray (when the balancer reports them), for the per-second figures.
func (r *runner) poll(ctx context.Context, start time.Time, gray *[]graySample) []report.BalancerEvent {
	var out []report.BalancerEvent
	type key struct{ name, address string }
	last := map[key]string{}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	failures := 0
	for {
		st, err := r.balancer().Status(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			failures++
			r.log.Debug("poll balancer status", "err", err)
			if failures >= 5 && len(last) == 0 {
				r.log.Info("balancer status not readable; figures from it are left out", "err", err)
				return out
			}
		case err == nil:
			at := ms(time.Since(start))
			if g := st.GrayCounts(); g != nil && gray != nil {
				*gray = append(*gray, graySample{atMs: at, counts: g})
			}
			seen := map[key]bool{}
			for _, b := range st.Backends {
				k := key{b.Name, b.Address}
				seen[k] = true
				state := b.State
				switch {
				case state == "":
					state = map[bool]string{true: "up", false: "down"}[b.Healthy]
				case state == "up" && !b.Healthy:
					state = "down"
				case state == "up" && b.Ejected:
					state = "ejected" // taken out as an outlier
				}
				if last[k] != state {
					last[k] = state
					out = append(out, report.BalancerEvent{AtMs: at, Name: b.Name, Address: b.Address, State: state})
				}
			}
			for k, state := range last {
				if !seen[k] && state != "gone" {
					last[k] = "gone"
					out = append(out, report.BalancerEvent{AtMs: at, Name: k.name, Address: k.address, State: "gone"})
				}
			}
		}
		select {
		case <-ctx.Done():
			return out
		case <-tick.C:
		}
	}
}

// nameEvents fills in the X-Backend name of each event's backend, from the
// balancer's name for it: the container name (as reverse DNS gives it), with
// the port and any domain dropped.
func (r *runner) nameEvents(events []report.BalancerEvent) []report.BalancerEvent {
	if events == nil {
		return []report.BalancerEvent{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range events {
		host := e.Name
		if i := strings.LastIndex(host, ":"); i > 0 {
			host = host[:i]
		}
		if x, ok := r.seen[host]; ok { // a Swarm task: <stack>_<service>.<slot>.<task id>
			events[i].Backend = x
			continue
		}
		host, _, _ = strings.Cut(host, ".")
		if x, ok := r.seen[host]; ok {
			events[i].Backend = x
		}
	}
	return events
}

// grayCounts reads the balancer's gray-failure counters (nil when it has
// none or cannot be read).
func (r *runner) grayCounts(ctx context.Context) map[string]float64 {
	b := r.balancer()
	if b == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := b.Status(ctx)
	if err != nil {
		r.log.Debug("read gray-failure counters", "err", err)
		return nil
	}
	return st.GrayCounts()
}

// grayDiff is what the counters grew by over a run (nil without both).
func grayDiff(before, after map[string]float64) map[string]float64 {
	if before == nil || after == nil {
		return nil
	}
	out := make(map[string]float64, len(after))
	for k, v := range after {
		out[k] = v - before[k]
	}
	return out
}

// graySample is the balancer's gray-failure counters at a time of the run.
type graySample struct {
	atMs   float64
	counts map[string]float64
}

// graySeconds turns samples into what the counters grew by in each of n
// seconds (the last sample at or before each second's end, less the one
// before it). Nil without samples.
func graySeconds(samples []graySample, n int) []report.GraySecond {
	if len(samples) == 0 || n == 0 {
		return nil
	}
	out := make([]report.GraySecond, n)
	at := func(sec int) map[string]float64 { // counters at the end of second sec
		var last map[string]float64
		for _, s := range samples {
			if s.atMs > float64(sec+1)*1000 {
				break
			}
			last = s.counts
		}
		return last
	}
	prev := samples[0].counts
	for i := range out {
		cur := at(i)
		if cur == nil {
			continue
		}
		out[i] = report.GraySecond{
			Retries: cur["retries"] - prev["retries"], Hedges: cur["hedges"] - prev["hedges"],
			TryTimeouts: cur["try_timeouts"] - prev["try_timeouts"], Ejections: cur["ejections"] - prev["ejections"],
		}
		prev = cur
	}
	return out
}
