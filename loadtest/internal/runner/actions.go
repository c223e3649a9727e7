package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/lblab/lblab/loadtest/internal/balancer"
	"github.com/lblab/lblab/loadtest/internal/lab"
	"github.com/lblab/lblab/loadtest/internal/report"
	"github.com/lblab/lblab/loadtest/internal/scenario"
)

var (
	errNoLab      = errors.New("docker is not available")
	errNoBalancer = errors.New("the balancer's admin API is not configured")
)

// do runs one action that started at at, and records how it went.
func (r *runner) do(ctx context.Context, a scenario.Action, start, at time.Time) report.Action {
	rec := report.Action{
		PlannedMs: ms(a.At.D()), AtMs: ms(at.Sub(start)),
		Action: a.Action, Phase: a.Phase, Note: a.Note,
	}
	var c lab.Container
	var err error
	l, bal := r.opts.Lab, r.balancer()
	service := cmp.Or(a.Service, r.s.Lab.Service)

	if scenario.NeedsTarget(a.Action) {
		t, perr := scenario.ParseTarget(a.Target, r.s.Lab.Service)
		rec.Target = a.Target
		if perr == nil {
			rec.Target = t.String()
		}
		ref := lab.Ref{Service: t.Service, Number: t.Number, Name: t.Name}
		switch {
		case perr != nil:
			err = perr
		case l == nil:
			err = errNoLab
		default:
			switch a.Action {
			case scenario.Kill:
				c, err = l.Kill(ctx, ref)
			case scenario.Stop:
				c, err = l.Stop(ctx, ref, a.Timeout.D())
			case scenario.Start:
				c, err = l.Start(ctx, ref)
			case scenario.Restart:
				c, err = l.Restart(ctx, ref, a.Timeout.D())
			case scenario.Pause:
				c, err = l.Pause(ctx, ref)
			case scenario.Unpause:
				c, err = l.Unpause(ctx, ref)
			case scenario.Disconnect:
				c, err = l.Disconnect(ctx, ref)
			case scenario.Reconnect:
				c, err = l.Reconnect(ctx, ref)
			case scenario.Configure:
				patch, _ := scenario.ConfigurePatch(a.Settings) // checked when the scenario loaded
				rec.Detail = settingsLine(patch)
				if cl, ok := l.(Configurer); ok {
					c, err = cl.Configure(ctx, ref, cmp.Or(a.Port, scenario.DefaultBackendPort), patch)
				} else {
					err = errors.New("configure needs the Compose lab (the backends' control API)")
				}
			}
		}
	}

	switch a.Action {
	case scenario.Scale:
		n := 0
		if a.Replicas != nil {
			n = *a.Replicas
		}
		rec.Detail = fmt.Sprintf("%s to %d", service, n)
		if l == nil {
			err = errNoLab
			break
		}
		var added, removed []lab.Container
		added, removed, err = l.Scale(ctx, service, n)
		r.remember(added...)
		r.remember(removed...)
		for _, c := range added {
			rec.Added = append(rec.Added, c.Hostname)
			rec.AddedNames = append(rec.AddedNames, c.Name)
		}
		for _, c := range removed {
			rec.Removed = append(rec.Removed, c.Hostname)
			rec.RemovedNames = append(rec.RemovedNames, c.Name)
		}
	case scenario.Drain:
		rec.Detail, err = r.drain(ctx, a.Node)
	case scenario.SetAlgorithm:
		rec.Detail = a.Algorithm
		if bal == nil {
			err = errNoBalancer
			break
		}
		err = bal.SetAlgorithm(ctx, a.Algorithm)
	case scenario.WaitHealthy:
		timeout := cmp.Or(a.Timeout.D(), scenario.DefaultWaitTimeout)
		wctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if l == nil {
			err = errNoLab
			break
		}
		var ready []lab.Container
		ready, err = l.WaitHealthy(wctx, service)
		rec.Detail = fmt.Sprintf("%d %s healthy", len(ready), service)
		if err == nil && bal != nil {
			var st balancer.Status
			st, err = bal.WaitHealthy(wctx, len(ready))
			if err == nil {
				rec.Detail += fmt.Sprintf(", balancer: %d healthy", st.Healthy())
			}
		}
	}

	if c.ID != "" {
		rec.Container, rec.Backend = c.Name, c.Hostname
		r.remember(c)
	}
	rec.TookMs = ms(time.Since(at))
	if err != nil {
		rec.Error = err.Error()
	}
	return rec
}

// settingsLine formats a configure patch as "error_rate=0.3 latency=200ms".
func settingsLine(patch map[string]any) string {
	keys := slices.Sorted(maps.Keys(patch))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, patch[k])
	}
	return strings.Join(parts, " ")
}
