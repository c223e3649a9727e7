package runner

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lblab/lblab/loadtest/internal/attack"
	"github.com/lblab/lblab/loadtest/internal/lab"
	"github.com/lblab/lblab/loadtest/internal/report"
	"github.com/lblab/lblab/loadtest/internal/scenario"
)

// evaluate checks the scenario's expectations against a run.
func (r *runner) evaluate(ctx context.Context, run *report.Run) []report.Outcome {
	exp := r.s.Expect
	out := []report.Outcome{}

	if len(run.Actions) > 0 {
		var failed []string
		for _, a := range run.Actions {
			if a.Error != "" {
				failed = append(failed, a.Label()+": "+a.Error)
			}
		}
		o := report.Outcome{Check: "actions", Scope: "timeline", Limit: "all succeed", Passed: len(failed) == 0,
			Actual: fmt.Sprintf("%d of %d ok", len(run.Actions)-len(failed), len(run.Actions))}
		if len(failed) > 0 {
			o.Actual = strings.Join(failed, "; ")
		}
		out = append(out, o)
	}

	out = append(out, limits(exp.Limits, "total", run.Total)...)

	names := make([]string, 0, len(exp.Phases))
	for name := range exp.Phases {
		names = append(names, name)
	}
	// In the order the phases run.
	order := r.s.Phases()
	slices.SortFunc(names, func(a, b string) int { return slices.Index(order, a) - slices.Index(order, b) })
	for _, name := range names {
		pe := exp.Phases[name]
		scope := "phase " + name
		i := slices.IndexFunc(run.Phases, func(p attack.PhaseStats) bool { return p.Name == name })
		if i < 0 {
			out = append(out, report.Outcome{Check: "phase ran", Scope: scope, Limit: "ran", Actual: "did not run", Passed: false})
			continue
		}
		ph := run.Phases[i]
		out = append(out, limits(pe.Limits, scope, ph.Stats)...)
		for _, t := range pe.NoTrafficTo {
			n, who := r.served(ctx, run, t, ph)
			out = append(out, report.Outcome{Check: "no_traffic_to", Scope: scope, Limit: r.targetName(t) + " serves 0",
				Actual: fmt.Sprintf("%s served %d", who, n), Passed: n == 0})
		}
		for _, t := range pe.TrafficTo {
			n, who := r.served(ctx, run, t, ph)
			out = append(out, report.Outcome{Check: "traffic_to", Scope: scope, Limit: r.targetName(t) + " serves > 0",
				Actual: fmt.Sprintf("%s served %d", who, n), Passed: n > 0})
		}
	}

	for _, d := range run.Derived {
		if exp.MaxTimeToDetect != nil && d.FaultMs != nil && d.DetectMs != nil {
			lim := exp.MaxTimeToDetect.D()
			out = append(out, report.Outcome{Check: "max_time_to_detect", Scope: d.Event, Limit: lim.String(),
				Actual: report.FormatMs(*d.DetectMs), Passed: *d.DetectMs <= ms(lim)})
		}
		if exp.MaxTimeToRecover != nil && d.RecoveryMs != nil {
			lim := exp.MaxTimeToRecover.D()
			o := report.Outcome{Check: "max_time_to_recover", Scope: d.Event, Limit: lim.String(), Actual: "never served again"}
			if d.RecoverMs != nil {
				o.Actual, o.Passed = report.FormatMs(*d.RecoverMs), *d.RecoverMs <= ms(lim)
			}
			out = append(out, o)
		}
	}
	return out
}

// targetName normalises a target as written ("2") to "backend:2".
func (r *runner) targetName(target string) string {
	if t, err := scenario.ParseTarget(target, r.s.Lab.Service); err == nil {
		return t.String()
	}
	return target
}

// served counts the requests the backend selected by target served in the
// phase ph, and names it.
func (r *runner) served(ctx context.Context, run *report.Run, target string, ph attack.PhaseStats) (int, string) {
	xs := r.resolve(ctx, run, target, ph)
	if len(xs) == 0 {
		return 0, target + " (unknown)"
	}
	n := 0
	for _, x := range xs {
		n += ph.Backends[x]
	}
	return n, run.BackendLabel(xs[0])
}

// resolve maps a target to the X-Backend names it had during the phase ph:
// the backend of the last action on it that ran before the phase began (or
// began it), else those of every action on it, else the lab's. A target can
// name different backends over a run: after a kill, Swarm's new task in the
// slot is another backend.
func (r *runner) resolve(ctx context.Context, run *report.Run, target string, ph attack.PhaseStats) []string {
	t, err := scenario.ParseTarget(target, r.s.Lab.Service)
	if err != nil {
		return nil
	}
	var out, then []string
	for _, a := range run.Actions {
		if a.Target != t.String() || a.Backend == "" {
			continue
		}
		if !slices.Contains(out, a.Backend) {
			out = append(out, a.Backend)
		}
		if a.AtMs <= ph.StartMs || (a.Phase != "" && a.Phase == ph.Name) {
			then = []string{a.Backend}
		}
	}
	if len(then) > 0 {
		return then
	}
	if len(out) > 0 {
		return out
	}
	if x, ok := r.recall(t); ok {
		return []string{x}
	}
	if r.opts.Lab == nil {
		return nil
	}
	c, err := r.opts.Lab.Find(ctx, lab.Ref{Service: t.Service, Number: t.Number, Name: t.Name})
	if err != nil || c.Hostname == "" {
		return nil
	}
	if run.Containers != nil {
		run.Containers[c.Hostname] = c.Name
	}
	return []string{c.Hostname}
}

// limits checks bounds on a set of requests.
func limits(l scenario.Limits, scope string, st attack.Stats) []report.Outcome {
	var out []report.Outcome
	add := func(check, limit, actual string, ok bool) {
		out = append(out, report.Outcome{Check: check, Scope: scope, Limit: limit, Actual: actual, Passed: ok})
	}
	none := st.Requests == 0
	if l.MaxErrors != nil {
		add("max_errors", strconv.Itoa(*l.MaxErrors), strconv.Itoa(st.Errors), st.Errors <= *l.MaxErrors)
	}
	if l.MaxErrorRate != nil {
		add("max_error_rate", l.MaxErrorRate.String(), pct(st.ErrorRate, st.Requests), st.ErrorRate <= float64(*l.MaxErrorRate))
	}
	if l.MinSuccessRate != nil {
		add("min_success_rate", l.MinSuccessRate.String(), pct(st.SuccessRate, st.Requests), !none && st.SuccessRate >= float64(*l.MinSuccessRate))
	}
	for _, c := range []struct {
		name  string
		limit *scenario.Duration
		got   float64
	}{{"max_p50", l.MaxP50, st.Latency.P50}, {"max_p95", l.MaxP95, st.Latency.P95}, {"max_p99", l.MaxP99, st.Latency.P99}} {
		if c.limit == nil {
			continue
		}
		actual := report.FormatMs(c.got)
		if none {
			actual = "no requests"
		}
		add(c.name, c.limit.String(), actual, !none && c.got <= ms(c.limit.D()))
	}
	if l.MinRate != nil {
		add("min_rate", fmt.Sprintf("%g/s", *l.MinRate), fmt.Sprintf("%.1f/s", st.Rate), st.Rate >= *l.MinRate)
	}
	return out
}

func pct(f float64, n int) string {
	if n == 0 {
		return "no requests"
	}
	return fmt.Sprintf("%.2f%%", 100*f)
}
