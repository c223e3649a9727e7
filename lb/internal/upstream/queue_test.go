package upstream

import (
	"context"
	"io"
	"net"
	"net/http/httptrace"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// boundedPool is a pool of at most max connections to a backend that
// accepts and holds every connection; dials counts its accepts.
func boundedPool(t *testing.T, max int, wait time.Duration) (*Pool, func() int64) {
	t.Helper()
	addr, dials := backend(t, func(c net.Conn) {
		t.Cleanup(func() { c.Close() })
	})
	p := New(addr, Config{DialTimeout: wait, MaxIdle: -1, MaxConns: max})
	t.Cleanup(p.Close)
	return p, dials.Load
}

// get is Get in a goroutine: its result comes on the channel.
type got struct {
	c      *Conn
	reused bool
	err    error
}

func getAsync(p *Pool, ctx context.Context) chan got {
	ch := make(chan got, 1)
	go func() {
		c, reused, err := p.Get(ctx, time.Now())
		ch <- got{c, reused, err}
	}()
	return ch
}

// recv is what a getAsync or dialAsync gave, failing the test when nothing
// comes in 3 s.
func recv[T any](t *testing.T, ch chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(3 * time.Second):
		t.Fatalf("%s: no result within 3 s", what)
		var zero T
		return zero
	}
}

// queued waits until n Gets wait in p's queue.
func queued(t *testing.T, p *Pool, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return p.Queued() == n }, 5*time.Second, time.Millisecond, "%d waiting", n)
}

// TestBoundedPoolQueues: with MaxConns connections busy, a Get waits in
// the queue, first come first served, and is given a connection Put back
// (no new dial), or the place of one that closed (it dials); the count of
// connections never exceeds the bound.
func TestBoundedPoolQueues(t *testing.T) {
	tests := []struct {
		name      string
		free      func(p *Pool, c *Conn) // what the holder of a busy connection does
		reused    bool
		wantDials int64
	}{
		{"put back: handed over", func(p *Pool, c *Conn) { p.Put(c, time.Now()) }, true, 2},
		{"closed: its place handed over", func(_ *Pool, c *Conn) { c.Close() }, false, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, dials := boundedPool(t, 2, 5*time.Second)
			var busy []*Conn
			for range 2 {
				c, _, err := p.Get(context.Background(), time.Now())
				require.NoError(t, err)
				busy = append(busy, c)
			}
			first := getAsync(p, context.Background())
			queued(t, p, 1)
			second := getAsync(p, context.Background())
			queued(t, p, 2)
			select {
			case g := <-first:
				t.Fatalf("a Get beyond the bound returned at once: %+v", g)
			case <-time.After(20 * time.Millisecond):
			}
			assert.Equal(t, 2, p.conns())

			tt.free(p, busy[0])
			g := recv(t, first, "the first waiter")
			require.NoError(t, g.err)
			assert.Equal(t, tt.reused, g.reused, "reused")
			assert.Equal(t, 1, p.Queued(), "the second still waits: first come, first served")
			tt.free(p, busy[1])
			g2 := recv(t, second, "the second waiter")
			require.NoError(t, g2.err)
			assert.Eventually(t, func() bool { return dials() == tt.wantDials }, 5*time.Second, time.Millisecond, "dials: %d, want %d", dials(), tt.wantDials)
			assert.Equal(t, 2, p.conns(), "never more than the bound")
			g.c.Close()
			g2.c.Close()
			assert.Equal(t, 0, p.conns(), "closed connections give their places back")
		})
	}
}

// TestBoundedPoolQueueTimeout: a Get that waits longer than DialTimeout
// fails with ErrQueueTimeout (one whose context ends, with its error); it
// leaves the queue, so a connection freed later goes to the pool, not to
// it.
func TestBoundedPoolQueueTimeout(t *testing.T) {
	p, _ := boundedPool(t, 1, 50*time.Millisecond)
	c, _, err := p.Get(context.Background(), time.Now())
	require.NoError(t, err)

	start := time.Now()
	_, _, err = p.Get(context.Background(), time.Now())
	require.ErrorIs(t, err, ErrQueueTimeout)
	assert.GreaterOrEqual(t, time.Since(start), 40*time.Millisecond, "it waited")
	assert.Equal(t, 0, p.Queued())

	ctx, cancel := context.WithCancel(context.Background())
	g := getAsync(p, ctx)
	queued(t, p, 1)
	cancel()
	require.ErrorIs(t, recv(t, g, "the cancelled Get").err, context.Canceled)
	assert.Equal(t, 0, p.Queued())

	p.Put(c, time.Now())
	assert.Equal(t, 1, p.Idle(), "put back with no one waiting: idle")
	c2, reused, err := p.Get(context.Background(), time.Now())
	require.NoError(t, err)
	assert.True(t, reused)
	c2.Close()
}

// TestBoundedPoolRedialKeepsItsPlace: a connection replaced (a request
// sent again after a pooled connection failed) keeps its place: the new
// dial does not queue behind the waiting Gets.
func TestBoundedPoolRedialKeepsItsPlace(t *testing.T) {
	p, dials := boundedPool(t, 1, 5*time.Second)
	c, _, err := p.Get(context.Background(), time.Now())
	require.NoError(t, err)
	g := getAsync(p, context.Background())
	queued(t, p, 1)
	c2, err := p.Redial(context.Background(), c)
	require.NoError(t, err)
	assert.Eventually(t, func() bool { return dials() == 2 }, 5*time.Second, time.Millisecond, "a new dial")
	assert.Equal(t, 1, p.conns())
	assert.Equal(t, 1, p.Queued(), "the waiting Get still waits")
	c2.Close()
	w := recv(t, g, "the waiting Get")
	require.NoError(t, w.err)
	w.c.Close()
	assert.Equal(t, 0, p.conns())
}

// TestBoundedPoolUnderLoad: many Gets at once against a bound of 3 all get
// a connection in turn, and no more than 3 are ever open.
func TestBoundedPoolUnderLoad(t *testing.T) {
	p, dials := boundedPool(t, 3, 5*time.Second)
	var (
		mu      sync.Mutex
		open    int
		maxOpen int
		wg      sync.WaitGroup
	)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := p.Get(context.Background(), time.Now())
			if !assert.NoError(t, err) {
				return
			}
			mu.Lock()
			open++
			maxOpen = max(maxOpen, open)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			open--
			mu.Unlock()
			if i%4 == 0 {
				c.Close()
			} else {
				p.Put(c, time.Now())
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, maxOpen, 3, "connections in use at once")
	assert.LessOrEqual(t, p.conns(), 3)
	assert.Equal(t, p.conns(), p.Idle(), "what is left is idle")
	assert.LessOrEqual(t, dials(), int64(3+10), "one dial per place, and one per close")
}

// TestBoundedPoolStaleHandOver: a connection handed over that the backend
// has closed meanwhile is not used; the waiter it went to dials in its
// place at once, keeping its turn: the Get queued behind it still waits.
func TestBoundedPoolStaleHandOver(t *testing.T) {
	server := make(chan net.Conn, 4)
	addr, dials := backend(t, func(c net.Conn) { server <- c })
	p := New(addr, Config{DialTimeout: 5 * time.Second, MaxIdle: -1, MaxConns: 1})
	t.Cleanup(p.Close)
	c, _, err := p.Get(context.Background(), time.Now())
	require.NoError(t, err)
	sc := <-server
	first := getAsync(p, context.Background())
	queued(t, p, 1)
	second := getAsync(p, context.Background())
	queued(t, p, 2)

	sc.Close() // the backend closes the busy connection
	time.Sleep(20 * time.Millisecond)
	p.Put(c, time.Now())
	w := recv(t, first, "the first waiter, in the stale one's place")
	require.NoError(t, w.err)
	assert.False(t, w.reused, "the closed connection was not reused")
	assert.Eventually(t, func() bool { return dials.Load() == 2 }, 5*time.Second, time.Millisecond, "a new dial")
	assert.Equal(t, 1, p.conns(), "in the stale one's place")
	assert.Equal(t, 1, p.Queued(), "the second still waits its turn")
	(<-server).Close()
	w.c.Close() // its place goes to the second
	w2 := recv(t, second, "the second waiter")
	require.NoError(t, w2.err)
	w2.c.Close()
	assert.Equal(t, 0, p.conns())
}

// TestBoundedPoolClosedFailsItsQueue: closing a bounded pool (its backend
// removed) fails the requests waiting in its queue at once, as a dial that
// sent nothing (so the proxy may try another backend), and a Get after the
// close that finds no place fails likewise without waiting.
func TestBoundedPoolClosedFailsItsQueue(t *testing.T) {
	p, _ := boundedPool(t, 1, 5*time.Second)
	c, _, err := p.Get(context.Background(), time.Now())
	require.NoError(t, err)
	g := getAsync(p, context.Background())
	queued(t, p, 1)
	p.Close()
	w := recv(t, g, "the waiting Get, failed when the pool closed")
	require.ErrorIs(t, w.err, ErrBackendRemoved)
	var op *net.OpError
	require.ErrorAs(t, w.err, &op)
	assert.Equal(t, "dial", op.Op)

	_, _, err = p.Get(context.Background(), time.Now())
	require.ErrorIs(t, err, ErrBackendRemoved, "every place is taken: no wait after the close")
	p.Put(c, time.Now()) // closed: not kept
	assert.Equal(t, 0, p.conns())
	assert.Equal(t, 0, p.Idle())
}

// dialed is what a CheckedDialer dial in a goroutine gave.
type dialed struct {
	c   net.Conn
	err error
}

func dialAsync(dial func(context.Context, string, string) (net.Conn, error), ctx context.Context, addr string) chan dialed {
	ch := make(chan dialed, 1)
	go func() {
		c, err := dial(ctx, "tcp", addr)
		ch <- dialed{c, err}
	}()
	return ch
}

// TestCheckedDialerTakesAPlace: net/http's connections (CheckedDialer, with
// the pool in the dial's context) count against the pool's bound with the
// fast path's, and wait in the same queue: a dial beyond the bound waits
// until a connection closes; a Get waits for a net/http connection to
// close; a connection the fast path puts back while a dial waits is closed
// and its place goes to the dial. A dial that waits too long fails with
// ErrQueueTimeout, and a pool with no bound is not carried at all.
// (TestReclaimIdlePlaces: what idle connections give up to the other side.)
func TestCheckedDialerTakesAPlace(t *testing.T) {
	dial := CheckedDialer(&net.Dialer{Timeout: 5 * time.Second})
	p, dials := boundedPool(t, 1, 5*time.Second)
	ctx := WithPool(context.Background(), p, true)

	d1, err := dial(ctx, "tcp", p.Addr())
	require.NoError(t, err)
	_, err = d1.Write([]byte("GET / HTTP/1.1\r\nHost: b\r\n\r\n")) // busy: a response is due
	require.NoError(t, err)
	assert.Equal(t, 1, p.conns(), "a net/http connection holds a place")
	second := dialAsync(dial, ctx, p.Addr())
	queued(t, p, 1)
	select {
	case d := <-second:
		t.Fatalf("a dial beyond the bound returned at once: %+v", d)
	case <-time.After(20 * time.Millisecond):
	}
	require.NoError(t, d1.Close())
	d2 := recv(t, second, "the waiting dial")
	require.NoError(t, d2.err)
	assert.Equal(t, 1, p.conns())

	_, err = d2.c.Write([]byte("GET / HTTP/1.1\r\nHost: b\r\n\r\n")) // busy: a response is due
	require.NoError(t, err)
	g := getAsync(p, context.Background())
	queued(t, p, 1)
	require.NoError(t, d2.c.Close())
	d2.c.Close() // a second Close gives nothing back twice
	w := recv(t, g, "the Get waiting for the net/http connection to close")
	require.NoError(t, w.err)
	assert.False(t, w.reused)
	assert.Equal(t, 1, p.conns())

	third := dialAsync(dial, ctx, p.Addr())
	queued(t, p, 1)
	p.Put(w.c, time.Now())
	d3 := recv(t, third, "the dial waiting for the fast path's connection")
	require.NoError(t, d3.err)
	assert.Equal(t, 1, p.conns(), "the connection put back was closed for the dial")
	assert.Equal(t, 0, p.Idle())
	assert.Eventually(t, func() bool { return dials() == 4 }, 5*time.Second, time.Millisecond, "dials: %d, want 4", dials())
	require.NoError(t, d3.c.Close())
	assert.Equal(t, 0, p.conns())

	short, _ := boundedPool(t, 1, 50*time.Millisecond)
	sctx := WithPool(context.Background(), short, true)
	held, err := dial(sctx, "tcp", short.Addr())
	require.NoError(t, err)
	_, err = held.Write([]byte("GET / HTTP/1.1\r\nHost: b\r\n\r\n"))
	require.NoError(t, err)
	_, err = dial(sctx, "tcp", short.Addr())
	require.ErrorIs(t, err, ErrQueueTimeout)
	held.Close()
	assert.Equal(t, 0, short.conns())

	free := New(p.Addr(), Config{DialTimeout: time.Second})
	assert.Nil(t, WithPool(context.Background(), free, true).Value(poolKey{}), "no bound: nothing to carry")
}

// TestReclaimIdlePlaces: with every place taken, a waiter that the other
// side's idle connections could never serve takes one of their places. A
// Get takes the place of a net/http connection once it has sat idle for
// reclaimAfter (its next request is then refused with nothing sent, for
// the Transport to send elsewhere), and never a busy one's; a net/http
// dial takes an idle fast-path connection's at once.
func TestReclaimIdlePlaces(t *testing.T) {
	dial := CheckedDialer(&net.Dialer{Timeout: 5 * time.Second})
	p, dials := boundedPool(t, 1, 5*time.Second)
	ctx := WithPool(context.Background(), p, true)

	idle, err := dial(ctx, "tcp", p.Addr())
	require.NoError(t, err)
	readErr := make(chan error, 1)
	go func() { // as the Transport's background read does
		_, err := idle.Read(make([]byte, 1))
		readErr <- err
	}()
	g := recv(t, getAsync(p, context.Background()), "a Get, with net/http's connection idle")
	// (at once, or from the queue: it was made just now)
	require.NoError(t, g.err)
	assert.False(t, g.reused)
	assert.Equal(t, 1, p.conns(), "in the idle connection's place")
	select {
	case err := <-readErr:
		require.ErrorIs(t, err, io.EOF, "a read under way ends as if the backend closed the idle connection (the Transport sends the request elsewhere)")
	case <-time.After(3 * time.Second):
		t.Fatal("the read under way did not end")
	}
	_, err = idle.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
	_, err = idle.Write([]byte("GET / HTTP/1.1\r\nHost: b\r\n\r\n"))
	require.ErrorIs(t, err, ErrNotSent, "the retired connection carries no request")
	idle.Close() // as the Transport does: its place is not given twice
	assert.Equal(t, 1, p.conns())

	p.Put(g.c, time.Now())
	require.Equal(t, 1, p.Idle())
	d := recv(t, dialAsync(dial, ctx, p.Addr()), "a dial, with the fast path's connection idle")
	require.NoError(t, d.err)
	assert.Equal(t, 0, p.Idle(), "the idle connection was closed for it")
	assert.Equal(t, 1, p.conns())

	_, err = d.c.Write([]byte("GET / HTTP/1.1\r\nHost: b\r\n\r\n")) // busy
	require.NoError(t, err)
	busy := getAsync(p, context.Background())
	queued(t, p, 1)
	time.Sleep(5 * reclaimAfter)
	assert.Equal(t, 1, p.Queued(), "a busy connection keeps its place")
	d.c.Close()
	w := recv(t, busy, "the Get waiting for the busy connection")
	require.NoError(t, w.err)
	w.c.Close()
	assert.Equal(t, 0, p.conns())
	assert.Eventually(t, func() bool { return dials() == 4 }, 5*time.Second, time.Millisecond, "dials: %d, want 4", dials())
}

// TestDialLeavesTheQueueWhenServed: http.Transport dials for a request and
// hands it whichever connection comes first; a dial still waiting for a
// place when its request got another connection (GotConn) leaves the queue
// with errNotNeeded, rather than take the place later for a connection
// nobody waits for.
func TestDialLeavesTheQueueWhenServed(t *testing.T) {
	dial := CheckedDialer(&net.Dialer{Timeout: 5 * time.Second})
	p, _ := boundedPool(t, 1, 5*time.Second)
	busy, err := dial(WithPool(context.Background(), p, true), "tcp", p.Addr())
	require.NoError(t, err)
	_, err = busy.Write([]byte("GET / HTTP/1.1\r\nHost: b\r\n\r\n"))
	require.NoError(t, err)

	ctx := WithPool(context.Background(), p, true)
	d := dialAsync(dial, ctx, p.Addr())
	queued(t, p, 1)
	httptrace.ContextClientTrace(ctx).GotConn(httptrace.GotConnInfo{}) // served by another connection
	got := recv(t, d, "the dial whose request was served")
	require.ErrorIs(t, got.err, errNotNeeded)
	assert.Equal(t, 0, p.Queued())

	// The request's next connection (a retry) waits again, until served.
	again := dialAsync(dial, ctx, p.Addr())
	queued(t, p, 1)
	busy.Close()
	g := recv(t, again, "the next dial of the same request")
	require.NoError(t, g.err)
	g.c.Close()
	assert.Equal(t, 0, p.conns())
}

// TestReclaimLeavesTheTransportItsIdle: a dial the Transport may serve
// with one of its own idle connections (reuse) never retires one: the
// Transport hands it over itself. A dial for a request that needs a
// connection of its own (an upload that cannot be replayed) does, and
// takes the place before the reuse dial queued ahead of it.
func TestReclaimLeavesTheTransportItsIdle(t *testing.T) {
	dial := CheckedDialer(&net.Dialer{Timeout: 5 * time.Second})
	p, _ := boundedPool(t, 1, 5*time.Second)
	idle, err := dial(WithPool(context.Background(), p, true), "tcp", p.Addr())
	require.NoError(t, err)
	reuse := dialAsync(dial, WithPool(context.Background(), p, true), p.Addr())
	queued(t, p, 1)
	time.Sleep(5 * reclaimAfter)
	assert.Equal(t, 1, p.Queued(), "the reuse dial still waits: the idle connection is the Transport's to hand over")

	own := dialAsync(dial, WithPool(context.Background(), p, false), p.Addr())
	d := recv(t, own, "the dial that needs a connection of its own")
	require.NoError(t, d.err)
	_, err = idle.Write([]byte("GET / HTTP/1.1\r\nHost: b\r\n\r\n"))
	require.ErrorIs(t, err, ErrNotSent, "its place went to the upload")
	idle.Close()
	assert.Equal(t, 1, p.Queued(), "the reuse dial waits on")
	d.c.Close()
	r := recv(t, reuse, "the reuse dial")
	require.NoError(t, r.err)
	r.c.Close()
	assert.Equal(t, 0, p.conns())
}
