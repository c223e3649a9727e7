package lab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// Swarm stack labels.
const (
	LabelStack       = "com.docker.stack.namespace"
	LabelSwarmTask   = "com.docker.swarm.task.name"
	LabelSwarmSvc    = "com.docker.swarm.service.name"
	LabelSwarmTaskID = "com.docker.swarm.task.id"
)

// Kinds of lab, as scenario.LabCompose and scenario.LabSwarm name them.
const (
	KindCompose = "compose"
	KindSwarm   = "swarm"
)

// Detect reports the kind of lab that project names on the daemon l talks
// to: KindSwarm when this node is a swarm manager and the swarm has services
// of the stack project, else KindCompose.
func Detect(ctx context.Context, l *Lab) string {
	info, err := l.cli.Info(ctx, client.InfoOptions{})
	if err != nil || info.Info.Swarm.LocalNodeState != swarm.LocalNodeStateActive || !info.Info.Swarm.ControlAvailable {
		return KindCompose
	}
	res, err := l.cli.ServiceList(ctx, client.ServiceListOptions{Filters: client.Filters{}.Add("label", LabelStack+"="+l.cfg.Project)})
	if err != nil || len(res.Items) == 0 {
		return KindCompose
	}
	return KindSwarm
}

// Swarm drives a Docker Swarm stack as Lab drives a Compose project, in
// Swarm's terms: a replica is a task, numbered by its slot; kill and stop act
// on a task's container and Swarm replaces the task (Replacements says when);
// start waits for that replacement; scale updates the service; drain empties
// a node. Container actions (kill, stop, pause, disconnect) reach the
// containers of this node's Docker daemon only; scale and drain act on the
// whole swarm. Restore unpauses, replaces the tasks it cut off, puts nodes
// back in service, scales back, and waits until every service of the stack
// runs its tasks again. It is safe for concurrent use.
type Swarm struct {
	cli    *client.Client
	base   *Lab // owns the client
	cfg    Config
	nodeID string // the node this daemon is

	ctx    context.Context // owns the replacement watchers; ended by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu           sync.Mutex                        // guards the fields below
	paused       map[string]Container              // paused by us, by container ID
	cut          map[string]Container              // disconnected by us, by container ID
	scaled       map[string]uint64                 // service -> replicas before we scaled it
	drained      map[string]swarm.NodeAvailability // node ID -> availability before we drained it
	disrupted    bool                              // a task was taken down: Restore waits for the stack
	known        map[string]Container              // every task container seen, by container ID
	replacements []*Replacement                    // tasks we took down, and what replaced them
}

// Replacement records a task this lab took down (kill, stop, or a reconnect
// that Swarm cannot do in place) and the task Swarm started in its slot.
type Replacement struct {
	Action  string `json:"action"`
	Service string `json:"service"`
	Slot    int    `json:"slot"`
	// Old is the task's container that was taken down, at At.
	Old Container `json:"old"`
	At  time.Time `json:"at"`
	// New is the replacement's container (zero until one is seen). Created
	// is when Swarm created the new task, Running when it entered the
	// running state (with a health check, Swarm keeps a task "starting"
	// until the check passes, so this is when it was healthy).
	New     Container `json:"new"`
	Created time.Time `json:"created"`
	Running time.Time `json:"running"`
}

// replaceWatchLimit bounds the wait for one replacement.
const replaceWatchLimit = 3 * time.Minute

// NewSwarm connects to the Docker daemon (as New) and checks that it is a
// manager of a swarm that runs the stack cfg.Project.
func NewSwarm(ctx context.Context, cfg Config) (*Swarm, error) {
	base, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &Swarm{
		cli: base.cli, base: base, cfg: base.cfg,
		paused: map[string]Container{}, cut: map[string]Container{}, scaled: map[string]uint64{},
		drained: map[string]swarm.NodeAvailability{}, known: map[string]Container{},
	}
	info, err := s.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		_ = base.Close()
		return nil, fmt.Errorf("read docker info: %w", err)
	}
	sw := info.Info.Swarm
	switch {
	case sw.LocalNodeState != swarm.LocalNodeStateActive:
		_ = base.Close()
		return nil, fmt.Errorf("this Docker node is not in a swarm (state %s): no stack %s to drive (make swarm-up SWARM_INIT=1)",
			cmp.Or(string(sw.LocalNodeState), "inactive"), s.cfg.Project)
	case !sw.ControlAvailable:
		_ = base.Close()
		return nil, fmt.Errorf("this Docker node is a swarm worker: the load tester needs a manager's Docker API to drive stack %s (run it on a manager, or set DOCKER_HOST to one)", s.cfg.Project)
	}
	s.nodeID = sw.NodeID
	services, err := s.services(ctx)
	if err != nil {
		_ = base.Close()
		return nil, err
	}
	if len(services) == 0 {
		_ = base.Close()
		return nil, fmt.Errorf("no stack %s in this swarm (deploy it: make swarm-up STACK=%s)", s.cfg.Project, s.cfg.Project)
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return s, nil
}

// Close stops the replacement watchers and releases the client.
func (s *Swarm) Close() error {
	s.cancel()
	s.wg.Wait()
	return s.base.Close()
}

// Project returns the stack name.
func (s *Swarm) Project() string { return s.cfg.Project }

// Kind returns KindSwarm.
func (s *Swarm) Kind() string { return KindSwarm }

// Client returns the Docker client.
func (s *Swarm) Client() *client.Client { return s.cli }

// Version returns the daemon's version and the swarm's size.
func (s *Swarm) Version(ctx context.Context) (string, error) {
	v, err := s.base.Version(ctx)
	if err != nil {
		return "", err
	}
	info, err := s.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return v, nil
	}
	return fmt.Sprintf("%s, swarm of %d nodes (%d managers)", v, info.Info.Swarm.Nodes, info.Info.Swarm.Managers), nil
}

// fullName returns the stack's name of a service ("backend" -> "<stack>_backend").
func (s *Swarm) fullName(service string) string {
	return s.cfg.Project + "_" + cmp.Or(service, s.cfg.Service)
}

// shortName returns a service's name without the stack's prefix.
func (s *Swarm) shortName(full string) string {
	return strings.TrimPrefix(full, s.cfg.Project+"_")
}

// services lists the stack's services.
func (s *Swarm) services(ctx context.Context) ([]swarm.Service, error) {
	res, err := s.cli.ServiceList(ctx, client.ServiceListOptions{Filters: client.Filters{}.Add("label", LabelStack+"="+s.cfg.Project)})
	if err != nil {
		return nil, fmt.Errorf("list services of stack %s: %w", s.cfg.Project, err)
	}
	return res.Items, nil
}

// service reads one service of the stack.
func (s *Swarm) service(ctx context.Context, service string) (swarm.Service, error) {
	res, err := s.cli.ServiceInspect(ctx, s.fullName(service), client.ServiceInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		names := []string{}
		if all, lerr := s.services(ctx); lerr == nil {
			for _, sv := range all {
				names = append(names, s.shortName(sv.Spec.Name))
			}
		}
		slices.Sort(names)
		return swarm.Service{}, fmt.Errorf("no service %s in stack %s; it has: %s", cmp.Or(service, s.cfg.Service), s.cfg.Project, strings.Join(names, ", "))
	}
	if err != nil {
		return swarm.Service{}, fmt.Errorf("inspect service %s: %w", s.fullName(service), err)
	}
	return res.Service, nil
}

// tasks lists the current tasks (desired state running) of service, or of
// every service of the stack when service is "".
func (s *Swarm) tasks(ctx context.Context, service string) ([]swarm.Task, error) {
	ids := map[string]bool{}
	f := client.Filters{}.Add("desired-state", "running")
	if service != "" {
		sv, err := s.service(ctx, service)
		if err != nil {
			return nil, err
		}
		ids[sv.ID] = true
		f.Add("service", sv.ID)
	} else {
		all, err := s.services(ctx)
		if err != nil {
			return nil, err
		}
		for _, sv := range all {
			ids[sv.ID] = true
		}
	}
	res, err := s.cli.TaskList(ctx, client.TaskListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list tasks of stack %s: %w", s.cfg.Project, err)
	}
	// Filters match by prefix, and other stacks' tasks are listed too.
	return slices.DeleteFunc(res.Items, func(t swarm.Task) bool { return !ids[t.ServiceID] }), nil
}

// List returns the containers of the current tasks of service ("" = every
// service of the stack), ordered by service and slot. Containers on other
// nodes are described from the task (no health, networks or host name
// beyond the default).
func (s *Swarm) List(ctx context.Context, service string) ([]Container, error) {
	ts, err := s.tasks(ctx, service)
	if err != nil {
		return nil, err
	}
	names := map[string]string{} // service ID -> short name
	if all, err := s.services(ctx); err == nil {
		for _, sv := range all {
			names[sv.ID] = s.shortName(sv.Spec.Name)
		}
	}
	out := make([]Container, 0, len(ts))
	for _, t := range ts {
		out = append(out, s.taskContainer(ctx, t, cmp.Or(names[t.ServiceID], service), true))
	}
	slices.SortFunc(out, func(a, b Container) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Number, b.Number), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// taskContainer describes t's container: from the task, and with inspect
// from the daemon too when it runs on this node.
func (s *Swarm) taskContainer(ctx context.Context, t swarm.Task, service string, inspect bool) Container {
	c := Container{
		Service: service, Number: t.Slot, State: string(t.Status.State), Node: t.NodeID,
		Name: fmt.Sprintf("%s.%d.%s", s.fullName(service), t.Slot, t.ID),
	}
	if t.Slot == 0 { // a global service's task is named after its node
		c.Name = fmt.Sprintf("%s.%s.%s", s.fullName(service), t.NodeID, t.ID)
	}
	if cs := t.Status.ContainerStatus; cs != nil && cs.ContainerID != "" {
		c.ID = cs.ContainerID
		c.Hostname = cmp.Or(t.Spec.ContainerSpec.Hostname, shortID(cs.ContainerID))
	}
	if inspect && c.ID != "" && t.NodeID == s.nodeID {
		if in, err := s.cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{}); err == nil {
			local := toContainer(in.Container)
			c.Name, c.Hostname, c.State, c.Health, c.Networks = local.Name, local.Hostname, local.State, local.Health, local.Networks
		}
	}
	if c.ID != "" {
		s.mu.Lock()
		s.known[c.ID] = c
		s.mu.Unlock()
	}
	return c
}

func shortID(id string) string { return id[:min(12, len(id))] }

// local reports whether c runs on this node, so that its container can be acted on.
func (s *Swarm) local(c Container, verb string) error {
	switch {
	case c.ID == "":
		return fmt.Errorf("%s %s: the task has no container yet (state %s)", verb, c.Name, c.State)
	case c.Node != s.nodeID:
		return fmt.Errorf("%s %s: the task runs on node %s, and the load tester acts on containers through this node's Docker daemon only (%s); "+
			"run it on that node with DOCKER_HOST, or act on a task of this node", verb, c.Name, c.Node, s.nodeID)
	}
	return nil
}

// Find returns the container ref selects: by slot of a service, or by name
// (the container name, the task name <stack>_<service>.<slot>, a task ID,
// or a container ID prefix of at least 12 characters).
func (s *Swarm) Find(ctx context.Context, ref Ref) (Container, error) {
	if ref.Number > 0 && ref.Service == "" {
		ref.Service = s.cfg.Service
	}
	ts, err := s.tasks(ctx, ref.Service)
	if err != nil {
		return Container{}, err
	}
	names := map[string]string{} // service ID -> short name
	if all, err := s.services(ctx); err == nil {
		for _, sv := range all {
			names[sv.ID] = s.shortName(sv.Spec.Name)
		}
	}
	// Match on what the tasks say; inspect only the container found.
	var have []string
	for _, t := range ts {
		service := cmp.Or(names[t.ServiceID], ref.Service)
		c := s.taskContainer(ctx, t, service, false)
		if (ref.Number > 0 && c.Number == ref.Number) || (ref.Name != "" && matchTask(c, ref.Name)) {
			return s.taskContainer(ctx, t, service, true), nil
		}
		have = append(have, fmt.Sprintf("%s:%d (%s)", c.Service, c.Number, c.Name))
	}
	if len(ts) == 0 {
		return Container{}, fmt.Errorf("find %s: no running tasks in stack %s (is it deployed? make swarm-up)", ref, s.cfg.Project)
	}
	slices.Sort(have)
	return Container{}, fmt.Errorf("find %s: no such task in stack %s; there are %s", ref, s.cfg.Project, strings.Join(have, ", "))
}

func matchTask(c Container, name string) bool {
	taskName := fmt.Sprintf("%s.%d", strings.SplitN(c.Name, ".", 2)[0], c.Number)
	parts := strings.Split(c.Name, ".")
	taskID := parts[len(parts)-1]
	return c.Name == name || taskName == name || taskID == name ||
		(len(name) >= 12 && strings.HasPrefix(c.ID, name))
}

// BackendName maps an X-Backend value (a task container's host name) to the
// container's name, for every task container seen so far; "" if none.
func (s *Swarm) BackendName(xBackend string) string {
	if xBackend == "" {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.known {
		if c.Hostname == xBackend || c.Name == xBackend || (len(xBackend) >= 12 && strings.HasPrefix(c.ID, xBackend)) {
			return c.Name
		}
	}
	return ""
}

// Replacements returns the tasks this lab took down and what replaced them,
// as far as seen so far, in the order they were taken down.
func (s *Swarm) Replacements() []Replacement {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Replacement, len(s.replacements))
	for i, r := range s.replacements {
		out[i] = *r
	}
	return out
}

// Changed reports whether Restore has anything to undo or wait for.
func (s *Swarm) Changed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.disrupted || len(s.paused)+len(s.cut)+len(s.scaled)+len(s.drained) > 0
}

// Restore undoes what this lab changed, in this order: unpause, replace the
// tasks it cut off (Swarm does not put a re-attached task back in its
// service's DNS), put drained nodes back in service, scale services back;
// then it waits until every service of the stack runs its tasks. It keeps
// going after errors and returns them all.
func (s *Swarm) Restore(ctx context.Context) error {
	s.mu.Lock()
	paused := slices.Collect(maps.Values(s.paused))
	cut := slices.Collect(maps.Values(s.cut))
	drained := maps.Clone(s.drained)
	scaled := maps.Clone(s.scaled)
	s.mu.Unlock()

	var errs []error
	for _, c := range paused {
		_, err := s.cli.ContainerUnpause(ctx, c.ID, client.ContainerUnpauseOptions{})
		if err != nil && !cerrdefs.IsNotFound(err) && !isNotPaused(err) {
			errs = append(errs, fmt.Errorf("restore: unpause %s: %w", c.Name, err))
			continue
		}
		s.forget(s.paused, c.ID)
		s.cfg.Log.Info("restored: unpaused", "container", c.Name)
	}
	for _, c := range cut {
		if err := s.replace(ctx, c, "reconnect"); err != nil {
			errs = append(errs, fmt.Errorf("restore: %w", err))
			continue
		}
		s.cfg.Log.Info("restored: replaced the task cut off", "container", c.Name)
	}
	for id, avail := range drained {
		if err := s.setAvailability(ctx, id, avail); err != nil {
			errs = append(errs, fmt.Errorf("restore: %w", err))
			continue
		}
		s.mu.Lock()
		delete(s.drained, id)
		s.mu.Unlock()
		s.cfg.Log.Info("restored: node availability", "node", id, "availability", avail)
	}
	for service, n := range scaled {
		if _, _, err := s.scale(ctx, service, n); err != nil {
			errs = append(errs, fmt.Errorf("restore: %w", err))
			continue
		}
		s.mu.Lock()
		delete(s.scaled, service)
		s.mu.Unlock()
		s.cfg.Log.Info("restored: scaled", "service", service, "replicas", n)
	}
	if err := s.waitConverged(ctx); err != nil {
		errs = append(errs, fmt.Errorf("restore: %w", err))
	} else {
		s.mu.Lock()
		s.disrupted = false
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (s *Swarm) forget(m map[string]Container, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(m, id)
}

// waitConverged waits until every replicated service of the stack runs as
// many tasks as it wants, each running and not paused or cut off by us.
func (s *Swarm) waitConverged(ctx context.Context) error {
	var waiting []string
	for {
		services, err := s.services(ctx)
		if err != nil {
			return err
		}
		waiting = waiting[:0]
		for _, sv := range services {
			if sv.Spec.Mode.Replicated == nil || sv.Spec.Mode.Replicated.Replicas == nil {
				continue
			}
			want := int(*sv.Spec.Mode.Replicated.Replicas)
			cs, err := s.List(ctx, s.shortName(sv.Spec.Name))
			if err != nil {
				return err
			}
			running := 0
			for _, c := range cs {
				if c.State == string(swarm.TaskStateRunning) && (c.Health == "" || c.Health == "healthy") {
					running++
				}
			}
			if running != want || len(cs) != want {
				waiting = append(waiting, fmt.Sprintf("%s (%d of %d running)", s.shortName(sv.Spec.Name), running, want))
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		if !pause(ctx, 250*time.Millisecond) {
			return fmt.Errorf("wait for stack %s: %w: %s", s.cfg.Project, ctx.Err(), strings.Join(waiting, ", "))
		}
	}
}

// pause sleeps for d unless ctx ends first; it reports whether ctx is live.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// slotString names a task's slot for messages, e.g. "backend:2".
func slotString(service string, slot int) string { return service + ":" + strconv.Itoa(slot) }
