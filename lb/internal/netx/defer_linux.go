//go:build linux && !386 && !portable

package netx

import (
	"errors"
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
	return setListenerOpt(ln, syscall.TCP_DEFER_ACCEPT, 1)
}

// DelayFirstAck clears TCP_QUICKACK on a TCP listener (HAProxy's
// tcp-smart-accept, on by default in its HTTP mode): the connections it
// accepts start in the kernel's delayed-ACK mode, so the ACK of a client's
// request goes out with the response (or after the delayed-ACK timer, about
// 40 ms, if the response takes longer) instead of in a segment of its own.
// With a new connection per request that is one segment in twelve fewer. A
// listener that refuses the option (Multipath TCP's: ENOPROTOOPT) keeps its
// immediate ACKs, as does anything but a *net.TCPListener.
func DelayFirstAck(ln net.Listener) error {
	err := setListenerOpt(ln, syscall.TCP_QUICKACK, 0)
	if errors.Is(err, syscall.ENOPROTOOPT) {
		return nil
	}
	return err
}

func setListenerOpt(ln net.Listener, opt, value int) error {
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
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, opt, value)
	}); err != nil {
		return err
	}
	return os.NewSyscallError("setsockopt", serr)
}
