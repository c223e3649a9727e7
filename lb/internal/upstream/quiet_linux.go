//go:build linux && !386 && !portable

package upstream

import (
	"bufio"
	"net"
	"syscall"
	"time"

	"github.com/lblab/lblab/lb/internal/netx"
)

// quiet checks an idle connection with a non-blocking peek on its
// descriptor, learned once at dial (the connection is only ever used by its
// owner, who also closes it, so the descriptor cannot change under it).
type quiet struct {
	fd  int
	buf [1]byte
	rc  syscall.RawConn // for send's wait; nil without a descriptor

	// send's state for step, the callback it hands rc.Read (bound once
	// at init, so a request allocates nothing).
	step    func(uintptr) bool
	w       *bufio.Writer
	timed   bool
	sentAt  time.Time
	ferr    error
	flushed bool
}

func (q *quiet) init(c net.Conn) {
	q.fd = -1
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { q.fd = int(fd) })
			q.rc = rc
			q.step = q.sendStep
		}
	}
}

// send flushes w (the request) and then waits, in the runtime's poller,
// until c is readable, so the read of the response that follows finds its
// bytes rather than coming back empty first (one system call fewer per
// request where the backend has not answered by the time the request is
// out). The wait is armed before the request leaves, so a response that
// comes at once cannot be missed; a spurious or failed wait (deadline,
// close) only means that read waits or fails by itself. at, when not nil,
// gets the time the request left. It returns w.Flush's error.
func (q *quiet) send(w *bufio.Writer, at *time.Time) error {
	if q.rc == nil {
		return flushAt(w, at)
	}
	q.w, q.timed, q.ferr, q.flushed = w, at != nil, nil, false
	q.rc.Read(q.step)
	err, flushed := q.ferr, q.flushed
	q.w, q.ferr = nil, nil
	if !flushed { // the wait could not start (deadline past, closed)
		return flushAt(w, at)
	}
	if at != nil && err == nil {
		*at = q.sentAt // (q keeps no pointer to it: at stays on its caller's stack)
	}
	return err
}

// sendStep is called by rc.Read: first to send the request (false: now
// wait), then once the connection is readable or the wait was woken (true:
// the reader takes it from here).
func (q *quiet) sendStep(uintptr) bool {
	if q.flushed {
		return true
	}
	q.flushed = true
	q.ferr = q.w.Flush()
	if q.timed && q.ferr == nil {
		q.sentAt = time.Now()
	}
	return q.ferr != nil
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

// arrived reports whether bytes wait on the socket now (a peek): false
// where it cannot look, and at EOF or an error.
func (q *quiet) arrived() bool {
	if q.fd < 0 {
		return false
	}
	var b [1]byte
	n, err := netx.Peek(q.fd, &b)
	return err == nil && n > 0
}

// sendWaits says whether send waits for the response (tests).
const sendWaits = true
