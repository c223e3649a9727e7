// Package swarm runs the lab as a Docker Swarm stack end to end: the
// repository's swarm/stack.yaml on a single-node swarm (initialised for the
// test only when this node is in none, and left again afterwards, also when
// the test fails), the real balancer and backends, the runner driving the
// stack through the Swarm lab, and bin/loadtest as a process for a
// distributed attack whose workers are a Swarm service. Without a Docker
// daemon, or on a node where no swarm can be used, it skips loudly (fails
// when CI=true); -short skips it.
package swarm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/loadtest/internal/balancer"
	"github.com/lblab/lblab/loadtest/internal/lab"
	"github.com/lblab/lblab/loadtest/internal/report"
	"github.com/lblab/lblab/loadtest/internal/runner"
	"github.com/lblab/lblab/loadtest/internal/scenario"
	"github.com/lblab/lblab/testkit/composelab"
)

// testBudget bounds the whole test (it takes about a minute on a busy
// two-core machine, most of it the two timed runs).
const testBudget = 3 * time.Minute

// env is what every subtest needs.
type env struct {
	cl    *composelab.Lab
	stack string
	token string
	ctl   *lab.Swarm
	bal   *balancer.Client
	ours  bool // this test initialised the swarm
}

// TestSwarmStack deploys the stack and runs, against it: a failover under
// load with no failed request and Swarm's replacement reported; a scale from
// 3 to 5 backends and back with the new tasks served; a 2-worker
// distributed attack whose merged count is the sum of the workers'; and the
// bad inputs (an action Swarm cannot do, a drain on a single node, a
// make swarm-up into a swarm it did not initialise). The stack, the images
// and a swarm it initialised are removed when it ends, pass or fail.
func TestSwarmStack(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: Swarm stack end-to-end test (needs Docker; not run with -short)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), testBudget)
	defer cancel()
	begin := time.Now()
	cl := composelab.New(t, "lbsw", "loadtest")
	e := &env{cl: cl, stack: "lbsw" + strings.TrimPrefix(cl.Tag, "test-")}
	// Images first: their removal, registered first, then runs after the
	// stack and a swarm this test initialised are gone.
	workerImage := buildWorkerImage(t, ctx, cl) // in the background, while the others build
	cl.BuildImages(ctx)
	require.NoError(t, <-workerImage, "build the workers' image")
	imagesAt := time.Since(begin)
	cl.LockExclusive(5 * time.Minute) // alone on the daemon while a swarm may come and go: see composelab/lock.go
	e.ours = joinSwarm(t, ctx, cl)
	swarmAt := time.Since(begin)
	e.deploy(t, ctx)
	t.Logf("stack %s up with 3 healthy backends %s after the start (images built at %s, swarm ready at %s)", e.stack,
		time.Since(begin).Round(time.Millisecond), imagesAt.Round(time.Millisecond), swarmAt.Round(time.Millisecond))

	steps := []struct {
		name string
		fn   func(*testing.T, context.Context, *env)
	}{
		{"failover under load", testFailover},
		{"scale 3 to 5 to 3", testScale},
		{"distributed attack by a 2-task worker service", testDistributed},
		{"bad input", testBadInput},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.fn(t, ctx, e) }) {
			t.FailNow() // the stack may be left in any state: stop here
		}
	}
	t.Logf("all steps ran in %s", time.Since(begin).Round(time.Millisecond))
}

// joinSwarm makes sure this node manages a swarm: it uses one that is
// active, or initialises a single-node swarm when there is none (and then
// leaves it, and removes the docker_gwbridge network it brought, when the
// test ends). It skips loudly (fails with CI=true) when the node is a
// worker or its swarm is locked, pending or in error, or init fails. It
// reports whether it initialised the swarm.
func joinSwarm(t *testing.T, ctx context.Context, cl *composelab.Lab) bool {
	t.Helper()
	out := strings.Fields(cl.Run(ctx, "docker", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"))
	require.Len(t, out, 2)
	switch {
	case out[0] == "active" && out[1] == "true":
		t.Log("using the swarm this node manages already (it is left as it is)")
		return false
	case out[0] == "active":
		noSwarm(t, "this node is a swarm worker: stacks are deployed from managers")
	case out[0] != "inactive":
		noSwarm(t, "this node's swarm is %s", out[0])
	}
	_, gwErr := cl.Cmd(ctx, "docker", "network", "inspect", "docker_gwbridge")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), composelab.CmdTimeout)
		defer cancel()
		began := time.Now()
		// The swarm's task containers are all this test's (there was no swarm
		// before it): kill them rather than wait for their graceful stops.
		if ids, _ := cl.Cmd(ctx, "docker", "ps", "-q", "--filter", "label=com.docker.swarm.task.id"); strings.TrimSpace(ids) != "" {
			_, _ = cl.Cmd(ctx, append([]string{"docker", "kill"}, strings.Fields(ids)...)...)
		}
		if out, err := cl.Cmd(ctx, "docker", "swarm", "leave", "--force"); err != nil {
			t.Errorf("cleanup: docker swarm leave --force: %v: %s", err, out)
			return
		}
		// Leaving removes the swarm's tasks; the engine stops and removes their
		// containers (all this test's: there was no swarm before it).
		for {
			ids, _ := cl.Cmd(ctx, "docker", "ps", "-aq", "--filter", "label=com.docker.swarm.task.id")
			if strings.TrimSpace(ids) == "" {
				break
			}
			select {
			case <-ctx.Done():
				t.Errorf("cleanup: Swarm task containers left after leaving the swarm: %q", strings.Fields(ids))
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
		if gwErr != nil { // the init created it; the swarm's sandboxes leave it a few seconds after
			for {
				out, err := cl.Cmd(ctx, "docker", "network", "rm", "docker_gwbridge")
				if _, inspectErr := cl.Cmd(ctx, "docker", "network", "inspect", "docker_gwbridge"); err == nil || inspectErr != nil {
					break
				}
				select {
				case <-ctx.Done():
					t.Errorf("cleanup: docker network rm docker_gwbridge: %v: %s", err, out)
					return
				case <-time.After(250 * time.Millisecond):
				}
			}
		}
		t.Logf("left the swarm this test initialised (%s)", time.Since(began).Round(time.Millisecond))
	})
	if out, err := cl.Cmd(ctx, "docker", "swarm", "init", "--advertise-addr", "127.0.0.1"); err != nil {
		noSwarm(t, "docker swarm init --advertise-addr 127.0.0.1 failed: %v: %s", err, out)
	}
	t.Log("initialised a single-node swarm for this test")
	return true
}

// noSwarm skips the test with a loud line, or fails it when CI=true.
func noSwarm(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("no usable swarm and CI=true: %s", msg)
	}
	t.Log("**************************************************************")
	t.Logf("SKIP: no usable swarm: %s", msg)
	t.Log("**************************************************************")
	t.Skipf("SKIP: no usable swarm: %s", msg)
}

// buildWorkerImage builds lblab/loadtest:<tag> for the workers' service in
// the background, reporting on the channel, and removes it when the test ends.
func buildWorkerImage(t *testing.T, ctx context.Context, cl *composelab.Lab) <-chan error {
	t.Helper()
	name := "lblab/loadtest:" + cl.Tag
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if out, err := cl.Cmd(ctx, "docker", "image", "rm", "--force", name); err != nil && !strings.Contains(out, "No such image") {
			t.Logf("cleanup: %v: %s", err, out)
		}
	})
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	copyFile(t, cl.Bins["loadtest"], filepath.Join(dir, "bin", "loadtest"))
	copyFile(t, filepath.Join(cl.Root, "Dockerfile.loadtest"), filepath.Join(dir, "Dockerfile.loadtest"))
	var buildEnv []string
	if exec.CommandContext(ctx, "docker", "buildx", "version").Run() != nil {
		buildEnv = append(buildEnv, "DOCKER_BUILDKIT=0")
	}
	done := make(chan error, 1)
	go func() {
		out, err := cl.CmdEnv(ctx, buildEnv, "docker", "build", "--quiet", "--file", filepath.Join(dir, "Dockerfile.loadtest"), "--tag", name, dir)
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
		done <- err
	}()
	return done
}

// deploy deploys swarm/stack.yaml as e.stack (the lb's config with a token
// of its own, a restart delay of one second) and registers its removal.
func (e *env) deploy(t *testing.T, ctx context.Context) {
	t.Helper()
	cl := e.cl
	tok := make([]byte, 16)
	_, err := rand.Read(tok)
	require.NoError(t, err)
	e.token = hex.EncodeToString(tok)
	tmpl, err := os.ReadFile(filepath.Join(cl.Root, "swarm", "lb.json"))
	require.NoError(t, err)
	// The stack's config, with a token of its own and a health check timeout
	// of 1 s instead of 0.25 s: on a machine busy with other work, checks
	// that time out would take every backend down at once (a kill is seen at
	// once all the same: its connections are refused).
	cfg := bytes.ReplaceAll(tmpl, []byte("@ADMIN_TOKEN@"), []byte(e.token))
	cfg = bytes.Replace(cfg, []byte(`"health_check_interval": 0.5`), []byte(`"health_check_interval": 1`), 1)
	cfg = bytes.Replace(cfg, []byte(`"health_check_timeout": 0.25`), []byte(`"health_check_timeout": 0.9`), 1)
	require.Contains(t, string(cfg), `"health_check_timeout": 0.9`, "swarm/lb.json changed: update the test")
	config := filepath.Join(t.TempDir(), "lb.json")
	require.NoError(t, os.WriteFile(config, cfg, 0o600))

	t.Cleanup(func() { e.remove(t) })
	// The stack's published ports (Compose labs let Docker choose theirs;
	// this test holds the Docker test lock exclusively).
	cl.LBPort, cl.AdminPort = composelab.FreePort(t), composelab.FreePort(t)
	cl.RunEnv(ctx, []string{
		"LBLAB_TAG=" + cl.Tag, "LB_PORT=" + strconv.Itoa(cl.LBPort), "ADMIN_PORT=" + strconv.Itoa(cl.AdminPort),
		"BACKENDS=3", "BACKEND_CAPACITY=0", "BACKEND_RESTART_DELAY=1s",
		"LB_CONFIG_FILE=" + config, "LB_CONFIG_SECRET=" + e.stack + "_lb_config",
	}, "docker", "stack", "deploy", "--resolve-image", "never", "-c", filepath.Join(cl.Root, "swarm", "stack.yaml"), e.stack)

	e.ctl, err = lab.NewSwarm(ctx, lab.Config{Project: e.stack, StopTimeout: 2 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.ctl.Close() })
	e.bal = &balancer.Client{Admin: cl.URL(cl.AdminPort, ""), Token: e.token}
	e.waitHealthy(t, ctx, 3)
}

// remove removes the stack and waits until its containers and network are
// gone (docker stack rm returns before), logging the tasks when the test
// failed.
func (e *env) remove(t *testing.T) {
	cl := e.cl
	ctx, cancel := context.WithTimeout(context.Background(), composelab.CmdTimeout)
	defer cancel()
	if t.Failed() {
		out, _ := cl.Cmd(ctx, "docker", "stack", "ps", "--no-trunc", e.stack)
		t.Logf("stack ps:\n%s", out)
		out, _ = cl.Cmd(ctx, "docker", "service", "logs", "--tail", "40", e.stack+"_lb")
		t.Logf("lb logs:\n%s", out)
		out, _ = cl.Cmd(ctx, "docker", "service", "logs", "--tail", "30", e.stack+"_backend")
		t.Logf("backend logs:\n%s", out)
		out, _ = cl.Cmd(ctx, "docker", "events", "--since", "3m", "--until", "0s", "--filter", "label=com.docker.stack.namespace="+e.stack,
			"--filter", "type=container", "--format", "{{.Time}} {{.Action}} {{.Actor.Attributes.name}}")
		t.Logf("container events:\n%s", out)
	}
	if e.ours {
		return // leaving the swarm this test initialised removes the stack, faster
	}
	began := time.Now()
	defer func() { t.Logf("stack removed in %s", time.Since(began).Round(time.Millisecond)) }()
	if out, err := cl.Cmd(ctx, "docker", "stack", "rm", e.stack); err != nil {
		t.Errorf("cleanup: docker stack rm %s: %v\n%s", e.stack, err, out)
		return
	}
	for {
		ids, _ := cl.Cmd(ctx, "docker", "ps", "-aq", "--filter", "label=com.docker.stack.namespace="+e.stack)
		_, netErr := cl.Cmd(ctx, "docker", "network", "inspect", e.stack+"_default")
		if strings.TrimSpace(ids) == "" && netErr != nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Errorf("cleanup: stack %s: containers %q or its network still there", e.stack, strings.Fields(ids))
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitHealthy waits until the service backend runs n healthy tasks and the
// balancer lists exactly those, healthy.
func (e *env) waitHealthy(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		ready, err := e.ctl.WaitHealthy(wctx, "backend")
		require.NoError(t, err)
		st, err := e.bal.Status(wctx)
		if err == nil && len(ready) == n && st.Healthy() == n && len(st.Backends) == n {
			return
		}
		select {
		case <-wctx.Done():
			t.Fatalf("wait for %d healthy backends: %d tasks ready, balancer status %+v (err %v)", n, len(ready), st, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// scenarioDoc fills a scenario template: %[1]d is the lb port, %[2]d the admin port.
func (e *env) scenarioDoc(t *testing.T, name, tmpl string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse(name+".yaml", []byte(fmt.Sprintf(tmpl, e.cl.LBPort, e.cl.AdminPort)))
	require.NoError(t, err)
	require.NoError(t, s.CheckLab(scenario.LabSwarm))
	return s
}

// run runs s against the stack and logs its output and tables.
func (e *env) run(t *testing.T, ctx context.Context, s *scenario.Scenario) *report.Result {
	t.Helper()
	var out bytes.Buffer
	o, err := runner.Run(ctx, s, runner.Options{
		Out: &out, OutDir: t.TempDir(), Lab: e.ctl, Balancer: e.bal, Quiet: true,
		Versions: map[string]string{"loadtest": "swarm-test"},
	})
	if o != nil {
		_ = report.WriteTables(&out, o.Result)
	}
	t.Logf("%s\n%s", s.Name, out.String())
	require.NoError(t, err)
	return o.Result
}

const failoverYAML = `
name: swarm-failover
target: http://127.0.0.1:%[1]d/info
rate: 100
duration: 16s
timeout: 5s
slow: 3s           # a busy machine answers late now and then: not the fault's doing
admin:
  url: http://127.0.0.1:%[2]d
# start waits until Swarm's new task in the slot runs (the service restarts
# tasks after 1 s here; about 4 s in all, more on a busy machine, where even
# the kill can take seconds); the phase "replaced" begins then.
timeline:
  - {at: 1s, action: kill, target: 2, phase: backend down}
  - {at: 2500ms, action: mark, phase: detected}
  - {at: 3s, action: start, target: 2}
  - {at: 3100ms, action: mark, phase: replaced}
expect:
  max_errors: 0
  max_time_to_detect: 3s
  phases:
    detected:
      no_traffic_to: [2]
    replaced:
      traffic_to: [2]
`

// testFailover kills backend 2 under load: no request fails, the balancer
// stops sending there within the limit, Swarm replaces the task (its times
// reported), start waits for that task, which then serves.
func testFailover(t *testing.T, ctx context.Context, e *env) {
	res := e.run(t, ctx, e.scenarioDoc(t, "swarm-failover", failoverYAML))
	require.Len(t, res.Runs, 1)
	run := res.Runs[0]
	for _, x := range run.Expectations {
		assert.True(t, x.Passed, "expectation %s (%s): limit %s, actual %s", x.Check, x.Scope, x.Limit, x.Actual)
	}
	assert.Equal(t, 0, run.Total.Errors, "no failed request")
	assert.Greater(t, run.Total.Requests, 1500)
	require.Len(t, run.Derived, 1)
	require.NotNil(t, run.Derived[0].DetectMs)

	require.Len(t, run.Replacements, 1, "Swarm's replacement of the killed task")
	r := run.Replacements[0]
	assert.Equal(t, "kill backend:2", r.Event)
	require.NotNil(t, r.ReplaceMs, "the new task ran within the run")
	require.NotNil(t, r.ServeMs, "and served through the balancer")
	assert.Greater(t, *r.ReplaceMs, 1000.0, "not before the service's 1 s restart delay")
	assert.GreaterOrEqual(t, *r.ServeMs, *r.ReplaceMs)
	assert.NotEqual(t, r.Old, r.New)
	assert.Equal(t, r.NewBackend, run.Actions[2].Backend, "start returned the new task")
	assert.Equal(t, r.Old, run.Actions[0].Container, "kill took the old one down")
	t.Logf("failover: %d requests, %d failed, detect %s, Swarm replaced the task in %s, served %s after the kill",
		run.Total.Requests, run.Total.Errors, report.FormatMs(*run.Derived[0].DetectMs), report.FormatMs(*r.ReplaceMs), report.FormatMs(*r.ServeMs))
	e.waitHealthy(t, ctx, 3)
}

const scaleYAML = `
name: swarm-scale
target: http://127.0.0.1:%[1]d/info
rate: 60
duration: 17s
timeout: 5s
slow: 3s
admin:
  url: http://127.0.0.1:%[2]d
# The scale-up returns once the new tasks run (3-4 s; 6-7 s on a machine
# busy with other work); wait_healthy then waits until the balancer has them
# healthy, and the phase "five" begins, until the scale back at 13 s (which
# took over a second on a busy daemon: the run goes on 4 s after it).
timeline:
  - {at: 1s, action: scale, service: backend, replicas: 5, phase: scaling up}
  - {at: 1100ms, action: wait_healthy, timeout: 10s}
  - {at: 1200ms, action: mark, phase: five}
  - {at: 13s, action: scale, service: backend, replicas: 3, phase: three again}
expect:
  phases:
    five:
      max_errors: 0
      traffic_to: [4, 5]
`

// testScale scales the backends from 3 to 5 with a service update, waits
// until the balancer has the new tasks, checks they serve, and scales back.
func testScale(t *testing.T, ctx context.Context, e *env) {
	res := e.run(t, ctx, e.scenarioDoc(t, "swarm-scale", scaleYAML))
	run := res.Runs[0]
	for _, x := range run.Expectations {
		assert.True(t, x.Passed, "expectation %s (%s): limit %s, actual %s", x.Check, x.Scope, x.Limit, x.Actual)
	}
	require.Len(t, run.Actions, 4)
	up, down := run.Actions[0], run.Actions[3]
	assert.Empty(t, up.Error)
	assert.Len(t, up.Added, 2, "two tasks added")
	assert.Empty(t, down.Error)
	assert.Len(t, down.Removed, 2, "two tasks removed")
	assert.ElementsMatch(t, up.Added, down.Removed, "the tasks added are those removed (highest slots)")
	i := 0
	for ; i < len(run.Phases) && run.Phases[i].Name != "five"; i++ {
	}
	require.Less(t, i, len(run.Phases))
	for _, x := range up.Added {
		assert.Positive(t, run.Phases[i].Backends[x], "new task %s served in phase five", x)
	}
	t.Logf("scale: %d requests, %d failed; in phase five (%s to %s) the new tasks served %d and %d",
		run.Total.Requests, run.Total.Errors, report.FormatMs(run.Phases[i].StartMs), report.FormatMs(run.Phases[i].EndMs),
		run.Phases[i].Backends[up.Added[0]], run.Phases[i].Backends[up.Added[1]])
	e.waitHealthy(t, ctx, 3)
}

const distributedYAML = `
name: swarm-distributed
target: http://127.0.0.1:%[1]d/info
rate: 80
duration: 3s
timeout: 5s
admin:
  url: http://127.0.0.1:%[2]d
`

// testDistributed runs bin/loadtest with two workers as a Swarm service of
// the lblab/loadtest image: the merged count is the sum of what the workers
// sent, and the service is gone afterwards.
func testDistributed(t *testing.T, ctx context.Context, e *env) {
	dir := t.TempDir()
	file := filepath.Join(dir, "distributed.yaml")
	require.NoError(t, os.WriteFile(file, fmt.Appendf(nil, distributedYAML, e.cl.LBPort, e.cl.AdminPort), 0o644))
	out, code := e.loadtest(t, ctx, "run", file, "--out", dir, "--quiet", "--lab", "swarm", "--project", e.stack,
		"--workers", "2", "--workers-from", "swarm", "--worker-image", "lblab/loadtest:"+e.cl.Tag)
	require.Equal(t, 0, code, "bin/loadtest run --workers 2 --workers-from swarm:\n%s", out)
	files, err := filepath.Glob(filepath.Join(dir, "swarm-distributed-*.json"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	res, err := report.Load(files[0])
	require.NoError(t, err)
	run := res.Runs[0]
	require.NotNil(t, run.Workers)
	ws := run.Workers
	assert.Equal(t, 2, ws.Count)
	assert.Equal(t, 2, ws.Finished)
	assert.False(t, ws.Partial)
	sent, merged := 0, 0
	for _, w := range ws.Workers {
		assert.Equal(t, 40, w.Rate, "half the rate each")
		assert.Regexp(t, `^swarm-[12]@`, w.Name, "named after its task slot and node")
		assert.Positive(t, w.Sent)
		sent += w.Sent
		merged += w.Merged
	}
	total := 0
	for _, p := range run.Phases {
		total += p.Requests
	}
	assert.Equal(t, sent, merged, "the coordinator merged every result the workers sent")
	assert.Equal(t, sent, total, "the run's count is the sum of the workers'")
	assert.Equal(t, run.Total.Requests, run.Total.Success+run.Total.Errors)
	assert.True(t, total >= 160 && total <= 241, "80/s for 3 s: %d", total)
	t.Logf("distributed: workers sent %v, merged %d, the run counted %d (%d failed)", workerCounts(ws), merged, total, run.Total.Errors)

	svcs := e.cl.Run(ctx, "docker", "service", "ls", "--filter", "label=org.lblab.workers="+e.stack, "--format", "{{.Name}}")
	assert.Empty(t, strings.TrimSpace(svcs), "the workers' service is removed after the run")
}

func workerCounts(ws *report.Workers) map[string]int {
	out := map[string]int{}
	for _, w := range ws.Workers {
		out[w.Name] = w.Sent
	}
	return out
}

// loadtest runs bin/loadtest with the admin token and returns its output and
// exit status.
func (e *env) loadtest(t *testing.T, ctx context.Context, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, e.cl.Bins["loadtest"], args...)
	cmd.Env = append(os.Environ(), "LBLAB_ADMIN_TOKEN="+e.token, "LBLAB_TAG="+e.cl.Tag)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	require.NoError(t, err, "%s", out)
	return string(out), 0
}

// testBadInput: an action Swarm cannot do stops the scenario when it loads
// against the stack; drain on a single node is refused and changes nothing;
// make swarm-up refuses a swarm it did not initialise, changing nothing.
func testBadInput(t *testing.T, ctx context.Context, e *env) {
	dir := t.TempDir()
	file := filepath.Join(dir, "restart.yaml")
	doc := fmt.Sprintf("target: http://127.0.0.1:%d/\nrate: 10\nduration: 5s\ntimeline:\n  - at: 1s\n    action: restart\n    target: 2\n", e.cl.LBPort)
	require.NoError(t, os.WriteFile(file, []byte(doc), 0o644))
	out, code := e.loadtest(t, ctx, "run", file, "--out", "", "--project", e.stack)
	assert.Equal(t, 2, code, out)
	assert.Contains(t, out, "restart.yaml:6: timeline[0].action: restart against a swarm lab: Swarm cannot restart a task in place")
	assert.NotContains(t, out, "answered", "refused before any load was sent")

	before := e.cl.Run(ctx, "docker", "node", "ls", "--format", "{{.Hostname}} {{.Availability}}")
	host := strings.Fields(before)[0]
	_, err := e.ctl.Drain(ctx, host)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no other active node to move its tasks to")
	assert.Equal(t, before, e.cl.Run(ctx, "docker", "node", "ls", "--format", "{{.Hostname}} {{.Availability}}"), "the node is unchanged")

	if !e.ours {
		t.Log("make swarm-up's refusal of a swarm it did not initialise: not tried in a swarm this test did not initialise")
		return
	}
	services := e.cl.Run(ctx, "docker", "service", "ls", "--format", "{{.Name}}")
	cmd := exec.CommandContext(ctx, filepath.Join(e.cl.Root, "swarm", "up.sh"))
	cmd.Env = append(os.Environ(), "STACK="+e.stack+"x", "LBLAB_TAG="+e.cl.Tag, "LB_PORT="+strconv.Itoa(composelab.FreePort(t)),
		"ADMIN_PORT="+strconv.Itoa(composelab.FreePort(t)), "SWARM_INIT=1")
	upOut, err := cmd.CombinedOutput()
	require.Error(t, err, "%s", upOut)
	assert.Contains(t, string(upOut), "this node is a manager of a swarm that make swarm-up did not initialise")
	assert.Contains(t, string(upOut), "nothing was changed")
	assert.Equal(t, services, e.cl.Run(ctx, "docker", "service", "ls", "--format", "{{.Name}}"), "no service added or removed")
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, data, 0o755))
}
