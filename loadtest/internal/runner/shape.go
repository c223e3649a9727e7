package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/lblab/lblab/loadtest/internal/backends"
	"github.com/lblab/lblab/loadtest/internal/report"
)

// ErrShape is wrapped by the error of a lab in another shape than the
// scenario's lab.shape.
var ErrShape = errors.New("the lab is not in the shape the scenario needs")

// measureShape returns the lab as it is: running containers per Compose
// service (with Docker) and the settings of the backends the balancer lists
// (with the admin API). What cannot be measured is left out.
func (r *runner) measureShape(ctx context.Context) (*report.LabShape, error) {
	out := &report.LabShape{}
	if _, swarm := r.opts.Lab.(drainer); swarm {
		// A stack's services and overlay network are not the Compose
		// lab's: its shape is Swarm's to keep.
		out.Swarm, out.Project = true, r.opts.Lab.Project()
		return out, nil
	}
	if r.opts.Lab != nil {
		all, err := r.opts.Lab.List(ctx, "")
		if err != nil {
			return nil, err
		}
		out.Project = r.opts.Lab.Project()
		out.Services = map[string]int{}
		for _, c := range all {
			if _, ok := out.Services[c.Service]; !ok {
				out.Services[c.Service] = 0
			}
			if c.State == "running" {
				out.Services[c.Service]++
			}
		}
	}
	if r.opts.Balancer != nil {
		st, err := r.opts.Balancer.Status(ctx)
		if err != nil {
			return nil, err
		}
		// The backends' own settings only when the scenario needs them: a
		// lab whose backends the host cannot reach would wait on each.
		read := (r.s.Lab.Shape != nil && r.s.Lab.Shape.Backend != nil) || r.s.Supermarket != nil
		for _, b := range st.Backends {
			if !read {
				out.Backends = append(out.Backends, report.BackendShape{Address: b.Address, Healthy: b.Healthy, Config: backends.Config{Name: b.Name}})
				continue
			}
			c, err := r.backends().Config(ctx, b.Address)
			if err != nil {
				// Not a bin/backend, or not reachable from here: record
				// what the balancer says.
				c = backends.Config{Name: b.Name}
			}
			out.Backends = append(out.Backends, report.BackendShape{Address: b.Address, Healthy: b.Healthy, Config: c, Error: errString(err)})
		}
	}
	return out, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// checkShape compares the lab with the scenario's lab.shape and returns an
// error naming every difference (nil without a shape).
func (r *runner) checkShape(got *report.LabShape) error {
	sh := r.s.Lab.Shape
	if sh == nil {
		return nil
	}
	if got.Swarm {
		fmt.Fprintln(r.out, "note: lab.shape is checked for Compose labs; a Swarm stack keeps its own shape")
		return nil
	}
	var diffs []string
	if len(sh.Services) > 0 {
		if got.Services == nil {
			return fmt.Errorf("%w: it names Compose services, and Docker is not available", ErrShape)
		}
		names := slices.Sorted(maps.Keys(got.Services))
		for _, name := range slices.Sorted(maps.Keys(sh.Services)) {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			want, listed := sh.Services[name]
			n := got.Services[name]
			switch {
			case !listed && n > 0:
				diffs = append(diffs, fmt.Sprintf("service %s has %d running, the scenario wants none (left from another scenario?)", name, n))
			case listed && n != want:
				diffs = append(diffs, fmt.Sprintf("service %s has %d running, the scenario wants %d", name, n, want))
			}
		}
	}
	if b := sh.Backend; b != nil {
		if r.opts.Balancer == nil {
			return fmt.Errorf("%w: it names backend settings, and the balancer's admin API is not configured (--admin)", ErrShape)
		}
		for _, be := range got.Backends {
			switch {
			case be.Error != "":
				diffs = append(diffs, fmt.Sprintf("backend %s: cannot read its settings: %s", be.Address, be.Error))
			case b.Capacity != nil && be.Config.Capacity != *b.Capacity:
				diffs = append(diffs, fmt.Sprintf("backend %s (%s) has capacity %d, the scenario wants %d", be.Config.Name, be.Address, be.Config.Capacity, *b.Capacity))
			case b.Latency != nil && be.Config.Latency != *b.Latency:
				diffs = append(diffs, fmt.Sprintf("backend %s (%s) has latency %s, the scenario wants %s", be.Config.Name, be.Address, be.Config.Latency, *b.Latency))
			}
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	where := ""
	if got.Project != "" {
		where = " (Compose project " + got.Project + ")"
	}
	return fmt.Errorf("%w%s:\n  - %s\nput the lab in shape first: make scenario-%s does, make up puts the default lab back",
		ErrShape, where, strings.Join(diffs, "\n  - "), r.s.Name)
}
