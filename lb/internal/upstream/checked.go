package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
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
// lost (and one that cannot be replayed fails).
func CheckedDialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := &checkedConn{Conn: nc}
		c.q.init(nc)
		return c, nil
	}
}

// checkedConn is a Transport's connection with the idle check. The
// Transport reads it from one goroutine and writes it from another.
type checkedConn struct {
	net.Conn
	q         quiet
	afterRead atomic.Bool // a response byte was read since the last write
}

func (c *checkedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.afterRead.Store(true)
	}
	return n, err
}

func (c *checkedConn) Write(b []byte) (int, error) {
	if c.afterRead.Swap(false) && !c.q.peekQuiet() {
		return 0, fmt.Errorf("%w: %w", ErrNotSent, errStale)
	}
	return c.Conn.Write(b)
}
