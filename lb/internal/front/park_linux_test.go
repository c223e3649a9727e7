//go:build linux && !386 && !portable

package front

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lblab/lblab/lb/internal/netx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/proxy"
)

// TestIdleConnectionsAreParked: a keep-alive connection idle for longer
// than parkAfter holds no goroutine (counted); its next request wakes it
// and is answered as before.
func TestIdleConnectionsAreParked(t *testing.T) {
	const n = 200
	rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) { return echo(r), false })
	url, f := fastFront(t, proxy.Config{}, Config{}, rb.addr())
	addr := strings.TrimPrefix(url, "http://")
	before := runtime.NumGoroutine()
	conns, readers := openAnswered(t, addr, n)
	require.Eventually(t, func() bool { return parked(f) == n }, 5*time.Second, 5*time.Millisecond,
		"%d of %d idle connections parked", parked(f), n)
	assert.Zero(t, serving(), "goroutines still serve idle connections")
	assert.Less(t, runtime.NumGoroutine()-before, n, "goroutines grew with the connections")
	for i, c := range conns {
		io.WriteString(c, "GET /second"+strconv.Itoa(i)+" HTTP/1.1\r\nHost: a\r\n\r\n")
		readEcho(t, readers[i], "/second"+strconv.Itoa(i))
	}
}

// openAnswered dials n connections to addr, each sending one GET
// (/first<i>) and reading its echo, and returns them with their readers.
func openAnswered(t *testing.T, addr string, n int) ([]net.Conn, []*bufio.Reader) {
	t.Helper()
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	for i := range n {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(20 * time.Second))
		conns[i], readers[i] = c, bufio.NewReader(c)
		path := "/first" + strconv.Itoa(i)
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n")
		readEcho(t, readers[i], path)
	}
	return conns, readers
}

// readEcho reads the next response from br: the echo of path.
func readEcho(t *testing.T, br *bufio.Reader, path string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, path, string(body))
}

// TestParkAbove: idle connections keep their goroutines while no more
// than ParkAbove are open (parking's system calls are not worth it for a
// few), and are parked once more are open, the ones already idle included.
func TestParkAbove(t *testing.T) {
	const above = 10
	rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) { return echo(r), false })
	url, f := fastFront(t, proxy.Config{}, Config{ParkAbove: above}, rb.addr())
	addr := strings.TrimPrefix(url, "http://")
	var conns []net.Conn
	var readers []*bufio.Reader
	open := func(n int) {
		for range n {
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			c.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(c)
			io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err)
			io.ReadAll(resp.Body)
			conns, readers = append(conns, c), append(readers, br)
		}
	}
	open(above)
	time.Sleep(10 * parkAfter)
	assert.Zero(t, parked(f), "connections parked with no more than ParkAbove open")
	assert.Equal(t, above, serving(), "goroutines serving the idle connections")
	open(1)
	require.Eventually(t, func() bool { return parked(f) == above+1 }, 3*parkRecheck, 10*time.Millisecond,
		"%d of %d idle connections parked once more than ParkAbove were open", parked(f), above+1)
	for i, c := range conns {
		io.WriteString(c, "GET /again HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(readers[i], nil)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		assert.Equal(t, "/again", string(body))
	}
}

// TestParkedConnectionsExpire: a parked connection is closed at
// idle_timeout, and at once by Shutdown.
func TestParkedConnectionsExpire(t *testing.T) {
	rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) { return echo(r), false })
	url, f := fastFront(t, proxy.Config{}, Config{IdleTimeout: 300 * time.Millisecond}, rb.addr())
	addr := strings.TrimPrefix(url, "http://")
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	t0 := time.Now()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	io.ReadAll(resp.Body)
	require.Eventually(t, func() bool { return parked(f) == 1 }, time.Second, time.Millisecond)
	_, err = br.ReadByte()
	assert.ErrorIs(t, err, io.EOF)
	assert.GreaterOrEqual(t, time.Since(t0), 250*time.Millisecond, "closed before idle_timeout")
}

// serving counts the goroutines inside conn.serve.
func serving() int {
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, 2)
	return strings.Count(b.String(), "front.(*conn).serve(")
}

// TestIdleWorkersBounded: once a crowd of connections served at the same
// time has parked, at most maxIdleWorkers goroutines stay waiting for the
// next connection (each holds its grown stack).
func TestIdleWorkersBounded(t *testing.T) {
	const n = 300
	rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) { return echo(r), false })
	url, f := fastFront(t, proxy.Config{}, Config{}, rb.addr())
	addr := strings.TrimPrefix(url, "http://")
	conns := make([]net.Conn, n)
	for i := range n { // every connection has a request in before any is read
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
		conns[i] = c
	}
	for _, c := range conns {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		io.ReadAll(resp.Body)
	}
	require.Eventually(t, func() bool { return parked(f) == n }, 10*time.Second, 5*time.Millisecond,
		"%d of %d idle connections parked", parked(f), n)
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, 2)
	assert.LessOrEqual(t, strings.Count(b.String(), "front.(*Front).worker("), maxIdleWorkers,
		"goroutines left waiting by %d connections served at once, now parked", n)
}

// TestRawCallsBelow: the sockets' system calls are raw while fewer than
// RawCallsBelow client connections are open, the scheduler's from then on,
// and raw again once enough have closed; requests are answered either way.
func TestRawCallsBelow(t *testing.T) {
	const below = 3
	t.Cleanup(func() { netx.SetCrowded(false) })
	rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) { return echo(r), false })
	url, f := fastFront(t, proxy.Config{}, Config{RawCallsBelow: below}, rb.addr())
	addr := strings.TrimPrefix(url, "http://")
	var conns []net.Conn
	get := func(c net.Conn, path string) {
		t.Helper()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		assert.Equal(t, path, string(body))
	}
	for i := range below + 1 {
		if i > 0 { // with none open, the last word was another test's
			assert.Equal(t, i >= below, netx.Crowded(), "with %d connections open", i)
		}
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		get(c, "/"+strconv.Itoa(i))
		conns = append(conns, c)
	}
	assert.True(t, netx.Crowded(), "with %d connections open", below+1)
	get(conns[0], "/crowded")
	for i := range 2 {
		conns[i].Close()
	}
	require.Eventually(t, func() bool { return f.Open() == below-1 }, 5*time.Second, time.Millisecond)
	assert.False(t, netx.Crowded(), "with %d connections open", below-1)
	get(conns[2], "/raw")
}

// TestRawCallsBelowCountsServed: parked connections do not count towards
// RawCallsBelow. A crowd of idle ones keeps the calls raw; as many woken as
// RawCallsBelow make them the scheduler's; parked again, raw again.
func TestRawCallsBelowCountsServed(t *testing.T) {
	const below, open = 3, 6
	t.Cleanup(func() { netx.SetCrowded(false) })
	rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) { return echo(r), false })
	url, f := fastFront(t, proxy.Config{}, Config{RawCallsBelow: below, ParkAbove: 0}, rb.addr())
	addr := strings.TrimPrefix(url, "http://")
	conns, readers := openAnswered(t, addr, open)
	allParked := func() bool { return parked(f) == open }
	require.Eventually(t, allParked, 10*time.Second, 5*time.Millisecond, "%d of %d idle connections parked", parked(f), open)
	assert.False(t, netx.Crowded(), "%d connections open, all parked", open)

	// Half a request head each wakes below of them, which wait for the rest.
	for _, c := range conns[:below] {
		io.WriteString(c, "GET /woken HTTP/1.1\r\n")
	}
	require.Eventually(t, netx.Crowded, 10*time.Second, time.Millisecond,
		"%d connections woken (%d parked)", below, parked(f))
	for i, c := range conns[:below] {
		io.WriteString(c, "Host: a\r\n\r\n")
		readEcho(t, readers[i], "/woken")
	}
	require.Eventually(t, allParked, 10*time.Second, 5*time.Millisecond, "%d of %d idle connections parked again", parked(f), open)
	assert.False(t, netx.Crowded(), "%d connections open, all parked again", open)
}

// parked is how many connections f's Parker holds (Serve sets the Parker
// under f.mu).
func parked(f *Front) int {
	f.mu.Lock()
	p := f.parker
	f.mu.Unlock()
	return p.Parked()
}
