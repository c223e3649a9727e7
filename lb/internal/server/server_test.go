package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/websocket"

	"github.com/lblab/lblab/lb/internal/config"
	"github.com/lblab/lblab/testkit/ports"
)

// testBackend is an httptest server that names itself in X-Backend and counts hits.
type testBackend struct {
	*httptest.Server
	name string
	hits atomic.Int64
}

func newBackend(t testing.TB, name string, h http.HandlerFunc) *testBackend {
	t.Helper()
	b := &testBackend{name: name}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"status":"ok"}`)) })
	mux.Handle("/ws", websocket.Handler(func(c *websocket.Conn) { io.Copy(c, c) }))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		w.Header().Set("X-Backend", name)
		if h != nil {
			h(w, r)
			return
		}
		fmt.Fprintf(w, `{"backend":%q}`, name)
	})
	b.Server = httptest.NewServer(mux)
	t.Cleanup(b.Close)
	return b
}

func (b *testBackend) port() int { return b.Listener.Addr().(*net.TCPAddr).Port }

// startLB runs a balancer in-process on 127.0.0.1 ports chosen by the kernel.
func startLB(t testing.TB, extra string, backends ...*testBackend) (*Server, string, *lockedBuffer) {
	t.Helper()
	var entries []string
	for _, b := range backends {
		entries = append(entries, fmt.Sprintf(`{"host":"127.0.0.1","port":%d}`, b.port()))
	}
	js := fmt.Sprintf(`{"backend_servers":[%s], "health_check_interval": 0.2, "health_check_timeout": 0.1, "enable_logging": true %s}`,
		strings.Join(entries, ","), extra)
	cfg, err := config.Parse([]byte(js))
	require.NoError(t, err)
	return startWith(t, cfg)
}

// startWith starts a server with cfg on 127.0.0.1 and returns it, its proxy
// URL and its access log (read it only through the buffer's lock: String).
func startWith(t testing.TB, cfg *config.Config) (*Server, string, *lockedBuffer) {
	t.Helper()
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	al, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	access := &lockedBuffer{}
	srv := run(t, cfg, Options{
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		AccessLog:     slog.New(slog.NewJSONHandler(access, nil)),
		ProxyListener: pl, AdminListener: al,
	})
	return srv, "http://" + srv.ProxyAddr().String(), access
}

// startOwn starts a server with cfg that opens its listeners itself, at
// cfg's addresses, and returns it.
func startOwn(t testing.TB, cfg *config.Config) *Server {
	t.Helper()
	return run(t, cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// run starts a server with cfg and opts, stops it when the test ends, and
// returns it once it is ready.
func run(t testing.TB, cfg *config.Config, opts Options) *Server {
	t.Helper()
	srv, err := New(cfg, opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("server did not stop")
		}
	})
	<-srv.Ready()
	return srv
}

type lockedBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

// String returns what was written so far.
func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

func TestRoundRobinDistributionByXBackend(t *testing.T) {
	a, b, c := newBackend(t, "a", nil), newBackend(t, "b", nil), newBackend(t, "c", nil)
	_, url, _ := startLB(t, "", a, b, c)
	var order []string
	counts := map[string]int{}
	for range 300 {
		resp, _ := get(t, url+"/x")
		require.Equal(t, 200, resp.StatusCode)
		name := resp.Header.Get("X-Backend")
		counts[name]++
		if len(order) < 6 {
			order = append(order, name)
		}
	}
	assert.Equal(t, map[string]int{"a": 100, "b": 100, "c": 100}, counts)
	assert.Equal(t, order[:3], order[3:6], "rotation repeats in the same order")
}

func TestWeightedRoundRobinShares(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	js := fmt.Sprintf(`{"algorithm":"weighted_round_robin","backend_servers":[{"host":"127.0.0.1","port":%d,"weight":3},{"host":"127.0.0.1","port":%d,"weight":1}]}`, a.port(), b.port())
	cfg, err := config.Parse([]byte(js))
	require.NoError(t, err)
	_, url, _ := startWith(t, cfg)
	counts := map[string]int{}
	for range 200 {
		resp, _ := get(t, url+"/")
		counts[resp.Header.Get("X-Backend")]++
	}
	assert.Equal(t, map[string]int{"a": 150, "b": 50}, counts)
}

// TestPassThrough runs with both forwarders: the lean one and plain
// httputil.ReverseProxy must forward the same bytes and headers.
func TestPassThrough(t *testing.T) {
	for _, fw := range []string{"lean", "reverseproxy"} {
		t.Run(fw, func(t *testing.T) {
			var gotHost, gotXFF, gotCustom string
			echo := newBackend(t, "echo", func(w http.ResponseWriter, r *http.Request) {
				gotHost, gotXFF, gotCustom = r.Host, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Custom")
				w.Header().Set("X-Reply", "yes")
				w.Header().Add("Set-Cookie", "a=1")
				w.Header().Add("Set-Cookie", "b=2")
				in, _ := io.ReadAll(r.Body) // HTTP/1: read the body before writing
				w.WriteHeader(http.StatusCreated)
				w.Write(in)
			})
			_, url, access := startLB(t, `, "forwarder": "`+fw+`"`, echo)

			body := make([]byte, 3<<20) // larger than retry_body_limit: streamed through
			rand.Read(body)
			for _, size := range []int{0, 1, 64 << 10, len(body)} {
				t.Run(fmt.Sprintf("POST %d bytes", size), func(t *testing.T) {
					req, _ := http.NewRequest(http.MethodPost, url+"/echo?q=1", bytes.NewReader(body[:size]))
					req.Host = "example.test"
					req.Header.Set("X-Custom", "kept")
					resp, err := http.DefaultClient.Do(req)
					require.NoError(t, err)
					defer resp.Body.Close()
					got, err := io.ReadAll(resp.Body)
					require.NoError(t, err)
					assert.Equal(t, http.StatusCreated, resp.StatusCode)
					assert.True(t, bytes.Equal(body[:size], got), "body byte-exact")
					assert.Equal(t, "yes", resp.Header.Get("X-Reply"))
					assert.Equal(t, []string{"a=1", "b=2"}, resp.Header.Values("Set-Cookie"))
					assert.Equal(t, "example.test", gotHost)
					assert.Equal(t, "127.0.0.1", gotXFF)
					assert.Equal(t, "kept", gotCustom)
				})
			}
			var line map[string]any
			first, _, _ := strings.Cut(access.String(), "\n")
			require.NoError(t, json.Unmarshal([]byte(first), &line))
			for _, k := range []string{"time", "client", "method", "path", "status", "backend", "duration_ms", "bytes", "retries"} {
				assert.Contains(t, line, k)
			}
			assert.Equal(t, "POST", line["method"])
			assert.Equal(t, strings.TrimPrefix(echo.URL, "http://"), line["backend"])

		})
	}
}

// TestUploadGoesOnAfterTheResponseBegins: a backend may answer before it
// has read the whole request body (HAProxy relays both ways at once). The
// response's head reaches the client while the upload is under way, and
// the rest of the body still reaches the backend. net/http's server
// otherwise reads (and then closes) what is left of the request body
// when the response starts: here it waited for the client, which waits
// for the response; and a body it closed failed the Transport's last read
// of it, which cut the response (TestPassThrough's 3 MiB POST, about once
// in a hundred runs).
func TestUploadGoesOnAfterTheResponseBegins(t *testing.T) {
	for _, fw := range []string{"lean", "reverseproxy"} {
		t.Run(fw, func(t *testing.T) {
			b := newBackend(t, "early", func(w http.ResponseWriter, r *http.Request) {
				http.NewResponseController(w).EnableFullDuplex()
				w.WriteHeader(http.StatusOK)
				io.WriteString(w, "start\n")
				http.NewResponseController(w).Flush()
				n, err := io.Copy(io.Discard, r.Body)
				fmt.Fprintf(w, "got %d %v\n", n, err)
			})
			// retry_body_limit 0: streamed, not buffered for a retry first
			_, url, _ := startLB(t, `, "retry_body_limit": 0, "forwarder": "`+fw+`"`, b)
			c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
			_, err = io.WriteString(c, "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
			require.NoError(t, err)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err, "the response's head, before the upload ends")
			defer resp.Body.Close()
			rb := bufio.NewReader(resp.Body)
			line, err := rb.ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, "start\n", line)
			_, err = io.WriteString(c, "6\r\n world\r\n0\r\n\r\n")
			require.NoError(t, err)
			rest, err := io.ReadAll(rb)
			require.NoError(t, err, "the response is not cut")
			assert.Equal(t, "got 11 <nil>\n", string(rest))
		})
	}
}

func TestStreamingFlushesEachChunk(t *testing.T) {
	release := make(chan struct{})
	s := newBackend(t, "s", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("first\n"))
		http.NewResponseController(w).Flush()
		<-release
		w.Write([]byte("second\n"))
	})
	_, url, _ := startLB(t, "", s)
	resp, err := http.Get(url + "/stream")
	require.NoError(t, err)
	defer resp.Body.Close()
	buf := make([]byte, 6)
	_, err = io.ReadFull(resp.Body, buf) // arrives before the backend finishes
	require.NoError(t, err)
	assert.Equal(t, "first\n", string(buf))
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	assert.Equal(t, "second\n", string(rest))
}

func TestWebSocketUpgrade(t *testing.T) {
	ws := newBackend(t, "ws", nil)
	_, url, _ := startLB(t, "", ws)
	conn, err := websocket.Dial(strings.Replace(url, "http", "ws", 1)+"/ws", "", url)
	require.NoError(t, err)
	defer conn.Close()
	for _, msg := range []string{"hello", "through the balancer"} {
		require.NoError(t, websocket.Message.Send(conn, msg))
		var got string
		require.NoError(t, websocket.Message.Receive(conn, &got))
		assert.Equal(t, msg, got)
	}
}

func TestStatusEndpoints(t *testing.T) {
	a := newBackend(t, "a", nil)
	srv, url, _ := startLB(t, "", a)
	get(t, url+"/one")
	get(t, url+"/two")

	resp, body := get(t, url+"/__health__")
	assert.Equal(t, 200, resp.StatusCode)

	resp, body = get(t, url+"/__metrics__")
	assert.Equal(t, 200, resp.StatusCode)
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	for _, k := range []string{"uptime_seconds", "total_requests", "total_errors", "requests_per_second", "error_rate", "response_times", "status_codes"} {
		assert.Contains(t, m, k)
	}
	assert.EqualValues(t, 2, m["total_requests"], "status endpoints are not counted")
	rt := m["response_times"].(map[string]any)
	for _, k := range []string{"average", "minimum", "maximum", "p50", "p95", "p99"} {
		assert.Contains(t, rt, k)
	}
	assert.Equal(t, map[string]any{"200": 2.0}, m["status_codes"])

	_, body = get(t, url+"/__status__")
	var st struct {
		Algorithm string           `json:"algorithm"`
		Backends  []map[string]any `json:"backends"`
	}
	require.NoError(t, json.Unmarshal(body, &st))
	assert.Equal(t, "round_robin", st.Algorithm)
	require.Len(t, st.Backends, 1)
	for _, k := range []string{"address", "healthy", "state", "weight", "active_connections", "total_requests", "total_errors"} {
		assert.Contains(t, st.Backends[0], k)
	}
	assert.Equal(t, "up", st.Backends[0]["state"])
	assert.EqualValues(t, 2, st.Backends[0]["total_requests"])
	assert.EqualValues(t, 2, a.hits.Load(), "status endpoints are not forwarded")

	// Prometheus on the admin listener.
	resp, body = get(t, "http://"+srv.AdminAddr().String()+"/metrics")
	assert.Equal(t, 200, resp.StatusCode)
	for _, series := range []string{`lblab_requests_total{backend="127.0.0.1:`, "lblab_response_time_seconds_bucket", "lblab_backend_in_flight", "lblab_backend_up", "lblab_healthy_backends 1"} {
		assert.Contains(t, string(body), series)
	}
}

func TestAdminAPI(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	srv, url, _ := startLB(t, `, "admin_token": "s3cret"`, a)
	admin := "http://" + srv.AdminAddr().String()
	do := func(method, path, body string, auth bool) (int, string) {
		req, _ := http.NewRequest(method, admin+path, strings.NewReader(body))
		if auth {
			req.Header.Set("Authorization", "Bearer s3cret")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	code, _ := do("PUT", "/api/algorithm", `{"algorithm":"least_connections"}`, false)
	assert.Equal(t, 401, code)
	code, body := do("PUT", "/api/algorithm", `{"algorithm":"fastest"}`, true)
	assert.Equal(t, 400, code)
	assert.Contains(t, body, `unknown algorithm \"fastest\"`)
	code, _ = do("PUT", "/api/algorithm", `{"algorithm":"least_connections"}`, true)
	assert.Equal(t, 200, code)
	assert.Equal(t, "least_connections", srv.Proxy.Algorithm())

	code, body = do("POST", "/api/backends", fmt.Sprintf(`{"host":"127.0.0.1","port":%d}`, b.port()), true)
	require.Equal(t, 201, code, body)
	code, body = do("POST", "/api/backends", `{"host":"","port":0}`, true)
	assert.Equal(t, 400, code)
	assert.Contains(t, body, "host: must not be empty")
	assert.Contains(t, body, "port: 0")
	seen := map[string]bool{}
	for range 10 {
		resp, _ := get(t, url+"/")
		seen[resp.Header.Get("X-Backend")] = true
	}
	assert.Equal(t, map[string]bool{"a": true, "b": true}, seen)

	aAddr := strings.TrimPrefix(a.URL, "http://")
	code, _ = do("POST", "/api/backends/"+aAddr+"/drain", "", true)
	assert.Equal(t, 200, code)
	for range 10 {
		resp, _ := get(t, url+"/")
		assert.Equal(t, "b", resp.Header.Get("X-Backend"), "draining backend gets no new requests")
	}
	code, _ = do("POST", "/api/backends/"+aAddr+"/enable", "", true)
	assert.Equal(t, 200, code)
	code, _ = do("DELETE", "/api/backends/"+aAddr, "", true)
	assert.Equal(t, 200, code)
	assert.Len(t, srv.Pool.All(), 1)
	code, _ = do("POST", "/api/backends/nope:1/disable", "", true)
	assert.Equal(t, 404, code)
}

func TestErrorsToClients(t *testing.T) {
	// A port that refuses connections, held for the whole test.
	deadPort := refusedPort(t)
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})

	t.Run("refused gives 502 without retries", func(t *testing.T) {
		js := fmt.Sprintf(`{"backend_servers":[{"host":"127.0.0.1","port":%d}], "retries": 0, "health_check_interval": 0}`, deadPort)
		cfg, err := config.Parse([]byte(js))
		require.NoError(t, err)
		_, url, _ := startWith(t, cfg)
		resp, body := get(t, url+"/")
		assert.Equal(t, 502, resp.StatusCode)
		assert.JSONEq(t, `{"error":"backend failed","status":502}`, string(body))
	})
	t.Run("timeout gives 504", func(t *testing.T) {
		_, url, _ := startLB(t, `, "request_timeout": 0.2, "retries": 0`, slow)
		start := time.Now()
		resp, _ := get(t, url+"/")
		assert.Equal(t, 504, resp.StatusCode)
		assert.Less(t, time.Since(start), 1900*time.Millisecond)
	})
	t.Run("no healthy backend gives 503 at once", func(t *testing.T) {
		js := fmt.Sprintf(`{"backend_servers":[{"host":"127.0.0.1","port":%d}], "health_check_interval": 0.1, "health_check_timeout": 0.05, "unhealthy_threshold": 1}`, deadPort)
		cfg, err := config.Parse([]byte(js))
		require.NoError(t, err)
		srv, url, _ := startWith(t, cfg)
		require.Eventually(t, func() bool { return len(srv.Pool.Available()) == 0 }, 5*time.Second, 10*time.Millisecond)
		resp, body := get(t, url+"/")
		assert.Equal(t, 503, resp.StatusCode)
		assert.JSONEq(t, `{"error":"no healthy backend","status":503}`, string(body))
		resp, _ = get(t, url+"/__health__")
		assert.Equal(t, 503, resp.StatusCode)
	})
}

func TestRetries(t *testing.T) {
	deadPort := refusedPort(t)

	t.Run("POST body survives a retry byte for byte", func(t *testing.T) {
		var got []byte
		good := newBackend(t, "good", func(w http.ResponseWriter, r *http.Request) {
			got, _ = io.ReadAll(r.Body)
		})
		// Round robin starts at the dead backend for the first request.
		js := fmt.Sprintf(`{"backend_servers":[{"host":"127.0.0.1","port":%d},{"host":"127.0.0.1","port":%d}], "health_check_interval": 0, "max_fails": 0, "enable_logging": true}`, deadPort, good.port())
		cfg, err := config.Parse([]byte(js))
		require.NoError(t, err)
		srv, url, access := startWith(t, cfg)
		body := make([]byte, 200<<10)
		rand.Read(body)
		for range 4 {
			resp, err := http.Post(url+"/upload", "application/octet-stream", bytes.NewReader(body))
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, 200, resp.StatusCode)
			require.True(t, bytes.Equal(body, got))
		}
		assert.Contains(t, access.String(), `"retries":1`)
		dead := srv.Pool.Get(fmt.Sprintf("127.0.0.1:%d", deadPort))
		assert.EqualValues(t, 2, dead.Errors(), "two of four requests tried the dead backend first")
	})

	t.Run("a non-idempotent request that reached a backend is not sent twice", func(t *testing.T) {
		var resets atomic.Int64
		reset := newBackend(t, "reset", func(w http.ResponseWriter, r *http.Request) {
			resets.Add(1)
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close() // RST before any response
		})
		other := newBackend(t, "other", nil)
		_, url, _ := startLB(t, `, "max_fails": 0, "health_check_interval": 0`, reset, other)
		// Round robin: the first request goes to "reset".
		resp, err := http.Post(url+"/pay", "text/plain", strings.NewReader("once"))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 502, resp.StatusCode)
		assert.EqualValues(t, 1, resets.Load())
		assert.EqualValues(t, 0, other.hits.Load())

		// The same failure on a GET is retried on the other backend.
		get(t, url+"/") // "other" (rotation)
		resp, _ = get(t, url+"/")
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "other", resp.Header.Get("X-Backend"))
		assert.EqualValues(t, 2, resets.Load())
	})
}

func TestIPHashTrustedProxy(t *testing.T) {
	var backends []*testBackend
	for _, n := range []string{"a", "b", "c"} {
		backends = append(backends, newBackend(t, n, nil))
	}
	_, url, _ := startLB(t, `, "algorithm": "ip_hash", "trusted_proxies": ["127.0.0.1"]`, backends...)
	first := map[string]string{}
	seen := map[string]bool{}
	for round := range 3 {
		for i := range 30 {
			client := fmt.Sprintf("203.0.113.%d", i)
			req, _ := http.NewRequest("GET", url+"/", nil)
			req.Header.Set("X-Forwarded-For", client)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			name := resp.Header.Get("X-Backend")
			seen[name] = true
			if round == 0 {
				first[client] = name
			} else {
				assert.Equal(t, first[client], name, "client %s stays on its backend", client)
			}
		}
	}
	assert.Len(t, seen, 3, "30 clients spread over all three backends")
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	started := make(chan struct{})
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		w.Write([]byte("done"))
	})
	js := fmt.Sprintf(`{"backend_servers":[{"host":"127.0.0.1","port":%d}], "shutdown_timeout": 5}`, slow.port())
	cfg, err := config.Parse([]byte(js))
	require.NoError(t, err)
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ProxyListener: pl})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	<-srv.Ready()
	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + srv.ProxyAddr().String() + "/")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{code: resp.StatusCode, body: string(b)}
	}()
	<-started
	cancel() // SIGTERM equivalent, mid-request
	r := <-res
	require.NoError(t, r.err)
	assert.Equal(t, 200, r.code)
	assert.Equal(t, "done", r.body)
	require.NoError(t, <-done)
	_, err = net.DialTimeout("tcp", srv.ProxyAddr().String(), time.Second)
	assert.Error(t, err, "no longer accepting")
}

func mustParse(t *testing.T, js string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(js))
	require.NoError(t, err)
	return cfg
}

func TestPprofOnAdminListener(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		auth  string
		want  int
	}{
		{"off by default", ``, "", 404},
		{"on, no token", `, "enable_pprof": true, "admin_port": 1`, "", 200},
		{"on, token missing", `, "enable_pprof": true, "admin_port": 1, "admin_token": "s3cret"`, "", 401},
		{"on, token given", `, "enable_pprof": true, "admin_port": 1, "admin_token": "s3cret"`, "Bearer s3cret", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _, _ := startLB(t, tt.extra, newBackend(t, "a", nil))
			req, _ := http.NewRequest("GET", "http://"+srv.AdminAddr().String()+"/debug/pprof/heap?debug=1", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, tt.want, resp.StatusCode)
			if tt.want == 200 {
				assert.Contains(t, string(body), "heap profile")
			}
		})
	}
}

// refusedPort returns a port on 127.0.0.1 that refuses connections until the
// test ends (ports.Refused): a closed listener's port could be taken by
// another test's listener meanwhile.
func refusedPort(t *testing.T) int {
	t.Helper()
	_, p, err := net.SplitHostPort(ports.Refused(t))
	require.NoError(t, err)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return n
}
