//go:build unix && !(linux && !386 && !portable)

package upstream

import (
	"bufio"
	"net"
	"syscall"
	"time"

	"github.com/lblab/lblab/lb/internal/netx"
)

// quiet checks an idle connection with a non-blocking peek (recvfrom with
// MSG_PEEK|MSG_DONTWAIT) on its descriptor, learned once at dial.
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

// quiet reports whether nothing has arrived on the idle connection c.
func (q *quiet) quiet(c net.Conn, rd *netx.LazyDeadline) bool {
	if q.fd < 0 {
		return quietPortable(c, rd)
	}
	return q.peekQuiet()
}

// peekQuiet looks without reading, so it is safe while another goroutine
// reads the connection: true where it cannot look.
func (q *quiet) peekQuiet() bool {
	if q.fd < 0 {
		return true
	}
	_, _, err := syscall.Recvfrom(q.fd, q.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
}

// arrived reports whether bytes wait on the socket now (a peek): false
// where it cannot look, and at EOF or an error.
func (q *quiet) arrived() bool {
	if q.fd < 0 {
		return false
	}
	var b [1]byte
	n, _, err := syscall.Recvfrom(q.fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err == nil && n > 0
}

// send flushes w (the request); at, when not nil, gets the time it left.
func (q *quiet) send(w *bufio.Writer, at *time.Time) error { return flushAt(w, at) }

// sendWaits says whether send waits for the response (tests).
const sendWaits = false
