//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// alive reports whether an idle connection is still open: a non-blocking
// peek sees EOF (0 bytes) or an error when the backend has closed it while
// it sat in the pool. It costs one system call, so it is used only before a
// request whose body cannot be sent again.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = true
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			// nothing to read: open and idle
		case err != nil || n == 0:
			ok = false // reset or closed
		}
		return true // never wait for data
	})
	return err == nil && ok
}
