// Command loadtest sends load at the lblab balancer and scripts failures
// around it.
//
//	loadtest run scenarios/failover.yaml [--out results/] [--target URL] [--admin URL] [--project NAME]
//	             [--lab compose|swarm|auto] [--workers N [--workers-from local|wait|swarm]]
//	loadtest worker --coordinator HOST:PORT [--name NAME]
//	loadtest compare A.json B.json [C.json ...]
//	loadtest report RESULT.json [--html FILE]
//	loadtest attack [--url http://localhost:8080] [--path /] [--requests 1000] [--concurrency 20]
//	                [--rate 500|50/500ms --duration 10s] [-H 'Name: value' ...] [--body FILE] [--output results.json]
//
// Exit status: 0 success; 1 the run could not happen (Docker not reachable,
// lab not up, target not answering, ...); 2 usage error or bad scenario file;
// 3 a scenario's expectations failed; 130 interrupted (a partial result is
// still written).
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/lblab/lblab/loadtest/internal/attack"
	"github.com/lblab/lblab/loadtest/internal/balancer"
	"github.com/lblab/lblab/loadtest/internal/lab"
	"github.com/lblab/lblab/loadtest/internal/report"
	"github.com/lblab/lblab/loadtest/internal/runner"
	"github.com/lblab/lblab/loadtest/internal/scenario"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

// Exit statuses.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitExpectation = 3
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	onSignal := context.AfterFunc(ctx, func() {
		fmt.Fprintln(os.Stderr, "\ninterrupted: stopping the load, restoring the lab, writing the partial result (Ctrl-C again to quit at once)")
		stop() // a second Ctrl-C kills the process
	})
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	onSignal()
	stop()
	os.Exit(code)
}

const usage = `usage:
  loadtest run SCENARIO.yaml [--out results/] [--target URL] [--admin URL] [--project NAME] [--quiet] [-v] [--repeat N]
               [--lab compose|swarm|auto] [--workers N [--workers-from local|wait|swarm] [--listen ADDR] [--advertise ADDR]]
  loadtest worker --coordinator HOST:PORT [--name NAME]   (a worker of a distributed run: --workers-from wait)
  loadtest compare [--force] A.json B.json [C.json ...]   (--force: results of different scenarios or loads)
  loadtest report RESULT.json [--html FILE]     (the tables again; --html rewrites the HTML report)
  loadtest attack [--url http://localhost:8080] [--path /] [--requests N] [--concurrency N]
                  [--rate R|N/D [--arrivals constant|poisson] [--seed N]] [--duration D] [--timeout D] [--method M]
                  [-H 'K: V' ...] [--body FILE] [--output FILE]
                  [--workers N [--workers-from local|wait|swarm]]
  loadtest version

exit status: 0 ok, 1 could not run, 2 usage or scenario error, 3 expectations failed, 130 interrupted
`

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "compare":
		return cmdCompare(args[1:], stdout, stderr)
	case "report":
		return cmdReport(args[1:], stdout, stderr)
	case "attack":
		return cmdAttack(ctx, args[1:], stdout, stderr)
	case "worker":
		return cmdWorker(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "loadtest %s (%s, vegeta %s)\n", version, runtime.Version(), depVersion("github.com/tsenart/vegeta/v12"))
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "loadtest: unknown command %q\n%s", args[0], usage)
	return exitUsage
}

// parse parses flags and positional arguments in any order.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("loadtest "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func logger(stderr io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", stderr)
	out := fs.String("out", "results", "directory for the result (JSON) and report (HTML); empty: write nothing")
	target := fs.String("target", os.Getenv("LBLAB_TARGET"), "replace the scenario target's scheme, host and port (and path, if given); env LBLAB_TARGET")
	admin := fs.String("admin", os.Getenv("LBLAB_ADMIN"), "the balancer's admin API URL; env LBLAB_ADMIN (default: the scenario's)")
	token := fs.String("admin-token", os.Getenv("LBLAB_ADMIN_TOKEN"), "bearer token for the admin API; env LBLAB_ADMIN_TOKEN")
	project := fs.String("project", cmp.Or(os.Getenv("COMPOSE_PROJECT_NAME"), lab.DefaultProject), "Compose project (or Swarm stack) of the lab; env COMPOSE_PROJECT_NAME")
	labKind := fs.String("lab", cmp.Or(os.Getenv("LBLAB_LAB"), "auto"), "compose, swarm, or auto (the Swarm stack --project when this node manages one, else the Compose project); env LBLAB_LAB")
	var wf workerFlags
	wf.register(fs)
	quiet := fs.Bool("quiet", false, "no live line per second")
	verbose := fs.Bool("v", false, "log every change to the lab")
	repeat := fs.Int("repeat", 1, "run the scenario this many times, then print each key figure's mean and spread")
	pos, err := parse(fs, args)
	if err != nil {
		return exitUsage
	}
	if *repeat < 1 || *repeat > 100 {
		fmt.Fprintf(stderr, "loadtest run: --repeat %d: want 1 to 100\n", *repeat)
		return exitUsage
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "loadtest run: want one scenario file, got %d arguments\n%s", len(pos), usage)
		return exitUsage
	}
	s, err := scenario.Load(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return exitUsage
	}
	if *target != "" {
		if s.Target, err = overrideTarget(s.Target, *target); err != nil {
			fmt.Fprintln(stderr, "loadtest: --target:", err)
			return exitUsage
		}
	}
	if *admin != "" {
		s.Admin.URL = *admin
	}
	if *token != "" {
		s.Admin.Token = *token
	}
	if err := s.Validate(); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return exitUsage
	}
	if code := checkLabAndWorkers(s, *labKind, &wf, stderr); code != exitOK {
		return code
	}

	log := logger(stderr, *verbose)
	opts := runner.Options{
		Out: stdout, Log: log, OutDir: *out, Quiet: *quiet,
		Versions: versions(),
		Balancer: &balancer.Client{Admin: s.Admin.URL, Token: s.Admin.Token},
	}
	labCfg := lab.Config{Project: *project, Service: s.Lab.Service}
	if *verbose {
		labCfg.Log = log
	}
	l, closeLab, kind, err := openLab(ctx, *labKind, labCfg, s, log)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n(the scenario acts on containers: is Docker running and may this user use it?)\n", err)
		return exitError
	}
	defer closeLab()
	opts.Lab = l
	if err := s.CheckLab(kind); err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n(%s is a %s lab)\n", err, *project, kind)
		return exitUsage
	}
	load, stopLoad, err := wf.start(ctx, dockerClient(ctx, l, labCfg), *project, stdout, log)
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return exitError
	}
	defer stopLoad()
	opts.Load = load

	fmt.Fprintf(stdout, "scenario %s (%s)\n", s.Name, s.File)
	for _, line := range strings.Split(strings.TrimSpace(s.Description), "\n") {
		fmt.Fprintln(stdout, "  "+line)
	}
	var results []*report.Result
	var paths []string
	code := exitOK
	for i := range *repeat {
		if *repeat > 1 {
			fmt.Fprintf(stdout, "\n=== repeat %d/%d ===\n", i+1, *repeat)
		}
		c, o := runOnce(ctx, s, opts, stdout, stderr)
		code = worse(code, c)
		if o != nil {
			results = append(results, o.Result)
			paths = append(paths, cmp.Or(o.JSONPath, fmt.Sprintf("run %d", i+1)))
		}
		if ctx.Err() != nil || c == exitError && o == nil {
			break
		}
	}
	if *repeat > 1 && len(results) > 1 {
		fmt.Fprintln(stdout)
		if err := report.RepeatTable(stdout, paths, results); err != nil {
			fmt.Fprintln(stderr, "loadtest:", err)
		}
	}
	if ctx.Err() != nil {
		return exitInterrupted
	}
	return code
}

// worse returns the exit status that says more: interrupted, then could
// not run, then expectations failed, then ok.
func worse(a, b int) int {
	rank := map[int]int{exitOK: 0, exitExpectation: 1, exitError: 2, exitUsage: 2, exitInterrupted: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// runOnce runs the scenario once, prints its tables and returns the exit
// status of that run and its output (nil when nothing ran).
func runOnce(ctx context.Context, s *scenario.Scenario, opts runner.Options, stdout, stderr io.Writer) (int, *runner.Output) {
	o, err := runner.Run(ctx, s, opts)
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		if o == nil {
			return exitError, nil
		}
	}
	if o == nil {
		return exitError, nil
	}
	fmt.Fprintln(stdout)
	if err := report.WriteTables(stdout, o.Result); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
	}
	if o.JSONPath != "" {
		fmt.Fprintln(stdout, "\nresult:", o.JSONPath)
	}
	if o.HTMLPath != "" {
		fmt.Fprintln(stdout, "report:", o.HTMLPath)
	}
	switch {
	case err != nil:
		return exitError, o
	case o.Result.Partial && ctx.Err() != nil:
		fmt.Fprintln(stdout, "PARTIAL: interrupted")
		return exitInterrupted, o
	case o.Result.Partial:
		fmt.Fprintln(stdout, "PARTIAL: "+partialReason(o.Result))
		return exitError, o
	case !o.Result.Passed:
		fmt.Fprintln(stdout, "FAIL: expectations not met")
		return exitExpectation, o
	}
	fmt.Fprintln(stdout, "PASS")
	return exitOK, o
}

func cmdCompare(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("compare", stderr)
	force := fs.Bool("force", false, "compare results of different scenarios or loads all the same")
	files, err := parse(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(files) < 2 {
		fmt.Fprintf(stderr, "loadtest compare: want two or more result files\n%s", usage)
		return exitUsage
	}
	results := make([]*report.Result, len(files))
	for i, f := range files {
		if results[i], err = report.Load(f); err != nil {
			fmt.Fprintln(stderr, "loadtest:", err)
			return exitUsage
		}
	}
	if err := report.Comparable(files, results); err != nil {
		if !*force {
			fmt.Fprintln(stderr, "loadtest compare:", err)
			return exitUsage
		}
		fmt.Fprintln(stdout, "warning (--force):", err)
	}
	if err := report.Compare(stdout, files, results); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return exitError
	}
	return exitOK
}

func cmdReport(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("report", stderr)
	htmlOut := fs.String("html", "", "also write the HTML report to this file")
	files, err := parse(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(files) != 1 {
		fmt.Fprintf(stderr, "loadtest report: want one result file\n%s", usage)
		return exitUsage
	}
	r, err := report.Load(files[0])
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return exitUsage
	}
	if err := report.WriteTables(stdout, r); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return exitError
	}
	if *htmlOut != "" {
		f, err := os.Create(*htmlOut)
		if err == nil {
			err = report.WriteHTML(f, r)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, "loadtest: write report:", err)
			return exitError
		}
		fmt.Fprintln(stdout, "report:", *htmlOut)
	}
	return exitOK
}

func cmdAttack(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("attack", stderr)
	u := fs.String("url", cmp.Or(os.Getenv("LBLAB_TARGET"), "http://localhost:8080"), "base URL of the target")
	path := fs.String("path", "/", "path to request")
	method := fs.String("method", "GET", "HTTP method")
	var requests, concurrency, rate int
	var output string
	for _, name := range []string{"requests", "n"} {
		fs.IntVar(&requests, name, 0, "number of requests (default 1000 without --duration)")
	}
	for _, name := range []string{"concurrency", "c"} {
		fs.IntVar(&concurrency, name, 0, "workers, each sending its next request when the last returns (default 10 without --rate)")
	}
	fs.Var(rateFlag{&rate}, "rate", "rate (open model): requests per second (100), or a count per duration as vegeta's (100/1s, 50/500ms); 0 or infinity: no rate, --concurrency workers as fast as they go")
	arrivals := fs.String("arrivals", scenario.ArrivalsConstant, "with --rate: constant (evenly spaced) or poisson (exponential gaps; latency from each request's due time)")
	seed := fs.Uint64("seed", 0, "seed of the Poisson arrival times (0: random)")
	duration := fs.Duration("duration", 0, "length of the attack")
	timeout := fs.Duration("timeout", 10*time.Second, "per-request timeout")
	for _, name := range []string{"output", "o"} {
		fs.StringVar(&output, name, "", "write the result (JSON) to this file")
	}
	var headers headerFlag
	for _, name := range []string{"header", "H"} {
		fs.Var(&headers, name, "request header 'Name: value' (repeatable; a name given twice gets both values, comma-separated)")
	}
	bodyFile := fs.String("body", "", "file whose bytes are the body of every request")
	quiet := fs.Bool("quiet", false, "no live line per second")
	var wf workerFlags
	wf.register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "loadtest attack: unexpected arguments %q\n%s", pos, usage)
		return exitUsage
	}
	var body []byte
	if *bodyFile != "" {
		if body, err = os.ReadFile(*bodyFile); err != nil {
			fmt.Fprintln(stderr, "loadtest attack: read -body:", err)
			return exitUsage
		}
	}
	if requests == 0 && *duration == 0 {
		requests = 1000
	}
	if rate == 0 && concurrency == 0 {
		concurrency = 10
	}
	target, err := joinTarget(*u, *path)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest attack: bad --url/--path %q %q: %v\n", *u, *path, err)
		return exitUsage
	}
	s := &scenario.Scenario{
		Name: "attack", Description: "ad-hoc attack", Target: target, Method: strings.ToUpper(*method),
		Headers: headers.m, Body: body, Rate: rate, Concurrency: concurrency, Requests: requests,
		Arrivals: *arrivals, Seed: *seed,
		Duration: scenario.Duration(*duration), Timeout: scenario.Duration(*timeout),
	}
	s.SetDefaults()
	if err := s.Validate(); err != nil {
		fmt.Fprintln(stderr, "loadtest attack:", err)
		return exitUsage
	}
	opts := runner.Options{Out: stdout, OutFile: output, Quiet: *quiet, Versions: versions(), Log: logger(stderr, false)}
	labCfg := lab.Config{Project: cmp.Or(os.Getenv("COMPOSE_PROJECT_NAME"), lab.DefaultProject)}
	if l, err := lab.New(ctx, labCfg); err == nil {
		defer l.Close()
		opts.Lab = l // only to name backends after their containers
	}
	if code := checkLabAndWorkers(s, "auto", &wf, stderr); code != exitOK {
		return code
	}
	load, stopLoad, err := wf.start(ctx, dockerClient(ctx, opts.Lab, labCfg), labCfg.Project, stdout, opts.Log)
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return exitError
	}
	defer stopLoad()
	opts.Load = load
	o, err := runner.Run(ctx, s, opts)
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		if o == nil {
			return exitError
		}
	}
	fmt.Fprintln(stdout)
	if err := report.SummaryTable(stdout, o.Result); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
	}
	for i := range o.Result.Runs {
		_ = report.WorkersTable(stdout, &o.Result.Runs[i])
	}
	if o.JSONPath != "" {
		fmt.Fprintln(stdout, "\nresult:", o.JSONPath)
	}
	switch {
	case err != nil:
		return exitError
	case ctx.Err() != nil:
		return exitInterrupted
	}
	return exitOK
}

// joinTarget joins the attack's --url and --path; a query in either is kept
// ("/sleep?d=50ms" stays a query, not an escaped path).
func joinTarget(base, path string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("--url must be an http(s) URL with a host")
	}
	p, query, hasQuery := strings.Cut(path, "?")
	joined := u.JoinPath(p)
	if strings.HasSuffix(p, "/") && !strings.HasSuffix(joined.Path, "/") {
		joined.Path += "/"
	}
	if hasQuery {
		joined.RawQuery = query
	}
	return joined.String(), nil
}

// headerFlag collects -H/--header 'Name: value'. A name given twice keeps
// both values, joined with ", " (one field of a list, as RFC 9110 allows).
type headerFlag struct{ m map[string]string }

// String implements flag.Value.
func (h *headerFlag) String() string { return "" }

// Set implements flag.Value: it adds one header.
func (h *headerFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, ":")
	k, val = strings.TrimSpace(k), strings.TrimSpace(val)
	switch {
	case !ok || k == "":
		return errors.New("want 'Name: value'")
	case !httpguts.ValidHeaderFieldName(k):
		return fmt.Errorf("%q is not a header name", k)
	case !httpguts.ValidHeaderFieldValue(val):
		return fmt.Errorf("the value of %s has a character a header cannot carry", k)
	}
	if h.m == nil {
		h.m = map[string]string{}
	}
	k = http.CanonicalHeaderKey(k)
	if old, ok := h.m[k]; ok {
		val = old + ", " + val
	}
	h.m[k] = val
	return nil
}

// rateFlag reads --rate as attack.ParseRate does.
type rateFlag struct{ n *int }

// String implements flag.Value.
func (r rateFlag) String() string {
	if r.n == nil || *r.n == 0 {
		return "" // no default shown: 0 is no rate
	}
	return strconv.Itoa(*r.n)
}

// Set implements flag.Value.
func (r rateFlag) Set(v string) error {
	n, err := attack.ParseRate(v)
	if err != nil {
		return err
	}
	*r.n = n
	return nil
}

// overrideTarget replaces the scheme and host of target with those of flag,
// and the path too when flag has one.
func overrideTarget(target, flagValue string) (string, error) {
	t, err := url.Parse(target)
	if err != nil {
		return "", err
	}
	f, err := url.Parse(flagValue)
	if err != nil || f.Host == "" || (f.Scheme != "http" && f.Scheme != "https") {
		return "", fmt.Errorf("%q is not an http(s) URL with a host", flagValue)
	}
	t.Scheme, t.Host = f.Scheme, f.Host
	if f.Path != "" && f.Path != "/" {
		t.Path, t.RawQuery = f.Path, f.RawQuery
	}
	return t.String(), nil
}

func versions() map[string]string {
	return map[string]string{"loadtest": version, "vegeta": depVersion("github.com/tsenart/vegeta/v12"),
		"docker-client": depVersion("github.com/moby/moby/client")}
}

func depVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			return d.Version
		}
	}
	return "unknown"
}
