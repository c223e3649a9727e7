package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/loadtest/internal/balancer"
	"github.com/lblab/lblab/loadtest/internal/lab"
	"github.com/lblab/lblab/loadtest/internal/report"
	"github.com/lblab/lblab/loadtest/internal/scenario"
)

// fakeLab is an in-memory lab whose containers a fake balancer sends
// requests to, so that a scenario's actions change the traffic as they would
// in the real lab, but with a detection delay fixed at detectDelay. It serves
// only TestRunFailover, which checks the timeline and the figures derived
// from it exactly; everything that talks to Docker or to the balancer's admin
// API is tested against the real ones: the lab package against the daemon,
// and every action, Ctrl-C, the algorithms list and the preflight through
// this runner against the Compose lab in loadtest/test/e2e.
type fakeLab struct {
	mu       sync.Mutex
	cs       []*fakeContainer
	restored int
	changed  bool
}

type fakeContainer struct {
	lab.Container
	since time.Time // when State last changed
}

const detectDelay = 300 * time.Millisecond

// startupDelay is how long a started container takes before it answers. It
// also keeps a request stamped just before a start (and handled a little
// late on a busy machine) from reaching the restarted backend and counting
// in the phase before it.
const startupDelay = 60 * time.Millisecond

func newFakeLab(n int) *fakeLab {
	l := &fakeLab{}
	for i := 1; i <= n; i++ {
		l.add(i)
	}
	return l
}

func (l *fakeLab) add(i int) *fakeContainer {
	c := &fakeContainer{Container: lab.Container{ID: fmt.Sprintf("%012d", i) + "ffff", Name: fmt.Sprintf("lblab_backend_%d", i),
		Service: "backend", Number: i, Hostname: fmt.Sprintf("%012d", i), State: "running"}}
	l.cs = append(l.cs, c)
	return c
}

func (l *fakeLab) find(ref lab.Ref) (*fakeContainer, error) {
	for _, c := range l.cs {
		if (ref.Number > 0 && c.Number == ref.Number) || (ref.Name != "" && c.Name == ref.Name) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("find %s: no such container", ref)
}

func (l *fakeLab) set(ref lab.Ref, state string) (lab.Container, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := l.find(ref)
	if err != nil {
		return lab.Container{}, err
	}
	c.State, c.since = state, time.Now()
	l.changed = l.changed || state != "running"
	return c.Container, nil
}

func (l *fakeLab) Project() string                         { return "lblab" }
func (l *fakeLab) Version(context.Context) (string, error) { return "fake", nil }
func (l *fakeLab) Changed() bool                           { l.mu.Lock(); defer l.mu.Unlock(); return l.changed }
func (l *fakeLab) Kill(_ context.Context, r lab.Ref) (lab.Container, error) {
	return l.set(r, "exited")
}
func (l *fakeLab) Stop(_ context.Context, r lab.Ref, _ time.Duration) (lab.Container, error) {
	return l.set(r, "exited")
}
func (l *fakeLab) Start(_ context.Context, r lab.Ref) (lab.Container, error) {
	return l.set(r, "running")
}
func (l *fakeLab) Restart(_ context.Context, r lab.Ref, _ time.Duration) (lab.Container, error) {
	return l.set(r, "running")
}
func (l *fakeLab) Pause(_ context.Context, r lab.Ref) (lab.Container, error) {
	return l.set(r, "paused")
}
func (l *fakeLab) Unpause(_ context.Context, r lab.Ref) (lab.Container, error) {
	return l.set(r, "running")
}
func (l *fakeLab) Disconnect(_ context.Context, r lab.Ref) (lab.Container, error) {
	return l.set(r, "cut")
}
func (l *fakeLab) Reconnect(_ context.Context, r lab.Ref) (lab.Container, error) {
	return l.set(r, "running")
}

func (l *fakeLab) Find(_ context.Context, r lab.Ref) (lab.Container, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := l.find(r)
	if err != nil {
		return lab.Container{}, err
	}
	return c.Container, nil
}

func (l *fakeLab) List(_ context.Context, _ string) ([]lab.Container, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []lab.Container
	for _, c := range l.cs {
		out = append(out, c.Container)
	}
	return out, nil
}

func (l *fakeLab) Scale(context.Context, string, int) (added, removed []lab.Container, err error) {
	return nil, nil, errors.New("fakeLab: scale is tested against the real lab (loadtest/test/e2e)")
}

func (l *fakeLab) WaitHealthy(context.Context, string) ([]lab.Container, error) {
	return nil, errors.New("fakeLab: wait_healthy is tested against the real lab (loadtest/test/e2e)")
}

func (l *fakeLab) BackendName(x string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.cs {
		if c.Hostname == x {
			return c.Name
		}
	}
	return ""
}

func (l *fakeLab) Restore(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.cs {
		c.State = "running"
	}
	l.restored++
	l.changed = false
	return nil
}

// balancer returns a fake balancer in front of the lab: round robin over the
// containers; one taken out still gets requests (which fail with 502, no
// X-Backend) until detectDelay has passed; one started gets requests once
// startupDelay has passed.
func (l *fakeLab) balancer(t *testing.T) *httptest.Server {
	var mu sync.Mutex
	next := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		var pick *fakeContainer
		for range len(l.cs) {
			mu.Lock()
			c := l.cs[next%len(l.cs)]
			next++
			mu.Unlock()
			ready := c.State == "running" && time.Since(c.since) >= startupDelay
			if ready || (c.State != "running" && time.Since(c.since) < detectDelay) {
				pick = c
				break
			}
		}
		var up bool
		var name string
		if pick != nil {
			up, name = pick.State == "running", pick.Hostname
		}
		l.mu.Unlock()
		if !up {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.Header().Set("X-Backend", name)
		_, _ = fmt.Fprintf(w, `{"backend":%q}`, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fakeAdmin is the admin API's status for TestRunFailover: it lists the
// lab's containers, down once detectDelay has passed since they stopped.
type fakeAdmin struct {
	lab *fakeLab
}

func (a *fakeAdmin) Status(context.Context) (balancer.Status, error) {
	st := balancer.Status{Algorithm: "round_robin"}
	a.lab.mu.Lock()
	defer a.lab.mu.Unlock()
	for _, c := range a.lab.cs {
		up := c.State == "running" || time.Since(c.since) < detectDelay
		st.Backends = append(st.Backends, balancer.Backend{Name: c.Name + ":8000", Address: "10.0.0." + fmt.Sprint(c.Number) + ":8000",
			Healthy: up, State: map[bool]string{true: "up", false: "down"}[up]})
	}
	return st, nil
}

func (a *fakeAdmin) Algorithm(context.Context) (string, error) { return "round_robin", nil }

func (a *fakeAdmin) SetAlgorithm(context.Context, string) error {
	return errors.New("fakeAdmin: set_algorithm is tested against the real balancer (loadtest/test/e2e)")
}

func (a *fakeAdmin) WaitHealthy(context.Context, int) (balancer.Status, error) {
	return balancer.Status{}, errors.New("fakeAdmin: wait_healthy is tested against the real balancer (loadtest/test/e2e)")
}

const failoverYAML = `
name: failover-short
description: a few seconds of failover against a fake lab
target: %s/info
rate: 100
duration: 4s
warmup: 500ms
timeline:
  - at: 1s
    action: kill
    target: 2
    phase: down
  - at: 1800ms
    action: mark
    phase: detected
  - at: 2500ms
    action: start
    target: 2
    phase: recovered
expect:
  max_error_rate: 20%%
  max_time_to_detect: 1s
  max_time_to_recover: 1s
  phases:
    detected:
      max_errors: 0
      no_traffic_to: [2]
    recovered:
      traffic_to: [2]
`

func load(t *testing.T, doc string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("test.yaml", []byte(doc))
	require.NoError(t, err)
	return s
}

func TestRunFailover(t *testing.T) {
	fl := newFakeLab(3)
	srv := fl.balancer(t)
	s := load(t, fmt.Sprintf(failoverYAML, srv.URL))
	dir := t.TempDir()
	var out bytes.Buffer
	o, err := Run(t.Context(), s, Options{Out: &out, OutDir: dir, Lab: fl, Balancer: &fakeAdmin{lab: fl}, Versions: map[string]string{"loadtest": "test"}})
	require.NoError(t, err)
	t.Log("\n" + out.String())
	res := o.Result
	require.Len(t, res.Runs, 1)
	run := res.Runs[0]

	// Live lines and announcements.
	// The tick at 1 s and the kill at 1 s race: the line names either phase.
	assert.Regexp(t, `\[  1s/4s (steady|down)\] +\d+/s answered`, out.String())
	// The kill is due at 1 s; a busy machine fires the timer late (1.1 s seen).
	assert.Regexp(t, `>>    1\.[0-4]s  kill backend:2 -> lblab_backend_2  \[phase down\]`, out.String())
	assert.Contains(t, out.String(), "start backend:2")
	assert.Contains(t, out.String(), "backend_1 ")
	assert.Equal(t, 1, fl.restored, "the lab is restored at the end") // nothing changed after start, but Changed was set

	// The killed backend's share drops to zero after detection and comes back.
	phase := func(name string) map[string]int {
		for _, p := range run.Phases {
			if p.Name == name {
				return p.Backends
			}
		}
		t.Fatalf("no phase %s", name)
		return nil
	}
	assert.Zero(t, phase("detected")["000000000002"])
	assert.Positive(t, phase("recovered")["000000000002"])
	assert.Positive(t, phase("down")["-"], "requests failed before detection")

	require.Len(t, run.Derived, 1)
	d := run.Derived[0]
	assert.Equal(t, "000000000002", d.Backend)
	require.NotNil(t, d.DetectMs)
	assert.InDelta(t, float64(detectDelay.Milliseconds()), *d.DetectMs, 150)
	require.NotNil(t, d.RecoverMs)
	assert.Less(t, *d.RecoverMs, 200.0)
	assert.Positive(t, d.FailedRequests)
	// The balancer's status, polled every 250 ms, shows it down after
	// detectDelay and up right after the start.
	require.NotNil(t, d.BalancerDownMs)
	assert.InDelta(t, float64(detectDelay.Milliseconds()), *d.BalancerDownMs, float64(pollEvery.Milliseconds())+100)
	require.NotNil(t, d.BalancerUpMs)
	assert.LessOrEqual(t, *d.BalancerUpMs, float64(pollEvery.Milliseconds())+100)
	require.NotEmpty(t, run.Balancer)
	assert.Equal(t, "000000000002", run.Balancer[1].Backend, "events are named by X-Backend")

	for _, e := range run.Expectations {
		assert.True(t, e.Passed, "%+v", e)
	}
	assert.True(t, res.Passed)
	assert.False(t, res.Partial)

	// The files: JSON with every field, and the HTML report.
	require.FileExists(t, o.HTMLPath)
	data, err := os.ReadFile(o.JSONPath)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	for _, k := range []string{"schema", "scenario", "settings", "versions", "environment", "started", "finished", "partial", "passed", "runs"} {
		assert.Contains(t, m, k)
	}
	r0 := m["runs"].([]any)[0].(map[string]any)
	for _, k := range []string{"label", "total", "phases", "backends", "seconds", "actions", "derived", "expectations", "containers", "warmup_ms", "end_ms"} {
		assert.Contains(t, r0, k)
	}
	assert.Equal(t, "failover-short", m["scenario"].(map[string]any)["name"])
	assert.Len(t, r0["seconds"], 4)
	assert.True(t, strings.HasPrefix(filepath.Base(o.JSONPath), "failover-short-"))
	loaded, err := report.Load(o.JSONPath)
	require.NoError(t, err)
	assert.Equal(t, run.Total.Requests, loaded.Runs[0].Total.Requests)
	checkSchema(t, o.JSONPath)
	assert.NotEmpty(t, r0["derived"])
	assert.NotEmpty(t, r0["balancer_events"])
	assert.InDelta(t, 350, run.Total.Requests, 40) // 100/s over 3.5 s after warm-up
}

// target answers like the balancer in front of three backends.
func target(t *testing.T) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		name := fmt.Sprintf("b%d", n%3)
		mu.Unlock()
		w.Header().Set("X-Backend", name)
		_, _ = fmt.Fprintf(w, `{"backend":%q}`, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRunFailingExpectation(t *testing.T) {
	srv := target(t)
	doc := fmt.Sprintf(`
target: %s/
name: strict
rate: 100
duration: 1500ms
timeline:
  - at: 500ms
    action: mark
    phase: later
expect:
  max_errors: 0
  max_p99: 1ns
  phases:
    later:
      min_success_rate: 100%%
      max_p50: 1ns
`, srv.URL)
	o, err := Run(t.Context(), load(t, doc), Options{Out: &bytes.Buffer{}})
	require.NoError(t, err)
	assert.False(t, o.Result.Passed)
	var failed []string
	for _, e := range o.Result.Runs[0].Expectations {
		if !e.Passed {
			failed = append(failed, e.Check+" "+e.Scope)
		}
	}
	assert.ElementsMatch(t, []string{"max_p99 total", "max_p50 phase later"}, failed)
	assert.Empty(t, o.JSONPath, "no output directory, no file")
}

// slowStopLab is a fakeLab whose stop takes stopTakes, or until its context
// ends, as a stop through a slow Docker daemon does.
type slowStopLab struct {
	*fakeLab
	stopTakes time.Duration
}

func (l *slowStopLab) Stop(ctx context.Context, r lab.Ref, d time.Duration) (lab.Container, error) {
	select {
	case <-ctx.Done():
		return lab.Container{}, ctx.Err()
	case <-time.After(l.stopTakes):
	}
	return l.fakeLab.Stop(ctx, r, d)
}

// TestRunLateAction: an action still running when the load ends (a slow
// daemon) finishes and is reported; one whose turn had not come is reported
// as not played, and fails the "actions" check.
func TestRunLateAction(t *testing.T) {
	srv := target(t)
	doc := fmt.Sprintf(`
target: %s/
name: late
rate: 20
duration: 1s
timeline:
  - at: 300ms
    action: stop
    target: 2
  - at: 800ms
    action: mark
    phase: never
`, srv.URL)
	fl := &slowStopLab{fakeLab: newFakeLab(3), stopTakes: 1500 * time.Millisecond}
	begin := time.Now()
	o, err := Run(t.Context(), load(t, doc), Options{Out: &bytes.Buffer{}, Lab: fl})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(begin), 1800*time.Millisecond, "the run waited for the stop")
	run := o.Result.Runs[0]
	require.Len(t, run.Actions, 2)
	stop, mark := run.Actions[0], run.Actions[1]
	assert.Equal(t, "stop", stop.Action)
	assert.Empty(t, stop.Error, "the stop finished after the load")
	assert.GreaterOrEqual(t, stop.TookMs, 1500.0)
	assert.Equal(t, "mark", mark.Action)
	assert.Contains(t, mark.Error, "not played: the load ended at")
	assert.False(t, run.Passed)
	var failed []string
	for _, e := range run.Expectations {
		if !e.Passed {
			failed = append(failed, e.Check)
		}
	}
	assert.Equal(t, []string{"actions"}, failed)
	assert.Equal(t, 1, fl.restored, "the lab is restored at the end")
}

// TestRunCancelWritesPartial cancels a run without a lab (the lab's restore
// on cancel is tested against the real one in loadtest/test/e2e).
func TestRunCancelWritesPartial(t *testing.T) {
	srv := target(t)
	doc := fmt.Sprintf(`
target: %s/
name: cut
rate: 50
duration: 30s
timeline:
  - at: 300ms
    action: mark
    phase: marked
  - at: 20s
    action: mark
    phase: never
`, srv.URL)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(1200*time.Millisecond, cancel)
	dir := t.TempDir()
	begin := time.Now()
	o, err := Run(ctx, load(t, doc), Options{Out: &bytes.Buffer{}, OutDir: dir})
	require.NoError(t, err)
	assert.Less(t, time.Since(begin), 5*time.Second)
	assert.True(t, o.Result.Partial)
	assert.False(t, o.Result.Passed)
	assert.True(t, o.Result.Runs[0].Partial)
	loaded, err := report.Load(o.JSONPath)
	require.NoError(t, err)
	assert.True(t, loaded.Partial)
	checkSchema(t, o.JSONPath)
	assert.InDelta(t, 60, loaded.Runs[0].Total.Requests, 15)
	assert.Len(t, loaded.Runs[0].Actions, 1, "the action that ran")
}

func TestPreflight(t *testing.T) {
	srv := target(t)
	withTimeline := func(target string) string {
		return fmt.Sprintf("target: %s\nrate: 10\nduration: 1s\ntimeline:\n  - at: 0s\n    action: kill\n    target: 1\n", target)
	}
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"target not answering", withTimeline("http://127.0.0.1:1/"), "not answering"},
		{"no docker", withTimeline(srv.URL), "Docker is not available"},
		{"no admin", fmt.Sprintf("target: %s\nrate: 10\nduration: 1s\nalgorithms: [random]\n", srv.URL), "admin API"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(t.Context(), load(t, tt.doc), Options{})
			require.ErrorIs(t, err, ErrPreflight)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

// checkSchema checks a result file against results/schema.json (the JSON
// Schema of result files, precision of the figures included).
func checkSchema(t *testing.T, path string) {
	t.Helper()
	sch, err := jsonschema.NewCompiler().Compile("../../../results/schema.json")
	require.NoError(t, err)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err)
	require.NoError(t, sch.Validate(doc))
}
