package dist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// Processes are workers started as processes on this machine.
type Processes struct {
	procs []*process
}

type process struct {
	name string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{} // closed when it exited
	err  error         // its exit, once done is closed
}

// StartProcesses starts n workers, `exe worker --coordinator addr --name
// local-<i>`, each a process of its own.
func StartProcesses(exe string, n int, addr string) (*Processes, error) {
	ps := &Processes{}
	for i := range n {
		name := fmt.Sprintf("local-%d", i+1)
		p := &process{name: name, out: &tailBuffer{max: 4096}, done: make(chan struct{})}
		p.cmd = exec.Command(exe, "worker", "--coordinator", addr, "--name", name)
		p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
		if err := p.cmd.Start(); err != nil {
			_ = ps.Stop(time.Second)
			return nil, fmt.Errorf("start worker %s (%s): %w", name, exe, err)
		}
		go func() { p.err = p.cmd.Wait(); close(p.done) }()
		ps.procs = append(ps.procs, p)
	}
	return ps, nil
}

// PIDs returns the workers' process IDs by name.
func (ps *Processes) PIDs() map[string]int {
	out := map[string]int{}
	for _, p := range ps.procs {
		out[p.name] = p.cmd.Process.Pid
	}
	return out
}

// Stop waits up to timeout for the workers to exit (they do when the
// coordinator says goodbye), then kills those left; it returns the errors of
// those that failed, with the end of their output.
func (ps *Processes) Stop(timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var errs []error
	for _, p := range ps.procs {
		select {
		case <-p.done:
		case <-deadline.C:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if p.err != nil {
			var ee *exec.ExitError
			if errors.As(p.err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() {
				errs = append(errs, fmt.Errorf("worker %s: %w", p.name, p.err))
				continue
			}
			errs = append(errs, fmt.Errorf("worker %s: %w: %s", p.name, p.err, strings.TrimSpace(p.out.String())))
		}
	}
	return errors.Join(errs...)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex // guards b
	b   bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if over := t.b.Len() - t.max; over > 0 {
		t.b.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}

// ServiceConfig configures workers run as a Swarm service.
type ServiceConfig struct {
	// Name of the service; it must not exist.
	Name string
	// Image is the load tester's image (lblab/loadtest:dev, `make swarm-images`).
	Image string
	// Replicas is the number of workers; Swarm spreads them over the nodes.
	Replicas int
	// Coordinator is the address the workers connect to. They run in the
	// host's network namespace, so 127.0.0.1 is the node they run on.
	Coordinator string
	// Labels are added to the service.
	Labels map[string]string
}

// Service is workers run as the tasks of a Swarm service.
type Service struct {
	cli *client.Client
	id  string
	cfg ServiceConfig
}

// StartService creates the workers' service: Replicas tasks of Image
// running `loadtest worker --coordinator ADDR`, in each node's host network,
// named swarm-<slot>@<node>, never restarted (a worker that dies is
// reported, not replaced mid-run).
func StartService(ctx context.Context, cli *client.Client, cfg ServiceConfig) (*Service, error) {
	if _, err := cli.ServiceInspect(ctx, cfg.Name, client.ServiceInspectOptions{}); err == nil {
		return nil, fmt.Errorf("start workers: a service %s exists already (left by an earlier run? docker service rm %s)", cfg.Name, cfg.Name)
	} else if !cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("start workers: %w", err)
	}
	if _, err := cli.ImageInspect(ctx, cfg.Image); err != nil {
		return nil, fmt.Errorf("start workers: image %s: %w (build it: make swarm-images; on other nodes load it: docker save %s | ssh NODE docker load)", cfg.Image, err, cfg.Image)
	}
	nets, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: client.Filters{}.Add("name", "host").Add("driver", "host")})
	if err != nil || len(nets.Items) == 0 {
		return nil, fmt.Errorf("start workers: find the host network: %v", err)
	}
	replicas := uint64(cfg.Replicas)
	none := swarm.RestartPolicyConditionNone
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: cfg.Name, Labels: cfg.Labels},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image:  cfg.Image,
				Args:   []string{"worker", "--coordinator", cfg.Coordinator},
				Env:    []string{"LBLAB_WORKER_NAME=swarm-{{.Task.Slot}}@{{.Node.Hostname}}"},
				Labels: cfg.Labels,
			},
			RestartPolicy: &swarm.RestartPolicy{Condition: none},
			Networks:      []swarm.NetworkAttachmentConfig{{Target: nets.Items[0].ID}},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}
	res, err := cli.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec})
	if err != nil {
		return nil, fmt.Errorf("start workers: create service %s: %w", cfg.Name, err)
	}
	return &Service{cli: cli, id: res.ID, cfg: cfg}, nil
}

// Tasks describes the service's tasks (for messages when workers do not join).
func (s *Service) Tasks(ctx context.Context) string {
	res, err := s.cli.TaskList(ctx, client.TaskListOptions{Filters: client.Filters{}.Add("service", s.id)})
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, t := range res.Items {
		p := fmt.Sprintf("task %d on %s: %s", t.Slot, shortNode(t.NodeID), t.Status.State)
		if t.Status.Err != "" {
			p += " (" + t.Status.Err + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

func shortNode(id string) string { return id[:min(12, len(id))] }

// Remove removes the service (its tasks stop with it).
func (s *Service) Remove(ctx context.Context) error {
	if _, err := s.cli.ServiceRemove(ctx, s.id, client.ServiceRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove workers' service %s: %w", s.cfg.Name, err)
	}
	return nil
}
