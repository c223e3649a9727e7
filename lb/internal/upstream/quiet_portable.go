package upstream

import (
	"bufio"
	"errors"
	"github.com/lblab/lblab/lb/internal/netx"
	"net"
	"os"
	"time"
)

// quietPortable checks an idle connection by reading with a deadline a
// moment away: bytes or an EOF already there come back at once, a quiet
// connection costs that moment. (A deadline already past fails the read
// before it looks.) Used only where the connection has no descriptor to
// peek at.
func quietPortable(c net.Conn, rd *netx.LazyDeadline) bool {
	var b [1]byte
	rd.Forget()
	c.SetReadDeadline(time.Now().Add(50 * time.Microsecond))
	n, err := c.Read(b[:])
	c.SetReadDeadline(time.Time{})
	return n == 0 && errors.Is(err, os.ErrDeadlineExceeded)
}

// flushAt flushes w and, when at is not nil and the flush succeeded, sets at
// to the time it did.
func flushAt(w *bufio.Writer, at *time.Time) error {
	err := w.Flush()
	if at != nil && err == nil {
		*at = time.Now()
	}
	return err
}
