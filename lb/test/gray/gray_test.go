// Package gray tests the balancer's answers to gray failures with real
// processes on 127.0.0.1: bin/lb in front of bin/backend processes made slow
// through their control API (PUT /__backend__/config) or held with SIGSTOP.
// What each backend received is counted at the backend
// (GET /__backend__/stats), not inferred from the balancer.
package gray

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/test/testproc"
	"github.com/lblab/lblab/testkit/ports"
)

type lab struct {
	lbURL    string
	ports    []int
	names    []string
	backends []*exec.Cmd
}

// newLab starts n backends and bin/lb in front of them with extra config
// keys (JSON members, each with a leading comma).
func newLab(t *testing.T, n int, extra string) *lab {
	t.Helper()
	l := &lab{}
	var entries []string
	for i := range n {
		port := ports.Free(t)
		name := fmt.Sprintf("backend-%d", i+1)
		l.ports = append(l.ports, port)
		l.names = append(l.names, name)
		l.backends = append(l.backends, testproc.Backend(t, name, port))
		entries = append(entries, fmt.Sprintf(`{"host":"127.0.0.1","port":%d}`, port))
	}
	lbPort := ports.Free(t)
	cfg := fmt.Sprintf(`{"proxy_port": %d, "proxy_host": "127.0.0.1", "algorithm": "round_robin",
	 "backend_servers": [%s], "health_check_interval": 30, "health_check_timeout": 1,
	 "request_timeout": 3, "connection_timeout": 1, "retries": 2, "max_fails": 0,
	 "enable_logging": false, "enable_metrics": true %s}`, lbPort, strings.Join(entries, ","), extra)
	l.lbURL = fmt.Sprintf("http://127.0.0.1:%d", lbPort)
	testproc.LB(t, cfg, l.lbURL)
	return l
}

func (l *lab) backendURL(i int) string { return fmt.Sprintf("http://127.0.0.1:%d", l.ports[i]) }

// configure sets backend i's settings through its control API.
func (l *lab) configure(t *testing.T, i int, patch string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, l.backendURL(i)+"/__backend__/config", strings.NewReader(patch))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, "%s", body)
}

type backendStats struct {
	Requests    int64            `json:"requests_total"`
	StatusCodes map[string]int64 `json:"status_codes"`
}

func (s backendStats) answered() int64 {
	var n int64
	for _, c := range s.StatusCodes {
		n += c
	}
	return n
}

func (l *lab) stats(t *testing.T, i int) backendStats {
	t.Helper()
	resp, err := http.Get(l.backendURL(i) + "/__backend__/stats")
	require.NoError(t, err)
	defer resp.Body.Close()
	var s backendStats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
	return s
}

func (l *lab) resetStats(t *testing.T) {
	t.Helper()
	for i := range l.ports {
		resp, err := http.Post(l.backendURL(i)+"/__backend__/stats/reset", "", nil)
		require.NoError(t, err)
		resp.Body.Close()
	}
}

// gray returns the balancer's gray_failures counts from /__status__.
func (l *lab) gray(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get(l.lbURL + "/__status__")
	require.NoError(t, err)
	defer resp.Body.Close()
	var st struct {
		Gray struct {
			Counts map[string]float64 `json:"counts"`
		} `json:"gray_failures"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	return st.Gray.Counts
}

type answer struct {
	status  int
	backend string
	took    time.Duration
}

func (l *lab) send(t *testing.T, method string, header http.Header) answer {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = bytes.NewReader([]byte(`{"order": 1}`))
	}
	req, _ := http.NewRequest(method, l.lbURL+"/info", body)
	for k, v := range header {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return answer{resp.StatusCode, resp.Header.Get("X-Backend"), time.Since(start)}
}

// sendAll sends n requests at once and returns the answers.
func (l *lab) sendAll(t *testing.T, n int, method string, header http.Header) []answer {
	out := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i] = l.send(t, method, header) })
	}
	wg.Wait()
	return out
}

// A slow backend (1.5 s, its health check passing): with try_timeout every
// GET is answered by another backend, on both forwarders; a POST is never
// sent twice (counted at the backends) and waits for the slow one.
func TestTryTimeoutRetriesGETsNeverPOSTs(t *testing.T) {
	for _, fwd := range []string{"lean", "reverseproxy"} {
		t.Run(fwd, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, 3, fmt.Sprintf(`, "try_timeout": 0.2, "forwarder": %q`, fwd))
			l.configure(t, 1, `{"latency": "1500ms"}`)
			l.resetStats(t)

			for _, a := range l.sendAll(t, 12, http.MethodGet, nil) {
				assert.Equal(t, 200, a.status)
				assert.NotEqual(t, l.names[1], a.backend, "the slow backend's answer came within the try timeout?")
			}
			assert.Positive(t, l.stats(t, 1).Requests, "the slow backend got tries")
			assert.Positive(t, l.gray(t)["try_timeouts"])

			// Idempotency-Key makes a POST safe to send again.
			keyed := http.Header{"Idempotency-Key": {"k-1"}}
			for range 3 {
				a := l.send(t, http.MethodPost, keyed)
				assert.Equal(t, 200, a.status)
				assert.NotEqual(t, l.names[1], a.backend)
			}

			l.resetStats(t)
			posts := l.sendAll(t, 12, http.MethodPost, nil)
			slow := 0
			for _, a := range posts {
				assert.Equal(t, 200, a.status)
				if a.backend == l.names[1] {
					slow++
				}
			}
			assert.Positive(t, slow, "POSTs wait for the slow backend")
			var total int64
			for i := range l.ports {
				total += l.stats(t, i).Requests
			}
			assert.Equal(t, int64(12), total, "every POST reached exactly one backend")
		})
	}
}

// A backend held with SIGSTOP (accepting connections, answering nothing):
// GETs are answered elsewhere after try_timeout; a POST sent to it fails
// with 504 after request_timeout and is never sent elsewhere.
func TestTryTimeoutAgainstAStoppedBackend(t *testing.T) {
	t.Parallel()
	l := newLab(t, 3, `, "try_timeout": 0.2, "request_timeout": 1`)
	l.resetStats(t)
	require.NoError(t, l.backends[1].Process.Signal(syscall.SIGSTOP))
	// The signal is sent at once but takes effect when the process is next
	// scheduled: wait until the kernel shows it stopped.
	require.Eventually(t, func() bool { return procState(l.backends[1].Process.Pid) == "T" }, 10*time.Second, 5*time.Millisecond,
		"backend 2 stopped (state %q)", procState(l.backends[1].Process.Pid))
	stopped := true
	cont := func() {
		if stopped {
			l.backends[1].Process.Signal(syscall.SIGCONT)
			stopped = false
		}
	}
	t.Cleanup(cont)

	gets := l.sendAll(t, 9, http.MethodGet, nil)
	for _, a := range gets {
		assert.Equal(t, 200, a.status)
		assert.NotEqual(t, l.names[1], a.backend, "the stopped backend answered a GET")
	}
	posts := l.sendAll(t, 9, http.MethodPost, nil)
	failed := 0
	for _, a := range posts {
		if a.status == 504 {
			failed++
		} else {
			assert.Equal(t, 200, a.status)
			assert.NotEqual(t, l.names[1], a.backend, "the stopped backend answered a POST")
		}
	}
	assert.Positive(t, failed, "POSTs sent to the stopped backend time out")
	cont()
	time.Sleep(300 * time.Millisecond) // let it read what waited in its sockets
	// The others answered every GET (9) and the POSTs not sent to the
	// stopped backend: none of those that timed out there.
	fast := l.stats(t, 0).Requests + l.stats(t, 2).Requests
	assert.Equal(t, int64(9+9-failed), fast, "a POST that timed out was sent again (GETs %+v, POSTs %+v)", gets, posts)
	assert.LessOrEqual(t, l.stats(t, 1).Requests, int64(3+failed))
}

// Hedging: the first answer wins; the slow try is cancelled, which the
// backend sees (it never answers it, even after its latency has passed). A
// POST is never hedged.
func TestHedgeLoserIsCancelled(t *testing.T) {
	t.Parallel()
	l := newLab(t, 2, `, "hedge_after": 0.3`)
	l.configure(t, 0, `{"latency": "1s"}`)
	l.resetStats(t)

	for range 2 { // round robin: one of them goes to the slow backend first
		a := l.send(t, http.MethodGet, nil)
		assert.Equal(t, 200, a.status)
		assert.Equal(t, l.names[1], a.backend, "the fast backend (or the hedge) answered")
	}
	time.Sleep(1300 * time.Millisecond)
	slow := l.stats(t, 0)
	assert.Equal(t, int64(1), slow.Requests, "the slow backend got the request")
	assert.Zero(t, slow.answered(), "and never answered it: it saw the cancellation")
	assert.Equal(t, float64(1), l.gray(t)["hedges"])
	assert.Equal(t, float64(1), l.gray(t)["hedge_wins"])

	l.resetStats(t)
	for range 2 {
		a := l.send(t, http.MethodPost, nil)
		assert.Equal(t, 200, a.status)
	}
	assert.Equal(t, int64(1), l.stats(t, 0).Requests)
	assert.Equal(t, int64(1), l.stats(t, 1).Requests, "POSTs not hedged")
	assert.Equal(t, float64(1), l.gray(t)["hedges"])
}

// Every backend slow: the retry budget (0% with a floor of 1 per second,
// 10 in its 10 s window) caps the retries that try_timeout would send; the
// backends receive the requests plus exactly the retries the balancer
// reports, and no more than the budget.
func TestRetryBudgetCapsRetries(t *testing.T) {
	t.Parallel()
	l := newLab(t, 3, `, "try_timeout": 0.05, "retry_budget": 0, "retry_budget_min_per_second": 1`)
	for i := range l.ports {
		l.configure(t, i, `{"latency": "250ms"}`)
	}
	l.resetStats(t)
	for range 12 {
		assert.Equal(t, 200, l.send(t, http.MethodGet, nil).status)
	}
	var total int64
	for i := range l.ports {
		total += l.stats(t, i).Requests
	}
	g := l.gray(t)
	assert.Equal(t, float64(10), g["retries"], "the budget's 10 retries are spent")
	assert.Equal(t, int64(12+10), total, "requests plus retries reached the backends")
}

// procState returns the state letter of process pid from /proc ("T" when
// stopped), or "" when it cannot be read.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// "pid (comm) S ...": the command may hold spaces and parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
