package l4_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingHandler counts log records by message.
type countingHandler struct {
	mu     sync.Mutex
	counts map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.counts[r.Message]++
	h.mu.Unlock()
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
func (h *countingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[msg]
}

// TestBadInput sends a few thousand misbehaving connections through the
// balancer: every one is bounded by a timeout, counted and logged, and the
// goroutines and open file descriptors come back to where they were.
func TestBadInput(t *testing.T) {
	const (
		idle    = 2 * time.Second // a busy machine left a stream unscheduled past 1 s (2 of 500 at load 20)
		perKind = 500
	)
	// Backends: a line protocol that answers ERR to garbage and hangs up; a
	// stream that writes until the peer goes; a black hole that accepts and
	// never answers.
	strict := newTCPBackend(t, "strict", func(c *net.TCPConn) {
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		if string(buf[:n]) == "PING\n" {
			io.WriteString(c, "PONG\n")
			return
		}
		io.WriteString(c, "ERR bad command\n")
	})
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 1024)
	stream := newTCPBackend(t, "stream", func(c *net.TCPConn) {
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
			time.Sleep(time.Millisecond) // a stream, not a flood: keep the machine for the other clients
		}
	})
	blackhole := newTCPBackend(t, "blackhole", func(c *net.TCPConn) { io.Copy(io.Discard, c) })

	logs := &countingHandler{counts: map[string]int{}}
	logger := slog.New(logs)
	lbs := map[string]*testLB{}
	for name, b := range map[string]*tcpBackend{"strict": strict, "stream": stream, "blackhole": blackhole} {
		// Connects to the backends get 5 s: on a machine with many times more
		// runnable threads than cores, 1 s timed some out (a failure of the
		// machine, not of the balancer, which this test is not about).
		lbs[name] = startLB(t, lbOpts{idle: idle, dial: 5 * time.Second, logger: logger, accessLog: logger, backendsByName: []*tcpBackend{b}})
	}
	// Warm up (first connections start the runtime's pollers and timers).
	wc := dial(t, lbs["strict"].addr)
	_, err := io.WriteString(wc, "PING\n")
	require.NoError(t, err)
	pong, err := readAll(wc, idle+5*time.Second)
	require.NoError(t, err)
	require.Equal(t, "PONG\n", pong)
	wc.Close()
	time.Sleep(50 * time.Millisecond)
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)

	type kind struct {
		name    string
		lb      string
		workers int // clients of this kind at once
		run     func(c *net.TCPConn, dialed time.Time) error
	}
	kinds := []kind{
		{"silent: connects and sends nothing", "strict", 150, func(c *net.TCPConn, dialed time.Time) error {
			c.SetReadDeadline(time.Now().Add(idle + 5*time.Second))
			if _, err := io.ReadAll(c); err != nil {
				return err
			}
			if d := time.Since(dialed); d < idle {
				return errors.New("closed before the idle timeout: " + d.String())
			}
			return nil
		}},
		{"garbage: the backend refuses it", "strict", 20, func(c *net.TCPConn, _ time.Time) error {
			junk := make([]byte, 48)
			rand.Read(junk)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(junk); err != nil {
				return err
			}
			got, err := io.ReadAll(c)
			if err != nil {
				return err
			}
			if string(got) != "ERR bad command\n" {
				return errors.New("unexpected answer " + string(got))
			}
			return nil
		}},
		{"vanishes mid-stream (reset)", "stream", 20, func(c *net.TCPConn, _ time.Time) error {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, make([]byte, 40<<10)); err != nil {
				return err
			}
			c.SetLinger(0) // Close sends RST
			return nil
		}},
		{"the backend never answers", "blackhole", 150, func(c *net.TCPConn, _ time.Time) error {
			c.SetDeadline(time.Now().Add(idle + 5*time.Second))
			if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
				return err
			}
			got, err := io.ReadAll(c)
			if err != nil {
				return err
			}
			if len(got) != 0 {
				return errors.New("unexpected answer")
			}
			return nil
		}},
	}

	var (
		wg       sync.WaitGroup
		failures sync.Map // kind -> first error
		nfail    atomic.Int64
	)
	start := time.Now()
	for _, k := range kinds {
		sem := make(chan struct{}, k.workers)
		wg.Go(func() {
			var kwg sync.WaitGroup
			for range perKind {
				sem <- struct{}{}
				kwg.Go(func() {
					defer func() { <-sem }()
					dialed := time.Now()
					c, err := net.DialTimeout("tcp", lbs[k.lb].addr, 10*time.Second) // a busy machine accepts late
					if err == nil {
						err = k.run(c.(*net.TCPConn), dialed)
						c.Close()
					}
					if err != nil {
						nfail.Add(1)
						failures.LoadOrStore(k.name, err)
					}
				})
			}
			kwg.Wait()
		})
	}
	wg.Wait()
	t.Logf("%d connections in %s", perKind*len(kinds), time.Since(start).Round(time.Millisecond))
	failures.Range(func(k, v any) bool {
		t.Errorf("%s: %v", k, v)
		return true
	})
	if nfail.Load() > 0 {
		for name, lb := range lbs {
			t.Logf("%s: %+v", name, lb.srv.Stats())
		}
		logs.mu.Lock()
		t.Logf("log counts: %v", logs.counts)
		logs.mu.Unlock()
	}
	require.Zero(t, nfail.Load())

	for name, lb := range lbs {
		require.Eventually(t, func() bool { return lb.srv.Active() == 0 }, 5*time.Second, 10*time.Millisecond, name)
	}
	closed := func(lb, reason string) uint64 { return lbs[lb].srv.Stats().ConnectionsClosed[reason] }
	// strict: the silent clients end by the idle timeout, the garbage ones
	// (and the warm-up's PING) when the backend hangs up (or, if a client is
	// too slow to close its side under load, by the idle timeout as well).
	assert.GreaterOrEqual(t, closed("strict", "idle_timeout"), uint64(perKind), "silent clients")
	assert.Equal(t, uint64(2*perKind+1), closed("strict", "idle_timeout")+closed("strict", "closed"), "silent and garbage clients")
	assert.Equal(t, uint64(perKind), closed("stream", "reset"), "vanished clients")
	assert.Equal(t, uint64(perKind), closed("blackhole", "idle_timeout"), "black-holed clients")
	assert.Equal(t, 4*perKind+1, logs.count("connection"), "one access log line per connection")
	abnormal := closed("strict", "idle_timeout") + closed("stream", "reset") + closed("blackhole", "idle_timeout")
	assert.Equal(t, int(abnormal), logs.count("connection ended abnormally"), "idle timeouts and resets are logged")

	// Nothing leaks: the relay goroutines, watchdog timers and both sockets of
	// every connection are gone.
	var g, fd int
	ok := assert.Eventually(t, func() bool {
		g, fd = runtime.NumGoroutine(), openFDs(t)
		return g <= baseG+2 && fd <= baseFD
	}, 10*time.Second, 20*time.Millisecond)
	t.Logf("goroutines %d -> %d, open fds %d -> %d", baseG, g, baseFD, fd)
	if !ok {
		buf := make([]byte, 1<<20)
		t.Logf("goroutines:\n%s", buf[:runtime.Stack(buf, true)])
	}
}
