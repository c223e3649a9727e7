package server

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/pool"
)

// flakyBackend's /health answers 503 while failing is set; every other path works.
type flakyBackend struct {
	*httptest.Server
	failing atomic.Bool
	name    string
}

func newFlaky(t *testing.T, name string) *flakyBackend {
	f := &flakyBackend{name: name}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		if r.URL.Path == "/health" && f.failing.Load() {
			w.WriteHeader(503)
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *flakyBackend) addr() string { return strings.TrimPrefix(f.URL, "http://") }

func TestActiveChecksAloneTakeOutAFailingHealthEndpoint(t *testing.T) {
	a, b := newFlaky(t, "a"), newFlaky(t, "b")
	js := fmt.Sprintf(`{"backend_servers":[{"host":"127.0.0.1","port":%s},{"host":"127.0.0.1","port":%s}],
	 "health_check_interval": 0.05, "health_check_timeout": 0.04, "unhealthy_threshold": 2, "healthy_threshold": 2}`,
		a.addr()[strings.LastIndex(a.addr(), ":")+1:], b.addr()[strings.LastIndex(b.addr(), ":")+1:])
	srv, url, _ := startWith(t, mustParse(t, js))
	a.failing.Store(true)
	require.Eventually(t, func() bool { return srv.Pool.Get(a.addr()).State() == pool.StateDown }, 3*time.Second, 5*time.Millisecond)
	for range 10 {
		resp, _ := get(t, url+"/")
		assert.Equal(t, "b", resp.Header.Get("X-Backend"))
	}
	_, body := get(t, url+"/__status__")
	assert.Contains(t, string(body), `"last_result": "status 503"`)
	assert.Contains(t, string(body), `"state": "down"`)

	// All down: 503 quickly; one returns: traffic resumes.
	b.failing.Store(true)
	require.Eventually(t, func() bool { return len(srv.Pool.Available()) == 0 }, 3*time.Second, 5*time.Millisecond)
	start := time.Now()
	resp, _ := get(t, url+"/")
	assert.Equal(t, 503, resp.StatusCode)
	assert.Less(t, time.Since(start), 500*time.Millisecond)
	a.failing.Store(false)
	require.Eventually(t, func() bool {
		resp, _ := get(t, url+"/")
		return resp.StatusCode == 200 && resp.Header.Get("X-Backend") == "a"
	}, 3*time.Second, 10*time.Millisecond)
}

func TestRemovingABackendNeverCutsAnInFlightRequest(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		w.Write([]byte("finished"))
	})
	srv, url, _ := startLB(t, "", slow)
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(url + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	<-started
	addr := strings.TrimPrefix(slow.URL, "http://")
	removed := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("DELETE", "http://"+srv.AdminAddr().String()+"/api/backends/"+addr, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			removed <- resp.StatusCode
		}
	}()
	require.Eventually(t, func() bool { return srv.Pool.Get(addr).State() == pool.StateDraining }, 2*time.Second, 5*time.Millisecond)
	resp, _ := get(t, url+"/")
	assert.Equal(t, 503, resp.StatusCode, "a draining backend takes no new request")
	close(release)
	assert.Equal(t, "200 finished", <-got)
	assert.Equal(t, 200, <-removed)
	assert.Nil(t, srv.Pool.Get(addr))
}

func TestRetriesShowInMetrics(t *testing.T) {
	good := newBackend(t, "good", nil)
	js := fmt.Sprintf(`{"backend_servers":[{"host":"127.0.0.1","port":1},{"host":"127.0.0.1","port":%d}], "health_check_interval": 0}`, good.port())
	srv, url, _ := startWith(t, mustParse(t, js))
	// Round robin sends requests 1, 3 and 5 to the dead port first: each is
	// retried, and the third failure (max_fails 3) takes it down.
	for range 6 {
		resp, _ := get(t, url+"/")
		require.Equal(t, 200, resp.StatusCode)
	}
	_, body := get(t, "http://"+srv.AdminAddr().String()+"/metrics")
	for _, series := range []string{
		`lblab_retries_total{backend="127.0.0.1:1"} 3`,
		`lblab_backend_transitions_total{backend="127.0.0.1:1",state="down"} 1`,
	} {
		assert.True(t, strings.Contains(string(body), series), "missing %s", series)
	}
}
