package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
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
func CheckedDialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := &checkedConn{Conn: nc}
		c.q.init(nc)
		c.initRead()
		return c, nil
	}
}

// checkedConn is a Transport's connection with the idle check and a
// framer. The Transport reads it from one goroutine and writes it from
// another.
type checkedConn struct {
	net.Conn
	q quiet

	// reading says where the reader's read system call is (see
	// readSock): bytes a read has taken are no longer there for Write's
	// peek to see, until Read has framed them.
	reading atomic.Int32
	rc      syscall.RawConn // for readSock; nil where there is none

	mu        sync.Mutex
	f         framer
	afterRead bool // a response byte was read since the last write
	stale     bool // bytes came that answer nothing: the connection carries no more requests
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
	stale := c.stale
	c.mu.Unlock()
	if stale {
		return 0, errStale
	}
	n, err := c.readSock(b) // a read that took nothing has set readIdle
	if n == 0 {
		return n, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.reading.Store(readIdle)
	if c.stale { // Write found these bytes in flight before its request left
		return 0, errStale
	}
	c.afterRead = true
	if k := c.f.read(b[:n]); k < n {
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
