package lab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// ErrSwarmCannot wraps actions Swarm has no way to do.
var ErrSwarmCannot = errors.New("swarm cannot do this")

// startWait bounds Start's wait for Swarm's replacement of a task.
const startWait = time.Minute

// Kill sends SIGKILL to the task's container. Swarm replaces the task (after
// the service's restart delay); Replacements reports when.
func (s *Swarm) Kill(ctx context.Context, ref Ref) (Container, error) {
	c, err := s.Find(ctx, ref)
	if err != nil {
		return c, err
	}
	if err := s.local(c, "kill"); err != nil {
		return c, err
	}
	at := time.Now()
	if _, err := s.cli.ContainerKill(ctx, c.ID, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return c, fmt.Errorf("kill %s: %w", c.Name, err)
	}
	s.watch("kill", c, at)
	s.cfg.Log.Info("killed task container", "container", c.Name)
	return s.refresh(ctx, c), nil
}

// Stop stops the task's container gracefully (SIGTERM, SIGKILL after the
// stop timeout, or timeout when positive). Swarm replaces the task.
func (s *Swarm) Stop(ctx context.Context, ref Ref, timeout time.Duration) (Container, error) {
	c, err := s.Find(ctx, ref)
	if err != nil {
		return c, err
	}
	if err := s.local(c, "stop"); err != nil {
		return c, err
	}
	secs := s.base.seconds(timeout)
	at := time.Now()
	if _, err := s.cli.ContainerStop(ctx, c.ID, client.ContainerStopOptions{Timeout: &secs}); err != nil {
		return c, fmt.Errorf("stop %s: %w", c.Name, err)
	}
	s.watch("stop", c, at)
	s.cfg.Log.Info("stopped task container", "container", c.Name)
	return s.refresh(ctx, c), nil
}

// Start cannot start a task's container again (Swarm has replaced it, or
// will): it waits, up to a minute, until the slot runs a task whose
// container is not one this lab took down, and returns it.
func (s *Swarm) Start(ctx context.Context, ref Ref) (Container, error) {
	if ref.Number == 0 {
		c, err := s.Find(ctx, ref)
		if err != nil {
			return c, fmt.Errorf("start %s: %w (after a kill, name the task by its slot, e.g. backend:2)", ref, err)
		}
		ref = Ref{Service: c.Service, Number: c.Number}
	}
	ctx, cancel := context.WithTimeout(ctx, startWait)
	defer cancel()
	c, err := s.waitSlot(ctx, ref)
	if err != nil {
		return c, fmt.Errorf("start %s: Swarm replaces tasks itself; waiting for its replacement: %w", ref, err)
	}
	return c, nil
}

// waitSlot waits until the slot of ref runs a task that this lab did not
// take down and whose container is running (and healthy, where it has a
// health check).
func (s *Swarm) waitSlot(ctx context.Context, ref Ref) (Container, error) {
	if ref.Service == "" {
		ref.Service = s.cfg.Service
	}
	for {
		all, err := s.List(ctx, ref.Service)
		if err != nil {
			return Container{}, err
		}
		for _, c := range all {
			if c.Number == ref.Number && !s.takenDown(c.ID) && c.State == string(swarm.TaskStateRunning) && (c.Health == "" || c.Health == "healthy") {
				return c, nil
			}
		}
		if !pause(ctx, 100*time.Millisecond) {
			return Container{}, fmt.Errorf("slot %s: %w", slotString(ref.Service, ref.Number), ctx.Err())
		}
	}
}

// takenDown reports whether this lab took the container down.
func (s *Swarm) takenDown(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.replacements {
		if r.Old.ID == id {
			return true
		}
	}
	_, cut := s.cut[id]
	return cut
}

// Restart is an action Swarm cannot do: it replaces tasks, it does not
// restart them in place. Scenarios that restart are refused when they load
// against a stack; this is the same error at run time.
func (s *Swarm) Restart(_ context.Context, ref Ref, _ time.Duration) (Container, error) {
	return Container{}, fmt.Errorf("restart %s: %w: Swarm replaces tasks, it does not restart one in place (kill or stop it, then start waits for the new task)", ref, ErrSwarmCannot)
}

// Pause freezes the task container's processes (Swarm keeps the task; its
// health check fails). Restore unpauses it.
func (s *Swarm) Pause(ctx context.Context, ref Ref) (Container, error) {
	c, err := s.Find(ctx, ref)
	if err != nil {
		return c, err
	}
	if err := s.local(c, "pause"); err != nil {
		return c, err
	}
	if _, err := s.cli.ContainerPause(ctx, c.ID, client.ContainerPauseOptions{}); err != nil {
		return c, fmt.Errorf("pause %s: %w", c.Name, err)
	}
	s.mu.Lock()
	s.paused[c.ID] = c
	s.mu.Unlock()
	s.cfg.Log.Info("paused task container", "container", c.Name)
	return s.refreshUntil(ctx, c, "paused"), nil
}

// Unpause thaws a paused task container.
func (s *Swarm) Unpause(ctx context.Context, ref Ref) (Container, error) {
	c, err := s.Find(ctx, ref)
	if err != nil {
		return c, err
	}
	if err := s.local(c, "unpause"); err != nil {
		return c, err
	}
	if _, err := s.cli.ContainerUnpause(ctx, c.ID, client.ContainerUnpauseOptions{}); err != nil {
		return c, fmt.Errorf("unpause %s: %w", c.Name, err)
	}
	s.forget(s.paused, c.ID)
	s.cfg.Log.Info("unpaused task container", "container", c.Name)
	return s.refreshUntil(ctx, c, "running"), nil
}

// Disconnect cuts the task's container off its networks (the stack's
// overlay): the balancer's connections to it fail, and Swarm's DNS stops
// answering with its address. Swarm keeps the task (its health check runs
// inside the container and still passes).
func (s *Swarm) Disconnect(ctx context.Context, ref Ref) (Container, error) {
	c, err := s.Find(ctx, ref)
	if err != nil {
		return c, err
	}
	if err := s.local(c, "disconnect"); err != nil {
		return c, err
	}
	if len(c.Networks) == 0 {
		return c, fmt.Errorf("disconnect %s: it is on no network", c.Name)
	}
	s.mu.Lock()
	s.cut[c.ID] = c // recorded first: Restore replaces it even if a disconnect below fails
	s.mu.Unlock()
	for _, net := range slices.Sorted(slices.Values(c.Networks)) {
		if _, err := s.cli.NetworkDisconnect(ctx, net, client.NetworkDisconnectOptions{Container: c.ID, Force: true}); err != nil {
			return c, fmt.Errorf("disconnect %s from %s: %w", c.Name, net, err)
		}
	}
	s.cfg.Log.Info("disconnected task container", "container", c.Name, "networks", len(c.Networks))
	return s.refresh(ctx, c), nil
}

// Reconnect cannot put a task back: Swarm adds a task to its service's DNS
// only when it creates the task's endpoint, so a re-attached container
// stays unknown to the balancer. It replaces the task instead (stops its
// container; Swarm starts a new task in the slot) and waits, up to a minute,
// for the new task, which it returns.
func (s *Swarm) Reconnect(ctx context.Context, ref Ref) (Container, error) {
	c, err := s.findCut(ctx, ref)
	if err != nil {
		return c, err
	}
	if err := s.replace(ctx, c, "reconnect"); err != nil {
		return c, err
	}
	wctx, cancel := context.WithTimeout(ctx, startWait)
	defer cancel()
	n, err := s.waitSlot(wctx, Ref{Service: c.Service, Number: c.Number})
	if err != nil {
		return c, fmt.Errorf("reconnect %s: waiting for the task that replaces it: %w", c.Name, err)
	}
	return n, nil
}

// findCut returns the container of ref that this lab cut off.
func (s *Swarm) findCut(ctx context.Context, ref Ref) (Container, error) {
	s.mu.Lock()
	var cut []Container
	for _, c := range s.cut {
		cut = append(cut, c)
	}
	s.mu.Unlock()
	for _, c := range cut {
		if (ref.Number > 0 && c.Number == ref.Number && c.Service == cmpService(ref.Service, s.cfg.Service)) ||
			(ref.Name != "" && matchTask(c, ref.Name)) {
			return c, nil
		}
	}
	c, err := s.Find(ctx, ref)
	if err != nil {
		return c, err
	}
	return c, fmt.Errorf("reconnect %s: it was not disconnected by this run", c.Name)
}

func cmpService(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// replace stops a container this lab cut off, so that Swarm replaces its
// task, and forgets the cut.
func (s *Swarm) replace(ctx context.Context, c Container, why string) error {
	secs := 1 // it is cut off: nothing to finish
	at := time.Now()
	if _, err := s.cli.ContainerStop(ctx, c.ID, client.ContainerStopOptions{Timeout: &secs}); err != nil && !isGone(err) {
		return fmt.Errorf("replace %s (stop its container): %w", c.Name, err)
	}
	s.forget(s.cut, c.ID)
	s.watch(why, c, at)
	s.cfg.Log.Info("replacing task", "container", c.Name, "because", why)
	return nil
}

func isGone(err error) bool {
	return strings.Contains(err.Error(), "No such container") || strings.Contains(err.Error(), "is not running")
}

// watch records that c's task was taken down at at, and follows its slot
// until Swarm runs a new task there (or the watch limit passes).
func (s *Swarm) watch(action string, c Container, at time.Time) {
	r := &Replacement{Action: action, Service: c.Service, Slot: c.Number, Old: c, At: at}
	s.mu.Lock()
	s.replacements = append(s.replacements, r)
	s.disrupted = true
	s.mu.Unlock()
	if c.Number == 0 {
		return // a global service's task is replaced on its node: no slot to follow
	}
	s.wg.Go(func() {
		ctx, cancel := context.WithTimeout(s.ctx, replaceWatchLimit)
		defer cancel()
		full := s.fullName(c.Service)
		f := client.Filters{}.Add("service", full)
		for {
			res, err := s.cli.TaskList(ctx, client.TaskListOptions{Filters: f})
			if err == nil {
				for _, t := range res.Items {
					if t.Slot != c.Number || t.Status.ContainerStatus == nil || t.Status.ContainerStatus.ContainerID == c.ID ||
						t.CreatedAt.Before(at) || t.Status.State != swarm.TaskStateRunning {
						continue
					}
					n := s.taskContainer(ctx, t, c.Service, true)
					s.mu.Lock()
					r.New, r.Created, r.Running = n, t.CreatedAt, t.Status.Timestamp
					s.mu.Unlock()
					s.cfg.Log.Info("task replaced", "old", c.Name, "new", n.Name, "after", t.Status.Timestamp.Sub(at).Round(time.Millisecond))
					return
				}
			}
			if !pause(ctx, 100*time.Millisecond) {
				return
			}
		}
	})
}

// refresh re-reads c's container after a change; on error it returns c.
func (s *Swarm) refresh(ctx context.Context, c Container) Container {
	in, err := s.cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
	if err != nil {
		return c
	}
	n := toContainer(in.Container)
	c.State, c.Health, c.Networks = n.State, n.Health, n.Networks
	return c
}

// refreshUntil is refresh, polling for up to two seconds until the daemon
// reports state.
func (s *Swarm) refreshUntil(ctx context.Context, c Container, state string) Container {
	deadline := time.Now().Add(2 * time.Second)
	for {
		c = s.refresh(ctx, c)
		if c.State == state || time.Now().After(deadline) || !pause(ctx, 20*time.Millisecond) {
			return c
		}
	}
}
