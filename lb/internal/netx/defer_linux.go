//go:build linux && !386 && !portable

package netx

import (
	"net"
	"os"
	"syscall"
)

// DeferAccept sets TCP_DEFER_ACCEPT on a TCP listener: the kernel puts a
// new connection in the accept queue only once its first bytes have come
// (or, for a client that sends nothing, after about a second, when the
// handshake's SYN-ACK is sent again and answered). A client connection is
// then accepted with its request already there: read at once, without the
// read that finds nothing, the poller's registration and the wake-up that
// follow otherwise for about a third of new connections (HAProxy's
// defer-accept and nginx's deferred do the same). Anything but a
// *net.TCPListener is left as it is.
func DeferAccept(ln net.Listener) error {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, 1)
	}); err != nil {
		return err
	}
	return os.NewSyscallError("setsockopt", serr)
}
