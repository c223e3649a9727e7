package health

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/pool"
	"github.com/lblab/lblab/testkit/ports"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func backendFor(t *testing.T, h http.HandlerFunc) *pool.Backend {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return pool.NewBackend("b", strings.TrimPrefix(srv.URL, "http://"), 1)
}

func TestHTTPCheckOnce(t *testing.T) {
	ok2xx3xx := func(c int) bool { return c >= 200 && c < 400 }
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr string
	}{
		{"200 passes", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"status":"ok"}`)) }, ""},
		{"redirect counts as the status, not followed", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) }, ""},
		{"503 fails", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, "status 503"},
		{"hang fails at the timeout", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, "timed out after 100ms"},
		{"closed connection fails", func(w http.ResponseWriter, r *http.Request) {
			c, _, _ := http.NewResponseController(w).Hijack()
			c.Close()
		}, "EOF"},
		{"garbage fails", func(w http.ResponseWriter, r *http.Request) {
			c, _, _ := http.NewResponseController(w).Hijack()
			c.Write([]byte("this is not HTTP\r\n\r\n"))
			c.Close()
		}, "malformed HTTP"},
		{"truncated body fails", func(w http.ResponseWriter, r *http.Request) {
			c, _, _ := http.NewResponseController(w).Hijack()
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"))
			c.Close()
		}, "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := backendFor(t, tt.handler)
			p := pool.New(pool.Options{Logger: quiet()}, b)
			// 100 ms for the hang case only: an answer that is coming may
			// take longer than that on a busy machine (seen at load 30).
			timeout := 5 * time.Second
			if strings.Contains(tt.wantErr, "timed out") {
				timeout = 100 * time.Millisecond
			}
			c := New(Config{Pool: p, Interval: 10 * time.Second, Timeout: timeout, Rise: 1, Fall: 1,
				Check: HTTPCheck(NewHTTPClient(), "/health", ok2xx3xx), Logger: quiet()})
			err := c.CheckOnce(t.Context(), b)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, pool.StateUp, b.State())
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Equal(t, pool.StateDown, b.State(), "fall=1 takes it down")
			assert.Equal(t, err.Error(), b.Health().LastResult)
		})
	}
}

func TestTCPCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	defer ln.Close()
	b := pool.NewBackend("", addr, 1)
	require.NoError(t, TCPCheck()(t.Context(), b))
	// A port held but not listening: a closed listener's port could be
	// taken by another test's listener, and the check would pass.
	refused := pool.NewBackend("", ports.Refused(t), 1)
	require.Error(t, TCPCheck()(t.Context(), refused))
}

// scripted is a check whose result the test sets, recording when it ran.
type scripted struct {
	mu    sync.Mutex
	fail  bool
	calls []time.Duration
	start time.Time
}

func (s *scripted) set(fail bool) { s.mu.Lock(); s.fail = fail; s.mu.Unlock() }

func (s *scripted) check(ctx context.Context, b *pool.Backend) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, time.Since(s.start))
	if s.fail {
		return errors.New("scripted failure")
	}
	return nil
}

func TestRiseAndFallTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := pool.NewBackend("b", "127.0.0.1:1", 1)
		var changes []string
		var mu sync.Mutex
		p := pool.New(pool.Options{Logger: quiet(), OnChange: func(_ *pool.Backend, from, to pool.State, _ string) {
			mu.Lock()
			changes = append(changes, from.String()+"->"+to.String())
			mu.Unlock()
		}}, b)
		s := &scripted{start: time.Now()}
		c := New(Config{Pool: p, Interval: time.Second, Timeout: 100 * time.Millisecond, Rise: 2, Fall: 3,
			Check: s.check, Logger: quiet(), Jitter: func() float64 { return 0.5 }}) // 0.5 = no spread
		ctx, cancel := context.WithCancel(t.Context())
		go c.Run(ctx)

		synctest.Wait()
		assert.Len(t, s.calls, 1, "checked at once at start")
		assert.Equal(t, pool.StateUp, b.State())

		s.set(true)
		time.Sleep(2*time.Second + time.Millisecond) // checks at 1s, 2s fail: 2 < fall
		synctest.Wait()
		assert.Equal(t, pool.StateUp, b.State())
		time.Sleep(time.Second) // third failure at 3s
		synctest.Wait()
		assert.Equal(t, pool.StateDown, b.State())

		s.set(false)
		time.Sleep(time.Second) // one pass at 4s: 1 < rise
		synctest.Wait()
		assert.Equal(t, pool.StateDown, b.State())
		time.Sleep(time.Second) // second pass at 5s
		synctest.Wait()
		assert.Equal(t, pool.StateUp, b.State())

		cancel()
		synctest.Wait()
		mu.Lock()
		assert.Equal(t, []string{"up->down", "down->up"}, changes, "each transition reported once")
		mu.Unlock()
		want := []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5 * time.Second}
		assert.Equal(t, want, s.calls)
	})
}

func TestJitterSpreadsChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := pool.NewBackend("b", "127.0.0.1:1", 1)
		p := pool.New(pool.Options{Logger: quiet()}, b)
		s := &scripted{start: time.Now()}
		c := New(Config{Pool: p, Interval: time.Second, Timeout: 100 * time.Millisecond, Rise: 1, Fall: 1,
			Check: s.check, Logger: quiet(), Jitter: func() float64 { return 0 }}) // -10%
		ctx, cancel := context.WithCancel(t.Context())
		go c.Run(ctx)
		time.Sleep(2 * time.Second)
		cancel()
		synctest.Wait()
		assert.Equal(t, []time.Duration{0, 900 * time.Millisecond, 1800 * time.Millisecond}, s.calls)
	})
}

func TestPassiveRecoveryWithoutActiveChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := pool.NewBackend("b", "127.0.0.1:1", 1)
		p := pool.New(pool.Options{Logger: quiet()}, b)
		c := New(Config{Pool: p, Interval: 0, FailTimeout: 4 * time.Second, Logger: quiet()})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go c.Run(ctx)
		synctest.Wait()
		for range 3 {
			if b.RecordFailure(time.Now(), 3, 4*time.Second) {
				p.Transition(b, pool.StateUp, pool.StateDown, "passive")
			}
		}
		require.Equal(t, pool.StateDown, b.State())
		time.Sleep(3 * time.Second)
		synctest.Wait()
		assert.Equal(t, pool.StateDown, b.State(), "still within fail_timeout")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.Equal(t, pool.StateUp, b.State(), "back after fail_timeout")
	})
}

func TestHungCheckDoesNotBlockOthers(t *testing.T) {
	hung := backendFor(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	fine := backendFor(t, func(w http.ResponseWriter, r *http.Request) {})
	p := pool.New(pool.Options{Logger: quiet()}, hung, fine)
	var mu sync.Mutex
	checks := map[*pool.Backend]int{}
	// 150 ms to answer: the fine backend's checks must not time out on a
	// busy machine (40 ms did, at load 20).
	c := New(Config{Pool: p, Interval: 200 * time.Millisecond, Timeout: 150 * time.Millisecond, Rise: 1, Fall: 2,
		Check:   HTTPCheck(NewHTTPClient(), "/health", func(c int) bool { return c == 200 }),
		OnCheck: func(b *pool.Backend, err error) { mu.Lock(); checks[b]++; mu.Unlock() },
		Logger:  quiet()})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	require.Eventually(t, func() bool { return hung.State() == pool.StateDown }, 5*time.Second, 10*time.Millisecond)
	mu.Lock()
	hungChecks := checks[hung]
	mu.Unlock()
	// The fine backend is checked at least as often: its checks do not
	// queue behind the hung ones (a goroutine may run late on a busy
	// machine, so it gets a moment to catch up).
	assert.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return checks[fine] >= hungChecks
	}, time.Second, 10*time.Millisecond, "the fine backend is checked at least as often")
	assert.Equal(t, pool.StateUp, fine.State())
	cancel()
	<-done
}
