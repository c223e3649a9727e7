package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/lblab/lblab/loadtest/internal/attack"
	"github.com/lblab/lblab/loadtest/internal/lab"
	"github.com/lblab/lblab/loadtest/internal/report"
	"github.com/lblab/lblab/loadtest/internal/scenario"
)

var _ Lab = (*lab.Swarm)(nil)

// Load sends a run's load from elsewhere than this process: the workers of a
// distributed run (package dist). Attack starts the attack cfg describes and
// returns its results, with timestamps on this process's clock, and the time
// the attack began; the channel is closed when the attack is over.
type Load interface {
	Attack(ctx context.Context, cfg attack.Config) (<-chan *vegeta.Result, time.Time, error)
}

// Distributed is a Load that says, after each attack, which workers sent it.
type Distributed interface {
	Load
	// Workers describes the last attack's workers.
	Workers() *report.Workers
}

// drainer is a lab that can drain a node (a Swarm stack).
type drainer interface {
	Drain(ctx context.Context, node string) (string, error)
}

// replacer is a lab whose orchestrator replaces the tasks taken down.
type replacer interface {
	Replacements() []lab.Replacement
}

var (
	_ drainer  = (*lab.Swarm)(nil)
	_ replacer = (*lab.Swarm)(nil)
)

var errNotSwarm = errors.New("drain acts on a Swarm node, and the lab is not a Swarm stack (--lab swarm)")

// AttackConfig returns the attack a run of s sends, named label.
func AttackConfig(s *scenario.Scenario, label string) attack.Config {
	return attack.Config{
		URL: s.Target, Method: s.Method, Header: header(s.Headers), Body: s.Body, Rate: s.Rate, Concurrency: s.Concurrency,
		Requests: uint64(s.Requests), Duration: s.Duration.D(), Timeout: s.Timeout.D(), Name: label,
		NoKeepAlive: !s.KeepsAlive(), Arrivals: s.Arrivals, Seed: s.Seed,
	}
}

// startLoad starts the run's load: from the workers of opts.Load, else from
// this process.
func (r *runner) startLoad(ctx context.Context, cfg attack.Config) (<-chan *vegeta.Result, time.Time, error) {
	if r.opts.Load != nil {
		return r.opts.Load.Attack(ctx, cfg)
	}
	start := time.Now()
	results, err := attack.Run(ctx, cfg)
	return results, start, err
}

// finishLoad records the workers of a distributed run; a worker that died
// makes the run partial.
func (r *runner) finishLoad(run *report.Run) {
	d, ok := r.opts.Load.(Distributed)
	if !ok {
		return
	}
	if run.Workers = d.Workers(); run.Workers != nil && run.Workers.Partial {
		run.Partial = true
	}
}

func anyPartial(runs []report.Run) bool {
	for i := range runs {
		if runs[i].Partial {
			return true
		}
	}
	return false
}

// drain drains a Swarm node.
func (r *runner) drain(ctx context.Context, node string) (string, error) {
	d, ok := r.opts.Lab.(drainer)
	if !ok {
		return "node " + node, errNotSwarm
	}
	return d.Drain(ctx, node)
}

// orchestrator records the tasks Swarm replaced after this run, between
// start and end, took them down, and when their replacements served.
func (r *runner) orchestrator(run *report.Run, start, end time.Time) {
	rp, ok := r.opts.Lab.(replacer)
	if !ok {
		return
	}
	for _, x := range rp.Replacements() {
		if x.At.Before(start) || x.At.After(end) {
			continue
		}
		rec := report.Replacement{
			Event: fmt.Sprintf("%s %s:%d", x.Action, x.Service, x.Slot), Service: x.Service, Slot: x.Slot,
			Old: x.Old.Name, OldBackend: x.Old.Hostname, FaultMs: ms(x.At.Sub(start)),
		}
		if x.New.ID != "" && !x.Running.After(end) {
			rec.New, rec.NewBackend = x.New.Name, x.New.Hostname
			rec.CreatedMs = new(ms(x.Created.Sub(start)))
			rec.RunningMs = new(ms(x.Running.Sub(start)))
			rec.ReplaceMs = new(ms(x.Running.Sub(x.At)))
			r.remember(x.New)
			if run.Containers != nil && x.New.Hostname != "" {
				run.Containers[x.New.Hostname] = x.New.Name
			}
		}
		run.Replacements = append(run.Replacements, rec)
	}
	report.FillServed(run)
}
