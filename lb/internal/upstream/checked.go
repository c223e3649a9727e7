package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
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

	// reading is set while a read system call that may take bytes runs,
	// and from then until Read has framed what it took (see readSock):
	// bytes a read has taken are no longer there for Write's peek to see.
	reading atomic.Bool
	rc      syscall.RawConn // for readSock; nil where there is none

	mu        sync.Mutex
	f         framer
	afterRead bool // a response byte was read since the last write
	stale     bool // bytes came that answer nothing: the connection carries no more requests
}

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
	n, err := c.readSock(b) // a read that took nothing has cleared reading
	if n == 0 {
		return n, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.reading.Store(false)
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
	first := c.afterRead && !answering
	if first {
		c.afterRead = false
	}
	if !answering {
		c.f.request(b)
	}
	c.mu.Unlock()
	// Bytes waiting on the socket, or taken by a read that has not framed
	// them yet, came before this request left: they answer nothing it
	// asked. (Without the second look, a read that took stray bytes just
	// before this write would frame them after it, as its response.)
	if first && (!c.q.peekQuiet() || c.reading.Load()) {
		c.mu.Lock()
		c.stale = true
		c.mu.Unlock()
		return 0, fmt.Errorf("%w: %w", ErrNotSent, errStale)
	}
	return c.Conn.Write(b)
}
