//go:build linux && !386 && !portable

package upstream

import (
	"net"
	"syscall"

	"github.com/lblab/lblab/lb/internal/netx"
)

// quiet checks an idle connection with a non-blocking peek on its
// descriptor, learned once at dial (the connection is only ever used by its
// owner, who also closes it, so the descriptor cannot change under it).
type quiet struct {
	fd  int
	buf [1]byte
}

func (q *quiet) init(c net.Conn) {
	q.fd = -1
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { q.fd = int(fd) })
		}
	}
}

// quiet reports whether nothing has arrived on the idle connection c: no
// byte, no EOF, no error.
func (q *quiet) quiet(c net.Conn, rd *netx.LazyDeadline) bool {
	if q.fd < 0 {
		return quietPortable(c, rd)
	}
	_, err := netx.Peek(q.fd, &q.buf)
	return err == syscall.EAGAIN
}

// peekQuiet is quiet without the portable fallback, safe while another
// goroutine reads the connection: true where it cannot look.
func (q *quiet) peekQuiet() bool {
	if q.fd < 0 {
		return true
	}
	var b [1]byte
	_, err := netx.Peek(q.fd, &b)
	return err == syscall.EAGAIN
}
