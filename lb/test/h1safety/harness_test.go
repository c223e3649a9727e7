package h1safety

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lblab/lblab/lb/internal/config"
	"github.com/lblab/lblab/lb/internal/server"
)

// forwarders are the data paths every vector runs through (see
// forwardersFromEnv).
var forwarders = forwardersFromEnv()

// defaultParallel is how many vectors run at once unless -parallel says
// otherwise. Vectors mostly wait (on the proxy's timeouts, on sockets), so
// many more than GOMAXPROCS run at once without loading the machine.
const defaultParallel = 48

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if fz := flag.Lookup("test.fuzz"); !explicit && (fz == nil || fz.Value.String() == "") {
		flag.Set("test.parallel", strconv.Itoa(defaultParallel))
	}
	code := m.Run()
	if err := stopping.wait(20 * time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "h1safety:", err)
		code = 1
	}
	os.Exit(code)
}

// stopping tracks the balancers still shutting down: a vector does not wait
// for its balancer's graceful stop (up to shutdown_timeout), TestMain does.
var stopping stopGroup

type stopGroup struct {
	wg sync.WaitGroup
	// mu guards stuck.
	mu    sync.Mutex
	stuck int
}

func (g *stopGroup) wait(d time.Duration) error {
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		return fmt.Errorf("balancers still running %v after the tests", d)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stuck > 0 {
		return fmt.Errorf("%d balancers took more than 10s to stop", g.stuck)
	}
	return nil
}

// lbConfig is the balancer configuration of the harness: short timeouts
// (request_timeout 5 s, read_header_timeout 3 s, connection_timeout 3 s:
// short enough for the vectors that wait on them, long enough that a busy
// machine does not trip them; with 2 s and 1 s, a victim whose backend
// answered in 15 ms got a 504 after 2.28 s during make test beside two busy
// loops), no active health checks, no passive ones, retries on.
type lbConfig struct {
	Forwarder string
	Backends  []string
	Retries   int
}

func (c lbConfig) json() string {
	var entries []string
	for _, a := range c.Backends {
		host, port, _ := net.SplitHostPort(a)
		entries = append(entries, fmt.Sprintf(`{"host":%q,"port":%s}`, host, port))
	}
	return fmt.Sprintf(`{
  "backend_servers": [%s],
  "forwarder": %q,
  "proxy_host": "127.0.0.1",
  "health_check_interval": 0,
  "max_fails": 0,
  "retries": %d,
  "request_timeout": 5,
  "read_header_timeout": 3,
  "connection_timeout": 3,
  "idle_timeout": 5,
  "shutdown_timeout": 0.3
}`, strings.Join(entries, ","), c.Forwarder, c.Retries)
}

// balancer is an in-process lb.
type balancer struct {
	addr string
	logs *syncBuffer
	stop func()
}

// startBalancer runs the balancer in-process on a port of 127.0.0.1 chosen
// by the kernel; stop ends it without waiting (TestMain waits for all).
func startBalancer(t testing.TB, c lbConfig) *balancer {
	t.Helper()
	cfg, err := config.Parse([]byte(c.json()))
	if err != nil {
		t.Fatalf("harness config: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	logs := &syncBuffer{}
	srv, err := server.New(cfg, server.Options{
		ProxyListener: ln,
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := server.WaitReady(wctx, srv); err != nil {
		cancel()
		t.Fatalf("balancer not ready: %v", err)
	}
	b := &balancer{addr: srv.ProxyAddr().String(), logs: logs}
	var once sync.Once
	b.stop = func() {
		once.Do(func() {
			cancel()
			stopping.wg.Go(func() {
				select {
				case <-done: // a shutdown cut short by shutdown_timeout is fine here
				case <-time.After(10 * time.Second):
					stopping.mu.Lock()
					stopping.stuck++
					stopping.mu.Unlock()
				}
			})
		})
	}
	return b
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	// mu guards b.
	mu sync.Mutex
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
