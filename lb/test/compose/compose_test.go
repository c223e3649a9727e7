package compose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/testkit/composelab"
)

// Bounds of the whole test and of single steps.
const (
	testBudget  = 3 * time.Minute
	healthLimit = 60 * time.Second
	// loadRate is the pace of the bounded request loops (requests per second).
	loadRate = 20
)

// lab is the shared Compose harness plus an HTTP client for the requests
// this test sends through lb.
type lab struct {
	*composelab.Lab
	t      *testing.T
	client *http.Client
}

// figures collects the numbers the test reports at the end.
type figures struct {
	lines []string
}

func (f *figures) add(format string, args ...any) {
	f.lines = append(f.lines, fmt.Sprintf(format, args...))
}

// TestLab builds the images, starts the lab, and checks round robin over the
// three replicas, failover when one is stopped under load, scaling to five
// replicas without restarting lb, and scaling back down without a failed
// request. Everything it created is removed when it ends, pass or fail.
func TestLab(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: Compose lab test (needs Docker; not run with -short)")
	}
	l := newLab(t)
	ctx, cancel := context.WithTimeout(t.Context(), testBudget)
	defer cancel()
	var fig figures
	defer func() {
		for _, line := range fig.lines {
			t.Logf("FIGURE %s", line)
		}
	}()

	l.buildImages(ctx, &fig)
	l.up(ctx, &fig)

	ids := l.backendIDs(ctx)
	require.Len(t, ids, 3, "three backend replicas running")
	original := set(ids)

	if !t.Run("round robin over the three replicas", func(t *testing.T) {
		counts := map[string]int{}
		for range 30 {
			b, code, err := l.get(ctx)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code)
			counts[b]++
		}
		assert.Equal(t, original, set(slices.Collect(maps.Keys(counts))),
			"X-Backend is the 12-character container ID of each replica")
		for b, n := range counts {
			assert.InDelta(t, 10, n, 1, "round robin share of %s", b)
		}
		st := l.status(ctx, l.AdminPort)
		assert.Len(t, st.from("backend:8000"), 3, "admin /__status__ on 127.0.0.1:%d", l.AdminPort)
	}) {
		t.FailNow()
	}

	if !t.Run("hardened, labelled, healthy, published on 127.0.0.1", func(t *testing.T) {
		l.checkHardened(ctx, t, append([]string{l.lbID(ctx)}, ids...))
	}) {
		t.FailNow()
	}

	lb := l.inspect(ctx, l.lbID(ctx))

	if !t.Run("stopping a replica under load fails no request", func(t *testing.T) {
		victim := ids[0]
		addr := l.inspect(ctx, victim).addr + ":8000"
		done := make(chan []result, 1)
		go func() { done <- l.load(ctx, loadRate, 5*time.Second) }()
		time.Sleep(time.Second)
		stopStart := time.Now()
		l.Run(ctx, "docker", "stop", "--time", "10", victim)
		stopped := time.Now()
		gone := l.waitStatus(ctx, 10*time.Second, func(st status) bool { return st.byAddr(addr) == nil })
		res := <-done
		assert.Empty(t, failures(res), "no failed request while %s stopped", victim)
		assert.NotZero(t, served(res, victim, time.Time{}), "%s served before it stopped", victim)
		assert.Zero(t, served(res, victim, stopped), "%s served nothing once stopped", victim)
		require.NotZero(t, gone, "the stopped replica's address left /__status__")
		fig.add("failover: %d requests at %d/s, 0 failed; `docker stop` took %s; the replica left /__status__ %s after that",
			len(res), loadRate, stopped.Sub(stopStart).Round(time.Millisecond), gone.Sub(stopped).Round(time.Millisecond))
	}) {
		t.FailNow()
	}

	if !t.Run("scaling to five adds replicas without restarting lb", func(t *testing.T) {
		start := time.Now()
		first := make(chan result, 1)
		go func() {
			first <- l.firstFrom(ctx, func(b string) bool { return b != "" && !original[b] }, 60*time.Second)
		}()
		l.ComposeRun(ctx, "up", "-d", "--no-recreate", "--scale", "backend=5")
		composeTook := time.Since(start)
		r := <-first
		require.NoError(t, r.err, "a new replica served a request")
		fig.add("scale up: `%s up -d --scale backend=5` took %s; first request served by a new replica %s after it started (replica %s)",
			strings.Join(l.Compose, " "), composeTook.Round(time.Millisecond), r.at.Sub(start).Round(time.Millisecond), r.backend)

		running := l.backendIDs(ctx)
		require.Len(t, running, 5)
		seen := l.seeAll(ctx, set(running), 30*time.Second)
		assert.Equal(t, set(running), seen, "every running replica gets traffic")
		st := l.status(ctx, l.LBPort)
		assert.Len(t, st.from("backend:8000"), 5, "/__status__ lists five replicas")
		after := l.inspect(ctx, l.lbID(ctx))
		assert.Equal(t, lb.id, after.id, "lb container not recreated")
		assert.Equal(t, lb.startedAt, after.startedAt, "lb not restarted")
	}) {
		t.FailNow()
	}

	t.Run("scaling back to three drains without a failed request", func(t *testing.T) {
		done := make(chan []result, 1)
		go func() { done <- l.load(ctx, loadRate, 6*time.Second) }()
		time.Sleep(500 * time.Millisecond)
		start := time.Now()
		l.ComposeRun(ctx, "up", "-d", "--no-recreate", "--scale", "backend=3")
		composeTook := time.Since(start)
		settled := l.waitStatus(ctx, 15*time.Second, func(st status) bool { return len(st.from("backend:8000")) == 3 })
		res := <-done
		assert.Empty(t, failures(res), "no failed request while scaling down")
		require.NotZero(t, settled, "/__status__ back to three replicas")
		running := l.backendIDs(ctx)
		require.Len(t, running, 3)
		for _, b := range l.status(ctx, l.LBPort).from("backend:8000") {
			assert.Equal(t, "up", b.State, b.Name)
		}
		fig.add("scale down: %d requests at %d/s, 0 failed; compose took %s, /__status__ at three replicas %s after it started",
			len(res), loadRate, composeTook.Round(time.Millisecond), settled.Sub(start).Round(time.Millisecond))
	})
}

// newLab finds Docker and a Compose tool (skipping loudly without them,
// failing when CI=true) and picks a project name and free ports.
func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{
		Lab: composelab.New(t, "lblabtest"),
		t:   t,
		client: &http.Client{
			Timeout:   5 * time.Second,
			Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, IdleConnTimeout: 5 * time.Second},
		},
	}
	t.Cleanup(l.client.CloseIdleConnections)
	return l
}

// buildImages builds the test's images and records their sizes.
func (l *lab) buildImages(ctx context.Context, fig *figures) {
	for _, img := range l.BuildImages(ctx) {
		fig.add("image %s: %.1f MB (built in %s)", strings.Replace(img.Name, l.Tag, "dev", 1), float64(img.Size)/1e6, img.Took.Round(time.Millisecond))
	}
}

// up starts the lab and waits until lb answers with three healthy backends.
func (l *lab) up(ctx context.Context, fig *figures) {
	t := l.t
	t.Helper()
	start := time.Now()
	l.Up(ctx)
	composeTook := time.Since(start)
	deadline := time.Now().Add(healthLimit)
	for {
		n, err := l.healthy(ctx)
		if err == nil && n >= 3 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("lab not healthy after %s: %d healthy backends, last error: %v", healthLimit, n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fig.add("up: `%s up -d` took %s; lb answered with 3 healthy backends %s after it started",
		strings.Join(l.Compose, " "), composeTook.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// backendIDs returns the 12-character IDs of the running containers of the
// backend service: what their X-Backend header says.
func (l *lab) backendIDs(ctx context.Context) []string {
	out := l.Run(ctx, "docker", "ps", "--quiet",
		"--filter", "label=com.docker.compose.project="+l.Project,
		"--filter", "label=com.docker.compose.service=backend")
	return strings.Fields(out)
}

func (l *lab) lbID(ctx context.Context) string {
	out := l.Run(ctx, "docker", "ps", "--quiet",
		"--filter", "label=com.docker.compose.project="+l.Project,
		"--filter", "label=com.docker.compose.service=lb")
	ids := strings.Fields(out)
	require.Len(l.t, ids, 1, "one lb container")
	return ids[0]
}

type container struct{ id, startedAt, addr string }

// inspect returns a container's full ID, start time and address on the lab
// network (only compared with /__status__; no traffic goes to it).
func (l *lab) inspect(ctx context.Context, id string) container {
	out := l.Run(ctx, "docker", "inspect", "--format",
		"{{.Id}} {{.State.StartedAt}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", id)
	f := strings.Fields(out)
	require.GreaterOrEqual(l.t, len(f), 3, "docker inspect %s: %q", id, out)
	return container{id: f[0], startedAt: f[1], addr: f[2]}
}

// get sends one request through lb and returns the X-Backend header and status.
func (l *lab) get(ctx context.Context) (string, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL(l.LBPort, "/lab"), nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.Header.Get("X-Backend"), resp.StatusCode, err
}

// healthy returns lb's count of healthy backends from /__health__.
func (l *lab) healthy(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL(l.LBPort, "/__health__"), nil)
	if err != nil {
		return 0, err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var h struct {
		HealthyBackends int `json:"healthy_backends"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return 0, fmt.Errorf("/__health__ %s: %w", resp.Status, err)
	}
	return h.HealthyBackends, nil
}

type backendStatus struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Source  string `json:"source"`
	State   string `json:"state"`
	Healthy bool   `json:"healthy"`
}

type status struct {
	Backends []backendStatus `json:"backends"`
}

func (s status) from(source string) []backendStatus {
	var out []backendStatus
	for _, b := range s.Backends {
		if b.Source == source {
			out = append(out, b)
		}
	}
	return out
}

func (s status) byAddr(addr string) *backendStatus {
	for i := range s.Backends {
		if s.Backends[i].Address == addr {
			return &s.Backends[i]
		}
	}
	return nil
}

// status reads /__status__ from port (the lb port or the admin port).
func (l *lab) status(ctx context.Context, port int) status {
	l.t.Helper()
	st, err := l.tryStatus(ctx, port)
	require.NoError(l.t, err)
	return st
}

func (l *lab) tryStatus(ctx context.Context, port int) (status, error) {
	var st status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL(port, "/__status__"), nil)
	if err != nil {
		return st, err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("/__status__: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// waitStatus polls /__status__ until ok holds and returns when it did (the
// zero time when it did not within limit).
func (l *lab) waitStatus(ctx context.Context, limit time.Duration, ok func(status) bool) time.Time {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if st, err := l.tryStatus(ctx, l.LBPort); err == nil && ok(st) {
			return time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Time{}
}

// result is one request of a load loop.
type result struct {
	at      time.Time // when it was sent
	backend string
	code    int
	err     error
}

// load sends rate requests per second, one at a time, for d: at most rate*d
// requests, and never for longer than d plus ten seconds.
func (l *lab) load(ctx context.Context, rate int, d time.Duration) []result {
	n := rate * int(d/time.Second)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	stop := time.Now().Add(d + 10*time.Second)
	out := make([]result, 0, n)
	for range n {
		select {
		case <-ctx.Done():
			return out
		case <-tick.C:
		}
		if time.Now().After(stop) {
			break
		}
		at := time.Now()
		b, code, err := l.get(ctx)
		out = append(out, result{at: at, backend: b, code: code, err: err})
	}
	return out
}

// firstFrom sends requests back to back until one is served by a backend that
// match accepts, and returns it (err set when none did within limit).
func (l *lab) firstFrom(ctx context.Context, match func(string) bool, limit time.Duration) result {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		b, code, err := l.get(ctx)
		if err == nil && code == http.StatusOK && match(b) {
			return result{at: time.Now(), backend: b, code: code}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return result{err: errors.New("no request served by a matching backend in " + limit.String())}
}

// seeAll sends requests until each of want has answered one (or limit passes)
// and returns the backends seen. No request may fail.
func (l *lab) seeAll(ctx context.Context, want map[string]bool, limit time.Duration) map[string]bool {
	seen := map[string]bool{}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil && !subset(want, seen) {
		b, code, err := l.get(ctx)
		require.NoError(l.t, err)
		require.Equal(l.t, http.StatusOK, code)
		seen[b] = true
	}
	return seen
}

func failures(res []result) []string {
	var out []string
	for _, r := range res {
		if r.err != nil || r.code != http.StatusOK {
			out = append(out, fmt.Sprintf("%s: status %d from %q: %v", r.at.Format("15:04:05.000"), r.code, r.backend, r.err))
		}
	}
	return out
}

// served counts the requests sent after since that backend answered.
func served(res []result, backend string, since time.Time) int {
	n := 0
	for _, r := range res {
		if r.backend == backend && r.at.After(since) {
			n++
		}
	}
	return n
}

func set(xs []string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func subset(a, b map[string]bool) bool {
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// checkHardened checks that each container runs with a read-only root file
// system, no capabilities and no-new-privileges, that its health check
// passes with them, that its image carries the OCI labels, and that lb
// publishes its ports on 127.0.0.1 only.
func (l *lab) checkHardened(ctx context.Context, t *testing.T, ids []string) {
	t.Helper()
	for _, id := range ids {
		out := l.Run(ctx, "docker", "inspect", "--format",
			"{{json .HostConfig.ReadonlyRootfs}}|{{json .HostConfig.CapDrop}}|{{json .HostConfig.SecurityOpt}}|{{.Config.Image}}|{{json .HostConfig.PortBindings}}", id)
		parts := strings.SplitN(strings.TrimSpace(out), "|", 5)
		require.Len(t, parts, 5, out)
		assert.Equal(t, "true", parts[0], "%s: read-only root file system", id)
		assert.Contains(t, parts[1], `"ALL"`, "%s: cap_drop ALL", id)
		assert.Contains(t, parts[2], "no-new-privileges", "%s: no-new-privileges", id)
		labels := l.Run(ctx, "docker", "image", "inspect", "--format", "{{json .Config.Labels}}", parts[3])
		for _, k := range []string{"org.opencontainers.image.version", "org.opencontainers.image.revision", "org.opencontainers.image.source"} {
			assert.Contains(t, labels, `"`+k+`":"`, "%s: label %s", parts[3], k)
		}
		if strings.Contains(parts[3], "lblab/lb:") {
			var bindings map[string][]struct{ HostIp string }
			require.NoError(t, json.Unmarshal([]byte(parts[4]), &bindings), parts[4])
			require.NotEmpty(t, bindings)
			for port, bs := range bindings {
				for _, b := range bs {
					assert.Equal(t, "127.0.0.1", b.HostIp, "lb's %s is published on 127.0.0.1 only", port)
				}
			}
		}
	}
	// The health check command itself must pass under the hardening. It is
	// run here with docker exec rather than read from Docker's health
	// status: on a machine at load 30 Docker's own runs exceeded their 2 s
	// exec timeout for every container, hardened or not.
	for _, id := range ids {
		var test []string
		out := l.Run(ctx, "docker", "inspect", "--format", "{{json .Config.Healthcheck.Test}}", id)
		require.NoError(t, json.Unmarshal([]byte(out), &test), out)
		require.Greater(t, len(test), 1, "%s: a health check: %s", id, out)
		require.Equal(t, "CMD", test[0], "%s: %s", id, out)
		var err error
		for try := 0; try < 3; try++ {
			if out, err = l.Cmd(ctx, append([]string{"docker", "exec", id}, test[1:]...)...); err == nil {
				break
			}
		}
		assert.NoError(t, err, "%s: its health check %q fails: %s", id, test[1:], out)
	}
}
