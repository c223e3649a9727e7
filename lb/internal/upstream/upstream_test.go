package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// backend accepts connections on 127.0.0.1 and runs serve on each.
func backend(t testing.TB, serve func(c net.Conn)) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go serve(c)
		}
	}()
	return ln.Addr().String(), &n
}

func TestPoolReusesOnlyQuietConnections(t *testing.T) {
	tests := []struct {
		name  string
		after func(c net.Conn) // what the backend does once the connection is idle
		reuse bool
	}{
		{"quiet", func(net.Conn) {}, true},
		{"closed by the backend", func(c net.Conn) { c.Close() }, false},
		{"unsolicited bytes", func(c net.Conn) { io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\n\r\n") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idle := make(chan net.Conn, 1)
			addr, dials := backend(t, func(c net.Conn) { idle <- c })
			p := New(addr, Config{DialTimeout: time.Second, MaxIdle: 4})
			t.Cleanup(p.Close)
			c, reused, err := p.Get(context.Background(), time.Now())
			require.NoError(t, err)
			require.False(t, reused)
			p.Put(c, time.Now())
			server := <-idle
			defer server.Close()
			tt.after(server)
			time.Sleep(50 * time.Millisecond) // what the backend did has arrived
			c2, reused, err := p.Get(context.Background(), time.Now())
			require.NoError(t, err)
			defer c2.Close()
			assert.Equal(t, tt.reuse, reused)
			assert.Equal(t, tt.reuse, c2 == c)
			if !tt.reuse {
				assert.Eventually(t, func() bool { return dials.Load() == 2 }, time.Second, time.Millisecond, "a new connection was dialled")
			}
		})
	}
}

func TestPutClosesAConnectionWithBytesBuffered(t *testing.T) {
	addr, _ := backend(t, func(c net.Conn) { io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nEXTRA") })
	p := New(addr, Config{DialTimeout: time.Second, MaxIdle: 4})
	t.Cleanup(p.Close)
	c, _, err := p.Get(context.Background(), time.Now())
	require.NoError(t, err)
	resp, err := http.ReadResponse(c.BR, nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Eventually(t, func() bool { c.BR.Peek(1); return c.BR.Buffered() > 0 }, time.Second, time.Millisecond)
	p.Put(c, time.Now())
	assert.Zero(t, p.Idle(), "a connection with bytes past its response went back to the pool")
}

// TestPutBeyondMaxIdleCloses: a connection put back beyond MaxIdle is
// closed; a negative MaxIdle keeps them all (no limit), 0 none.
func TestPutBeyondMaxIdleCloses(t *testing.T) {
	for _, tc := range []struct {
		maxIdle, conns, wantIdle int
	}{
		{maxIdle: 1, conns: 2, wantIdle: 1},
		{maxIdle: 0, conns: 2, wantIdle: 0},
		{maxIdle: -1, conns: 600, wantIdle: 600}, // beyond the 512 that was the default
	} {
		t.Run(fmt.Sprintf("MaxIdle %d", tc.maxIdle), func(t *testing.T) {
			addr, _ := backend(t, func(c net.Conn) { io.Copy(io.Discard, c) })
			p := New(addr, Config{DialTimeout: time.Second, MaxIdle: tc.maxIdle})
			t.Cleanup(p.Close)
			conns := make([]*Conn, tc.conns)
			for i := range conns {
				c, _, err := p.Get(context.Background(), time.Now())
				require.NoError(t, err)
				conns[i] = c
			}
			for _, c := range conns {
				p.Put(c, time.Now())
			}
			assert.Equal(t, tc.wantIdle, p.Idle())
			for i, c := range conns {
				_, err := c.Write([]byte("x"))
				if i < tc.wantIdle {
					assert.NoError(t, err, "connection %d is kept", i)
				} else {
					assert.Error(t, err, "connection %d, beyond MaxIdle, is closed", i)
				}
			}
		})
	}
}

// TestIdleConnectionsHoldNoBuffers: a connection in the pool has handed its
// 20 KiB of buffers back (bounded memory per idle connection), and one taken
// again reads and writes through buffers of its own.
func TestIdleConnectionsHoldNoBuffers(t *testing.T) {
	const n = 200
	held := make(chan net.Conn, n)
	addr, _ := backend(t, func(c net.Conn) { held <- c })
	p := New(addr, Config{DialTimeout: time.Second, MaxIdle: n})
	t.Cleanup(p.Close)
	heap := func() int64 {
		runtime.GC()
		runtime.GC() // and the sync.Pools' victims
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	base := heap()
	conns := make([]*Conn, n)
	for i := range conns {
		c, _, err := p.Get(context.Background(), time.Now())
		require.NoError(t, err)
		conns[i] = c
	}
	servers := make(map[string]net.Conn, n)
	for range n {
		s := <-held
		t.Cleanup(func() { s.Close() })
		servers[s.RemoteAddr().String()] = s
	}
	busy := heap()
	for _, c := range conns {
		p.Put(c, time.Now())
	}
	require.Equal(t, n, p.Idle())
	idle := heap()
	t.Logf("heap per connection: %d bytes busy, %d idle", (busy-base)/n, (idle-base)/n)
	assert.Less(t, (idle-base)/n, int64(4<<10), "heap per idle pooled connection")

	c, reused, err := p.Get(context.Background(), time.Now())
	require.NoError(t, err)
	require.True(t, reused)
	defer c.Close()
	assert.Equal(t, ReadBufSize, c.BR.Size())
	assert.Equal(t, WriteBufSize, c.BW.Size())
	s := servers[c.LocalAddr().String()]
	require.NotNil(t, s)
	c.BW.WriteString("ping")
	require.NoError(t, c.BW.Flush())
	b := make([]byte, 4)
	s.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadFull(s, b)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(b))
	io.WriteString(s, "pong")
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := c.BR.Peek(4)
	require.NoError(t, err)
	assert.Equal(t, "pong", string(line))
}

func TestIdleTimeoutExpires(t *testing.T) {
	addr, dials := backend(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	p := New(addr, Config{DialTimeout: time.Second, MaxIdle: 4, IdleTimeout: time.Minute})
	t.Cleanup(p.Close)
	now := time.Now()
	c, _, _ := p.Get(context.Background(), now)
	p.Put(c, now)
	_, reused, err := p.Get(context.Background(), now.Add(2*time.Minute))
	require.NoError(t, err)
	assert.False(t, reused)
	assert.Eventually(t, func() bool { return dials.Load() == 2 }, time.Second, time.Millisecond)
}

// TestPurge: Purge closes the oldest idle connections: half (rounded up)
// of those the pool did not need since the last Purge, and all that have
// been idle for IdleTimeout; the others stay, newest first out.
func TestPurge(t *testing.T) {
	tests := []struct {
		name      string
		idle      int           // connections put back, oldest first, a second apart
		firstAt   time.Duration // the first Purge, after the last Put
		takeAfter int           // taken after it
		at        time.Duration // the second Purge, after the last Put
		wantFirst int           // closed by the first Purge (only expired ones: none was unneeded yet)
		want      int           // closed by the second
	}{
		{"a burst's leftovers are halved", 8, 0, 0, time.Second, 0, 4},
		{"an odd number: rounded up", 5, 0, 0, time.Second, 0, 3},
		{"the ones in use since are kept", 8, 0, 6, time.Second, 0, 1},
		{"all in use: none closed", 4, 0, 4, time.Second, 0, 0},
		{"expired ones go whatever", 6, 0, 0, time.Minute + 2*time.Second, 0, 6},
		{"expired ones go on the first Purge", 6, time.Minute - 2*time.Second, 0, time.Minute, 4, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, _ := backend(t, func(c net.Conn) { io.Copy(io.Discard, c) })
			p := New(addr, Config{DialTimeout: time.Second, MaxIdle: 64, IdleTimeout: time.Minute})
			t.Cleanup(p.Close)
			start := time.Now()
			var conns []*Conn
			for range tt.idle {
				c, _, err := p.Get(context.Background(), start)
				require.NoError(t, err)
				conns = append(conns, c)
			}
			for i, c := range conns {
				p.Put(c, start.Add(time.Duration(i)*time.Second))
			}
			last := start.Add(time.Duration(tt.idle-1) * time.Second)
			assert.Equal(t, tt.wantFirst, p.Purge(last.Add(tt.firstAt)), "the first Purge")
			var taken []*Conn
			for range tt.takeAfter {
				c, reused, err := p.Get(context.Background(), last)
				require.NoError(t, err)
				require.True(t, reused)
				taken = append(taken, c)
			}
			assert.Equal(t, tt.want, p.Purge(last.Add(tt.at)), "the second Purge")
			gone := tt.wantFirst + tt.want
			assert.Equal(t, tt.idle-tt.takeAfter-gone, p.Idle())
			for i, c := range conns {
				_, err := c.Write([]byte("x"))
				closed := i < gone // the oldest went
				if slices.Contains(taken, c) {
					closed = false
				}
				assert.Equal(t, closed, err != nil, "connection %d (oldest first) closed", i)
			}
			for _, c := range taken {
				c.Close()
			}
		})
	}
}

// TestPurgeAfterClose: a pool closed between two Purges (a backend removed
// while the server's purge runs over the pools) has nothing to purge.
func TestPurgeAfterClose(t *testing.T) {
	addr, _ := backend(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	p := New(addr, Config{DialTimeout: time.Second, MaxIdle: 4})
	now := time.Now()
	a, _, err := p.Get(context.Background(), now)
	require.NoError(t, err)
	b, _, err := p.Get(context.Background(), now)
	require.NoError(t, err)
	p.Put(a, now)
	p.Put(b, now)
	assert.Zero(t, p.Purge(now), "the first Purge: nothing was unneeded yet")
	p.Close()
	assert.Zero(t, p.Purge(now.Add(time.Second)))
	assert.Zero(t, p.Idle())
}

func TestSent(t *testing.T) {
	addr, _ := backend(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	p := New(addr, Config{DialTimeout: time.Second, MaxIdle: 4})
	t.Cleanup(p.Close)
	c, _, _ := p.Get(context.Background(), time.Now())
	defer c.Close()
	c.Begin()
	c.BW.WriteString("GET / HTTP/1.1\r\n\r\n")
	assert.Zero(t, c.Sent(), "nothing leaves before the flush")
	require.NoError(t, c.BW.Flush())
	assert.Equal(t, int64(18), c.Sent())
	c.Begin()
	assert.Zero(t, c.Sent())
}

// TestSend: Send writes the request, and where it waits for the response
// (sendWaits) returns only once the response's bytes are there to read;
// a wait that cannot start or is cut short never loses the request or
// blocks past the connection's end.
func TestSend(t *testing.T) {
	const req = "GET / HTTP/1.1\r\n\r\n"
	const resp = "HTTP/1.1 204 No Content\r\n\r\n"
	tests := []struct {
		name     string
		delay    time.Duration // before the backend answers; < 0: never
		deadline time.Duration // read deadline from now when Send starts; 0: none
		closeIn  time.Duration // close the connection this long into Send; 0: never
		early    bool          // the request's first byte leaves before Send, and the backend answers on it
		wantResp bool          // the response is read after Send
	}{
		{name: "answer at once", wantResp: true},
		{name: "answer after 30ms", delay: 30 * time.Millisecond, wantResp: true},
		{name: "answer before Send, to a part sent earlier", early: true, wantResp: true},
		{name: "deadline already past", delay: -1, deadline: -time.Second},
		{name: "deadline during the wait", delay: -1, deadline: 50 * time.Millisecond},
		{name: "closed during the wait", delay: -1, closeIn: 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 1)
			addr, _ := backend(t, func(c net.Conn) {
				defer c.Close()
				if tt.early {
					b := make([]byte, 1)
					io.ReadFull(c, b)
					io.WriteString(c, resp)
				}
				b := make([]byte, len(req))
				if tt.early {
					b = b[1:]
				}
				if _, err := io.ReadFull(c, b); err != nil {
					got <- err.Error()
					return
				}
				if tt.early {
					b = append([]byte(req[:1]), b...)
				}
				got <- string(b)
				if tt.early || tt.delay < 0 {
					io.Copy(io.Discard, c)
					return
				}
				time.Sleep(tt.delay)
				io.WriteString(c, resp)
				io.Copy(io.Discard, c)
			})
			p := New(addr, Config{DialTimeout: time.Second, MaxIdle: 4})
			t.Cleanup(p.Close)
			c, _, err := p.Get(context.Background(), time.Now())
			require.NoError(t, err)
			defer c.Close()
			if tt.deadline != 0 {
				c.RD.Set(c, time.Now().Add(tt.deadline))
			} else {
				c.RD.Set(c, time.Now().Add(10*time.Second)) // a bound on a hung test
			}
			if tt.closeIn > 0 {
				timer := time.AfterFunc(tt.closeIn, func() { c.Close() })
				defer timer.Stop()
			}
			c.Begin()
			r := req
			if tt.early {
				c.BW.WriteString(r[:1])
				require.NoError(t, c.BW.Flush())
				for c.q.peekQuiet() { // until the answer is here
					time.Sleep(time.Millisecond)
				}
				r = r[1:]
			}
			c.BW.WriteString(r)
			var at time.Time
			start := time.Now()
			require.NoError(t, c.Send(&at))
			returned := time.Now()
			assert.Equal(t, int64(len(req)), c.Sent(), "the whole request left")
			assert.False(t, at.Before(start) || at.After(returned), "at is when the request left")
			select {
			case r := <-got:
				assert.Equal(t, req, r, "what the backend read")
			case <-time.After(5 * time.Second):
				t.Fatal("the backend never got the request")
			}
			if tt.wantResp && sendWaits {
				assert.False(t, c.q.peekQuiet(), "Send returned before the response was there to read")
				assert.GreaterOrEqual(t, returned.Sub(start), tt.delay, "Send returned before the backend answered")
				assert.Less(t, returned.Sub(start), tt.delay+2*time.Second, "Send missed the response's arrival")
			}
			b, err := c.BR.Peek(len(resp))
			if tt.wantResp {
				require.NoError(t, err)
				assert.Equal(t, resp, string(b))
			} else {
				assert.Error(t, err, "no response: the read fails")
				assert.Less(t, time.Since(start), 5*time.Second, "the read did not wait for the test's bound")
			}
		})
	}
}

// TestSendAllocatesNothing: Send is on every request's path.
func TestSendAllocatesNothing(t *testing.T) {
	const req = "GET / HTTP/1.1\r\n\r\n"
	const resp = "HTTP/1.1 204 No Content\r\n\r\n"
	addr, _ := backend(t, func(c net.Conn) { // allocates nothing per request either (the count is the process's)
		defer c.Close()
		b, r := make([]byte, len(req)), []byte(resp)
		for {
			if _, err := io.ReadFull(c, b); err != nil {
				return
			}
			c.Write(r)
		}
	})
	p := New(addr, Config{DialTimeout: time.Second, MaxIdle: 4})
	t.Cleanup(p.Close)
	c, _, err := p.Get(context.Background(), time.Now())
	require.NoError(t, err)
	defer c.Close()
	c.RD.Set(c, time.Now().Add(time.Minute))
	var at time.Time
	allocs := testing.AllocsPerRun(200, func() {
		c.Begin()
		c.BW.WriteString(req)
		if err := c.Send(&at); err != nil {
			t.Fatal(err)
		}
		if _, err := c.BR.Discard(len(resp)); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

func TestResend(t *testing.T) {
	reset := &net.OpError{Op: "read", Err: syscall.ECONNRESET}
	tests := []struct {
		name               string
		err                error
		reused, idempotent bool
		want               bool
	}{
		{"nothing sent, reused, POST", errors.Join(ErrNotSent, reset), true, false, true},
		{"no response, reused, GET", errors.Join(ErrNoResponse, reset), true, true, true},
		{"no response, reused, POST: never twice", errors.Join(ErrNoResponse, reset), true, false, false},
		{"no response, fresh connection", errors.Join(ErrNoResponse, reset), false, true, false},
		{"nothing sent, fresh connection", errors.Join(ErrNotSent, reset), false, false, false},
		{"a malformed response", errors.New("malformed"), true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Resend(tt.err, tt.reused, tt.idempotent))
		})
	}
}

// TestCheckedConn: the first write after a response was read fails, with
// nothing sent, when the backend has closed the connection or sent bytes
// since, and so does every later one; a quiet connection's writes go
// through.
func TestCheckedConn(t *testing.T) {
	tests := []struct {
		name  string
		after func(c net.Conn)
		fails bool
	}{
		{"quiet", func(net.Conn) {}, false},
		{"closed by the backend", func(c net.Conn) { c.Close() }, true},
		{"unsolicited bytes", func(c net.Conn) { io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\n\r\n") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, server := checkedPair(t)
			_, err := c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
			require.NoError(t, err)
			io.WriteString(server, "HTTP/1.1 204 No Content\r\n\r\n")
			buf := make([]byte, 64)
			n, err := c.Read(buf)
			require.NoError(t, err)
			require.Positive(t, n)
			tt.after(server)
			time.Sleep(50 * time.Millisecond) // it has arrived
			_, err = c.Write([]byte("GET /next HTTP/1.1\r\n\r\n"))
			if !tt.fails {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, ErrNotSent)
			_, err = c.Write([]byte("GET /again HTTP/1.1\r\n\r\n"))
			assert.ErrorIs(t, err, ErrNotSent, "a connection found stale stays refused")
		})
	}
}

// checkedPair dials a backend through CheckedDialer and returns both ends,
// closed when the test ends.
func checkedPair(t *testing.T) (c, server net.Conn) {
	t.Helper()
	srv := make(chan net.Conn, 1)
	addr, _ := backend(t, func(c net.Conn) { srv <- c })
	c, err := CheckedDialer(&net.Dialer{Timeout: time.Second})(context.Background(), "tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	server = <-srv
	t.Cleanup(func() { server.Close() })
	return c, server
}

// TestCheckedConnNeverReadsPastTheResponse: bytes the backend sends past
// the end of the response asked for (here in the same write, so they come
// in the same read) never reach the reader, who would take them for the
// next request's response; the next request is refused with nothing sent.
func TestCheckedConnNeverReadsPastTheResponse(t *testing.T) {
	smuggled := "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nsmuggled!"
	tests := []struct{ name, method, response, extra string }{
		{"more bytes than Content-Length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", smuggled},
		{"HEAD answered with a body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 18\r\n\r\n", smuggled},
		{"204 with a body", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 18\r\n\r\n", smuggled},
		{"after the chunked terminator", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", smuggled},
		{"after an interim response", "GET", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", smuggled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, server := checkedPair(t)
			_, err := c.Write([]byte(tt.method + " /victim HTTP/1.1\r\nHost: x\r\n\r\n"))
			require.NoError(t, err)
			io.WriteString(server, tt.response+tt.extra)
			var got []byte
			buf := make([]byte, 4096)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					assert.ErrorIs(t, err, errStale)
					break
				}
			}
			assert.Equal(t, tt.response, string(got), "the reader got the response and nothing past it")
			_, err = c.Write([]byte("GET /next HTTP/1.1\r\nHost: x\r\n\r\n"))
			assert.ErrorIs(t, err, ErrNotSent)
		})
	}
}

// TestCheckedConnStrayBytesTakenBeforeTheNextRequest: the Transport's
// reader took stray bytes from the socket (here: readSock, the read system
// call alone) and has not framed them yet when the next request is written.
// Write's peek finds the socket empty; it must still refuse the request
// (nothing sent), and the reader must not hand those bytes on as its
// response. (Found by h1safety's head-cl-body-comes-late under load: the
// sentinel got the smuggled response.)
func TestCheckedConnStrayBytesTakenBeforeTheNextRequest(t *testing.T) {
	smuggled := "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nsmuggled!"
	nc, server := checkedPair(t)
	c := nc.(*checkedConn)
	if c.rc == nil {
		t.Skip("SKIP: the connection has no RawConn here")
	}
	_, err := c.Write([]byte("HEAD /victim HTTP/1.1\r\nHost: x\r\n\r\n"))
	require.NoError(t, err)
	head := "HTTP/1.1 200 OK\r\nContent-Length: 18\r\n\r\n"
	io.WriteString(server, head)
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	require.NoError(t, err)
	require.Equal(t, head, string(buf[:n]))

	io.WriteString(server, smuggled) // comes late, while the connection is idle
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err = c.readSock(buf) // the reader's read system call takes it...
	require.NoError(t, err)
	require.Equal(t, smuggled, string(buf[:n]))
	// ...and before it frames them, the next request is written.
	_, err = c.Write([]byte("GET /sentinel HTTP/1.1\r\nHost: x\r\n\r\n"))
	assert.ErrorIs(t, err, ErrNotSent, "a request written after stray bytes were taken")
	c.mu.Lock()
	assert.True(t, c.stale)
	c.mu.Unlock()
	n, err = c.Read(buf)
	assert.Zero(t, n)
	assert.ErrorIs(t, err, errStale)
}

// TestCheckedConnReadRunningAtTheNextRequest: the next request is written
// while the Transport's reader is inside a read system call on the idle
// connection. The write waits for the call to end, and is refused only if
// the call took bytes: a call that found nothing leaves the connection
// good for the request (refusing it sent the request on a second backend
// connection for nothing: TestForwardReusesBackendConnections failed so
// once, under CI).
func TestCheckedConnReadRunningAtTheNextRequest(t *testing.T) {
	tests := []struct {
		name     string
		then     int32 // what the read system call comes to
		wantSent bool
	}{
		{"the call took nothing", readIdle, true},
		{"the call took bytes", readTaken, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, server := checkedPair(t)
			c := nc.(*checkedConn)
			_, err := c.Write([]byte("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"))
			require.NoError(t, err)
			resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
			io.WriteString(server, resp)
			buf := make([]byte, 4096)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := c.Read(buf)
			require.NoError(t, err)
			require.Equal(t, resp, string(buf[:n]))

			c.reading.Store(readCall) // the reader is in read(2)
			done := make(chan error, 1)
			go func() {
				_, err := c.Write([]byte("GET /b HTTP/1.1\r\nHost: x\r\n\r\n"))
				done <- err
			}()
			select {
			case err := <-done:
				t.Fatalf("the write did not wait for the read system call to end: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			c.reading.Store(tt.then)
			var werr error
			select {
			case werr = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the write still waits after the read system call ended")
			}
			if tt.wantSent {
				assert.NoError(t, werr)
			} else {
				assert.ErrorIs(t, werr, ErrNotSent)
			}
		})
	}
}

// TestCheckedConnBodyWhileAnswered: the backend begins to answer before
// the request's body has all been written (an echo, an early error); the
// rest of the body is still written, though the answer's bytes wait on the
// socket and the reader is reading them.
func TestCheckedConnBodyWhileAnswered(t *testing.T) {
	c, server := checkedPair(t)
	_, err := c.Write([]byte("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234"))
	require.NoError(t, err)
	io.WriteString(server, "HTTP/1.1 200 OK\r\n")
	buf := make([]byte, 64)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "HTTP/1.1 200 OK\r\n", string(buf[:n]))
	io.WriteString(server, "Content-Length: 2\r\n") // more of the answer, not yet read
	time.Sleep(50 * time.Millisecond)               // it has arrived
	_, err = c.Write([]byte("56789"))
	assert.NoError(t, err, "the rest of the body")
	head := "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
	got := make([]byte, len(head)+10)
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadFull(server, got)
	require.NoError(t, err)
	assert.Equal(t, head+"0123456789", string(got), "the backend got the whole request")
}

// TestFramer follows requests and responses fed in one piece and byte by
// byte: the bytes that belong to the responses asked for, and no more.
func TestFramer(t *testing.T) {
	resp := func(status, body string) string {
		return "HTTP/1.1 " + status + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	tests := []struct {
		name     string
		requests []string // methods, written one at a time before the bytes
		bytes    string
		want     int // bytes that belong to the responses; -1: all (it gave up)
	}{
		{"one response", []string{"GET"}, resp("200 OK", "hello"), -1},
		{"one response, then stale", []string{"GET"}, resp("200 OK", "hello") + "HTTP/1.1 408", len(resp("200 OK", "hello"))},
		{"nothing asked", nil, "HTTP/1.1 408 Request Timeout\r\n\r\n", 0},
		{"HEAD: the length is not a body", []string{"HEAD"}, resp("200 OK", "abc"), len(resp("200 OK", "abc")) - 3},
		{"304 has no body", []string{"GET"}, "HTTP/1.1 304 Not Modified\r\n\r\nX", len("HTTP/1.1 304 Not Modified\r\n\r\n")},
		{"chunked with a trailer", []string{"GET"}, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\nZ",
			len("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n")},
		{"two interim responses", []string{"GET"}, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n" + resp("200 OK", "x"), -1},
		{"until close: gives up", []string{"GET"}, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nanything", -1},
		{"a head h1 refuses: gives up", []string{"GET"}, "HTTP/1.1 200 OK\nX: y\r\n\r\nmore", -1},
		{"switching protocols: gives up", []string{"GET"}, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nframes", -1},
	}
	for _, tt := range tests {
		for _, split := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/bytewise=%v", tt.name, split), func(t *testing.T) {
				var f framer
				for _, m := range tt.requests {
					f.request([]byte(m + " / HTTP/1.1\r\n\r\n"))
				}
				want := tt.want
				if want < 0 {
					want = len(tt.bytes)
				}
				got := 0
				if !split {
					got = f.read([]byte(tt.bytes))
				} else {
					for i := 0; i < len(tt.bytes); i++ {
						k := f.read([]byte(tt.bytes[i : i+1]))
						got += k
						if k == 0 {
							break
						}
					}
				}
				assert.Equal(t, want, got)
			})
		}
	}
	t.Run("a body write after an early answer: gives up", func(t *testing.T) {
		var f framer
		f.request([]byte("POST /up HTTP/1.1\r\n\r\n"))
		assert.Equal(t, len(resp("413 Too Large", "")), f.read([]byte(resp("413 Too Large", ""))))
		f.request([]byte("\x00\x01 body bytes"))
		assert.Equal(t, 3, f.read([]byte("abc")), "gave up: judges nothing")
	})
}

// BenchmarkGetPut is the pool's cost per request on a reused connection:
// the idle check (one non-blocking peek) and the bookkeeping.
func BenchmarkGetPut(b *testing.B) {
	addr, _ := backend(b, func(c net.Conn) { io.Copy(io.Discard, c) })
	p := New(addr, Config{DialTimeout: time.Second, MaxIdle: 4})
	b.Cleanup(p.Close)
	c, _, _ := p.Get(context.Background(), time.Now())
	p.Put(c, time.Now())
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		c, reused, _ := p.Get(context.Background(), now)
		if !reused {
			b.Fatal("not reused")
		}
		p.Put(c, now)
	}
}
