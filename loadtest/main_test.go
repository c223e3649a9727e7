package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/loadtest/internal/report"
)

// target answers like the balancer in front of three backends.
func target(t *testing.T) *httptest.Server {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", fmt.Sprintf("b%d", n.Add(1)%3))
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// isolate keeps the command off any real lab and admin API.
func isolate(t *testing.T) {
	t.Setenv("COMPOSE_PROJECT_NAME", "lblab-maintest-none")
	t.Setenv("LBLAB_ADMIN", "http://127.0.0.1:1")
	t.Setenv("LBLAB_TARGET", "")
}

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeScenario(t *testing.T, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "short.yaml")
	require.NoError(t, os.WriteFile(p, []byte(doc), 0o644))
	return p
}

func TestUsage(t *testing.T) {
	isolate(t)
	bad := writeScenario(t, "target: http://127.0.0.1:1/\nrate: 10\nduration: 5s\ntimeline:\n  - at: 9s\n    action: explode\n")
	good := filepath.Join(t.TempDir(), "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte("target: http://127.0.0.1:1/\nrate: 10\nduration: 5s\n"), 0o644))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "usage:"},
		{"unknown command", []string{"fly"}, `unknown command "fly"`},
		{"run without file", []string{"run"}, "want one scenario file"},
		{"missing file", []string{"run", "/nonexistent.yaml"}, "no such file"},
		{"bad scenario", []string{"run", bad}, bad + `:6: timeline[0].action: unknown action "explode"`},
		{"bad flag", []string{"run", "--bogus", bad}, "flag provided but not defined"},
		{"bad target flag", []string{"run", good, "--target", "nohost"}, "not an http(s) URL"},
		{"compare one file", []string{"compare", "a.json"}, "two or more"},
		{"compare missing", []string{"compare", "a.json", "b.json"}, "no such file"},
		{"attack bad args", []string{"attack", "extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, tt.args...)
			assert.Equal(t, exitUsage, code)
			assert.Contains(t, stderr, tt.want)
		})
	}
}

func TestAttack(t *testing.T) {
	isolate(t)
	srv := target(t)
	out := filepath.Join(t.TempDir(), "results.json")
	code, stdout, stderr := runCmd(t, "attack", "--url", srv.URL, "--path", "/info", "-n", "300", "-c", "10", "--output", out, "--quiet")
	require.Equal(t, exitOK, code, stderr)
	for _, want := range []string{"Attack: GET " + srv.URL + "/info, 10 workers, 300 requests", "throughput/s", "Status codes", "b1", "result: " + out} {
		assert.Contains(t, stdout, want)
	}
	r, err := report.Load(out)
	require.NoError(t, err)
	assert.Equal(t, 300, r.Runs[0].Total.Requests)
	assert.Equal(t, 300, r.Runs[0].Total.StatusCodes["200"])

	code, stdout, stderr = runCmd(t, "attack", "--url", srv.URL, "--rate", "100", "--duration", "1s", "--quiet")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "100 req/s")

	code, _, stderr = runCmd(t, "attack", "--url", "http://127.0.0.1:1", "-n", "10")
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, "not answering")
}

func TestRunExitCodes(t *testing.T) {
	isolate(t)
	srv := target(t)
	doc := func(expect string) string {
		return "name: short\ndescription: a short run\ntarget: http://127.0.0.1:9/info\nrate: 100\nduration: 1500ms\nwarmup: 300ms\n" +
			"timeline:\n  - at: 700ms\n    action: mark\n    phase: later\n" + expect
	}
	dir := t.TempDir()
	pass := writeScenario(t, doc("expect:\n  max_errors: 0\n  phases:\n    later:\n      min_success_rate: 100%\n"))
	code, stdout, stderr := runCmd(t, "run", pass, "--target", srv.URL, "--out", dir, "--quiet")
	require.Equal(t, exitOK, code, stderr+stdout)
	assert.Contains(t, stdout, "PASS")
	assert.Contains(t, stdout, "Expectations")
	files, _ := filepath.Glob(filepath.Join(dir, "short-*.json"))
	require.Len(t, files, 1)
	html, _ := filepath.Glob(filepath.Join(dir, "short-*.html"))
	require.Len(t, html, 1)
	r, err := report.Load(files[0])
	require.NoError(t, err)
	assert.True(t, r.Passed)
	assert.True(t, strings.HasPrefix(r.Settings.Target, srv.URL+"/info"), r.Settings.Target)

	fail := writeScenario(t, doc("expect:\n  max_p99: 1ns\n"))
	code, stdout, _ = runCmd(t, "run", "--quiet", "--out", "", fail, "--target", srv.URL)
	assert.Equal(t, exitExpectation, code)
	assert.Contains(t, stdout, "FAIL")

	code, _, stderr = runCmd(t, "run", pass, "--out", "")
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, "http://127.0.0.1:9/info not answering")

	// Two results compare.
	_, _, _ = runCmd(t, "run", pass, "--target", srv.URL, "--out", dir, "--quiet")
	files, _ = filepath.Glob(filepath.Join(dir, "short-*.json"))
	if len(files) == 2 { // same second: one file overwrote the other
		code, stdout, stderr = runCmd(t, "compare", files[0], files[1])
		require.Equal(t, exitOK, code, stderr)
		assert.Contains(t, stdout, "A = "+files[0])
		assert.Contains(t, stdout, "p99")
	}
}

// TestRunRepeat: --repeat 2 runs twice, writes two results and prints each
// figure's mean and spread; compare refuses results of another scenario
// unless forced.
func TestRunRepeat(t *testing.T) {
	isolate(t)
	srv := target(t)
	dir := t.TempDir()
	doc := "name: rep\ntarget: http://127.0.0.1:9/info\nrate: 50\nduration: 1200ms\nwarmup: 200ms\narrivals: poisson\nseed: 3\n"
	file := writeScenario(t, doc)
	code, stdout, stderr := runCmd(t, "run", file, "--target", srv.URL, "--out", dir, "--quiet", "--repeat", "2")
	require.Equal(t, exitOK, code, stderr+stdout)
	assert.Contains(t, stdout, "=== repeat 2/2 ===")
	assert.Contains(t, stdout, "Repeat: 2 runs of rep")
	assert.Regexp(t, `requests +│ +2 +│`, stdout)
	assert.Contains(t, stdout, "aggregated figures:")

	code, _, stderr = runCmd(t, "run", file, "--repeat", "0")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "--repeat 0: want 1 to 100")

	// Another scenario's result: refused, then compared with --force.
	other := writeScenario(t, strings.Replace(doc, "name: rep", "name: other", 1))
	code, _, stderr = runCmd(t, "run", other, "--target", srv.URL, "--out", dir, "--quiet")
	require.Equal(t, exitOK, code, stderr)
	a, _ := filepath.Glob(filepath.Join(dir, "rep-*.json"))
	b, _ := filepath.Glob(filepath.Join(dir, "other-*.json"))
	require.NotEmpty(t, a)
	require.Len(t, b, 1)
	code, _, stderr = runCmd(t, "compare", a[0], b[0])
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, `is of scenario "other"`)
	code, stdout, stderr = runCmd(t, "compare", "--force", a[0], b[0])
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "warning (--force)")
}

func TestOverrideTarget(t *testing.T) {
	tests := []struct {
		target, flag, want string
		wantErr            bool
	}{
		{"http://127.0.0.1:8080/info", "http://localhost:18080", "http://localhost:18080/info", false},
		{"http://127.0.0.1:8080/info?x=1", "https://lb:443/", "https://lb:443/info?x=1", false},
		{"http://127.0.0.1:8080/info", "http://lb:8081/other?y=2", "http://lb:8081/other?y=2", false},
		{"http://127.0.0.1:8080/info", "lb:8081", "", true},
	}
	for _, tt := range tests {
		got, err := overrideTarget(tt.target, tt.flag)
		if tt.wantErr {
			assert.Error(t, err, tt.flag)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tt.want, got)
	}
}

func TestParseInterspersed(t *testing.T) {
	fs := newFlags("x", &bytes.Buffer{})
	out := fs.String("out", "d", "")
	q := fs.Bool("q", false, "")
	pos, err := parse(fs, []string{"a.yaml", "--out", "r/", "b", "-q", "--", "-c"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a.yaml", "b", "-c"}, pos)
	assert.Equal(t, "r/", *out)
	assert.True(t, *q)
}

func TestReportCommand(t *testing.T) {
	isolate(t)
	srv := target(t)
	out := filepath.Join(t.TempDir(), "r.json")
	code, _, stderr := runCmd(t, "attack", "--url", srv.URL, "-n", "50", "-c", "2", "-o", out, "--quiet")
	require.Equal(t, exitOK, code, stderr)
	html := filepath.Join(t.TempDir(), "r.html")
	code, stdout, stderr := runCmd(t, "report", out, "--html", html)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "Phases")
	assert.FileExists(t, html)
	code, _, _ = runCmd(t, "report")
	assert.Equal(t, exitUsage, code)
}

func TestJoinTarget(t *testing.T) {
	tests := []struct {
		base, path, want string
		wantErr          bool
	}{
		{"http://localhost:8080", "/", "http://localhost:8080/", false},
		{"http://localhost:8080", "/info", "http://localhost:8080/info", false},
		{"http://localhost:8080/api", "v1/", "http://localhost:8080/api/v1/", false},
		{"http://localhost:8080", "/sleep?d=50ms", "http://localhost:8080/sleep?d=50ms", false},
		{"http://localhost:8080/x?a=1", "/y", "http://localhost:8080/x/y?a=1", false},
		{"localhost:8080", "/", "", true},
		{"ftp://h/", "/", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.base+tt.path, func(t *testing.T) {
			got, err := joinTarget(tt.base, tt.path)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestAttackRequest checks that -H, --header, --method and -body reach the
// target: every request carries the headers and the file's bytes.
func TestAttackRequest(t *testing.T) {
	isolate(t)
	type seen struct {
		method, host, token, body string
		accept                    []string
		length                    int64
	}
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.Host, r.Header.Get("X-Token"), string(body), r.Header.Values("Accept"), r.ContentLength})
		mu.Unlock()
		w.Header().Set("X-Backend", "b1")
	}))
	t.Cleanup(srv.Close)
	body := filepath.Join(t.TempDir(), "body.json")
	require.NoError(t, os.WriteFile(body, []byte(`{"order": 42}`), 0o644))

	code, stdout, stderr := runCmd(t, "attack", "--url", srv.URL, "-n", "20", "-c", "2", "--quiet", "--method", "post",
		"-H", "X-Token: abc", "-H", "Accept: text/plain", "--header", "Accept: application/json", "-H", "Host: shop.test",
		"-body", body)
	require.Equal(t, exitOK, code, stderr)
	// Before the load, one GET checks that the target answers.
	got = slices.DeleteFunc(got, func(s seen) bool { return s.method == "GET" && s.body == "" })
	require.Len(t, got, 20)
	for _, s := range got {
		assert.Equal(t, seen{"POST", "shop.test", "abc", `{"order": 42}`, []string{"text/plain, application/json"}, 13}, s)
	}
	assert.Contains(t, stdout, "\nBackends\n", "no warm-up: the table must not say after warm-up")
	assert.NotContains(t, stdout, "warm-up")
}

// TestAttackRate runs attacks at vegeta-style rates.
func TestAttackRate(t *testing.T) {
	isolate(t)
	srv := target(t)
	tests := []struct {
		rate, want string
		model      string
		rps, c     int
	}{
		{"50/500ms", "100 req/s", "open", 100, 0},
		{"100/1s", "100 req/s", "open", 100, 0},
		{"100", "100 req/s", "open", 100, 0},
		{"0", "10 workers", "closed", 0, 10},
		{"infinity", "10 workers", "closed", 0, 10},
	}
	for _, tt := range tests {
		t.Run(tt.rate, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.json")
			code, stdout, stderr := runCmd(t, "attack", "--url", srv.URL, "-rate", tt.rate, "-n", "50", "--quiet", "-o", out)
			require.Equal(t, exitOK, code, stderr)
			assert.Contains(t, stdout, tt.want)
			r, err := report.Load(out)
			require.NoError(t, err)
			assert.Equal(t, tt.model, r.Settings.Model)
			assert.Equal(t, tt.rps, r.Settings.Rate)
			assert.Equal(t, tt.c, r.Settings.Concurrency)
			assert.Equal(t, 50, r.Runs[0].Total.Requests)
		})
	}
}

// TestAttackBadInput checks that bad attack flags are usage errors that
// name what is wrong.
func TestAttackBadInput(t *testing.T) {
	isolate(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"rate word", []string{"-rate", "fast"}, `invalid value "fast" for flag -rate: bad rate "fast": want requests per second (100), a count per duration (100/1s, 50/500ms), or 0 or infinity`},
		{"rate fraction", []string{"-rate", "1/3s"}, `bad rate "1/3s": 0.333 requests per second`},
		{"rate per nothing", []string{"-rate", "10/0s"}, `bad rate "10/0s": the duration must be above 0`},
		{"header without colon", []string{"-H", "X-Token abc"}, `invalid value "X-Token abc" for flag -H: want 'Name: value'`},
		{"header with a bad name", []string{"-H", "X Token: abc"}, `invalid value "X Token: abc" for flag -H: "X Token" is not a header name`},
		{"missing body", []string{"-body", "/nonexistent/body.json"}, `read -body: open /nonexistent/body.json: no such file or directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, append([]string{"attack", "--url", "http://127.0.0.1:1", "-n", "1"}, tt.args...)...)
			assert.Equal(t, exitUsage, code)
			assert.Contains(t, stderr, tt.want)
		})
	}
}
