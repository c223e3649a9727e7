// Package lab drives the Compose lab through the Docker API: it finds the
// project's containers by their Compose labels, and stops, kills, pauses,
// restarts, scales and partitions backends. It remembers what it changed so
// Restore can put the lab back (unpause, reconnect, start, scale back), which
// the load tester does at the end of a run and on Ctrl-C.
package lab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Compose labels.
const (
	LabelProject = "com.docker.compose.project"
	LabelService = "com.docker.compose.service"
	LabelNumber  = "com.docker.compose.container-number"
)

// DefaultProject is the Compose project name when none is given.
const DefaultProject = "lblab"

// ErrNoDocker wraps failures to reach the Docker daemon.
var ErrNoDocker = errors.New("docker not reachable")

// Config configures a Lab.
type Config struct {
	// Project is the Compose project; default DefaultProject.
	Project string
	// Service is the default service of references without one; default "backend".
	Service string
	// StopTimeout is the grace period of stop, restart and scale down; default 10s.
	StopTimeout time.Duration
	// Log receives one line per change; default: discard.
	Log *slog.Logger
}

// Container is one container of the project.
type Container struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Service string `json:"service"`
	// Number is the com.docker.compose.container-number label (0 if absent).
	Number int `json:"number"`
	// Hostname is the container's host name: the backend's default name, and
	// so the X-Backend value, unless set otherwise.
	Hostname string `json:"hostname"`
	// State is running, paused, exited, ...
	State string `json:"state"`
	// Health is healthy, unhealthy, starting, or "" without a health check.
	Health string `json:"health,omitempty"`
	// Networks lists the networks it is attached to.
	Networks []string `json:"networks,omitempty"`
	// Node is the Swarm node that runs it (a Swarm task's container; "" for Compose).
	Node string `json:"node,omitempty"`
}

// Ref selects a container: by Service and Number, or by Name (a container
// name, or a prefix of its ID of at least 12 characters).
type Ref struct {
	Service string
	Number  int
	Name    string
}

// String formats the reference as scenario files write it.
func (r Ref) String() string {
	if r.Number > 0 {
		return r.Service + ":" + strconv.Itoa(r.Number)
	}
	return r.Name
}

// Lab controls one Compose project. It is safe for concurrent use.
type Lab struct {
	cli *client.Client
	cfg Config

	mu           sync.Mutex            // guards the fields below
	stopped      map[string]Container  // stopped or killed by us, by ID
	paused       map[string]Container  // paused by us, by ID
	disconnected map[string][]endpoint // cut off by us: container ID -> its endpoints
	scaled       map[string]int        // service -> replica count before we scaled it
	known        map[string]Container  // every container seen, by ID

	// configured holds the backends whose settings Configure changed, by ID.
	configured map[string]*configured
}

// New connects to the Docker daemon named by the environment (DOCKER_HOST,
// DOCKER_API_VERSION, ...; default the local socket), negotiating the API
// version, and checks it answers.
func New(ctx context.Context, cfg Config) (*Lab, error) {
	if cfg.Project == "" {
		cfg.Project = DefaultProject
	}
	if cfg.Service == "" {
		cfg.Service = "backend"
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDocker, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("%w at %s: %w", ErrNoDocker, cli.DaemonHost(), err)
	}
	return &Lab{
		cli: cli, cfg: cfg,
		stopped: map[string]Container{}, paused: map[string]Container{},
		disconnected: map[string][]endpoint{}, scaled: map[string]int{},
		known: map[string]Container{},
	}, nil
}

// Close releases the client.
func (l *Lab) Close() error { return l.cli.Close() }

// Project returns the Compose project name.
func (l *Lab) Project() string { return l.cfg.Project }

// Client returns the Docker client, for tests and tools that need more.
func (l *Lab) Client() *client.Client { return l.cli }

// Version returns the daemon's version and API version, e.g. "20.10.24 (API 1.41)".
func (l *Lab) Version(ctx context.Context) (string, error) {
	v, err := l.cli.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return "", fmt.Errorf("get docker version: %w", err)
	}
	return fmt.Sprintf("%s (API %s, client API %s)", v.Version, v.APIVersion, l.cli.ClientVersion()), nil
}

// List returns the project's containers of service ("" = every service),
// running or not, ordered by service and number.
func (l *Lab) List(ctx context.Context, service string) ([]Container, error) {
	f := client.Filters{}.Add("label", LabelProject+"="+l.cfg.Project)
	if service != "" {
		f.Add("label", LabelService+"="+service)
	}
	res, err := l.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers of project %s: %w", l.cfg.Project, err)
	}
	out := make([]Container, 0, len(res.Items))
	for _, s := range res.Items {
		c, err := l.inspect(ctx, s.ID)
		if cerrdefs.IsNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Container) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Number, b.Number), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// inspect reads one container and remembers it for BackendName.
func (l *Lab) inspect(ctx context.Context, id string) (Container, error) {
	res, err := l.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return Container{}, fmt.Errorf("inspect container %s: %w", id, err)
	}
	c := toContainer(res.Container)
	l.mu.Lock()
	l.known[c.ID] = c
	l.mu.Unlock()
	return c, nil
}

func toContainer(in container.InspectResponse) Container {
	c := Container{ID: in.ID, Name: strings.TrimPrefix(in.Name, "/")}
	if in.Config != nil {
		c.Hostname = in.Config.Hostname
		c.Service = in.Config.Labels[LabelService]
		c.Number, _ = strconv.Atoi(in.Config.Labels[LabelNumber])
	}
	if in.State != nil {
		c.State = string(in.State.Status)
		if in.State.Health != nil {
			c.Health = string(in.State.Health.Status)
		}
	}
	if in.NetworkSettings != nil {
		c.Networks = slices.Sorted(maps.Keys(in.NetworkSettings.Networks))
	}
	return c
}

// Find returns the container ref selects.
func (l *Lab) Find(ctx context.Context, ref Ref) (Container, error) {
	if ref.Number > 0 && ref.Service == "" {
		ref.Service = l.cfg.Service
	}
	service := ref.Service
	all, err := l.List(ctx, service)
	if err != nil {
		return Container{}, err
	}
	for _, c := range all {
		if ref.Number > 0 && c.Number == ref.Number {
			return c, nil
		}
		if ref.Name != "" && (c.Name == ref.Name || (len(ref.Name) >= 12 && strings.HasPrefix(c.ID, ref.Name))) {
			return c, nil
		}
	}
	if len(all) == 0 {
		if service != "" {
			return Container{}, fmt.Errorf("find %s: no containers of service %s in project %s (is the lab up?)", ref, service, l.cfg.Project)
		}
		return Container{}, fmt.Errorf("find %s: no containers in project %s (is the lab up?)", ref, l.cfg.Project)
	}
	have := make([]string, 0, len(all))
	for _, c := range all {
		have = append(have, fmt.Sprintf("%s:%d (%s)", c.Service, c.Number, c.Name))
	}
	return Container{}, fmt.Errorf("find %s: no such container in project %s; there are %s", ref, l.cfg.Project, strings.Join(have, ", "))
}

// BackendName maps an X-Backend value to the name of the container that sent
// it, matching the host name (by default the 12-character container ID
// prefix), the ID or the name of every container seen so far; "" if none.
func (l *Lab) BackendName(xBackend string) string {
	if xBackend == "" {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.known {
		if c.Hostname == xBackend || c.Name == xBackend || (len(xBackend) >= 12 && strings.HasPrefix(c.ID, xBackend)) {
			return c.Name
		}
	}
	return ""
}

// Kill sends SIGKILL to the container; Restore starts it again.
func (l *Lab) Kill(ctx context.Context, ref Ref) (Container, error) {
	c, err := l.Find(ctx, ref)
	if err != nil {
		return c, err
	}
	// Remembered first: the daemon may carry out a request that fails here
	// (one cancelled by Ctrl-C was), and Restore undoes it either way.
	l.remember(l.stopped, c)
	if _, err := l.cli.ContainerKill(ctx, c.ID, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return c, fmt.Errorf("kill %s: %w", c.Name, err)
	}
	l.cfg.Log.Info("killed container", "container", c.Name)
	return l.refresh(ctx, c), nil
}

// Stop stops the container gracefully (SIGTERM, SIGKILL after the stop
// timeout, or timeout when positive); Restore starts it again.
func (l *Lab) Stop(ctx context.Context, ref Ref, timeout time.Duration) (Container, error) {
	c, err := l.Find(ctx, ref)
	if err != nil {
		return c, err
	}
	secs := l.seconds(timeout)
	// Remembered first: the daemon may carry out a request that fails here
	// (one cancelled by Ctrl-C was), and Restore undoes it either way.
	l.remember(l.stopped, c)
	if _, err := l.cli.ContainerStop(ctx, c.ID, client.ContainerStopOptions{Timeout: &secs}); err != nil {
		return c, fmt.Errorf("stop %s: %w", c.Name, err)
	}
	l.cfg.Log.Info("stopped container", "container", c.Name)
	return l.refresh(ctx, c), nil
}

// Start starts a stopped or killed container.
func (l *Lab) Start(ctx context.Context, ref Ref) (Container, error) {
	c, err := l.Find(ctx, ref)
	if err != nil {
		return c, err
	}
	if _, err := l.cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		return c, fmt.Errorf("start %s: %w", c.Name, err)
	}
	l.forget(l.stopped, c)
	l.cfg.Log.Info("started container", "container", c.Name)
	return l.refresh(ctx, c), nil
}

// Restart stops (gracefully, as Stop) and starts the container.
func (l *Lab) Restart(ctx context.Context, ref Ref, timeout time.Duration) (Container, error) {
	c, err := l.Find(ctx, ref)
	if err != nil {
		return c, err
	}
	secs := l.seconds(timeout)
	if _, err := l.cli.ContainerRestart(ctx, c.ID, client.ContainerRestartOptions{Timeout: &secs}); err != nil {
		return c, fmt.Errorf("restart %s: %w", c.Name, err)
	}
	l.forget(l.stopped, c)
	l.cfg.Log.Info("restarted container", "container", c.Name)
	return l.refresh(ctx, c), nil
}

// Pause freezes the container's processes: connections to it hang, as to a
// hung server. Restore unpauses it.
func (l *Lab) Pause(ctx context.Context, ref Ref) (Container, error) {
	c, err := l.Find(ctx, ref)
	if err != nil {
		return c, err
	}
	// Remembered first: the daemon may carry out a request that fails here
	// (one cancelled by Ctrl-C was), and Restore undoes it either way.
	l.remember(l.paused, c)
	if _, err := l.cli.ContainerPause(ctx, c.ID, client.ContainerPauseOptions{}); err != nil {
		return c, fmt.Errorf("pause %s: %w", c.Name, err)
	}
	l.cfg.Log.Info("paused container", "container", c.Name)
	return l.refreshUntil(ctx, c, "paused"), nil
}

// Unpause thaws a paused container.
func (l *Lab) Unpause(ctx context.Context, ref Ref) (Container, error) {
	c, err := l.Find(ctx, ref)
	if err != nil {
		return c, err
	}
	if _, err := l.cli.ContainerUnpause(ctx, c.ID, client.ContainerUnpauseOptions{}); err != nil {
		return c, fmt.Errorf("unpause %s: %w", c.Name, err)
	}
	l.forget(l.paused, c)
	l.cfg.Log.Info("unpaused container", "container", c.Name)
	return l.refreshUntil(ctx, c, "running"), nil
}

func (l *Lab) seconds(timeout time.Duration) int {
	if timeout <= 0 {
		timeout = l.cfg.StopTimeout
	}
	return int((timeout + time.Second - 1) / time.Second)
}

func (l *Lab) remember(m map[string]Container, c Container) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m[c.ID] = c
}

func (l *Lab) forget(m map[string]Container, c Container) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(m, c.ID)
}

// refresh re-reads c after a change; on error it returns c as it was.
func (l *Lab) refresh(ctx context.Context, c Container) Container {
	if n, err := l.inspect(ctx, c.ID); err == nil {
		return n
	}
	return c
}

// refreshUntil is refresh, polling for up to two seconds until the daemon
// reports state: the daemon may answer a pause or unpause before its
// inspect shows it.
func (l *Lab) refreshUntil(ctx context.Context, c Container, state string) Container {
	deadline := time.Now().Add(2 * time.Second)
	for {
		c = l.refresh(ctx, c)
		if c.State == state || time.Now().After(deadline) || ctx.Err() != nil {
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitHealthy waits until every container of service that Lab has not taken
// down itself is running and, where it has a health check, healthy; and at
// least one is. It polls every 250 ms until ctx ends.
func (l *Lab) WaitHealthy(ctx context.Context, service string) ([]Container, error) {
	if service == "" {
		service = l.cfg.Service
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var waiting []string
	for {
		all, err := l.List(ctx, service)
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		var ready []Container
		waiting = waiting[:0]
		for _, c := range all {
			_, stopped := l.stopped[c.ID]
			_, paused := l.paused[c.ID]
			_, cut := l.disconnected[c.ID]
			switch {
			case stopped || paused || cut:
			case c.State == "running" && (c.Health == "" || c.Health == "healthy"):
				ready = append(ready, c)
			default:
				waiting = append(waiting, fmt.Sprintf("%s (%s %s)", c.Name, c.State, c.Health))
			}
		}
		l.mu.Unlock()
		if len(waiting) == 0 && len(ready) > 0 {
			return ready, nil
		}
		select {
		case <-ctx.Done():
			if len(ready) == 0 && len(waiting) == 0 {
				return nil, fmt.Errorf("wait for %s healthy: %w: no containers", service, ctx.Err())
			}
			return ready, fmt.Errorf("wait for %s healthy: %w: still waiting for %s", service, ctx.Err(), strings.Join(waiting, ", "))
		case <-tick.C:
		}
	}
}

// Restore undoes what Lab changed, in this order: unpause, reconnect, start
// what it stopped or killed, scale services back to their replica counts. It
// keeps going after errors and returns them all.
func (l *Lab) Restore(ctx context.Context) error {
	l.mu.Lock()
	paused := slices.Collect(maps.Values(l.paused))
	cut := maps.Clone(l.disconnected)
	stopped := slices.Collect(maps.Values(l.stopped))
	scaled := maps.Clone(l.scaled)
	l.mu.Unlock()

	var errs []error
	for _, c := range paused {
		if _, err := l.cli.ContainerUnpause(ctx, c.ID, client.ContainerUnpauseOptions{}); err != nil && !cerrdefs.IsNotFound(err) && !isNotPaused(err) {
			errs = append(errs, fmt.Errorf("restore: unpause %s: %w", c.Name, err))
			continue
		}
		l.forget(l.paused, c)
		l.cfg.Log.Info("restored: unpaused", "container", c.Name)
	}
	for id, eps := range cut {
		if err := l.reconnect(ctx, id, eps); err != nil {
			errs = append(errs, fmt.Errorf("restore: %w", err))
			continue
		}
	}
	for _, c := range stopped {
		if _, err := l.cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("restore: start %s: %w", c.Name, err))
			continue
		}
		l.forget(l.stopped, c)
		l.cfg.Log.Info("restored: started", "container", c.Name)
	}
	errs = append(errs, l.restoreConfigured(ctx)...)
	for service, n := range scaled {
		if _, _, err := l.scale(ctx, service, n); err != nil {
			errs = append(errs, fmt.Errorf("restore: %w", err))
			continue
		}
		l.mu.Lock()
		delete(l.scaled, service)
		l.mu.Unlock()
		l.cfg.Log.Info("restored: scaled", "service", service, "replicas", n)
	}
	return errors.Join(errs...)
}

// Changed reports whether Restore has anything to undo.
func (l *Lab) Changed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.paused)+len(l.disconnected)+len(l.stopped)+len(l.scaled)+len(l.configured) > 0
}

func isNotPaused(err error) bool {
	return strings.Contains(err.Error(), "is not paused")
}
