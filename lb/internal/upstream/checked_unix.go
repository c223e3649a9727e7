//go:build unix

package upstream

import (
	"io"
	"net"
	"os"
	"syscall"
)

func (c *checkedConn) initRead() {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			c.rc = rc
		}
	}
}

// readSock reads the socket as net.Conn's Read does (waiting in Go's poller
// while it is empty), with c.reading at readCall from just before each
// read(2) until it returns: readTaken if it took bytes (Read sets readIdle
// once it has framed them), readIdle if not.
func (c *checkedConn) readSock(b []byte) (int, error) {
	if c.rc == nil || len(b) == 0 {
		return c.Conn.Read(b)
	}
	var n int
	var errno error
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			c.reading.Store(readCall)
			n, errno = syscall.Read(int(fd), b)
			if errno != syscall.EINTR {
				break
			}
		}
		if n <= 0 {
			n = 0
			c.reading.Store(readIdle)
		} else {
			c.reading.Store(readTaken)
		}
		return errno != syscall.EAGAIN
	})
	switch {
	case err != nil: // the wait failed: closed, or a deadline passed (a *net.OpError, "raw-read")
		return 0, err
	case errno != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", errno)}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}
