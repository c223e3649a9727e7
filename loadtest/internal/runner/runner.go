// Package runner runs a scenario: it checks the lab is up, sends the load,
// plays the timeline of actions at their times under the same context, prints
// a live line per second, and on the end or on cancellation (Ctrl-C) stops
// the load, restores the lab and writes the result, marked partial when cut
// short.
package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/lblab/lblab/loadtest/internal/attack"
	"github.com/lblab/lblab/loadtest/internal/balancer"
	"github.com/lblab/lblab/loadtest/internal/lab"
	"github.com/lblab/lblab/loadtest/internal/report"
	"github.com/lblab/lblab/loadtest/internal/scenario"
)

// Lab is the part of *lab.Lab the runner uses.
type Lab interface {
	Project() string
	Version(ctx context.Context) (string, error)
	List(ctx context.Context, service string) ([]lab.Container, error)
	Find(ctx context.Context, ref lab.Ref) (lab.Container, error)
	Kill(ctx context.Context, ref lab.Ref) (lab.Container, error)
	Stop(ctx context.Context, ref lab.Ref, timeout time.Duration) (lab.Container, error)
	Start(ctx context.Context, ref lab.Ref) (lab.Container, error)
	Restart(ctx context.Context, ref lab.Ref, timeout time.Duration) (lab.Container, error)
	Pause(ctx context.Context, ref lab.Ref) (lab.Container, error)
	Unpause(ctx context.Context, ref lab.Ref) (lab.Container, error)
	Disconnect(ctx context.Context, ref lab.Ref) (lab.Container, error)
	Reconnect(ctx context.Context, ref lab.Ref) (lab.Container, error)
	Scale(ctx context.Context, service string, n int) (added, removed []lab.Container, err error)
	WaitHealthy(ctx context.Context, service string) ([]lab.Container, error)
	BackendName(xBackend string) string
	Changed() bool
	Restore(ctx context.Context) error
}

var _ Lab = (*lab.Lab)(nil)

// Configurer is a Lab that can change a test backend's settings through its
// control API (the Compose lab).
type Configurer interface {
	Configure(ctx context.Context, ref lab.Ref, port int, patch map[string]any) (lab.Container, error)
}

var _ Configurer = (*lab.Lab)(nil)

// Balancer is the part of the balancer's admin API the runner uses.
type Balancer interface {
	Status(ctx context.Context) (balancer.Status, error)
	Algorithm(ctx context.Context) (string, error)
	SetAlgorithm(ctx context.Context, name string) error
	WaitHealthy(ctx context.Context, min int) (balancer.Status, error)
}

var _ Balancer = (*balancer.Client)(nil)

// Options configure a run.
type Options struct {
	// Out receives the live lines and announcements; default os.Stdout.
	Out io.Writer
	// Log receives diagnostics; default: discard.
	Log *slog.Logger
	// OutDir, when set, receives <scenario>-<time>.json and .html.
	OutDir string
	// OutFile, when set, is the path of the JSON result (no HTML); it wins
	// over OutDir.
	OutFile string
	// Lab controls the containers; nil when Docker is not available, which
	// only scenarios without container actions accept.
	Lab Lab
	// Balancer is the admin API; nil when not available, which only
	// scenarios without set_algorithm and algorithms accept.
	Balancer Balancer
	// Backends reads the test backends' settings and stats (the supermarket
	// scenario); nil: a backends.Client.
	Backends Backends
	// Load sends the load elsewhere than from this process (the workers of
	// a distributed run); nil: this process attacks (attack.Run).
	Load Load
	// Versions are recorded in the result (e.g. "loadtest", "go", "vegeta").
	Versions map[string]string
	// Quiet turns the live line off (announcements stay).
	Quiet bool
	// RestoreTimeout bounds restoring the lab; default 2 minutes.
	RestoreTimeout time.Duration
}

// Output is what Run produced.
type Output struct {
	Result   *report.Result
	JSONPath string // "" when not written
	HTMLPath string // "" when not written
}

// ErrPreflight wraps the problems found before anything starts: target not
// answering, lab not up, admin API unreachable.
var ErrPreflight = errors.New("cannot start")

type runner struct {
	s    *scenario.Scenario
	opts Options
	out  io.Writer
	log  *slog.Logger

	// rate and label, when set, replace the scenario's rate and the run's
	// label for the next runOnce (the supermarket's runs).
	rate  int
	label string

	mu   sync.Mutex        // guards seen
	seen map[string]string // "service:number" and container name -> X-Backend, for every container seen

	// The run under way: its target and balancer (a variant's, or the
	// scenario's).
	target string
	bal    Balancer
}

// balancer returns the balancer of the run under way.
func (r *runner) balancer() Balancer {
	if r.bal != nil {
		return r.bal
	}
	return r.opts.Balancer
}

// remember records the containers' X-Backend names, so expectations can name
// replicas that are gone by the end of the run.
func (r *runner) remember(cs ...lab.Container) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]string{}
	}
	for _, c := range cs {
		if c.Hostname == "" {
			continue
		}
		if c.Number > 0 {
			r.seen[scenario.Target{Service: c.Service, Number: c.Number}.String()] = c.Hostname
		}
		r.seen[c.Name] = c.Hostname
	}
}

func (r *runner) recall(t scenario.Target) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	x, ok := r.seen[t.String()]
	return x, ok
}

// Run runs the scenario s: once, or once per algorithm when s.Algorithms is
// set. Cancelling ctx stops the load; the lab is restored and the result
// written (partial) all the same. The error is non-nil only when nothing
// could run or the result could not be written; failed expectations are in
// the result.
func Run(ctx context.Context, s *scenario.Scenario, opts Options) (*Output, error) {
	r := &runner{s: s, opts: opts, out: cmp.Or[io.Writer](opts.Out, os.Stdout), log: opts.Log}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.opts.RestoreTimeout <= 0 {
		r.opts.RestoreTimeout = 2 * time.Minute
	}
	if err := r.preflight(ctx); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPreflight, err)
	}
	shape, err := r.measureShape(ctx)
	if err != nil && r.s.Lab.Shape != nil {
		return nil, fmt.Errorf("%w: measure the lab's shape: %w", ErrPreflight, err)
	}
	if err := r.checkShape(shape); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPreflight, err)
	}
	res := r.newResult(ctx)
	res.Lab = shape

	var origAlg string
	if s.UsesAdmin() {
		var err error
		if origAlg, err = opts.Balancer.Algorithm(ctx); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPreflight, err)
		}
	}

	labels := s.Algorithms
	if len(labels) == 0 || s.Supermarket != nil {
		labels = []string{""}
	}
	if len(s.Variants) > 0 {
		labels = labels[:0]
		for _, v := range s.Variants {
			labels = append(labels, v.Name)
		}
	}
	wantRuns := len(labels)
	if s.Supermarket != nil {
		labels, wantRuns = nil, supermarketRuns(s)
		r.supermarket(ctx, res)
	}
	for i, alg := range labels {
		if ctx.Err() != nil {
			break
		}
		label := alg
		r.target, r.bal = s.Target, nil
		if len(s.Variants) > 0 {
			v := s.Variants[i]
			alg = ""
			r.target = cmp.Or(v.Target, s.Target)
			if v.Admin != "" {
				r.bal = &balancer.Client{Admin: v.Admin, Token: s.Admin.Token}
			}
			fmt.Fprintf(r.out, "== run %d/%d: %s (%s) ==\n", i+1, len(labels), v.Name, r.target)
		}
		if alg != "" {
			fmt.Fprintf(r.out, "== run %d/%d: algorithm %s ==\n", i+1, len(labels), alg)
			if err := opts.Balancer.SetAlgorithm(ctx, alg); err != nil {
				res.Errors = append(res.Errors, err.Error())
				break
			}
			if !sleep(ctx, nil, s.Settle.D()) {
				break
			}
		}
		run, err := r.runOnce(ctx, alg, cmp.Or(label, s.Name))
		if err != nil {
			res.Errors = append(res.Errors, err.Error())
			break
		}
		res.Runs = append(res.Runs, *run)
		if i+1 < len(labels) && opts.Lab != nil && opts.Lab.Changed() {
			r.restoreLab(ctx, res)
		}
	}

	// Put things back, whatever happened.
	r.restoreLab(ctx, res)
	if origAlg != "" {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		cur, err := opts.Balancer.Algorithm(rctx)
		if err == nil && cur != origAlg {
			err = opts.Balancer.SetAlgorithm(rctx, origAlg)
			if err == nil {
				fmt.Fprintf(r.out, "restored the balancer's algorithm to %s\n", origAlg)
			}
		}
		if err != nil {
			res.Errors = append(res.Errors, "restore algorithm: "+err.Error())
		}
		cancel()
	}

	res.Finished = time.Now()
	res.Partial = ctx.Err() != nil || len(res.Runs) < wantRuns || anyPartial(res.Runs)
	if len(res.Runs) == 0 {
		// Nothing ran: still record it, as a partial result.
		res.Partial = true
	}
	res.Passed = !res.Partial && len(res.Errors) == 0
	for i := range res.Runs {
		res.Passed = res.Passed && res.Runs[i].Passed
	}
	return r.write(res)
}

// preflight checks what the scenario needs before anything starts.
func (r *runner) preflight(ctx context.Context) error {
	targets := []string{r.s.Target}
	if len(r.s.Variants) > 0 {
		targets = targets[:0]
		for _, v := range r.s.Variants {
			targets = append(targets, cmp.Or(v.Target, r.s.Target))
		}
	}
	for _, t := range targets {
		if err := checkTarget(ctx, t); err != nil {
			return err
		}
	}
	if r.s.UsesDocker() {
		if r.opts.Lab == nil {
			return errors.New("the scenario acts on containers but Docker is not available")
		}
		all, err := r.opts.Lab.List(ctx, r.s.Lab.Service)
		if err != nil {
			return err
		}
		running := 0
		for _, c := range all {
			if c.State == "running" {
				running++
			}
		}
		if running == 0 {
			return fmt.Errorf("lab not up: no running container of service %q in Compose project %q (start it with: make lab-up)",
				r.s.Lab.Service, r.opts.Lab.Project())
		}
	}
	if r.opts.Lab != nil {
		// Learn every container, to name backends in the live line.
		all, err := r.opts.Lab.List(ctx, "")
		if err != nil {
			r.log.Warn("list containers", "err", err)
		}
		r.remember(all...)
	}
	if r.s.UsesAdmin() {
		if r.opts.Balancer == nil {
			return errors.New("the scenario switches algorithms but the balancer's admin API is not configured")
		}
		if _, err := r.opts.Balancer.Algorithm(ctx); err != nil {
			return err
		}
	}
	return nil
}

// checkTarget sends one request to the target; any HTTP answer will do.
func checkTarget(ctx context.Context, target string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("check target: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("target %s not answering: %w (is the lab up? start it with: make lab-up)", target, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.Body.Close()
}

func (r *runner) newResult(ctx context.Context) *report.Result {
	s := r.s
	host, _ := os.Hostname()
	res := &report.Result{
		Schema:   report.Schema,
		Scenario: report.ScenarioInfo{Name: s.Name, File: s.File, Description: s.Description, Definition: s},
		Settings: report.Settings{
			Target: s.Target, Method: s.Method, BodyBytes: len(s.Body), Rate: s.Rate, Concurrency: s.Concurrency, Requests: s.Requests,
			DurationS: s.Duration.D().Seconds(), WarmupS: s.Warmup.D().Seconds(), TimeoutS: s.Timeout.D().Seconds(),
			KeepAlive: new(s.KeepsAlive()), Algorithms: s.Algorithms, Service: s.Lab.Service,
		},
		Versions:    map[string]string{"go": runtime.Version()},
		Environment: report.Environment{Hostname: host, OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU()},
		Started:     time.Now(),
		Runs:        []report.Run{},
	}
	res.Settings.Model = "closed"
	if s.Rate > 0 || s.Supermarket != nil {
		res.Settings.Model = "open"
		res.Settings.Arrivals = cmp.Or(s.Arrivals, scenario.ArrivalsConstant)
	}
	if s.UsesAdmin() {
		res.Settings.Admin = s.Admin.URL
	}
	maps.Copy(res.Versions, r.opts.Versions)
	if r.opts.Lab != nil {
		res.Settings.Project = r.opts.Lab.Project()
		if v, err := r.opts.Lab.Version(ctx); err == nil {
			res.Environment.Docker = v
			res.Versions["docker"] = v
		}
	}
	return res
}

// restoreLab undoes the lab changes, with a context of its own so that it
// also runs after Ctrl-C.
func (r *runner) restoreLab(ctx context.Context, res *report.Result) {
	if r.opts.Lab == nil || !r.opts.Lab.Changed() {
		return
	}
	fmt.Fprintln(r.out, "restoring the lab (unpause, reconnect, start, backend settings, scale back) ...")
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.RestoreTimeout)
	defer cancel()
	if err := r.opts.Lab.Restore(rctx); err != nil {
		fmt.Fprintln(r.out, "restore failed:", err)
		res.Errors = append(res.Errors, err.Error())
		return
	}
	fmt.Fprintln(r.out, "lab restored")
}

// write writes the JSON result and, with OutDir, the HTML report.
func (r *runner) write(res *report.Result) (*Output, error) {
	out := &Output{Result: res}
	switch {
	case r.opts.OutFile != "":
		out.JSONPath = r.opts.OutFile
	case r.opts.OutDir != "":
		out.JSONPath = filepath.Join(r.opts.OutDir, report.FileName(res.Scenario.Name, res.Started))
		out.HTMLPath = strings.TrimSuffix(out.JSONPath, ".json") + ".html"
	default:
		return out, nil
	}
	if err := report.WriteJSON(out.JSONPath, res); err != nil {
		return out, err
	}
	if out.HTMLPath != "" {
		f, err := os.Create(out.HTMLPath)
		if err != nil {
			return out, fmt.Errorf("write report: %w", err)
		}
		err = report.WriteHTML(f, res)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return out, fmt.Errorf("write report: %w", err)
		}
	}
	return out, nil
}

// runOnce sends the load once and plays the timeline against it.
func (r *runner) runOnce(ctx context.Context, alg, label string) (*report.Run, error) {
	s := r.s
	label = cmp.Or(r.label, label, alg, s.Name)
	cfg := AttackConfig(s, label)
	cfg.URL = cmp.Or(r.target, s.Target)
	if r.rate > 0 {
		cfg.Rate = r.rate
	}
	grayBefore := r.grayCounts(ctx)
	results, start, err := r.startLoad(ctx, cfg)
	if err != nil {
		return nil, err
	}
	agg := attack.NewAggregator(start, s.Warmup.D(), s.Phase)
	agg.SetSlow(s.Slow.D())
	// The timeline outlives the load by up to lateActionGrace (an action
	// still running then finishes); the status poll ends with the load.
	tctx, tcancel := context.WithCancel(ctx)
	defer tcancel()
	// The gray-failure counters from the end of the warm-up, as the
	// requests they are set against (the extra share): counted from the
	// start, the warm-up's hedges were set against the requests after it.
	grayFrom := make(chan map[string]float64, 1)
	if s.Warmup > 0 && grayBefore != nil {
		go func() {
			t := time.NewTimer(time.Until(start.Add(s.Warmup.D())))
			defer t.Stop()
			select {
			case <-t.C:
				grayFrom <- r.grayCounts(tctx)
			case <-tctx.Done():
				grayFrom <- nil
			}
		}()
	} else {
		grayFrom <- grayBefore
	}
	pctx, pcancel := context.WithCancel(ctx)
	defer pcancel()
	loadOver := make(chan struct{})
	events := make(chan report.Action)
	go r.timeline(tctx, start, agg, events, loadOver)
	var polled []report.BalancerEvent
	var graySamples []graySample
	var pollWG sync.WaitGroup
	if r.balancer() != nil {
		pollWG.Go(func() { polled = r.poll(pctx, start, &graySamples) })
	}

	live := &liveLine{r: r, start: start, phase: s.Phase}
	if s.Warmup > 0 {
		live.phase = scenario.WarmupPhase
	}
	if !r.opts.Quiet {
		fmt.Fprintln(r.out, "(live line: requests answered in the last second, by the time of the answer; the tables count by the time each was sent)")
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var actions []report.Action
	var end time.Time
	for results != nil || events != nil {
		select {
		case res, ok := <-results:
			if !ok {
				results, end = nil, time.Now()
				close(loadOver) // no action starts now; the one running finishes
				pcancel()
				grace := time.AfterFunc(lateActionGrace, tcancel)
				defer grace.Stop()
				continue
			}
			if d := s.Duration.D(); d > 0 && res.Timestamp.Sub(start) >= d {
				continue // the pacer's overshoot past the duration
			}
			agg.Add(res)
			live.add(res)
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			actions = append(actions, ev)
			live.announce(ev)
		case now := <-tick.C:
			if results != nil {
				live.print(now)
			}
		}
	}
	if d := s.Duration.D(); d > 0 && end.Sub(start) > d && ctx.Err() == nil {
		end = start.Add(d) // the wait for the last answers is not part of the run
	}
	tcancel()
	pcancel()
	pollWG.Wait()

	sum := agg.Close(end)
	run := &report.Run{
		Label: label, Algorithm: alg, Started: start, Partial: ctx.Err() != nil,
		Summary: *sum, Actions: actions,
	}
	if run.Actions == nil {
		run.Actions = []report.Action{}
	}
	r.finishLoad(run)
	run.Balancer = r.nameEvents(polled)
	from := <-grayFrom
	if from == nil {
		from = grayBefore // not read at the end of the warm-up: from the start
	}
	run.Gray = grayDiff(from, r.grayCounts(context.WithoutCancel(ctx)))
	run.GraySeconds = graySeconds(graySamples, len(run.Seconds))
	run.Containers = r.containers(run)
	r.orchestrator(run, start, end)
	run.Derived = report.Derive(run.Seconds, run.Actions, run.Balancer, run.EndMs)
	if run.Derived == nil {
		run.Derived = []report.Derived{}
	}
	run.Expectations = r.evaluate(ctx, run)
	run.Passed = !run.Partial
	for _, o := range run.Expectations {
		run.Passed = run.Passed && o.Passed
	}
	return run, nil
}

// containers maps the run's X-Backend values to container names.
func (r *runner) containers(run *report.Run) map[string]string {
	out := map[string]string{}
	add := func(x, name string) {
		if x != "" && x != attack.NoBackend && name != "" {
			out[x] = name
		}
	}
	for _, a := range run.Actions {
		add(a.Backend, a.Container)
		for i, x := range a.Added {
			add(x, a.AddedNames[i])
		}
		for i, x := range a.Removed {
			add(x, a.RemovedNames[i])
		}
	}
	if r.opts.Lab != nil {
		for _, b := range run.Backends {
			add(b.Name, r.opts.Lab.BackendName(b.Name))
		}
		for _, s := range run.Seconds {
			for x := range s.Backends {
				if _, ok := out[x]; !ok {
					add(x, r.opts.Lab.BackendName(x))
				}
			}
		}
	}
	return out
}

// lateActionGrace bounds how long an action still running when the load
// ends (a slow Docker daemon made it late) may go on: it finishes and is
// reported, as it would have been within the load.
const lateActionGrace = time.Minute

// timeline plays the actions, one after the other, each at its time or as
// soon as the one before it has finished; it closes events when done or when
// ctx ends. Every action that started is reported. Once loadOver is closed
// no action starts: those still to come are reported as not played, with an
// error, so that a timeline the lab was too slow for fails its "actions"
// check instead of losing actions silently.
func (r *runner) timeline(ctx context.Context, start time.Time, agg *attack.Aggregator, events chan<- report.Action, loadOver <-chan struct{}) {
	defer close(events)
	for i, a := range r.s.Timeline {
		if !sleep(ctx, loadOver, time.Until(start.Add(a.At.D()))) {
			if ctx.Err() != nil {
				return
			}
			over := time.Since(start)
			for _, a := range r.s.Timeline[i:] {
				events <- report.Action{
					PlannedMs: ms(a.At.D()), AtMs: ms(over), Action: a.Action, Target: a.Target, Phase: a.Phase, Note: a.Note,
					Error: fmt.Sprintf("not played: the load ended at %s, before its turn (the actions before it ran late)",
						over.Round(time.Millisecond)),
				}
			}
			return
		}
		now := time.Now()
		if a.Phase != "" {
			agg.Mark(a.Phase, now)
		}
		events <- r.do(ctx, a, start, now)
	}
}

// sleep waits for d or until ctx ends or stop is closed; it reports whether
// it waited to the end.
func sleep(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	select {
	case <-stop:
		return false
	default:
	}
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-stop:
			return false
		case <-t.C:
		}
	}
	return ctx.Err() == nil
}

func header(h map[string]string) http.Header {
	if len(h) == 0 {
		return nil
	}
	out := http.Header{}
	for k, v := range h {
		out.Set(k, v)
	}
	return out
}

// ms converts a duration to float milliseconds, rounded to microseconds.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// liveLine prints the per-second line and the action announcements. The
// line shows the requests answered during the last second (by arrival, so
// that slow answers show up as a drop, not as silence until they come).
type liveLine struct {
	r     *runner
	start time.Time
	phase string
	names map[string]string

	n, ok, errs int
	lat         vegeta.LatencyMetrics
	back        map[string]int
}

func (l *liveLine) label(x string) string {
	if l.names == nil {
		l.names = map[string]string{}
	}
	if n, ok := l.names[x]; ok {
		return n
	}
	n := x
	if x == attack.NoBackend {
		n = "(none)"
	} else if l.r.opts.Lab != nil {
		if c := l.r.opts.Lab.BackendName(x); c != "" {
			n = report.ShortName(c)
		}
	}
	if n != x || x == attack.NoBackend {
		l.names[x] = n
	}
	return n
}

// add counts one answer.
func (l *liveLine) add(res *vegeta.Result) {
	l.n++
	if res.Code >= 200 && res.Code < 400 {
		l.ok++
	} else {
		l.errs++
	}
	l.lat.Add(res.Latency)
	if l.back == nil {
		l.back = map[string]int{}
	}
	b := attack.NoBackend
	if res.Headers != nil {
		b = cmp.Or(res.Headers.Get(attack.BackendHeader), attack.NoBackend)
	}
	l.back[b]++
}

// print writes the line of the second that just ended and starts the next.
func (l *liveLine) print(now time.Time) {
	defer func() { l.n, l.ok, l.errs, l.lat, l.back = 0, 0, 0, vegeta.LatencyMetrics{}, nil }()
	if l.r.opts.Quiet {
		return
	}
	s := l.r.s
	elapsed := now.Sub(l.start)
	if s.Warmup > 0 && l.phase == scenario.WarmupPhase && elapsed >= s.Warmup.D() {
		l.phase = s.Phase
	}
	sec := int((elapsed + time.Second/2) / time.Second)
	total := fmt.Sprintf("%ds", int(s.Duration.D().Seconds()))
	if s.Duration == 0 {
		total = fmt.Sprintf("%d req", s.Requests)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%3ds/%s %s] %5d/s answered", sec, total, l.phase, l.n)
	if l.n > 0 {
		fmt.Fprintf(&b, "  ok %6.2f%%  p99 %8s", 100*float64(l.ok)/float64(l.n), report.FormatMs(ms(l.lat.Quantile(0.99))))
	}
	if l.errs > 0 {
		fmt.Fprintf(&b, "  errors %d", l.errs)
	}
	named := 0
	for k, n := range l.back {
		if k != attack.NoBackend {
			named += n
		}
	}
	if named > 0 {
		keys := slices.Collect(maps.Keys(l.back))
		keys = slices.DeleteFunc(keys, func(k string) bool { return k == attack.NoBackend })
		slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(l.label(a), l.label(b)) })
		b.WriteString("  |")
		for _, k := range keys {
			fmt.Fprintf(&b, " %s %.0f%%", l.label(k), 100*float64(l.back[k])/float64(named))
		}
	}
	fmt.Fprintln(l.r.out, b.String())
}

// announce writes one line for an action that ran.
func (l *liveLine) announce(a report.Action) {
	if a.Phase != "" {
		l.phase = a.Phase
	}
	var b strings.Builder
	mark := ">>"
	if a.Error != "" {
		mark = "!!"
	}
	fmt.Fprintf(&b, "%s %6.1fs  %s", mark, a.AtMs/1000, a.Label())
	if a.Container != "" {
		fmt.Fprintf(&b, " -> %s", a.Container)
	}
	if a.Phase != "" {
		fmt.Fprintf(&b, "  [phase %s]", a.Phase)
	}
	if a.Error != "" {
		fmt.Fprintf(&b, "  FAILED after %.0fms: %s", a.TookMs, a.Error)
	} else {
		fmt.Fprintf(&b, "  (%.0fms)", a.TookMs)
	}
	if a.Note != "" {
		fmt.Fprintf(&b, "  # %s", a.Note)
	}
	fmt.Fprintln(l.r.out, b.String())
}
