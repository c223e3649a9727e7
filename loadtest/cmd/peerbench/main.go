// Command peerbench measures, side by side on loopback: direct (one
// bin/backend, no proxy), bin/lb, lb-base (a baseline lb from --base-bin,
// with lb's configs, to see a change before and after in one run), lb-rp (a
// second bin/lb with "forwarder": "reverseproxy", every request through
// httputil.ReverseProxy), HAProxy with one thread (haproxy) and with one per
// CPU (haproxy-mt), and nginx (worker_processes auto), every proxy balancing
// the same three bin/backend processes with keep-alive to them, plus their
// TCP modes (bin/lb "mode":"tcp", HAProxy mode tcp, nginx stream; lb-rp has
// none). It is the second half of `make bench` (target bench-compare).
//
// Cases: wrk closed loops (c64, c512, close, body64k, http10 with HTTP/1.0
// keep-alive requests, tcp), vegeta at a constant rate (rate5000,
// rate7000), and peerbench's own generators: crowd (up to 10,000
// connections, one GET per second each) and idle-http, idle-tcp (the
// proxy's memory per idle connection, measured on a freshly restarted
// proxy). The idle and crowd cases are sized to the open-file limit.
//
// Every round runs each case against every target that takes part in it,
// the target order rotated from round to round; the figures quoted are
// medians over rounds, the comparisons (with HAProxy, with the best of
// haproxy-mt and nginx, with lb-base) medians of same-round ratios, and the
// spread across rounds is reported as noise. Output: tables on stdout,
// progress on stderr, <out>/peerbench-YYYYMMDD-HHMMSS.json (every round raw,
// medians, environment) and <out>/latest.md.
//
// Exit status: 0 when every measurement ran, 1 when one failed or a process
// died, 2 when the run was refused before it started (flags, missing tools,
// ports taken, an open-file limit too low), 130 when interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without os.Exit, so that deferred cleanup always runs.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "peerbench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	procs := &procSet{}
	defer func() {
		if n := procs.stopAll(5 * time.Second); n > 0 {
			fmt.Fprintf(stderr, "peerbench: stopped %d processes\n", n)
		}
	}()
	err = bench(ctx, o, procs, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "peerbench: interrupted")
		return 130
	case errors.As(err, new(*refusal)):
		fmt.Fprintln(stderr, "peerbench:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "peerbench:", err)
		return 1
	}
}

// bench checks everything, starts the lab, runs the rounds and writes the
// results. It returns an error when anything did not run.
func bench(ctx context.Context, o options, procs *procSet, stdout, stderr io.Writer) error {
	t, err := findTools(o)
	if err != nil {
		return err
	}
	for _, f := range []string{"haproxy.cfg", "nginx.conf", "lb.json", "lb-tcp.json", "wrk-report.lua"} {
		if _, err := os.Stat(filepath.Join(o.Peers, f)); err != nil {
			return preflightError("%s: %v (pass --peers, the directory of the config templates)", filepath.Join(o.Peers, f), err)
		}
	}
	script, err := filepath.Abs(filepath.Join(o.Peers, "wrk-report.lua"))
	if err != nil {
		return err
	}
	plan := planPorts(o.PortBase)
	needHTTP, needTCP, _ := needs(o.Cases)
	if err := checkPortsFree(plan.needed(o.Targets, needHTTP, needTCP)); err != nil {
		return preflightError("%v", err)
	}
	nofile, err := raiseNoFile(fdNeed(o.Cases))
	if err != nil {
		return err
	}
	sizes, err := sizeConns(nofile, o.IdleConns, o.CrowdConns)
	if err != nil {
		return err
	}
	procs.logDir = filepath.Join(o.Out, "peers", "logs")
	if err := snapshotBinaries(&t, filepath.Join(o.Out, "peers", "bin")); err != nil {
		return err
	}
	rep := &report{
		Tool:    "peerbench",
		Started: time.Now(),
		Options: reportOptions{Rounds: o.Rounds, Duration: o.Duration.String(), Cases: caseIDs(o.Cases), Targets: o.Targets,
			PortBase: o.PortBase, BaseBin: o.BaseBin, BaseConfig: o.BaseConfig, ServerMaxConn: o.ServerMaxConn,
			ReleaseWait: o.ReleaseWait.String()},
		Ports: plan,
		Cases: o.Cases,
	}
	rc := runConfig{Wrk: t.Wrk, Script: script, Duration: o.Duration, Clk: clockTicks(), ReleaseWait: o.ReleaseWait, CrowdPeriod: o.CrowdPeriod}
	rep.Environment = collectEnvironment(t, nofile, rc.Clk)
	if hasSized(o.Cases) {
		rep.Sizes, rc.Sizes = sizes, sizes
		fmt.Fprintf(stderr, "peerbench: %s\n", sizes.Note)
	}

	fmt.Fprintf(stderr, "peerbench: %d round(s) × %d case(s) × %d target(s) × %s: about %s; starting processes (logs in %s)\n",
		o.Rounds, len(o.Cases), len(o.Targets), o.Duration, estimate(o, sizes).Round(time.Second), procs.logDir)
	l, err := startLab(ctx, o, t, plan, nofile, procs)
	if err != nil {
		return err
	}

	for r := 1; r <= o.Rounds; r++ {
		order := rotate(o.Targets, r-1)
		rep.Orders = append(rep.Orders, order)
		for _, c := range o.Cases {
			if c.Body != "" {
				if err := l.setResponseSize(ctx, `"`+c.Body+`"`); err != nil {
					return err
				}
			}
			for _, tg := range caseTargets(c, order) {
				if err := procs.alive(); err != nil {
					return fmt.Errorf("round %d %s %s: %w", r, c.ID, tg, err)
				}
				m := measure(ctx, l, rc, c, tg)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				m.Round = r
				rep.Measurements = append(rep.Measurements, m)
				fmt.Fprintf(stderr, "round %d/%d %s %s: %s\n", r, o.Rounds, c.ID, tg, progress(m))
				if m.Err != "" {
					rep.Errors = append(rep.Errors, fmt.Sprintf("round %d %s %s: %s", r, c.ID, tg, m.Err))
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(pause):
				}
			}
			if c.Body != "" {
				if err := l.setResponseSize(ctx, "0"); err != nil {
					return err
				}
			}
		}
	}
	if err := procs.alive(); err != nil {
		return err
	}

	rep.Finished = time.Now()
	rep.Complete = len(rep.Errors) == 0
	rep.Cells = computeCells(o.Cases, o.Targets, rep.Measurements)
	rep.IdleCells = computeIdleCells(o.Cases, o.Targets, rep.Measurements)
	rep.Noise = noise(rep.Cells, rep.IdleCells, o.Rounds)

	if hasSized(o.Cases) {
		fmt.Fprintf(stdout, "\nConnections: %s.\n", sizes.Note)
	}
	for _, tb := range tables(rep.Cells, rep.IdleCells, has(o.Targets, targetLBBase)) {
		fmt.Fprintln(stdout)
		if err := writeTable(stdout, tb); err != nil {
			return err
		}
	}
	for _, l := range crowdLines(rep.Measurements) {
		fmt.Fprintln(stdout, l)
	}
	fmt.Fprintln(stdout, rep.Noise.line())
	for _, l := range noisyLines(rep.Noise) {
		fmt.Fprintln(stdout, "  "+l)
	}
	jsonPath, mdPath, err := writeFiles(o.Out, rep)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s (%s)\n", jsonPath, mdPath, rep.Finished.Sub(rep.Started).Round(time.Second))
	if !rep.Complete {
		return fmt.Errorf("%d measurement(s) failed:\n  %s", len(rep.Errors), joinLines(rep.Errors))
	}
	return nil
}

// hasSized reports whether any of the cases is sized to the open-file
// limit (the idle and crowd cases).
func hasSized(cases []benchCase) bool {
	for _, c := range cases {
		if c.Kind == idleConns || c.Kind == crowdLoad {
			return true
		}
	}
	return false
}

// estimate returns about how long the rounds take: each measurement its
// duration and the pause, the idle cases also the time to open their
// connections (about a thousand a second on a busy machine) and to watch the
// memory come back, and the crowd the time to open its connections.
func estimate(o options, sizes connSizes) time.Duration {
	open := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var per time.Duration
	for _, c := range o.Cases {
		d := o.Duration + pause
		switch c.Kind {
		case idleConns:
			d += open(sizes.Idle) + o.ReleaseWait
		case crowdLoad:
			d += open(sizes.Crowd)
		}
		per += time.Duration(len(caseTargets(c, o.Targets))) * d
	}
	return time.Duration(o.Rounds) * per
}

// pause separates measurements, so that one's closing connections do not
// overlap the next.
const pause = 300 * time.Millisecond

// runConfig is what every measurement of a run shares.
type runConfig struct {
	Wrk, Script string
	Duration    time.Duration
	Clk         float64 // clock ticks per second
	Sizes       connSizes
	ReleaseWait time.Duration
	CrowdPeriod time.Duration
}

// measure runs case c against target once and records the proxy's CPU time
// (the idle cases: its memory).
func measure(ctx context.Context, l *lab, rc runConfig, c benchCase, target string) measurement {
	p := l.proc(target, c.TCP)
	addr := l.addr(target, c.TCP)
	var m measurement
	var err error
	switch c.Kind {
	case idleConns:
		// A fresh process: one that has held more connections before
		// (the crowd, an earlier round) may reuse that memory.
		if err = l.restart(ctx, target, c.TCP); err == nil {
			p = l.proc(target, c.TCP)
			m, err = measureIdle(ctx, p, addr, rc)
		}
	case crowdLoad:
		var cr crowdResult
		m, cr, err = runCrowd(ctx, crowdConfig{Addr: addr, Host: addr, Conns: rc.Sizes.Crowd, Period: rc.CrowdPeriod,
			Duration: rc.Duration, Proxy: newCPUMeter(p, rc.Clk), Self: newCPUMeter(&proc{PID: os.Getpid()}, rc.Clk),
			Backends: l.backendMeters(rc.Clk)})
		m.Crowd = &cr
	default:
		cpu := newCPUMeter(p, rc.Clk)
		cpu.start()
		if c.Kind == constantRate {
			m, err = runRate(ctx, l.url(target, c.TCP), c.Rate, rc.Duration)
		} else {
			m, err = runWrk(ctx, rc.Wrk, rc.Script, c, l.url(target, c.TCP), rc.Duration)
		}
		if secs, ok := cpu.stop(); ok && err == nil {
			m.CPUSeconds = &secs
			if m.Requests > 0 {
				per := secs / float64(m.Requests) * 100000
				m.CPUPer100k = &per
			}
		}
	}
	m.Case, m.Target, m.URL = c.ID, target, l.url(target, c.TCP)
	if err != nil {
		m.Err = err.Error()
	}
	return m
}

// measureIdle runs an idle case against the proxy p listening on addr.
func measureIdle(ctx context.Context, p *proc, addr string, rc runConfig) (measurement, error) {
	if p == nil {
		return measurement{}, errors.New("no proxy process to measure")
	}
	r, err := runIdle(ctx, idleConfig{Addr: addr, Host: addr, Conns: rc.Sizes.Idle, Settle: rc.Duration, Release: rc.ReleaseWait,
		RSS: func() (int64, error) { return readRSS(p.PID, p.Children) }})
	m := measurement{Idle: &r, Requests: int64(r.Opened), Failed: int64(r.Conns - r.Opened)}
	m.SuccessRatio = successRatio(int64(r.Conns), m.Failed)
	return m, err
}

// progress is the figures of a measurement for the progress line.
func progress(m measurement) string {
	if m.Err != "" {
		return "error: " + m.Err
	}
	if r := m.Idle; r != nil {
		s := fmt.Sprintf("%d conns, RSS %s -> %s MiB (%.1f KiB/conn), after close %s MiB", r.Opened,
			fmtMiB(r.RSSBeforeKiB), fmtMiB(r.RSSIdleKiB), r.KiBPerConn, fmtMiB(r.RSSAfterKiB))
		if r.BackS != nil {
			s += fmt.Sprintf(" (%.0f%% back in %.1f s)", 100*r.Released, *r.BackS)
		} else {
			s += fmt.Sprintf(" (%.0f%% back)", 100*r.Released)
		}
		if m.Failed > 0 {
			s += fmt.Sprintf(", %d failed to open: %s", m.Failed, r.FirstErr)
		}
		if r.DroppedIdle > 0 {
			s += fmt.Sprintf(", %d closed by the proxy while idle", r.DroppedIdle)
		}
		return s
	}
	s := fmt.Sprintf("%s req/s, p99 %s ms", fmtRate(m.ReqPerSec), fmtMs(m.P99Ms))
	if m.CPUPer100k != nil {
		s += fmt.Sprintf(", cpu %.2f s/100k", *m.CPUPer100k)
	}
	if m.Failed > 0 {
		s += ", failed " + fmtFailed(m.Failed, m.Requests)
	}
	if c := m.Crowd; c != nil {
		s += fmt.Sprintf(" (generator: %d conns, %.0f%% of %.0f req/s intended, %d slots behind a slow response, %d missed, own lag p99 %s ms",
			c.Opened, 100*c.Achieved, c.IntendedPerS, c.Behind, c.Missed, fmtMs(c.LagP99Ms))
		if c.GenCPUPer100k != nil {
			s += fmt.Sprintf(", its cpu %.2f s/100k", *c.GenCPUPer100k)
		}
		if c.Short {
			s += ", SHORT"
		}
		s += ")"
	}
	return s
}

func joinLines(xs []string) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += "\n  "
		}
		out += x
	}
	return out
}
