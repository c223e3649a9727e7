package front

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/metrics"
	"github.com/lblab/lblab/lb/internal/pool"
	"github.com/lblab/lblab/lb/internal/proxy"
)

// rawBackend is a TCP server on 127.0.0.1 that reads one HTTP request at a
// time and answers with what serve returns, so tests control every byte and
// can see every connection.
type rawBackend struct {
	ln    net.Listener
	conns atomic.Int64
	// closed counts the connections the backend has closed.
	closed atomic.Int64
	mu     sync.Mutex
	reqs   []*http.Request
}

// serve gets the request (body already read) and returns the raw response
// bytes and whether to close the connection afterwards.
func newRawBackend(t *testing.T, serve func(r *http.Request, n int) (string, bool)) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rb := &rawBackend{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rb.conns.Add(1)
			wg.Go(func() {
				defer func() { c.Close(); rb.closed.Add(1) }()
				br := bufio.NewReader(c)
				for {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					body, _ := io.ReadAll(r.Body)
					r.Body = io.NopCloser(strings.NewReader(string(body)))
					rb.mu.Lock()
					rb.reqs = append(rb.reqs, r)
					n := len(rb.reqs)
					rb.mu.Unlock()
					out, closeAfter := serve(r, n)
					if _, err := io.WriteString(c, out); err != nil || closeAfter {
						return
					}
				}
			})
		}
	})
	return rb
}

func (rb *rawBackend) addr() string { return rb.ln.Addr().String() }

func (rb *rawBackend) count() int {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	return len(rb.reqs)
}

func (rb *rawBackend) request(i int) *http.Request {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	return rb.reqs[i]
}

// newTestProxy returns a round-robin proxy over addrs with cfg's other settings.
func newTestProxy(t *testing.T, cfg proxy.Config, addrs ...string) *proxy.Proxy {
	t.Helper()
	var bs []*pool.Backend
	for _, a := range addrs {
		bs = append(bs, pool.NewBackend("", a, 1))
	}
	cfg.Pool = pool.New(pool.Options{}, bs...)
	cfg.Metrics = metrics.New(cfg.Pool)
	if cfg.Algorithm == "" {
		cfg.Algorithm = "round_robin"
	}
	if cfg.RetryBodyLimit == 0 {
		cfg.RetryBodyLimit = 1 << 20
	}
	p, err := proxy.New(cfg)
	require.NoError(t, err)
	t.Cleanup(p.CloseIdleConnections)
	return p
}

// serveFront serves a proxy for cfg over addrs with a front end on
// 127.0.0.1 and returns its URL. Requests it hands to net/http get the
// response header X-Front: net/http, so tests can tell the paths apart.
func serveFront(t *testing.T, cfg proxy.Config, fcfg Config, addrs ...string) (string, *Front) {
	t.Helper()
	p := newTestProxy(t, cfg, addrs...)
	fcfg.Fallback = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Front", "net/http")
		if r.URL.Path == "/__health__" {
			io.WriteString(w, "status page")
			return
		}
		p.ServeHTTP(w, r)
	})}
	f := New(p, fcfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- f.Serve(ln) }()
	t.Cleanup(func() {
		f.Close()
		assert.ErrorIs(t, <-done, http.ErrServerClosed)
	})
	return "http://" + ln.Addr().String(), f
}

// fastFront is serveFront with the fast path on.
func fastFront(t *testing.T, cfg proxy.Config, fcfg Config, addrs ...string) (string, *Front) {
	t.Helper()
	fcfg.Fast = true
	return serveFront(t, cfg, fcfg, addrs...)
}

// proxyURL starts a proxy for cfg in front of addrs and returns its URL:
// "fast" forwards plain requests on the fast path, "handoff" hands every
// request to net/http and ReverseProxy (the "reverseproxy" forwarder).
func proxyURL(t *testing.T, mode string, cfg proxy.Config, addrs ...string) string {
	t.Helper()
	url, _ := serveFront(t, cfg, Config{Fast: mode == "fast"}, addrs...)
	return url
}

// frontEnds are the paths the forwarding tests run through.
var frontEnds = []string{"fast", "handoff"}

func ok(body string) string {
	return "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}
