package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// options are the command-line settings of one run.
type options struct {
	Bin      string        `json:"bin"`
	Peers    string        `json:"peers"`
	Out      string        `json:"out"`
	Rounds   int           `json:"rounds"`
	Duration time.Duration `json:"duration_ns"`
	Cases    []benchCase   `json:"-"`
	Targets  []string      `json:"targets"`
	PortBase int           `json:"port_base"`
}

// parseOptions parses the command line. Help output and errors go to stderr.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("peerbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var cases, targets string
	fs.StringVar(&o.Bin, "bin", "./bin", "directory holding lb and backend (make build)")
	fs.StringVar(&o.Peers, "peers", "bench/peers", "directory of the config templates and wrk-report.lua")
	fs.StringVar(&o.Out, "out", "bench/out", "output directory: JSON, latest.md, rendered configs, process logs")
	fs.IntVar(&o.Rounds, "rounds", 3, "rounds (each runs every case against every target; medians over rounds)")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "length of each measurement, whole seconds")
	fs.StringVar(&cases, "cases", "", "comma-separated cases to run (default all): "+strings.Join(caseIDs(allCases), ","))
	fs.StringVar(&targets, "targets", "", "comma-separated targets to run (default all): "+strings.Join(allTargets, ","))
	fs.IntVar(&o.PortBase, "port-base", 18000, "first port of the range the run listens on (base+1 .. base+99)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: peerbench [flags]")
		fmt.Fprintln(stderr, "Measures direct (one backend), bin/lb, lb-rp (bin/lb with \"forwarder\": \"reverseproxy\"; HTTP cases only),")
		fmt.Fprintln(stderr, "HAProxy and nginx side by side on loopback, in front of the same three bin/backend processes.")
		fmt.Fprintln(stderr, "Needs haproxy, nginx (stream module) and wrk.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.Rounds < 1 {
		return o, fmt.Errorf("--rounds %d: need at least 1", o.Rounds)
	}
	if o.Duration < time.Second || o.Duration%time.Second != 0 {
		return o, fmt.Errorf("--duration %s: need a whole number of seconds, at least 1s (wrk counts in seconds)", o.Duration)
	}
	if o.PortBase < 1024 || o.PortBase > 65535-100 {
		return o, fmt.Errorf("--port-base %d: need 1024 to %d", o.PortBase, 65535-100)
	}
	ids, err := parseList(cases, caseIDs(allCases), "case")
	if err != nil {
		return o, fmt.Errorf("--cases: %w", err)
	}
	for _, id := range ids {
		c, _ := caseByID(id)
		o.Cases = append(o.Cases, c)
	}
	if o.Targets, err = parseList(targets, allTargets, "target"); err != nil {
		return o, fmt.Errorf("--targets: %w", err)
	}
	if cellCount(o.Cases, o.Targets) == 0 {
		return o, fmt.Errorf("--targets %s --cases %s: nothing to measure (lb-rp has no TCP mode and is left out of tcp)",
			strings.Join(o.Targets, ","), strings.Join(caseIDs(o.Cases), ","))
	}
	return o, nil
}

// parseList splits a comma-separated list of names, each of which must be in
// valid, and returns them in valid's order without repeats. An empty list
// means all of valid.
func parseList(s string, valid []string, what string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return slices.Clone(valid), nil
	}
	want := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(valid, name) {
			return nil, fmt.Errorf("unknown %s %q; valid %ss: %s", what, name, what, strings.Join(valid, ", "))
		}
		want[name] = true
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("no %s named; valid %ss: %s", what, what, strings.Join(valid, ", "))
	}
	var out []string
	for _, v := range valid {
		if want[v] {
			out = append(out, v)
		}
	}
	return out, nil
}

// rotate returns the targets in the order of round r (0-based): round 0 as
// given, round 1 starting with the second, and so on.
func rotate(targets []string, r int) []string {
	if len(targets) == 0 {
		return nil
	}
	k := r % len(targets)
	return append(slices.Clone(targets[k:]), targets[:k]...)
}

// needs reports whether any of the cases uses HTTP proxies, TCP proxies and wrk.
func needs(cases []benchCase) (http, tcp, wrk bool) {
	for _, c := range cases {
		if c.TCP {
			tcp = true
		} else {
			http = true
		}
		if c.Kind == closedLoop {
			wrk = true
		}
	}
	return http, tcp, wrk
}
