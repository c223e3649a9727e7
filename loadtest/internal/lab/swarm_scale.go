package lab

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// scaleWait bounds the wait for a scaled service's tasks.
const scaleWait = 2 * time.Minute

// Scale sets the service's replica count with a service update, and waits
// until the new tasks run (or, scaling down, until the surplus tasks are no
// longer wanted: Swarm stops them, highest slots first). Restore scales back
// to the count before the first Scale.
func (s *Swarm) Scale(ctx context.Context, service string, n int) (added, removed []Container, err error) {
	if service == "" {
		service = s.cfg.Service
	}
	sv, err := s.service(ctx, service)
	if err != nil {
		return nil, nil, err
	}
	if sv.Spec.Mode.Replicated == nil || sv.Spec.Mode.Replicated.Replicas == nil {
		return nil, nil, fmt.Errorf("scale %s: it is not a replicated service (a global service runs one task per node)", service)
	}
	s.mu.Lock()
	if _, ok := s.scaled[service]; !ok {
		s.scaled[service] = *sv.Spec.Mode.Replicated.Replicas
	}
	s.mu.Unlock()
	if n < 0 {
		return nil, nil, fmt.Errorf("scale %s to %d: negative replica count", service, n)
	}
	return s.scale(ctx, service, uint64(n))
}

func (s *Swarm) scale(ctx context.Context, service string, n uint64) (added, removed []Container, err error) {
	before, err := s.List(ctx, service)
	if err != nil {
		return nil, nil, err
	}
	// Retry on a version conflict: Swarm itself updates the service object.
	for attempt := 0; ; attempt++ {
		sv, err := s.service(ctx, service)
		if err != nil {
			return nil, nil, err
		}
		spec := sv.Spec
		spec.Mode.Replicated.Replicas = &n
		_, err = s.cli.ServiceUpdate(ctx, sv.ID, client.ServiceUpdateOptions{Version: sv.Version, Spec: spec})
		if err == nil {
			break
		}
		if attempt >= 3 || !strings.Contains(err.Error(), "update out of sequence") {
			return nil, nil, fmt.Errorf("scale %s to %d: %w", service, n, err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, scaleWait)
	defer cancel()
	was := map[string]bool{}
	for _, c := range before {
		was[c.ID] = true
	}
	for {
		now, err := s.List(wctx, service)
		if err != nil {
			return nil, nil, fmt.Errorf("scale %s to %d: %w", service, n, err)
		}
		running := 0
		for _, c := range now {
			if c.State == string(swarm.TaskStateRunning) {
				running++
			}
		}
		if len(now) == int(n) && running == int(n) {
			is := map[string]bool{}
			for _, c := range now {
				is[c.ID] = true
				if !was[c.ID] {
					added = append(added, c)
				}
			}
			for _, c := range before {
				if !is[c.ID] {
					removed = append(removed, c)
				}
			}
			s.cfg.Log.Info("scaled service", "service", service, "replicas", n, "added", len(added), "removed", len(removed))
			return added, removed, nil
		}
		if !pause(wctx, 100*time.Millisecond) {
			return nil, nil, fmt.Errorf("scale %s to %d: %d of %d tasks running: %w", service, n, running, n, wctx.Err())
		}
	}
}

// WaitHealthy waits until every current task of service that this lab has
// not taken down runs (with a health check, Swarm marks a task running once
// it passes) and its container, where this node can see it, is healthy; and
// at least one does. It polls every 250 ms until ctx ends.
func (s *Swarm) WaitHealthy(ctx context.Context, service string) ([]Container, error) {
	if service == "" {
		service = s.cfg.Service
	}
	var waiting []string
	for {
		all, err := s.List(ctx, service)
		if err != nil {
			return nil, err
		}
		var ready []Container
		waiting = waiting[:0]
		s.mu.Lock()
		for _, c := range all {
			_, paused := s.paused[c.ID]
			_, cut := s.cut[c.ID]
			switch {
			case paused || cut:
			case c.State == string(swarm.TaskStateRunning) && (c.Health == "" || c.Health == "healthy"):
				ready = append(ready, c)
			default:
				waiting = append(waiting, fmt.Sprintf("%s (%s %s)", c.Name, c.State, c.Health))
			}
		}
		s.mu.Unlock()
		if len(waiting) == 0 && len(ready) > 0 {
			return ready, nil
		}
		if !pause(ctx, 250*time.Millisecond) {
			if len(ready) == 0 && len(waiting) == 0 {
				return nil, fmt.Errorf("wait for %s healthy: %w: no tasks", service, ctx.Err())
			}
			return ready, fmt.Errorf("wait for %s healthy: %w: still waiting for %s", service, ctx.Err(), strings.Join(waiting, ", "))
		}
	}
}

// Drain sets the node's availability to drain: Swarm stops its tasks and
// starts them on the other nodes. node is a host name or a node ID (or a
// unique prefix of one). It refuses a node that runs the stack's balancer
// (the load would stop) and a swarm with no other active node to move the
// tasks to. It returns how many of the stack's tasks ran there, and waits
// until none does. Restore puts the node's availability back (Swarm does not
// move tasks back by itself).
func (s *Swarm) Drain(ctx context.Context, node string) (string, error) {
	res, err := s.cli.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return "", fmt.Errorf("drain %s: list nodes: %w", node, err)
	}
	var target *swarm.Node
	var names []string
	active := 0
	for i, n := range res.Items {
		names = append(names, n.Description.Hostname+" ("+shortID(n.ID)+")")
		if n.Spec.Availability == swarm.NodeAvailabilityActive && n.Status.State == swarm.NodeStateReady {
			active++
		}
		if n.Description.Hostname == node || n.ID == node || (len(node) >= 6 && strings.HasPrefix(n.ID, node)) {
			if target != nil && target.ID != n.ID {
				return "", fmt.Errorf("drain %s: more than one node matches (%s, %s)", node, target.Description.Hostname, n.Description.Hostname)
			}
			target = &res.Items[i]
		}
	}
	slices.Sort(names)
	if target == nil {
		return "", fmt.Errorf("drain %s: no such node in the swarm; nodes: %s", node, strings.Join(names, ", "))
	}
	if target.Spec.Availability == swarm.NodeAvailabilityDrain {
		return "", fmt.Errorf("drain %s: the node is drained already", node)
	}
	if active <= 1 || (active == 2 && target.Spec.Availability != swarm.NodeAvailabilityActive) {
		return "", fmt.Errorf("drain %s: no other active node to move its tasks to (the swarm has %d nodes: %s); drain needs two or more",
			node, len(res.Items), strings.Join(names, ", "))
	}
	all, err := s.List(ctx, "")
	if err != nil {
		return "", err
	}
	var here []Container
	for _, c := range all {
		if c.Node != target.ID {
			continue
		}
		if c.Service == "lb" {
			return "", fmt.Errorf("drain %s: the node runs the balancer (%s); the load would stop: drain a node that runs backends only", node, c.Name)
		}
		here = append(here, c)
	}
	s.mu.Lock()
	if _, ok := s.drained[target.ID]; !ok {
		s.drained[target.ID] = target.Spec.Availability
	}
	s.disrupted = true
	s.mu.Unlock()
	if err := s.setAvailability(ctx, target.ID, swarm.NodeAvailabilityDrain); err != nil {
		return "", err
	}
	s.cfg.Log.Info("drained node", "node", target.Description.Hostname, "tasks", len(here))
	for {
		now, err := s.List(ctx, "")
		if err != nil {
			return "", err
		}
		left := 0
		for _, c := range now {
			if c.Node == target.ID {
				left++
			}
		}
		if left == 0 {
			return fmt.Sprintf("node %s: %d tasks of the stack moved away", target.Description.Hostname, len(here)), nil
		}
		if !pause(ctx, 250*time.Millisecond) {
			return "", fmt.Errorf("drain %s: %d tasks still there: %w", node, left, ctx.Err())
		}
	}
}

// setAvailability sets a node's availability, retrying on a version conflict.
func (s *Swarm) setAvailability(ctx context.Context, id string, a swarm.NodeAvailability) error {
	for attempt := 0; ; attempt++ {
		n, err := s.cli.NodeInspect(ctx, id, client.NodeInspectOptions{})
		if err != nil {
			return fmt.Errorf("set node %s %s: %w", id, a, err)
		}
		spec := n.Node.Spec
		spec.Availability = a
		_, err = s.cli.NodeUpdate(ctx, id, client.NodeUpdateOptions{Version: n.Node.Version, Spec: spec})
		if err == nil {
			return nil
		}
		if attempt >= 3 || !strings.Contains(err.Error(), "update out of sequence") {
			return fmt.Errorf("set node %s %s: %w", id, a, err)
		}
	}
}
