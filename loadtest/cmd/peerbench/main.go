// Command peerbench measures, side by side on loopback, five HTTP targets:
// direct (one bin/backend, no proxy), bin/lb, lb-rp (a second bin/lb with
// "forwarder": "reverseproxy", every request through httputil.ReverseProxy),
// HAProxy and nginx, all four proxies balancing the same three bin/backend
// processes with keep-alive to them, plus the TCP modes of bin/lb, HAProxy
// and nginx (bin/lb "mode":"tcp", HAProxy mode tcp, nginx stream; lb-rp has
// none). It is the second half of `make bench` (target bench-compare).
//
// Every round runs each case against every target that takes part in it
// (all of them, but lb-rp not in tcp), the target order rotated
// from round to round; the figures quoted are medians over rounds, the
// comparisons medians of same-round ratios, and the spread across rounds is
// reported as noise. Output: a table on stdout, progress on stderr,
// <out>/peerbench-YYYYMMDD-HHMMSS.json (every round raw, medians,
// environment) and <out>/latest.md.
//
// Exit status: 0 when every measurement ran, 1 when one failed or a process
// died, 2 when the run was refused before it started (flags, missing tools,
// ports taken), 130 when interrupted.
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
	procs.logDir = filepath.Join(o.Out, "peers", "logs")
	rep := &report{
		Tool:    "peerbench",
		Started: time.Now(),
		Options: reportOptions{Rounds: o.Rounds, Duration: o.Duration.String(), Cases: caseIDs(o.Cases), Targets: o.Targets, PortBase: o.PortBase},
		Ports:   plan,
		Cases:   o.Cases,
	}
	clk := clockTicks()
	rep.Environment = collectEnvironment(t, nofile, clk)

	est := time.Duration(o.Rounds*cellCount(o.Cases, o.Targets)) * (o.Duration + pause)
	fmt.Fprintf(stderr, "peerbench: %d round(s) × %d case(s) × %d target(s) × %s: about %s; starting processes (logs in %s)\n",
		o.Rounds, len(o.Cases), len(o.Targets), o.Duration, est.Round(time.Second), procs.logDir)
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
				m := measure(ctx, l, t.Wrk, script, c, tg, o.Duration, clk)
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
	rep.Noise = noise(rep.Cells, o.Rounds)

	fmt.Fprintln(stdout)
	if err := writeTable(stdout, rep.Cells); err != nil {
		return err
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

// pause separates measurements, so that one's closing connections do not
// overlap the next.
const pause = 300 * time.Millisecond

// measure runs case c against target once and records the proxy's CPU time.
func measure(ctx context.Context, l *lab, wrk, script string, c benchCase, target string, d time.Duration, clk float64) measurement {
	url := l.url(target, c.TCP)
	p := l.proc(target, c.TCP)
	var before uint64
	var cpuErr error
	if p != nil {
		before, cpuErr = cpuTicks(p.PID, p.Children)
	}
	var m measurement
	var err error
	if c.Kind == constantRate {
		m, err = runRate(ctx, url, c.Rate, d)
	} else {
		m, err = runWrk(ctx, wrk, script, c, url, d)
	}
	m.Case, m.Target, m.URL = c.ID, target, url
	if err != nil {
		m.Err = err.Error()
		return m
	}
	if p != nil && cpuErr == nil {
		after, err := cpuTicks(p.PID, p.Children)
		if err == nil && after >= before {
			secs := float64(after-before) / clk
			m.CPUSeconds = &secs
			if m.Requests > 0 {
				per := secs / float64(m.Requests) * 100000
				m.CPUPer100k = &per
			}
		}
	}
	return m
}

// progress is the figures of a measurement for the progress line.
func progress(m measurement) string {
	if m.Err != "" {
		return "error: " + m.Err
	}
	s := fmt.Sprintf("%s req/s, p99 %s ms", fmtRate(m.ReqPerSec), fmtMs(m.P99Ms))
	if m.CPUPer100k != nil {
		s += fmt.Sprintf(", cpu %.2f s/100k", *m.CPUPer100k)
	}
	if m.Failed > 0 {
		s += ", failed " + fmtFailed(m.Failed, m.Requests)
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
