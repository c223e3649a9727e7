// Package e2e runs scenarios end to end: the repository's Compose lab (real
// images, real containers, the real balancer), the real runner, Docker API
// client and admin API client, and bin/loadtest as a process. It needs a
// Docker daemon: without one it skips loudly (fails when CI=true); -short
// skips it.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/loadtest/internal/attack"
	"github.com/lblab/lblab/loadtest/internal/balancer"
	"github.com/lblab/lblab/loadtest/internal/lab"
	"github.com/lblab/lblab/loadtest/internal/report"
	"github.com/lblab/lblab/loadtest/internal/runner"
	"github.com/lblab/lblab/loadtest/internal/scenario"
	"github.com/lblab/lblab/testkit/composelab"
)

// testBudget bounds the whole test (the lab takes about a minute in all, on
// a busy machine three; the lab shape step starts and removes a container).
const testBudget = 4 * time.Minute

// env is what every subtest needs: the lab and clients for it.
type env struct {
	lab *composelab.Lab
	ctl *lab.Lab         // the Docker API, on the lab's project
	bal *balancer.Client // the lab's admin API
}

// TestScenarios builds the images, starts the Compose lab and runs short
// scenarios through it: a failover (the result file, the killed backend's
// share, the expectations), a failing expectation through bin/loadtest (exit
// status 3), every timeline action, Ctrl-C mid-run (the lab restored, a
// partial result), the algorithms list, and the "lab not up" preflight.
// Everything it created is removed when it ends, pass or fail.
func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: Compose lab end-to-end test (needs Docker; not run with -short)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), testBudget)
	defer cancel()
	cl := composelab.New(t, "lblabe2e", "loadtest")
	begin := time.Now()
	cl.BuildImages(ctx)
	cl.Up(ctx)

	ctl, err := lab.New(ctx, lab.Config{Project: cl.Project, StopTimeout: 2 * time.Second})
	if errors.Is(err, lab.ErrNoDocker) {
		composelab.NoDocker(t, "%v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = ctl.Close() })
	e := &env{lab: cl, ctl: ctl, bal: &balancer.Client{Admin: cl.URL(cl.AdminPort, "")}}
	e.waitHealthy(t, ctx)
	t.Logf("lab up with 3 healthy backends %s after the start", time.Since(begin).Round(time.Millisecond))

	steps := []struct {
		name string
		fn   func(*testing.T, context.Context, *env)
	}{
		{"failover", testFailover},
		{"failing expectation exits 3", testFailingExpectation},
		{"algorithms", testAlgorithms},
		{"every action", testEveryAction},
		{"interrupted run restores the lab", testInterrupted},
		{"lab not up", testLabNotUp},
		{"lab shape", testShape},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.fn(t, ctx, e) }) {
			t.FailNow() // the lab may be left in any state: stop here
		}
		e.waitHealthy(t, ctx)
	}
	t.Logf("all scenarios ran in %s", time.Since(begin).Round(time.Millisecond))
}

// waitHealthy waits until the containers of service backend are running and
// healthy and the balancer lists them, healthy, and nothing down.
func (e *env) waitHealthy(t *testing.T, ctx context.Context) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	ready, err := e.ctl.WaitHealthy(wctx, "backend")
	require.NoError(t, err)
	require.Len(t, ready, 3, "three backend replicas")
	st, err := e.bal.WaitHealthy(wctx, 3)
	require.NoError(t, err, "balancer status: %+v", st)
}

// scenarioDoc fills a scenario template: %[1]d is the lb port, %[2]d the admin port.
func (e *env) scenarioDoc(t *testing.T, name, tmpl string) *scenario.Scenario {
	t.Helper()
	doc := fmt.Sprintf(tmpl, e.lab.LBPort, e.lab.AdminPort)
	s, err := scenario.Parse(name+".yaml", []byte(doc))
	require.NoError(t, err)
	return s
}

// run runs s with the real lab and admin API and logs its output and tables.
func (e *env) run(t *testing.T, ctx context.Context, s *scenario.Scenario, outDir string) *runner.Output {
	t.Helper()
	var out bytes.Buffer
	o, err := runner.Run(ctx, s, runner.Options{
		Out: &out, OutDir: outDir, Lab: e.ctl, Balancer: e.bal,
		Versions: map[string]string{"loadtest": "e2e-test"},
	})
	if o != nil {
		_ = report.WriteTables(&out, o.Result)
	}
	t.Logf("%s\n%s", s.Name, out.String())
	require.NoError(t, err)
	return o
}

const failoverYAML = `
name: e2e-failover
description: a few seconds of failover against the real Compose lab
target: http://127.0.0.1:%[1]d/info
rate: 100
duration: 32s
warmup: 1s
timeout: 5s        # above the lab's request_timeout (3 s)
# Slow from 2.5 s, not the default 1 s: beside two busy loops, requests still
# in flight when the daemon started backend 2 again took 1-2 s, and counted
# as the kill's slow requests they made the time to detect 6.49 s, the
# length of the window (the balancer had seen backend 2 down in 285 ms).
slow: 2500ms
admin:
  url: http://127.0.0.1:%[2]d
timeline:
  - at: 3500ms
    action: kill
    target: 2
    phase: backend down
  - at: 9s
    action: mark
    phase: detected
  - at: 10s
    action: start
    target: 2
    phase: recovering
  # The recovered phase starts once backend 2 is healthy again, in Docker
  # and in the balancer, not at a planned time: a busy daemon took 12.7 s
  # for the start, and a mark planned at 20 s then fell after the load.
  - at: 10500ms
    action: wait_healthy
    timeout: 15s
  - at: 13s
    action: mark
    phase: recovered
expect:
  # These bounds count from each action's start, as the runner does, and so
  # include what the daemon took for it; testFailover checks the tight ones
  # from when the daemon's calls returned.
  max_error_rate: 8%%         # the start of backend 2 on a machine that stalled: 5.94%% (95 of 1,600)
  max_time_to_detect: 6s      # a busy daemon took 3.1 s for the kill (3.49 s to detect)
  max_time_to_recover: 20s    # a busy daemon took 12.7 s for the start
  phases:
    steady:
      max_errors: 0
    detected:
      max_errors: 0
      no_traffic_to: [2]
    recovered:
      max_errors: 0
      traffic_to: [2]
`

// Tight bounds of the failover, counted from when the daemon's kill and
// start calls returned (the container dead, the container running), so that
// a slow daemon does not count against the balancer. On a quiet machine lb
// takes about 1 s for each (health checks every 0.5 s, two to change state,
// DNS every second). Beside two busy loops detection once took 4.1 s (the
// checks' own timers stall too), hence 5 s for both.
const (
	detectAfterKill   = 5 * time.Second
	recoverAfterStart = 5 * time.Second
)

// testFailover kills backend 2 under load and starts it again, through the
// runner, and checks the result file, the killed backend's share over time
// and the expectations.
func testFailover(t *testing.T, ctx context.Context, e *env) {
	victim, err := e.ctl.Find(ctx, lab.Ref{Service: "backend", Number: 2})
	require.NoError(t, err)
	dir := t.TempDir()
	o := e.run(t, ctx, e.scenarioDoc(t, "e2e-failover", failoverYAML), dir)
	res := o.Result
	require.Len(t, res.Runs, 1)
	run := res.Runs[0]
	for _, x := range run.Expectations {
		assert.True(t, x.Passed, "expectation %s (%s): limit %s, actual %s", x.Check, x.Scope, x.Limit, x.Actual)
	}
	assert.True(t, res.Passed, "expectations pass")
	assert.False(t, res.Partial)

	// The result file has every field.
	require.FileExists(t, o.HTMLPath)
	data, err := os.ReadFile(o.JSONPath)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	hasKeys(t, "result", m, "schema", "scenario", "settings", "versions", "environment", "started", "finished", "partial", "passed", "runs")
	hasKeys(t, "scenario", obj(t, m["scenario"]), "name", "file", "description", "definition")
	hasKeys(t, "settings", obj(t, m["settings"]), "target", "method", "model", "rate", "duration_s", "warmup_s", "timeout_s", "keepalive", "project", "service")
	hasKeys(t, "versions", obj(t, m["versions"]), "loadtest", "go", "docker")
	hasKeys(t, "environment", obj(t, m["environment"]), "hostname", "os", "arch", "cpus", "docker")
	assert.Equal(t, "e2e-failover", obj(t, m["scenario"])["name"])
	assert.Equal(t, e.lab.Project, obj(t, m["settings"])["project"])
	runs := m["runs"].([]any)
	require.Len(t, runs, 1)
	r0 := obj(t, runs[0])
	hasKeys(t, "run", r0, "label", "started", "partial", "passed", "warmup_ms", "end_ms", "total", "phases", "backends",
		"seconds", "containers", "actions", "balancer_events", "derived", "expectations")
	hasKeys(t, "total", obj(t, r0["total"]), "requests", "success", "errors", "success_rate", "error_rate", "rate", "latency_ms", "status_codes", "backends")
	phases := r0["phases"].([]any)
	var phaseNames []string
	for _, p := range phases {
		po := obj(t, p)
		hasKeys(t, "phase", po, "name", "start_ms", "end_ms", "requests", "latency_ms", "backends")
		phaseNames = append(phaseNames, po["name"].(string))
	}
	assert.Equal(t, []string{"warm-up", "steady", "backend down", "detected", "recovering", "recovered"}, phaseNames)
	seconds := r0["seconds"].([]any)
	assert.Len(t, seconds, 32, "one entry per second")
	hasKeys(t, "second", obj(t, seconds[0]), "t", "requests", "success", "errors", "p50_ms", "p95_ms", "p99_ms", "backends")
	actions := r0["actions"].([]any)
	require.Len(t, actions, 5)
	// Each action starts at its time, or as soon as the one before it has
	// finished (a kill through a busy daemon took 3.1 s).
	due := 0.0
	for i, a := range actions {
		ao := obj(t, a)
		hasKeys(t, "action", ao, "planned_ms", "at_ms", "took_ms", "action")
		due = max(due, ao["planned_ms"].(float64))
		assert.InDelta(t, due, ao["at_ms"], 500, "action %d ran on time", i)
		due = ao["at_ms"].(float64) + ao["took_ms"].(float64)
	}
	hasKeys(t, "kill", obj(t, actions[0]), "target", "container", "backend", "phase")
	derived := r0["derived"].([]any)
	require.Len(t, derived, 1)
	hasKeys(t, "derived", obj(t, derived[0]), "event", "backend", "container", "fault_ms", "failed_requests", "slow_requests",
		"time_to_detect_ms", "balancer_down_ms", "recovery", "recovery_ms", "first_served_ms", "time_to_recover_ms", "balancer_up_ms")
	require.NotEmpty(t, r0["expectations"])
	hasKeys(t, "expectation", obj(t, r0["expectations"].([]any)[0]), "check", "scope", "limit", "actual", "passed")
	loaded, err := report.Load(o.JSONPath)
	require.NoError(t, err)
	assert.Equal(t, run.Total.Requests, loaded.Runs[0].Total.Requests)
	assert.InDelta(t, 3100, run.Total.Requests, 30, "100/s over the 31 s after the warm-up")

	// The killed backend: named by its container, its share drops to zero
	// once the balancer noticed and comes back after the start.
	x := victim.Hostname
	require.Equal(t, x, run.Actions[0].Backend, "the kill names the backend by its X-Backend")
	assert.Equal(t, victim.Name, run.Containers[x])
	d := run.Derived[0]
	require.Equal(t, x, d.Backend)
	require.NotNil(t, d.FaultMs)
	require.NotNil(t, d.DetectMs)
	require.NotNil(t, d.RecoveryMs)
	require.NotNil(t, d.FirstServedMs)
	require.NotNil(t, d.RecoverMs)
	require.NotNil(t, d.BalancerDownMs, "the balancer's status showed it down")
	require.NotNil(t, d.BalancerUpMs, "and up again")
	t.Logf("kill: %d failed, %d slow, time to detect %.0fms (lb: %.0fms), time to recover %.0fms (lb: %.0fms)",
		d.FailedRequests, d.SlowRequests, *d.DetectMs, *d.BalancerDownMs, *d.RecoverMs, *d.BalancerUpMs)
	// From what the daemon did: the kill and the start as they returned.
	kill, start := run.Actions[0], run.Actions[2]
	require.Equal(t, []string{"kill", "start"}, []string{kill.Action, start.Action})
	killed, started := kill.AtMs+kill.TookMs, start.AtMs+start.TookMs
	t.Logf("kill returned at %.0fms (took %.0fms), start at %.0fms (took %.0fms), wait_healthy took %.0fms",
		killed, kill.TookMs, started, start.TookMs, run.Actions[3].TookMs)
	assert.LessOrEqual(t, *d.FaultMs+*d.DetectMs-killed, ms(detectAfterKill),
		"clients stopped meeting backend 2 within %s of the kill returning", detectAfterKill)
	assert.LessOrEqual(t, *d.FaultMs+*d.BalancerDownMs-killed, ms(detectAfterKill),
		"the balancer showed backend 2 down within %s of the kill returning", detectAfterKill)
	assert.LessOrEqual(t, *d.FirstServedMs-started, ms(recoverAfterStart),
		"backend 2 served again within %s of the start returning", recoverAfterStart)
	detected := *d.FaultMs + *d.DetectMs
	served := func(s int) int { return run.Seconds[s].Backends[x].Requests }
	for s := range run.Seconds {
		from, to := float64(s*1000), float64(s*1000+1000)
		switch {
		case to <= *d.FaultMs:
			assert.Positive(t, served(s), "second %d: before the kill, it serves its share", s)
		case from >= detected && to <= *d.RecoveryMs:
			assert.Zero(t, served(s), "second %d: after detection, before the start, it serves nothing", s)
		case from >= *d.FirstServedMs:
			assert.Positive(t, served(s), "second %d: after the restart, it serves again", s)
		}
	}
	share := func(phase string) float64 {
		for _, p := range run.Phases {
			if p.Name == phase {
				named := 0
				for b, n := range p.Backends {
					if b != "-" {
						named += n
					}
				}
				require.Positive(t, named, phase)
				return float64(p.Backends[x]) / float64(named)
			}
		}
		t.Fatalf("no phase %q", phase)
		return 0
	}
	assert.InDelta(t, 1.0/3, share("steady"), 0.05, "round robin share before the kill")
	assert.Zero(t, share("detected"))
	assert.InDelta(t, 1.0/3, share("recovered"), 0.05, "round robin share after the restart")
}

// testFailingExpectation runs bin/loadtest as a process: a short scenario
// with an expectation no run can meet exits with status 3 and says FAIL.
func testFailingExpectation(t *testing.T, ctx context.Context, e *env) {
	dir := t.TempDir()
	file := filepath.Join(dir, "e2e-strict.yaml")
	doc := `name: e2e-strict
description: an expectation no run can meet
target: http://127.0.0.1:8080/info    # --target puts the lab's port in
rate: 50
duration: 3s
timeline:
  - at: 1s
    action: mark
    phase: later
expect:
  max_error_rate: 1%
  max_p99: 1µs
`
	require.NoError(t, os.WriteFile(file, []byte(doc), 0o644))
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, e.lab.Bins["loadtest"], "run", file, "--quiet",
		"--out", filepath.Join(dir, "results"),
		"--target", e.lab.URL(e.lab.LBPort, ""), "--admin", e.lab.URL(e.lab.AdminPort, ""),
		"--project", e.lab.Project)
	cmd.Env = append(slices.Clone(e.lab.Env), "LBLAB_TARGET=", "LBLAB_ADMIN=")
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("bin/loadtest run:\n%s%s", stdout.String(), stderr.String())
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "bin/loadtest exits non-zero")
	assert.Equal(t, 3, exit.ExitCode(), "exit status 3: expectations failed")
	assert.Contains(t, stdout.String(), "FAIL: expectations not met")
	assert.Regexp(t, `max_p99 +│ total +│ +1µs`, stdout.String())

	files, err := filepath.Glob(filepath.Join(dir, "results", "e2e-strict-*.json"))
	require.NoError(t, err)
	require.Len(t, files, 1, "the result is written all the same")
	r, err := report.Load(files[0])
	require.NoError(t, err)
	assert.False(t, r.Passed)
	assert.False(t, r.Partial)
	var failed []string
	for _, x := range r.Runs[0].Expectations {
		if !x.Passed {
			failed = append(failed, x.Check)
		}
	}
	assert.Equal(t, []string{"max_p99"}, failed, "only the impossible expectation fails")
}

const algorithmsYAML = `
name: e2e-algorithms
description: the same short load once per algorithm
target: http://127.0.0.1:%[1]d/info
rate: 50
duration: 1500ms
settle: 200ms
admin:
  url: http://127.0.0.1:%[2]d
algorithms: [least_connections, power_of_two]
expect:
  min_success_rate: 99%%
`

// testAlgorithms switches the real balancer's algorithm before each run and
// puts the original back at the end.
func testAlgorithms(t *testing.T, ctx context.Context, e *env) {
	before, err := e.bal.Algorithm(ctx)
	require.NoError(t, err)
	o := e.run(t, ctx, e.scenarioDoc(t, "e2e-algorithms", algorithmsYAML), "")
	require.Len(t, o.Result.Runs, 2)
	for i, alg := range []string{"least_connections", "power_of_two"} {
		run := o.Result.Runs[i]
		assert.Equal(t, alg, run.Label)
		assert.Equal(t, alg, run.Algorithm)
		// 50/s for 1.5 s: 75 planned, never more; beside two busy loops the
		// client sent only 67 and 68 of them within the 1.5 s (the sends
		// that fell late, after the end, are left out), so fewer are
		// allowed, down to 80% (a run cut to 1 s, 50, still fails).
		assert.LessOrEqual(t, run.Total.Requests, 76, alg)
		assert.GreaterOrEqual(t, run.Total.Requests, 60, alg)
		assert.GreaterOrEqual(t, len(run.Backends), 2, "%s spreads the load", alg)
	}
	assert.True(t, o.Result.Passed)
	after, err := e.bal.Algorithm(ctx)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the original algorithm is back")
}

const everyActionYAML = `
name: e2e-actions
description: every timeline action once, against the real lab
target: http://127.0.0.1:%[1]d/info
rate: 50
duration: 30s
timeout: 5s
admin:
  url: http://127.0.0.1:%[2]d
timeline:
  - {at: 500ms, action: scale, service: backend, replicas: 4, phase: four}
  - {at: 1s, action: wait_healthy, timeout: 20s}
  - {at: 4s, action: mark, phase: four serving}
  - {at: 5s, action: stop, target: 1, timeout: 1s}
  - {at: 6s, action: start, target: 1}
  - {at: 7s, action: restart, target: lblabe2e-placeholder, timeout: 1s}
  - {at: 8s, action: pause, target: 2}
  - {at: 8500ms, action: unpause, target: "backend:2"}
  - {at: 9s, action: disconnect, target: 1}
  - {at: 9500ms, action: reconnect, target: 1}
  - {at: 10s, action: set_algorithm, algorithm: least_connections}
  - {at: 10500ms, action: set_algorithm, algorithm: round_robin}
  - {at: 11s, action: configure, target: 2, settings: {latency: 1ms}}
  - {at: 20s, action: scale, replicas: 3, phase: three again}
expect:
  phases:
    four serving:
      traffic_to: [4]
`

// testEveryAction plays every action of the timeline through the runner
// against the real lab: each must succeed, the replica the scale adds must
// serve, and the lab must be as before at the end. A busy Docker daemon
// takes seconds per container start or stop (8 s for a start was seen), and
// the timeline plays one action after another, so the actions get slack:
// the phase the check needs comes first, the scale back last, planned 9 s
// after the others and 10 s before the end of the load (an action still
// running then finishes; one not yet started would fail the run).
func testEveryAction(t *testing.T, ctx context.Context, e *env) {
	third, err := e.ctl.Find(ctx, lab.Ref{Service: "backend", Number: 3})
	require.NoError(t, err)
	// Target by container name, as a scenario may.
	tmpl := strings.Replace(everyActionYAML, "lblabe2e-placeholder", third.Name, 1)
	o := e.run(t, ctx, e.scenarioDoc(t, "e2e-actions", tmpl), "")
	run := o.Result.Runs[0]

	var ran []string
	for _, a := range run.Actions {
		assert.Empty(t, a.Error, "%s", a.Label())
		ran = append(ran, a.Action)
	}
	// Every action but kill, which the failover step plays, and drain, which
	// acts on Swarm nodes (loadtest/test/swarm).
	want := slices.DeleteFunc(slices.Clone(scenario.Actions), func(a string) bool { return a == scenario.Kill || a == scenario.Drain })
	assert.ElementsMatch(t, want, slices.Compact(slices.Sorted(slices.Values(ran))), "every action ran")
	require.Len(t, run.Actions, 14)
	assert.Equal(t, third.Name, run.Actions[5].Container, "restart by container name")
	scaleUp := run.Actions[0]
	require.Len(t, scaleUp.Added, 1, "scale to 4 added one replica")
	assert.Equal(t, e.lab.Project+"_backend_4", scaleUp.AddedNames[0])
	assert.Contains(t, run.Actions[1].Detail, "4 backend healthy")
	require.Len(t, run.Actions[13].Removed, 1, "scale to 3 removed it")
	assert.Equal(t, scaleUp.Added, run.Actions[13].Removed, "scale to 3 removed the replica scale to 4 added")
	for _, x := range run.Expectations {
		assert.True(t, x.Passed, "expectation %s (%s): limit %s, actual %s", x.Check, x.Scope, x.Limit, x.Actual)
	}
	assert.Positive(t, run.Phases[slices.IndexFunc(run.Phases, func(p attack.PhaseStats) bool { return p.Name == "four serving" })].Backends[scaleUp.Added[0]],
		"the new replica served in phase four serving")

	// The lab is as it was: three replicas, running, on the network, the
	// algorithm back to round_robin.
	all, err := e.ctl.List(ctx, "backend")
	require.NoError(t, err)
	require.Len(t, all, 3)
	for _, c := range all {
		assert.Equal(t, "running", c.State, c.Name)
		assert.Equal(t, []string{e.lab.Project + "_default"}, c.Networks, c.Name)
	}
	alg, err := e.bal.Algorithm(ctx)
	require.NoError(t, err)
	assert.Equal(t, "round_robin", alg)
}

const interruptedYAML = `
name: e2e-interrupted
description: cut short while three backends are down
target: http://127.0.0.1:%[1]d/info
rate: 50
duration: 30s
admin:
  url: http://127.0.0.1:%[2]d
timeline:
  - {at: 300ms, action: pause, target: 1}
  - {at: 400ms, action: kill, target: 2}
  - {at: 500ms, action: disconnect, target: 3}
  - {at: 20s, action: unpause, target: 1}
`

// testInterrupted cancels a run (Ctrl-C) while it has one backend paused,
// one killed and one cut off: the runner restores all three through the
// Docker API and writes a partial result.
func testInterrupted(t *testing.T, ctx context.Context, e *env) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Ctrl-C once the daemon shows all three out, not at a fixed time: a
	// busy daemon took 0.5 s for the pause, and a cancel at 1.5 s caught the
	// kill half done.
	var cancelled atomic.Int64
	go func() {
		defer func() { cancelled.Store(time.Now().UnixNano()); cancel() }()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && rctx.Err() == nil; time.Sleep(50 * time.Millisecond) {
			all, err := e.ctl.List(rctx, "backend")
			out := 0
			for _, c := range all {
				switch {
				case c.Number == 1 && c.State == "paused", c.Number == 2 && c.State == "exited", c.Number == 3 && len(c.Networks) == 0:
					out++
				}
			}
			if err == nil && out == 3 {
				return
			}
		}
	}()
	dir := t.TempDir()
	begin := time.Now()
	o := e.run(t, rctx, e.scenarioDoc(t, "e2e-interrupted", interruptedYAML), dir)
	require.NotZero(t, cancelled.Load(), "cancelled")
	assert.Less(t, time.Since(time.Unix(0, cancelled.Load())), 15*time.Second, "stops at once, restore included")
	assert.True(t, o.Result.Partial)
	assert.False(t, o.Result.Passed)
	assert.Empty(t, o.Result.Errors, "restored without errors")
	require.Len(t, o.Result.Runs[0].Actions, 3, "the actions that ran")
	loaded, err := report.Load(o.JSONPath)
	require.NoError(t, err)
	assert.True(t, loaded.Partial, "the file says partial")
	// Sent before all three were out, answered; the rest hung until the
	// cancel aborted them, which drops them.
	assert.Positive(t, loaded.Runs[0].Total.Requests)
	assert.LessOrEqual(t, loaded.Runs[0].Total.Requests, int(50*time.Unix(0, cancelled.Load()).Sub(begin).Seconds())+1, "50/s until the cancel at most")

	all, err := e.ctl.List(ctx, "backend")
	require.NoError(t, err)
	require.Len(t, all, 3)
	for _, c := range all {
		assert.Equal(t, "running", c.State, "%s restored", c.Name)
		assert.Equal(t, []string{e.lab.Project + "_default"}, c.Networks, "%s reconnected", c.Name)
	}
	assert.False(t, e.ctl.Changed())
}

// testLabNotUp points the runner at a project with no containers: it
// refuses to start, naming the project.
func testLabNotUp(t *testing.T, ctx context.Context, e *env) {
	empty, err := lab.New(ctx, lab.Config{Project: fmt.Sprintf("lblabe2enone%d", time.Now().UnixNano())})
	require.NoError(t, err)
	defer empty.Close()
	s := e.scenarioDoc(t, "e2e-notup", "target: http://127.0.0.1:%[1]d/\nrate: 10\nduration: 1s\n"+
		"timeline:\n  - {at: 0s, action: kill, target: 1}\n")
	_, err = runner.Run(ctx, s, runner.Options{Out: &bytes.Buffer{}, Lab: empty})
	require.ErrorIs(t, err, runner.ErrPreflight)
	assert.ErrorContains(t, err, "lab not up")
	assert.ErrorContains(t, err, empty.Project())
}

// ms is d in milliseconds, as the result file counts.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func obj(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	require.True(t, ok, "want a JSON object, got %T", v)
	return m
}

func hasKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		assert.Contains(t, m, k, "%s has %q", what, k)
	}
}
