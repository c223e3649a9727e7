package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// options are the command-line settings of one run.
type options struct {
	Bin string `json:"bin"`
	// BaseBin holds the baseline lb of the lb-base target; empty: no lb-base.
	BaseBin string `json:"base_bin,omitempty"`
	// BaseConfig is a JSON object of config keys lb-base runs with on top
	// of lb's (--base-config); with no --base-bin, lb-base is bin/lb itself.
	BaseConfig string `json:"base_config,omitempty"`
	// ServerMaxConn bounds each backend's connections in every proxy that
	// queues beyond such a bound (--server-maxconn): lb's (and lb-base's,
	// lb-rp's) max_conns_per_backend and HAProxy's server maxconn, in HTTP
	// mode. 0: no bound, every proxy at its defaults.
	ServerMaxConn int           `json:"server_maxconn,omitempty"`
	Peers         string        `json:"peers"`
	Out           string        `json:"out"`
	Rounds        int           `json:"rounds"`
	Duration      time.Duration `json:"duration_ns"`
	Cases         []benchCase   `json:"-"`
	Targets       []string      `json:"targets"`
	PortBase      int           `json:"port_base"`
	// IdleConns and CrowdConns: connections of the idle and crowd cases;
	// 0 sizes them to the open-file limit (see sizeConns).
	IdleConns  int `json:"idle_conns"`
	CrowdConns int `json:"crowd_conns"`
	// CrowdPeriod: how often each crowd connection sends a GET.
	CrowdPeriod time.Duration `json:"crowd_period_ns"`
	// ReleaseWait: how long the idle cases watch the proxy's RSS come back
	// down after closing their connections.
	ReleaseWait time.Duration `json:"release_wait_ns"`
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
	fs.StringVar(&o.BaseBin, "base-bin", "", "directory holding a baseline lb: adds the target lb-base (DIR/lb with lb's configs), to measure a change before/after in one run")
	fs.StringVar(&o.BaseConfig, "base-config", "", `JSON object of config keys for lb-base on top of lb's (e.g. '{"max_conns_per_backend": 128}'): adds lb-base (bin/lb itself unless --base-bin), to measure a setting side by side`)
	fs.IntVar(&o.ServerMaxConn, "server-maxconn", 0, "bound each backend's connections at N with a queue beyond it, in every proxy that has one: lb's max_conns_per_backend, HAProxy's server maxconn (HTTP mode; 0: none, the defaults). nginx's open-source build has no queue, so it takes no part")
	fs.IntVar(&o.IdleConns, "idle-conns", 0, fmt.Sprintf("connections of idle-http and idle-tcp (default: %d, or fewer when the open-file limit cannot hold them)", maxIdleConns))
	fs.IntVar(&o.CrowdConns, "crowd-conns", 0, fmt.Sprintf("connections of crowd, one GET per --crowd-period each (default: %d, or fewer when the open-file limit cannot hold them)", maxCrowdConns))
	fs.DurationVar(&o.CrowdPeriod, "crowd-period", time.Second, "crowd: time between two GETs of one connection (the rate is connections ÷ period)")
	fs.DurationVar(&o.ReleaseWait, "release-wait", 10*time.Second, "idle cases: how long to watch the proxy's RSS after closing the connections")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: peerbench [flags]")
		fmt.Fprintln(stderr, "Measures direct (one backend), bin/lb, lb-base (a baseline lb, with --base-bin and/or --base-config), lb-rp (bin/lb with")
		fmt.Fprintln(stderr, "\"forwarder\": \"reverseproxy\"; HTTP cases only), HAProxy with one thread (haproxy) and one per CPU")
		fmt.Fprintln(stderr, "(haproxy-mt), and nginx side by side on loopback, in front of the same three bin/backend processes.")
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
	if o.BaseConfig != "" {
		if err := checkBaseConfig(o.BaseConfig); err != nil {
			return o, fmt.Errorf("--base-config %s: %w", o.BaseConfig, err)
		}
		if o.BaseBin == "" {
			o.BaseBin = o.Bin
		}
	}
	// lb-base is in the run exactly when --base-bin (or --base-config) says
	// what it is.
	switch {
	case o.BaseBin != "" && !has(o.Targets, targetLBBase):
		o.Targets, _ = parseList(strings.Join(append(o.Targets, targetLBBase), ","), allTargets, "target")
	case o.BaseBin == "" && has(o.Targets, targetLBBase):
		if strings.TrimSpace(targets) != "" {
			return o, fmt.Errorf("--targets %s: lb-base needs --base-bin DIR (the directory of the baseline lb)", targets)
		}
		o.Targets = slices.DeleteFunc(o.Targets, func(t string) bool { return t == targetLBBase })
	}
	switch {
	case o.ServerMaxConn < 0:
		return o, fmt.Errorf("--server-maxconn %d: need 0 (no bound) or more", o.ServerMaxConn)
	case o.ServerMaxConn > 0 && has(o.Targets, targetNginx):
		if strings.TrimSpace(targets) != "" {
			return o, fmt.Errorf("--targets %s: nginx takes no part with --server-maxconn (its open-source build has no queue: max_conns answers 502 beyond the bound)", targets)
		}
		o.Targets = slices.DeleteFunc(o.Targets, func(t string) bool { return t == targetNginx })
	}
	if o.IdleConns < 0 {
		return o, fmt.Errorf("--idle-conns %d: need 0 (sized to the open-file limit) or more", o.IdleConns)
	}
	if o.CrowdConns < 0 {
		return o, fmt.Errorf("--crowd-conns %d: need 0 (sized to the open-file limit) or more", o.CrowdConns)
	}
	if o.CrowdPeriod < 100*time.Millisecond || o.CrowdPeriod > o.Duration {
		return o, fmt.Errorf("--crowd-period %s: need 100ms to the --duration (%s)", o.CrowdPeriod, o.Duration)
	}
	if o.ReleaseWait < time.Second {
		return o, fmt.Errorf("--release-wait %s: need at least 1s", o.ReleaseWait)
	}
	if cellCount(o.Cases, o.Targets) == 0 {
		return o, fmt.Errorf("--targets %s --cases %s: nothing to measure (lb-rp takes no part in the TCP cases, direct none in the idle ones)",
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

// checkBaseConfig checks --base-config: a JSON object with at least one key
// (what the keys mean, lb's own --check of lb-base's config says).
func checkBaseConfig(s string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return errors.New(`not a JSON object of config keys (e.g. '{"max_conns_per_backend": 128}')`)
	}
	if len(m) == 0 {
		return errors.New("no config key in it")
	}
	return nil
}

// overlayConfig rewrites the JSON config file at path with the keys of
// extra (a JSON object) added, replacing any it already has.
func overlayConfig(path, extra string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cfg, add map[string]json.RawMessage
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := json.Unmarshal([]byte(extra), &add); err != nil {
		return fmt.Errorf("--base-config: %w", err)
	}
	for k, v := range add {
		cfg[k] = v
	}
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(out, '\n'), 0o644)
}
