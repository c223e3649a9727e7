package l4_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/pool"
	"github.com/lblab/lblab/testkit/ports"
)

func TestDistribution(t *testing.T) {
	tests := []struct {
		name      string
		algorithm string
		weights   []int
		conns     int
		hold      bool // keep each connection open while the next ones are made
		wantOrder []string
		wantCount map[string]int
	}{
		{name: "round robin is exact", algorithm: "round_robin", conns: 9,
			wantOrder: []string{"a", "b", "c", "a", "b", "c", "a", "b", "c"}},
		{name: "weighted round robin is smooth", algorithm: "weighted_round_robin", weights: []int{1, 2, 3}, conns: 12,
			wantCount: map[string]int{"a": 2, "b": 4, "c": 6}},
		{name: "least connections counts open connections", algorithm: "least_connections", conns: 9, hold: true,
			wantCount: map[string]int{"a": 3, "b": 3, "c": 3}},
		{name: "ip hash keeps one client on one backend", algorithm: "ip_hash", conns: 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var backends []*tcpBackend
			for _, n := range []string{"a", "b", "c"} {
				h := nameHandler(n)
				if tt.hold {
					h = holdHandler(n)
				}
				backends = append(backends, newTCPBackend(t, n, h))
			}
			lb := startLB(t, lbOpts{algorithm: tt.algorithm, weights: tt.weights, backendsByName: backends})
			var got []string
			for range tt.conns {
				c := dial(t, lb.addr)
				buf := make([]byte, 1)
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				_, err := io.ReadFull(c, buf)
				require.NoError(t, err)
				got = append(got, string(buf))
				if !tt.hold {
					c.Close()
				}
			}
			if tt.wantOrder != nil {
				assert.Equal(t, tt.wantOrder, got)
			}
			count := map[string]int{}
			for _, g := range got {
				count[g]++
			}
			if tt.wantCount != nil {
				assert.Equal(t, tt.wantCount, count)
			}
			if tt.algorithm == "ip_hash" {
				assert.Len(t, count, 1, "one client IP must stay on one backend: %v", got)
			}
		})
	}
}

func TestProtocols(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", "http-1")
		fmt.Fprintf(w, `{"backend":"http-1","path":%q}`, r.URL.Path)
	}))
	t.Cleanup(hs.Close)
	echo := newTCPBackend(t, "echo", echoHandler)

	t.Run("http client", func(t *testing.T) {
		lb := startLB(t, lbOpts{backendAddrs: []string{hs.Listener.Addr().String()}})
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		for i := range 5 { // keep-alive: several requests on one relayed connection
			resp, err := client.Get(fmt.Sprintf("http://%s/info/%d", lb.addr, i))
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "http-1", resp.Header.Get("X-Backend"))
			assert.JSONEq(t, fmt.Sprintf(`{"backend":"http-1","path":"/info/%d"}`, i), string(body))
		}
	})
	t.Run("raw echo client", func(t *testing.T) {
		lb := startLB(t, lbOpts{backendsByName: []*tcpBackend{echo}})
		c := dial(t, lb.addr)
		r := bufio.NewReader(c)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		for _, line := range []string{"PING\n", "hello world\n", strings.Repeat("x", 10000) + "\n"} {
			_, err := io.WriteString(c, line)
			require.NoError(t, err)
			got, err := r.ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, line, got)
		}
	})
}

func TestLargeTransfers(t *testing.T) {
	const size = 32 << 20
	echo := newTCPBackend(t, "echo", echoHandler)
	hash := newTCPBackend(t, "hash", hashHandler)
	payload := make([]byte, size)
	rand.Read(payload)
	sum := sha256.Sum256(payload)

	tests := []struct {
		name    string
		backend *tcpBackend
		check   func(t *testing.T, c *net.TCPConn)
	}{
		{"both ways at once through an echo backend", echo, func(t *testing.T, c *net.TCPConn) {
			var wg sync.WaitGroup
			wg.Go(func() {
				_, err := c.Write(payload)
				assert.NoError(t, err)
				assert.NoError(t, c.CloseWrite())
			})
			h := sha256.New()
			n, err := io.Copy(h, c)
			wg.Wait()
			require.NoError(t, err)
			assert.Equal(t, int64(size), n)
			assert.Equal(t, sum[:], h.Sum(nil), "echoed bytes differ")
		}},
		{"upload then answer", hash, func(t *testing.T, c *net.TCPConn) {
			_, err := c.Write(payload)
			require.NoError(t, err)
			require.NoError(t, c.CloseWrite())
			got, err := io.ReadAll(c)
			require.NoError(t, err)
			assert.Equal(t, formatHash(size, sum[:]), string(got))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lb := startLB(t, lbOpts{backendsByName: []*tcpBackend{tt.backend}})
			c := dial(t, lb.addr)
			c.SetDeadline(time.Now().Add(30 * time.Second))
			tt.check(t, c)
			require.Eventually(t, func() bool { return lb.srv.Stats().ConnectionsActive == 0 }, 5*time.Second, 10*time.Millisecond)
			st := lb.srv.Stats()
			assert.GreaterOrEqual(t, st.BytesIn, uint64(size))
			assert.Equal(t, map[string]uint64{"closed": 1}, st.ConnectionsClosed)
		})
	}

	t.Run("download", func(t *testing.T) {
		src := newTCPBackend(t, "src", func(c *net.TCPConn) { c.Write(payload) })
		lb := startLB(t, lbOpts{backendsByName: []*tcpBackend{src}})
		c := dial(t, lb.addr)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		h := sha256.New()
		n, err := io.Copy(h, c)
		require.NoError(t, err)
		assert.Equal(t, int64(size), n)
		assert.Equal(t, sum[:], h.Sum(nil))
		require.Eventually(t, func() bool { return lb.srv.Stats().BytesOut == size }, 5*time.Second, 10*time.Millisecond)
	})
}

func TestHalfClose(t *testing.T) {
	// The backend reads to EOF and only then replies: that works only if the
	// client's CloseWrite reaches it as a FIN while the reply path stays open.
	b := newTCPBackend(t, "hc", func(c *net.TCPConn) {
		data, err := io.ReadAll(c)
		if err != nil {
			return
		}
		fmt.Fprintf(c, "got %d bytes: %s", len(data), strings.ToUpper(string(data)))
	})
	lb := startLB(t, lbOpts{backendsByName: []*tcpBackend{b}})
	c := dial(t, lb.addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err := io.WriteString(c, "request")
	require.NoError(t, err)
	require.NoError(t, c.CloseWrite())
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	assert.Equal(t, "got 7 bytes: REQUEST", string(got))

	t.Run("backend closes first", func(t *testing.T) {
		// The backend half-closes after its greeting and keeps reading; the
		// client reads EOF, then still sends, and the backend gets it.
		var gotUp atomic.Value
		b2 := newTCPBackend(t, "b2", func(c *net.TCPConn) {
			io.WriteString(c, "hello")
			c.CloseWrite()
			data, _ := io.ReadAll(c)
			gotUp.Store(string(data))
		})
		lb := startLB(t, lbOpts{backendsByName: []*tcpBackend{b2}})
		c := dial(t, lb.addr)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		greeting, err := io.ReadAll(c)
		require.NoError(t, err)
		assert.Equal(t, "hello", string(greeting))
		_, err = io.WriteString(c, "after your FIN")
		require.NoError(t, err)
		require.NoError(t, c.CloseWrite())
		require.Eventually(t, func() bool { v, _ := gotUp.Load().(string); return v == "after your FIN" }, 5*time.Second, 10*time.Millisecond)
	})
}

func TestRetryOnConnectFailure(t *testing.T) {
	dead := deadAddr(t)
	dead2 := deadAddr(t)
	tests := []struct {
		name          string
		retries       int
		extra         []string
		wantOK        int
		wantClosed    map[string]uint64
		wantConnErrs  uint64
		withLiveAlive bool
	}{
		{name: "retried on the live backend", retries: 2, extra: []string{dead}, withLiveAlive: true, wantOK: 10,
			wantClosed: map[string]uint64{"closed": 10}},
		{name: "no retries: failures reach the client", retries: 0, extra: []string{dead}, withLiveAlive: true, wantOK: 5,
			wantClosed: map[string]uint64{"closed": 5, "connect_failed": 5}, wantConnErrs: 5},
		{name: "never the same backend twice", retries: 5, extra: []string{dead, dead2}, wantOK: 0,
			wantClosed: map[string]uint64{"connect_failed": 10}, wantConnErrs: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := lbOpts{algorithm: "round_robin", retries: tt.retries, backendAddrs: tt.extra}
			if tt.withLiveAlive {
				o.backendsByName = []*tcpBackend{newTCPBackend(t, "live", nameHandler("live"))}
			}
			lb := startLB(t, o)
			ok := 0
			for range 10 {
				got, err := fetchName(lb.addr)
				require.NoError(t, err)
				if got == "live" {
					ok++
				} else {
					assert.Empty(t, got)
				}
			}
			assert.Equal(t, tt.wantOK, ok)
			require.Eventually(t, func() bool { return lb.srv.Stats().ConnectionsActive == 0 }, 5*time.Second, 10*time.Millisecond)
			st := lb.srv.Stats()
			assert.Equal(t, tt.wantClosed, st.ConnectionsClosed)
			if tt.wantConnErrs > 0 || tt.retries > 0 {
				if tt.wantConnErrs > 0 {
					assert.Equal(t, tt.wantConnErrs, st.ConnectErrors)
				} else {
					assert.Positive(t, st.ConnectErrors)
				}
			}
		})
	}

	t.Run("no backend", func(t *testing.T) {
		lb := startLB(t, lbOpts{backendAddrs: []string{dead}})
		lb.pool.Set(lb.pool.All()[0], pool.StateDisabled, "test")
		got, err := fetchName(lb.addr)
		require.NoError(t, err)
		assert.Empty(t, got)
		require.Eventually(t, func() bool { return lb.srv.Stats().ConnectionsClosed["no_backend"] == 1 }, 5*time.Second, 10*time.Millisecond)
		sum := lb.srv.Summary()
		assert.Equal(t, uint64(1), sum.StatusCodes["503"])
		assert.Equal(t, 100.0, sum.ErrorRate)
	})

	t.Run("passive failures take the backend down", func(t *testing.T) {
		live := newTCPBackend(t, "live", nameHandler("live"))
		lb := startLB(t, lbOpts{retries: 1, maxFails: 2, backendsByName: []*tcpBackend{live}, backendAddrs: []string{dead}})
		for range 6 {
			got, err := fetchName(lb.addr)
			require.NoError(t, err)
			assert.Equal(t, "live", got)
		}
		assert.Equal(t, pool.StateDown, lb.pool.Get(dead).State())
		assert.Equal(t, uint64(2), lb.srv.Stats().ConnectErrors)
	})
}

// deadAddr returns a 127.0.0.1 address that refuses connections until the
// test ends (ports.Refused: no other test's listener can take its port).
func deadAddr(t *testing.T) string { return ports.Refused(t) }

func TestKillAndRestartBackendUnderLoad(t *testing.T) {
	names := []string{"k1", "k2", "k3"}
	var backends []*tcpBackend
	for _, n := range names {
		backends = append(backends, newTCPBackend(t, n, nameHandler(n)))
	}
	victim := backends[1]
	// Checks every second: long enough that clients meet the killed backend
	// (refused connects, retried; one marks it down) before a check does.
	// With 200 ms, beside two busy loops a check won the race and no client
	// met a refused connect (connect errors 0).
	lb := startLB(t, lbOpts{retries: 2, maxFails: 1, failTimeout: time.Minute, checkInterval: time.Second,
		backendsByName: backends})

	const workers = 4
	var (
		mu     sync.Mutex
		counts [3]map[string]int // by phase: 0 all up, 1 k2 killed, 2 k2 restarted
		fails  [3][]string
	)
	for i := range counts {
		counts[i] = map[string]int{}
	}
	var phase atomic.Int32
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var made atomic.Int64
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil && made.Add(1) <= 5000 {
				p := phase.Load()
				got, err := fetchName(lb.addr)
				mu.Lock()
				if err != nil || got == "" {
					fails[p] = append(fails[p], fmt.Sprintf("%q %v", got, err))
				} else {
					counts[p][got]++
				}
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		})
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		require.Eventually(t, cond, 10*time.Second, 5*time.Millisecond, what)
	}
	inPhase := func(p int) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, c := range counts[p] {
			n += c
		}
		return n
	}
	waitFor("traffic before the kill", func() bool { return inPhase(0) >= 100 })
	victim.Kill()
	phase.Store(1)
	waitFor("k2 marked down", func() bool { return lb.pool.Get(victim.addr).State() == pool.StateDown })
	waitFor("traffic while k2 is down", func() bool { return inPhase(1) >= 200 })
	phase.Store(2)
	victim.Start()
	waitFor("k2 back up after health checks", func() bool { return lb.pool.Get(victim.addr).State() == pool.StateUp })
	waitFor("k2 serving again", func() bool { mu.Lock(); defer mu.Unlock(); return counts[2]["k2"] >= 20 })
	cancel()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	st := lb.srv.Stats()
	t.Logf("connections by phase: all up %v, k2 killed %v, k2 restarted %v; connect errors %d, retries %d",
		counts[0], counts[1], counts[2], st.ConnectErrors, st.Retries)
	// Connections made after the kill meet a refused connect, retried on
	// another backend: none may fail. Only a connection that k2's kernel had
	// already accepted when its listener closed can be cut (the kernel resets
	// its accept queue): at most one per client worker, and usually none.
	assert.Empty(t, fails[1], "client connections failed after the kill")
	assert.Empty(t, fails[2], "client connections failed after the restart")
	assert.LessOrEqual(t, len(fails[0]), workers, "connections in k2's accept queue at the kill: %v", fails[0])
	assert.Zero(t, counts[1]["k2"], "a killed backend served a connection")
	assert.Positive(t, st.ConnectErrors)
}

func TestDrainLetsOpenConnectionsFinish(t *testing.T) {
	a := newTCPBackend(t, "a", echoHandler)
	b := newTCPBackend(t, "b", nameHandler("b"))
	lb := startLB(t, lbOpts{backendsByName: []*tcpBackend{a, b}})
	ba := lb.pool.Get(a.addr)

	c := dial(t, lb.addr) // round robin: first to a
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	io.WriteString(c, "one\n")
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "one\n", line)

	lb.pool.Set(ba, pool.StateDraining, "test")
	for range 3 {
		got, err := fetchName(lb.addr)
		require.NoError(t, err)
		assert.Equal(t, "b", got, "a draining backend must get no new connections")
	}
	assert.Equal(t, int64(1), ba.InFlight())
	io.WriteString(c, "two\n")
	line, err = r.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "two\n", line, "the open connection keeps working while draining")
	c.Close()
	require.Eventually(t, func() bool { return ba.InFlight() == 0 }, 5*time.Second, 10*time.Millisecond)
}

func TestShutdown(t *testing.T) {
	t.Run("open connections finish", func(t *testing.T) {
		echo := newTCPBackend(t, "echo", echoHandler)
		lb := startLB(t, lbOpts{backendsByName: []*tcpBackend{echo}})
		c := dial(t, lb.addr)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "x")
		buf := make([]byte, 1)
		_, err := io.ReadFull(c, buf)
		require.NoError(t, err)

		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			done <- lb.srv.Shutdown(ctx)
		}()
		require.Eventually(t, func() bool {
			c2, err := net.DialTimeout("tcp", lb.addr, 100*time.Millisecond)
			if err == nil {
				c2.Close()
			}
			return err != nil
		}, 5*time.Second, 10*time.Millisecond, "the listener must close")
		select {
		case err := <-done:
			t.Fatalf("Shutdown returned %v with a connection open", err)
		case <-time.After(100 * time.Millisecond):
		}
		io.WriteString(c, "y") // still relayed
		_, err = io.ReadFull(c, buf)
		require.NoError(t, err)
		assert.Equal(t, "y", string(buf))
		c.CloseWrite()
		_, err = io.ReadAll(c)
		require.NoError(t, err)
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("Shutdown did not return after the last connection ended")
		}
	})
	t.Run("past the bound connections are cut", func(t *testing.T) {
		echo := newTCPBackend(t, "echo", echoHandler)
		lb := startLB(t, lbOpts{backendsByName: []*tcpBackend{echo}})
		c := dial(t, lb.addr)
		io.WriteString(c, "x")
		buf := make([]byte, 1)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err := io.ReadFull(c, buf)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err = lb.srv.Shutdown(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NoError(t, lb.srv.Close())
		_, err = io.ReadAll(c) // EOF or reset: the connection is gone
		_ = err
		assert.Equal(t, uint64(1), lb.srv.Stats().ConnectionsClosed["shutdown"])
		assert.Zero(t, lb.srv.Active())
		require.Eventually(t, func() bool { return echo.Open() == 0 }, 5*time.Second, 10*time.Millisecond)
	})
}

func TestAlgorithmSwitch(t *testing.T) {
	var backends []*tcpBackend
	for _, n := range []string{"a", "b", "c"} {
		backends = append(backends, newTCPBackend(t, n, nameHandler(n)))
	}
	lb := startLB(t, lbOpts{backendsByName: backends})
	assert.Equal(t, "round_robin", lb.srv.Algorithm())
	require.Error(t, lb.srv.SetAlgorithm("fastest"))
	require.NoError(t, lb.srv.SetAlgorithm("ip_hash"))
	assert.Equal(t, "ip_hash", lb.srv.Algorithm())
	seen := map[string]bool{}
	for range 6 {
		got, err := fetchName(lb.addr)
		require.NoError(t, err)
		seen[got] = true
	}
	assert.Len(t, seen, 1)
	require.NoError(t, lb.srv.SetAlgorithm("round_robin"))
	for range 6 {
		got, err := fetchName(lb.addr)
		require.NoError(t, err)
		seen[got] = true
	}
	assert.Len(t, seen, 3)
}

func TestLeastLatencyUsesConnectTime(t *testing.T) {
	a := newTCPBackend(t, "a", nameHandler("a"))
	lb := startLB(t, lbOpts{algorithm: "least_latency", backendsByName: []*tcpBackend{a}})
	got, err := fetchName(lb.addr)
	require.NoError(t, err)
	assert.Equal(t, "a", got)
	assert.Positive(t, lb.pool.Get(a.addr).Latency(), "connect time must feed the latency estimate")
}

func TestMaxConnections(t *testing.T) {
	h := newTCPBackend(t, "h", holdHandler("h"))
	lb := startLB(t, lbOpts{maxConns: 2, backendsByName: []*tcpBackend{h}})
	c1, c2 := dial(t, lb.addr), dial(t, lb.addr)
	buf := make([]byte, 1)
	for _, c := range []*net.TCPConn{c1, c2} {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := io.ReadFull(c, buf)
		require.NoError(t, err)
	}
	c3 := dial(t, lb.addr) // the kernel completes the handshake; the balancer does not accept it yet
	c3.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err := c3.Read(buf)
	require.Error(t, err, "a third connection must wait while two are open")
	assert.Equal(t, int64(2), lb.srv.Stats().ConnectionsActive)
	c1.Close()
	c3.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = io.ReadFull(c3, buf)
	require.NoError(t, err, "the third connection is served once one closes")
	assert.Equal(t, "h", string(buf))
	assert.Positive(t, lb.srv.Stats().AcceptLimited)
}

func TestIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	echo := newTCPBackend(t, "echo", echoHandler)
	lb := startLB(t, lbOpts{idle: idle, backendsByName: []*tcpBackend{echo}})

	t.Run("a silent connection is closed after the timeout", func(t *testing.T) {
		// From before the dial: the timeout runs from the relay's start,
		// which follows the connect; a clock started after dial returns
		// could start late on a busy machine (it read 157 ms once).
		start := time.Now()
		c := dial(t, lb.addr)
		_, err := readAll(c, 5*time.Second)
		require.NoError(t, err)
		elapsed := time.Since(start)
		assert.GreaterOrEqual(t, elapsed, idle-20*time.Millisecond)
		assert.Less(t, elapsed, idle+500*time.Millisecond)
	})
	t.Run("activity either way keeps a connection open", func(t *testing.T) {
		c := dial(t, lb.addr)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 1)
		start := time.Now()
		for time.Since(start) < 4*idle {
			_, err := c.Write([]byte{'.'})
			require.NoError(t, err)
			_, err = io.ReadFull(c, buf)
			require.NoError(t, err, "an active connection was cut after %s", time.Since(start))
			time.Sleep(idle / 3)
		}
	})
	require.Eventually(t, func() bool { return lb.srv.Stats().ConnectionsClosed["idle_timeout"] >= 1 }, 5*time.Second, 10*time.Millisecond)
}

func TestMetrics(t *testing.T) {
	b := newTCPBackend(t, "m1", hashHandler)
	lb := startLB(t, lbOpts{backendsByName: []*tcpBackend{b}, backendAddrs: []string{deadAddr(t)}, retries: 1})
	for range 4 {
		c := dial(t, lb.addr)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "0123456789")
		c.CloseWrite()
		_, err := io.ReadAll(c)
		require.NoError(t, err)
		c.Close()
	}
	require.Eventually(t, func() bool { return lb.srv.Stats().ConnectionsClosed["closed"] == 4 }, 5*time.Second, 10*time.Millisecond)

	reg := lb.m.Registry()
	n, err := testutil.GatherAndCount(reg, "lblab_tcp_connection_duration_seconds")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP lblab_tcp_connections_accepted_total Client connections accepted.
# TYPE lblab_tcp_connections_accepted_total counter
lblab_tcp_connections_accepted_total 4
# HELP lblab_tcp_backend_bytes_total Bytes relayed, by backend and direction.
# TYPE lblab_tcp_backend_bytes_total counter
lblab_tcp_backend_bytes_total{backend="m1",direction="client_to_backend"} 40
lblab_tcp_backend_bytes_total{backend="m1",direction="backend_to_client"} 268
lblab_tcp_backend_bytes_total{backend="`+lb.pool.All()[1].Name+`",direction="client_to_backend"} 0
lblab_tcp_backend_bytes_total{backend="`+lb.pool.All()[1].Name+`",direction="backend_to_client"} 0
`), "lblab_tcp_connections_accepted_total", "lblab_tcp_backend_bytes_total")
	assert.NoError(t, err)
	connErrs, err := testutil.GatherAndCount(reg, "lblab_tcp_connect_errors_total")
	require.NoError(t, err)
	assert.Equal(t, 1, connErrs)

	// The admin listener's /__metrics__ serves the seed's shape plus "tcp".
	h := lb.srv.AdminHandler(http.NotFoundHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/__metrics__", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	for _, k := range []string{"uptime_seconds", "total_requests", "total_errors", "requests_per_second", "error_rate", "response_times", "status_codes", "tcp"} {
		assert.Contains(t, body, k)
	}
	assert.EqualValues(t, 4, body["total_requests"])
	assert.Equal(t, map[string]any{"200": 4.0}, body["status_codes"])
	tcp := body["tcp"].(map[string]any)
	assert.EqualValues(t, 40, tcp["bytes_client_to_backend"])
	assert.EqualValues(t, 4, tcp["connections_accepted"])
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/__status__", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code, "other paths go to the wrapped handler")
	assert.Contains(t, lb.srv.StatusExtra(), "tcp")
}
