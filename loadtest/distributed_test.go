package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/loadtest/internal/report"
	"github.com/lblab/lblab/testkit/ports"
)

// loadtestBin returns bin/loadtest as `make build` wrote it ($LBLAB_BIN),
// else builds it: the distributed runs start it as worker processes.
func loadtestBin(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("LBLAB_BIN"); dir != "" {
		if p := filepath.Join(dir, "loadtest"); fileExists(p) {
			return p
		}
	}
	p := filepath.Join(t.TempDir(), "loadtest")
	out, err := exec.CommandContext(t.Context(), "go", "build", "-o", p, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return p
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// A load split over two worker processes of bin/loadtest: the merged count
// is the sum of what each sent, in the same tables and result file.
// The workers send the headers and body of -H and --body.
func TestAttackWithLocalWorkers(t *testing.T) {
	var carried, other atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Token") == "abc" && string(body) == "hello" {
			carried.Add(1)
		} else {
			other.Add(1) // the preflight check's GET
		}
		w.Header().Set("X-Backend", "b1")
	}))
	t.Cleanup(srv.Close)
	bin := loadtestBin(t)
	out := filepath.Join(t.TempDir(), "r.json")
	body := filepath.Join(t.TempDir(), "body")
	require.NoError(t, os.WriteFile(body, []byte("hello"), 0o644))
	cmd := exec.CommandContext(t.Context(), bin, "attack", "--url", srv.URL, "--rate", "60/1s", "--duration", "2s",
		"--workers", "2", "--quiet", "--output", out, "-H", "X-Token: abc", "--body", body, "--method", "PUT")
	cmd.Env = append(os.Environ(), "COMPOSE_PROJECT_NAME=lblab-maintest-none")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	text := string(b)
	assert.Contains(t, text, "distributed load: 2 worker processes on this machine")
	assert.Contains(t, text, "Workers (2 of 2 finished")
	r, err := report.Load(out)
	require.NoError(t, err)
	run := r.Runs[0]
	require.NotNil(t, run.Workers)
	sent := 0
	for _, w := range run.Workers.Workers {
		assert.Equal(t, 30, w.Rate)
		assert.Equal(t, w.Sent, w.Merged, w.Name)
		sent += w.Sent
	}
	assert.Equal(t, sent, run.Total.Requests, "merged count = sum of the workers'")
	// Every request but the preflight check carried the header and body (a
	// request cut off at the end of the attack arrives but is not counted).
	assert.GreaterOrEqual(t, carried.Load(), int64(sent))
	assert.LessOrEqual(t, other.Load(), int64(1))
	checkResultSchema(t, out)
	assert.True(t, run.Total.Requests >= 80 && run.Total.Requests <= 121, "60/s for 2 s: %d", run.Total.Requests)
	assert.False(t, r.Partial)
}

// Workers started by hand (--workers-from wait): one is killed mid-run; the
// coordinator names it, the run is partial (exit 1, PARTIAL line, result
// marked partial), and the other's results are all there.
func TestDeadWorkerProcessMarksTheRunPartial(t *testing.T) {
	srv := target(t)
	bin := loadtestBin(t)
	addr := ports.FreeAddr(t) // for the coordinator to bind next
	dir := t.TempDir()
	file := writeScenario(t, fmt.Sprintf("name: dist\ntarget: %s/\nrate: 40\nduration: 4s\n", srv.URL))

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	coord := exec.CommandContext(ctx, bin, "run", file, "--out", dir, "--lab", "compose", "--workers", "2",
		"--workers-from", "wait", "--listen", addr, "--join-timeout", "30s")
	coord.Env = append(os.Environ(), "COMPOSE_PROJECT_NAME=lblab-maintest-none", "LBLAB_ADMIN=http://127.0.0.1:1")
	var coordOut syncBuffer
	coord.Stdout, coord.Stderr = &coordOut, &coordOut
	require.NoError(t, coord.Start())

	workers := map[string]*exec.Cmd{}
	var outs = map[string]*syncBuffer{}
	for _, name := range []string{"w1", "w2"} {
		w := exec.CommandContext(ctx, bin, "worker", "--coordinator", addr, "--name", name, "-v")
		outs[name] = &syncBuffer{}
		w.Stdout, w.Stderr = outs[name], outs[name]
		require.NoError(t, w.Start())
		workers[name] = w
	}
	// Kill w2 once its attack runs (it logs "attack" as it begins).
	require.Eventually(t, func() bool { return strings.Contains(outs["w2"].String(), "msg=attack") }, 30*time.Second, 20*time.Millisecond,
		"w2 attacks: coordinator: %s\nw2: %s", &coordOut, outs["w2"])
	require.NoError(t, workers["w2"].Process.Kill())
	_ = workers["w2"].Wait()

	err := coord.Wait()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "the coordinator fails: %v\n%s", err, &coordOut)
	assert.Equal(t, 1, ee.ExitCode(), "%s", &coordOut)
	assert.Contains(t, coordOut.String(), "PARTIAL: 1 worker(s) dropped out: w2 (connection lost")
	assert.Contains(t, coordOut.String(), "DIED: connection lost")
	require.NoError(t, workers["w1"].Wait(), "w1 exits cleanly after the goodbye: %s", outs["w1"])

	files, err := filepath.Glob(filepath.Join(dir, "dist-*.json"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	r, err := report.Load(files[0])
	require.NoError(t, err)
	assert.True(t, r.Partial)
	assert.False(t, r.Passed)
	ws := r.Runs[0].Workers
	require.NotNil(t, ws)
	assert.Equal(t, 2, ws.Count)
	assert.Equal(t, 1, ws.Finished)
	for _, w := range ws.Workers {
		switch w.Name {
		case "w1":
			assert.Empty(t, w.Error)
			assert.True(t, w.Sent >= 55 && w.Sent <= 81, "w1 sent its share to the end (20/s for 4 s): %d", w.Sent)
		case "w2":
			assert.Contains(t, w.Error, "connection lost")
			assert.Less(t, w.Merged, 75, "w2's results until it died")
		}
	}
}

// syncBuffer is a bytes.Buffer that a process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
