package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptrace"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// errStale: bytes or an EOF were waiting on a connection about to carry a
// request.
var errStale = errors.New("connection closed or spoke while idle")

// CheckedDialer returns a DialContext for http.Transport whose connections
// apply this package's idle check to the Transport's own pool: the first
// write after a response was read (a new request on a reused connection)
// first looks (a non-blocking peek, on Linux) whether the backend has closed
// the connection or sent bytes nobody asked for while it sat idle. If so the
// write fails with nothing sent (ErrNotSent), which the Transport answers by
// sending the request on a new connection. The Transport's own background
// read notices the same, but a beat later: a request sent in that beat is
// lost (and one that cannot be replayed fails). A framer follows the
// responses, so that bytes past the end of the one asked for never reach
// the Transport, which would take them for the next request's response.
//
// A dial whose context carries a bounded pool of the same backend
// (WithPool) first takes a place among the pool's MaxConns, waiting in its
// queue as the fast path's Get does, and the connection gives the place
// back when it closes: what net/http carries to a backend counts against
// max_conns_per_backend with what the fast path carries.
func CheckedDialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var s *slot
		w := wantFrom(ctx)
		if w != nil {
			var err error
			if s, _, err = w.p.place(ctx); err != nil {
				return nil, err
			}
		}
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			s.release()
			return nil, err
		}
		c := &checkedConn{Conn: nc, idleAt: time.Now()}
		c.q.init(nc)
		c.initRead()
		if s != nil {
			c.s.Store(s)
			w.p.track(c)
		}
		return c, nil
	}
}

// poolKey is the context key of WithPool.
type poolKey struct{}

// want is what WithPool puts in a request's context: the pool whose place
// its dials take, and a channel closed when the request gets a connection
// (its GotConn), replaced by a new one for the next.
type want struct {
	p *Pool
	// reuse: the Transport may hand the request one of its idle
	// connections (it does not need one of its own).
	reuse bool
	mu    sync.Mutex
	got   chan struct{}
}

// needsPlace reports whether no idle connection of net/http's Transport
// can serve the waiter w stands for (nil: a Get or a Dial of the fast
// path's).
func (w *want) needsPlace() bool { return w == nil || !w.reuse }

// next is the channel closed when the request next gets a connection.
func (w *want) next() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.got
}

// gotConn is the request's GotConn: it closes the current channel and
// makes the next.
func (w *want) gotConn(httptrace.GotConnInfo) {
	w.mu.Lock()
	close(w.got)
	w.got = make(chan struct{})
	w.mu.Unlock()
}

// wantFrom is the want in ctx, if any.
func wantFrom(ctx context.Context) *want {
	w, _ := ctx.Value(poolKey{}).(*want)
	return w
}

// errNotNeeded is the error of a dial that left the queue because the
// request it was for got another connection: http.Transport dials for a
// request and hands it the first connection that comes, its own idle ones
// included, and keeps a dial that came too late for the next request. A
// dial that waited for a place would otherwise take it when it came, for
// a connection nobody waits for.
var errNotNeeded = errors.New("the request got another connection while its dial waited for a place (max_conns_per_backend)")

// WithPool returns ctx carrying p, a bounded pool, for a CheckedDialer dial
// made on its behalf: http.Transport dials with the request's context
// values (not its cancellation), so a request sent through a Transport
// with this context takes its connection's place in p when it must dial,
// and leaves the queue when it gets a connection another way (GotConn,
// through httptrace). reuse says whether the Transport may hand the
// request one of its idle connections (false for one sent on a connection
// of its own). A pool with no bound is not carried (there is no place to
// take).
func WithPool(ctx context.Context, p *Pool, reuse bool) context.Context {
	if !p.bounded() {
		return ctx
	}
	w := &want{p: p, reuse: reuse, got: make(chan struct{})}
	ctx = context.WithValue(ctx, poolKey{}, w)
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: w.gotConn})
}

// track counts c, a net/http connection holding a place, among the pool's
// (see reclaimLocked); its Close forgets it.
func (p *Pool) track(c *checkedConn) {
	p.mu.Lock()
	if p.nets == nil {
		p.nets = make(map[*checkedConn]struct{})
	}
	p.nets[c] = struct{}{}
	p.scheduleReclaimLocked()
	p.mu.Unlock()
}

// untrack forgets c, a net/http connection that closed.
func (p *Pool) untrack(c *checkedConn) {
	p.mu.Lock()
	delete(p.nets, c)
	p.mu.Unlock()
}

// Close closes the connection and gives its place in a bounded pool back.
func (c *checkedConn) Close() error {
	err := c.Conn.Close()
	if s := c.s.Swap(nil); s != nil {
		s.pool.untrack(c)
		s.release()
	}
	return err
}

// retire, for a pool that needs an idle connection's place, marks c to
// carry no more requests if it has been idle for at least d at now: no
// request due, and its framing followed (an upgraded connection is never
// idle). The Transport's next request on it is then refused with nothing
// sent (ErrNotSent), and sent on another connection. It reports whether it
// did; the caller closes c.
//
// Its reads then end in io.EOF, whatever the close made them return: the
// Transport takes that for a backend that closed an idle connection and
// sends a request that had taken it on another, as it does for nothing
// sent. (Any other error would reach the client as a 502 and count as the
// backend's failure.)
func (c *checkedConn) retire(now time.Time, d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stale || c.f.lost || c.f.answering() || now.Sub(c.idleAt) < d {
		return false
	}
	c.stale, c.retired = true, true
	return true
}

// checkedConn is a Transport's connection with the idle check and a
// framer. The Transport reads it from one goroutine and writes it from
// another.
type checkedConn struct {
	net.Conn
	q quiet
	s atomic.Pointer[slot] // its place in a bounded pool, given back by Close

	// reading says where the reader's read system call is (see
	// readSock): bytes a read has taken are no longer there for Write's
	// peek to see, until Read has framed them.
	reading atomic.Int32
	rc      syscall.RawConn // for readSock; nil where there is none

	mu        sync.Mutex
	f         framer
	idleAt    time.Time // when the last response ended (or the connection was made), for retire
	afterRead bool      // a response byte was read since the last write
	stale     bool      // bytes came that answer nothing: the connection carries no more requests
	retired   bool      // its place went to a request waiting in the pool's queue (retire)
}

// The states of checkedConn.reading.
const (
	readIdle  int32 = iota // no read system call, or one that took nothing
	readCall               // a read system call runs (non-blocking: it ends in microseconds)
	readTaken              // a read took bytes that Read has not framed yet
)

// Read hands the Transport the bytes of the responses it asked for and
// never a byte past them: those would be taken for the next request's
// response. Once such bytes came, reads fail and so does the next request's
// write (with nothing sent: the Transport sends it on a new connection).
func (c *checkedConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	stale, retired := c.stale, c.retired
	c.mu.Unlock()
	switch {
	case retired:
		return 0, io.EOF
	case stale:
		return 0, errStale
	}
	n, err := c.readSock(b) // a read that took nothing has set readIdle
	if n == 0 {
		if err != nil {
			c.mu.Lock()
			retired = c.retired // closed under the read by retire's caller
			c.mu.Unlock()
			if retired {
				return 0, io.EOF
			}
		}
		return n, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.reading.Store(readIdle)
	if c.stale { // Write found these bytes in flight before its request left
		return 0, errStale
	}
	c.afterRead = true
	k := c.f.read(b[:n])
	if c.s.Load() != nil && !c.f.answering() { // (only a bounded pool's retire asks)
		c.idleAt = time.Now()
	}
	if k < n {
		c.stale = true
		if k == 0 {
			return 0, errStale
		}
		return k, nil
	}
	return n, err
}

func (c *checkedConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	if c.stale {
		c.mu.Unlock()
		return 0, fmt.Errorf("%w: %w", ErrNotSent, errStale)
	}
	// The first write after a response has ended, with none due: a new
	// request. (Writes of a body the backend has begun to answer are not:
	// its response's bytes are expected.)
	answering := c.f.answering()
	if c.afterRead && !answering {
		c.afterRead = false
		if !c.idleQuiet() {
			c.stale = true
			c.mu.Unlock()
			return 0, fmt.Errorf("%w: %w", ErrNotSent, errStale)
		}
	}
	if !answering {
		c.f.request(b)
	}
	c.mu.Unlock()
	return c.Conn.Write(b)
}

// idleQuiet reports whether nothing came while the connection sat idle:
// no bytes wait on the socket, and none were taken by a read that has not
// framed them yet (it would frame them after this request is registered,
// as its response). It is called with c.mu held, so no read frames
// meanwhile; the peek comes first, so that bytes a read takes after it
// are seen in reading. A read system call that is running is waited for:
// it does not block, and the reader's next step tells whether it took
// anything (refusing the write for it would send the request on a new
// connection for nothing).
func (c *checkedConn) idleQuiet() bool {
	if !c.q.peekQuiet() {
		return false
	}
	for {
		switch c.reading.Load() {
		case readIdle:
			return true
		case readTaken:
			return false
		}
		runtime.Gosched()
	}
}
