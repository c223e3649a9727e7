package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/lblab/lblab/loadtest/internal/dist"
	"github.com/lblab/lblab/loadtest/internal/lab"
	"github.com/lblab/lblab/loadtest/internal/report"
	"github.com/lblab/lblab/loadtest/internal/runner"
	"github.com/lblab/lblab/loadtest/internal/scenario"
)

// Where the workers of a distributed run come from.
const (
	fromLocal = "local" // processes of this binary on this machine
	fromWait  = "wait"  // started by hand (loadtest worker --coordinator ADDR), on any machine
	fromSwarm = "swarm" // the tasks of a Swarm service of the lblab/loadtest image
)

// workerFlags are the flags of a distributed run.
type workerFlags struct {
	n           int
	from        string
	listen      string
	advertise   string
	image       string
	joinTimeout time.Duration
}

func (w *workerFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&w.n, "workers", 0, "split the load over N workers that stream their results here (0: this process sends it)")
	fs.StringVar(&w.from, "workers-from", fromLocal, "where the workers run: local (processes here), wait (started by hand: loadtest worker --coordinator ADDR), swarm (a Swarm service of --worker-image)")
	fs.StringVar(&w.listen, "listen", "", "address the coordinator listens on for workers (default 127.0.0.1:0; with --workers-from wait 0.0.0.0:7700)")
	fs.StringVar(&w.advertise, "advertise", "", "address the workers connect to (default: the --listen address; set it when workers run on other machines)")
	fs.StringVar(&w.image, "worker-image", "lblab/loadtest:"+cmp.Or(os.Getenv("LBLAB_TAG"), "dev"), "image of the workers' Swarm service (make swarm-images)")
	fs.DurationVar(&w.joinTimeout, "join-timeout", time.Minute, "how long to wait for the workers to join")
}

// check reports bad flags and a load the workers cannot share.
func (w *workerFlags) check(s *scenario.Scenario) error {
	switch {
	case w.n < 0:
		return fmt.Errorf("--workers %d: want 0 (no workers) or more", w.n)
	case w.n == 0:
		return nil
	case !slices.Contains([]string{fromLocal, fromWait, fromSwarm}, w.from):
		return fmt.Errorf("--workers-from %q: want local, wait or swarm", w.from)
	case w.joinTimeout <= 0:
		return fmt.Errorf("--join-timeout %s: want a positive duration", w.joinTimeout)
	}
	cfg := runner.AttackConfig(s, "")
	return dist.CheckSplit(cfg, w.n)
}

// start starts the coordinator and the workers, and waits until they
// joined. stop says goodbye to them and waits until they are gone.
func (w *workerFlags) start(ctx context.Context, docker func() (*client.Client, error), project string, stdout io.Writer, log *slog.Logger) (load runner.Load, stop func(), err error) {
	if w.n == 0 {
		return nil, func() {}, nil
	}
	listen := w.listen
	if listen == "" {
		listen = "127.0.0.1:0"
		if w.from == fromWait {
			listen = "0.0.0.0:7700"
		}
	}
	c, err := dist.Listen(dist.Config{Listen: listen, Workers: w.n, Log: log})
	if err != nil {
		return nil, nil, err
	}
	addr := cmp.Or(w.advertise, advertised(c.Addr()))
	stops := []func(){func() { _ = c.Close() }}
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	fail := func(err error) (runner.Load, func(), error) {
		stop()
		return nil, nil, err
	}
	var describe func() string
	switch w.from {
	case fromLocal:
		exe, err := os.Executable()
		if err != nil {
			return fail(fmt.Errorf("start workers: find this program: %w", err))
		}
		ps, err := dist.StartProcesses(exe, w.n, addr)
		if err != nil {
			return fail(err)
		}
		// Registered before the coordinator's Close in stops' reverse order:
		// goodbye first, then wait for the processes.
		stops = slices.Insert(stops, 0, func() {
			if err := ps.Stop(10 * time.Second); err != nil {
				log.Warn("workers", "err", err)
			}
		})
		fmt.Fprintf(stdout, "distributed load: %d worker processes on this machine, coordinator on %s\n", w.n, c.Addr())
	case fromWait:
		fmt.Fprintf(stdout, "distributed load: waiting up to %s for %d workers; start each with: loadtest worker --coordinator %s\n",
			w.joinTimeout, w.n, addr)
	case fromSwarm:
		cli, err := docker()
		if err != nil {
			return fail(fmt.Errorf("start workers as a Swarm service: %w", err))
		}
		svc, err := dist.StartService(ctx, cli, dist.ServiceConfig{
			Name: fmt.Sprintf("lblab-workers-%d", os.Getpid()), Image: w.image, Replicas: w.n, Coordinator: addr,
			Labels: map[string]string{"org.lblab.workers": project},
		})
		if err != nil {
			return fail(err)
		}
		stops = slices.Insert(stops, 0, func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := svc.Remove(rctx); err != nil {
				log.Warn("workers", "err", err)
			}
		})
		describe = func() string { return svc.Tasks(context.WithoutCancel(ctx)) }
		fmt.Fprintf(stdout, "distributed load: %d workers as the Swarm service lblab-workers-%d (%s), coordinator on %s\n",
			w.n, os.Getpid(), w.image, addr)
	}
	if err := c.Wait(ctx, w.joinTimeout, stdout); err != nil {
		if describe != nil {
			err = fmt.Errorf("%w; the service's tasks: %s", err, describe())
		}
		return fail(err)
	}
	return c, stop, nil
}

// advertised turns a listen address into one workers on this machine can
// dial: an unspecified host becomes 127.0.0.1.
func advertised(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// cmdWorker runs `loadtest worker`: it joins a coordinator and sends the
// load it is given until the coordinator says goodbye.
func cmdWorker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("worker", stderr)
	coord := fs.String("coordinator", os.Getenv("LBLAB_COORDINATOR"), "the coordinator's address, host:port (loadtest run --workers N prints it); env LBLAB_COORDINATOR")
	name := fs.String("name", os.Getenv("LBLAB_WORKER_NAME"), "this worker's name in reports (default: host name/process ID); env LBLAB_WORKER_NAME")
	connect := fs.Duration("connect-timeout", time.Minute, "how long to keep trying to reach the coordinator")
	verbose := fs.Bool("v", false, "log what the worker does")
	pos, err := parse(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) > 0 || *coord == "" {
		fmt.Fprintf(stderr, "loadtest worker: want --coordinator HOST:PORT and no arguments\n%s", usage)
		return exitUsage
	}
	if _, _, err := net.SplitHostPort(*coord); err != nil {
		fmt.Fprintf(stderr, "loadtest worker: --coordinator %q: want host:port\n", *coord)
		return exitUsage
	}
	log := logger(stderr, *verbose)
	if !*verbose {
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	err = dist.RunWorker(ctx, dist.WorkerConfig{Coordinator: *coord, Name: *name, ConnectTimeout: *connect, Version: version, Log: log})
	if err != nil {
		fmt.Fprintln(stderr, "loadtest worker:", err)
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitError
	}
	fmt.Fprintln(stdout, "loadtest worker: done")
	return exitOK
}

// openLab connects to the lab the scenario runs against: kind is compose,
// swarm or auto (a Swarm stack named cfg.Project when this node manages
// one, else a Compose project). It returns nil (and no error) when Docker is
// not reachable and the scenario does not need it. The scenario's actions
// are checked against the lab's kind (an action Swarm cannot do is an error
// here, before anything starts).
func openLab(ctx context.Context, kind string, cfg lab.Config, s *scenario.Scenario, log *slog.Logger) (runner.Lab, func(), string, error) {
	none := func() {}
	switch kind {
	case lab.KindSwarm:
		l, err := lab.NewSwarm(ctx, cfg)
		if err != nil {
			return nil, none, kind, err
		}
		return l, func() { _ = l.Close() }, kind, nil
	case lab.KindCompose, "auto":
		l, err := lab.New(ctx, cfg)
		if err != nil {
			if s.UsesDocker() {
				return nil, none, kind, err
			}
			log.Debug("docker not used", "err", err)
			return nil, none, lab.KindCompose, nil
		}
		if kind == "auto" && lab.Detect(ctx, l) == lab.KindSwarm {
			_ = l.Close()
			sw, err := lab.NewSwarm(ctx, cfg)
			if err != nil {
				return nil, none, lab.KindSwarm, err
			}
			return sw, func() { _ = sw.Close() }, lab.KindSwarm, nil
		}
		return l, func() { _ = l.Close() }, lab.KindCompose, nil
	}
	return nil, none, kind, fmt.Errorf("--lab %q: want compose, swarm or auto", kind)
}

// checkLabAndWorkers checks --lab and the workers' flags before anything
// connects; with an explicit --lab, the scenario's actions against it.
func checkLabAndWorkers(s *scenario.Scenario, kind string, wf *workerFlags, stderr io.Writer) int {
	if kind != "auto" && !scenario.ValidLab(kind) {
		fmt.Fprintf(stderr, "loadtest: --lab %q: want compose, swarm or auto\n", kind)
		return exitUsage
	}
	if kind != "auto" {
		if err := s.CheckLab(kind); err != nil {
			fmt.Fprintln(stderr, "loadtest:", err)
			return exitUsage
		}
	}
	if err := wf.check(s); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return exitUsage
	}
	return exitOK
}

// dockerClient returns a function that returns the lab's Docker client, or
// a new one when the run has no lab.
func dockerClient(ctx context.Context, l runner.Lab, cfg lab.Config) func() (*client.Client, error) {
	return func() (*client.Client, error) {
		if c, ok := l.(interface{ Client() *client.Client }); ok {
			return c.Client(), nil
		}
		nl, err := lab.New(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return nl.Client(), nil
	}
}

// partialReason says why a result is partial when it was not interrupted:
// the workers that dropped out.
func partialReason(r *report.Result) string {
	var dead []string
	for i := range r.Runs {
		if ws := r.Runs[i].Workers; ws != nil {
			dead = append(dead, ws.Dead()...)
		}
	}
	if len(dead) == 0 {
		return "the run did not complete"
	}
	return fmt.Sprintf("%d worker(s) dropped out: %s", len(dead), strings.Join(dead, "; "))
}
