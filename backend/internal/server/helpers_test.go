package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/backend/internal/settings"
)

// stepRand yields Float64 values 0, 1/n, 2/n, ... (n-1)/n, 0, ...: any n
// consecutive draws contain exactly ceil(rate*n) values below rate. Norm and
// Exp return fixed values. The server serialises calls; the mutex is for tests.
type stepRand struct {
	mu        sync.Mutex
	i, n      int
	norm, exp float64
}

func (r *stepRand) Float64() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := float64(r.i%r.n) / float64(r.n)
	r.i++
	return v
}
func (r *stepRand) NormFloat64() float64 { return r.norm }
func (r *stepRand) ExpFloat64() float64  { return r.exp }

// testBackend is a Server answering on a real 127.0.0.1 socket.
type testBackend struct {
	*Server
	URL    string // http://127.0.0.1:port
	Addr   string // 127.0.0.1:port
	client *http.Client
	stop   func() error // cancels Serve and returns its error
}

// start runs a Server for cfg on a free 127.0.0.1 port until the test ends.
func start(t *testing.T, cfg Config) *testBackend {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "test-backend"
	}
	if cfg.Rand == nil {
		cfg.Rand = &stepRand{n: 100}
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 2 * time.Second
	}
	s, err := New(cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-done:
			case <-time.After(5 * time.Second):
				t.Error("Serve did not return within 5s of cancel")
			}
		})
		return serveErr
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testBackend{
		Server: s,
		URL:    "http://" + ln.Addr().String(),
		Addr:   ln.Addr().String(),
		client: &http.Client{Transport: tr, Timeout: 10 * time.Second},
		stop:   stop,
	}
}

// do sends a request and returns the response with its body read.
func (b *testBackend) do(t *testing.T, method, path string, body []byte) (*http.Response, []byte) {
	t.Helper()
	return b.doCtx(t, t.Context(), method, path, body)
}

func (b *testBackend) doCtx(t *testing.T, ctx context.Context, method, path string, body []byte) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.URL+path, rd)
	require.NoError(t, err)
	resp, err := b.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, data
}

// get is do for GET requests, decoding a JSON answer into a map.
func (b *testBackend) getJSON(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	resp, data := b.do(t, http.MethodGet, path, nil)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m), "body %q", data)
	return resp.StatusCode, m
}

// put sends a JSON settings patch and returns the status and decoded answer.
func (b *testBackend) putConfig(t *testing.T, patch string) (int, map[string]any) {
	t.Helper()
	resp, data := b.do(t, http.MethodPut, "/__backend__/config", []byte(patch))
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m), "body %q", data)
	return resp.StatusCode, m
}

func withSettings(fn func(*settings.Settings)) *settings.Settings {
	s := settings.Default()
	fn(&s)
	return &s
}

// waitFor polls cond every 5ms for up to 3s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
