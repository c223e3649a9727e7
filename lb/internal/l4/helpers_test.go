package l4_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/health"
	"github.com/lblab/lblab/lb/internal/l4"
	"github.com/lblab/lblab/lb/internal/metrics"
	"github.com/lblab/lblab/lb/internal/pool"
)

// tcpBackend is a tiny TCP server on 127.0.0.1 that runs handle for each
// connection. Stop closes the listener and every open connection; Start
// listens again on the same port.
type tcpBackend struct {
	t      testing.TB
	name   string
	addr   string
	handle func(c *net.TCPConn)

	mu       sync.Mutex // guards ln, accepted and conns
	ln       net.Listener
	accepted chan struct{} // closed when the accept loop of ln has returned
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

func newTCPBackend(t testing.TB, name string, handle func(c *net.TCPConn)) *tcpBackend {
	t.Helper()
	b := &tcpBackend{t: t, name: name, handle: handle, conns: map[net.Conn]struct{}{}}
	b.listen("127.0.0.1:0")
	t.Cleanup(b.Stop)
	return b
}

func (b *tcpBackend) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	require.NoError(b.t, err)
	accepted := make(chan struct{})
	b.mu.Lock()
	b.ln, b.addr, b.accepted = ln, ln.Addr().String(), accepted
	b.mu.Unlock()
	b.wg.Go(func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns[c] = struct{}{}
			b.mu.Unlock()
			b.wg.Go(func() {
				defer func() {
					c.Close()
					b.mu.Lock()
					delete(b.conns, c)
					b.mu.Unlock()
				}()
				b.handle(c.(*net.TCPConn))
			})
		}
	})
}

// Stop closes the listener and all open connections and waits for the handlers.
func (b *tcpBackend) Stop() {
	b.mu.Lock()
	if b.ln != nil {
		b.ln.Close()
		b.ln = nil
	}
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// Kill closes the listener only, so that new connections are refused;
// connections already accepted run to their end. It returns once the socket
// is closed (Go closes it when the Accept in progress returns).
func (b *tcpBackend) Kill() {
	b.mu.Lock()
	ln, accepted := b.ln, b.accepted
	b.ln = nil
	b.mu.Unlock()
	if ln != nil {
		ln.Close()
		<-accepted
	}
}

// Start listens again on the backend's port.
func (b *tcpBackend) Start() { b.listen(b.addr) }

// Open returns the number of open connections.
func (b *tcpBackend) Open() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.conns)
}

// nameHandler writes name and closes.
func nameHandler(name string) func(c *net.TCPConn) {
	return func(c *net.TCPConn) { io.WriteString(c, name) }
}

// echoHandler echoes until EOF, then half-closes.
func echoHandler(c *net.TCPConn) {
	io.Copy(c, c)
	c.CloseWrite()
}

// hashHandler reads until EOF, then answers the byte count and SHA-256 of
// what it read ("n hex").
func hashHandler(c *net.TCPConn) {
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil {
		return
	}
	io.WriteString(c, formatHash(n, h.Sum(nil)))
}

// holdHandler writes name, then waits for the peer to close.
func holdHandler(name string) func(c *net.TCPConn) {
	return func(c *net.TCPConn) {
		io.WriteString(c, name)
		io.Copy(io.Discard, c)
	}
}

func formatHash(n int64, sum []byte) string { return fmt.Sprintf("%d %x", n, sum) }

// lbOpts configures a test balancer.
type lbOpts struct {
	algorithm      string
	weights        []int
	retries        int
	maxFails       int
	failTimeout    time.Duration
	idle           time.Duration
	dial           time.Duration
	maxConns       int
	checkInterval  time.Duration // 0: no active checks
	accessLog      *slog.Logger
	logger         *slog.Logger
	backendAddrs   []string // extra backends by address only (e.g. dead ports)
	backendsByName []*tcpBackend
}

type testLB struct {
	srv  *l4.Server
	pool *pool.Pool
	m    *metrics.Metrics
	addr string
}

func quietLogger() *slog.Logger {
	if os.Getenv("L4_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startLB runs an l4.Server on 127.0.0.1:0 over the given backends; Cleanup
// closes it.
func startLB(t testing.TB, o lbOpts) *testLB {
	t.Helper()
	if o.algorithm == "" {
		o.algorithm = "round_robin"
	}
	if o.idle == 0 {
		o.idle = 5 * time.Second
	}
	if o.dial == 0 {
		o.dial = time.Second
	}
	if o.failTimeout == 0 {
		o.failTimeout = 10 * time.Second
	}
	if o.logger == nil {
		o.logger = quietLogger()
	}
	var bs []*pool.Backend
	for i, b := range o.backendsByName {
		w := 1
		if i < len(o.weights) {
			w = o.weights[i]
		}
		bs = append(bs, pool.NewBackend(b.name, b.addr, w))
	}
	for _, a := range o.backendAddrs {
		bs = append(bs, pool.NewBackend("", a, 1))
	}
	p := pool.New(pool.Options{Logger: o.logger}, bs...)
	m := metrics.New(p)
	srv, err := l4.New(l4.Config{
		Pool: p, Algorithm: o.algorithm, Metrics: m, Logger: o.logger, AccessLog: o.accessLog,
		DialTimeout: o.dial, IdleTimeout: o.idle, Retries: o.retries,
		MaxFails: o.maxFails, FailTimeout: o.failTimeout, MaxConnections: o.maxConns,
	})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if o.checkInterval > 0 {
		hc := health.New(health.Config{
			Pool: p, Interval: o.checkInterval, Timeout: o.checkInterval / 2, Rise: 1, Fall: 1,
			FailTimeout: o.failTimeout, Check: health.TCPCheck(), Logger: o.logger,
		})
		wg.Go(func() { hc.Run(ctx) })
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		srv.Close()
		if err := <-served; !errors.Is(err, l4.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return &testLB{srv: srv, pool: p, m: m, addr: ln.Addr().String()}
}

// dial connects to addr, bounded (10 s: a busy machine can keep the Go side
// from seeing a loopback connect complete for seconds).
func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// readAll reads c until EOF, bounded by timeout.
func readAll(c net.Conn, timeout time.Duration) (string, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	return string(b), err
}

// fetchName connects to addr and returns what the backend wrote before closing.
func fetchName(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return readAll(c, 2*time.Second)
}

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("SKIP: cannot count open fds: %v", err)
	}
	return len(ents)
}
