//go:build !linux || 386 || portable

package netx

import "net"

// RawIO returns c: raw system calls are Linux's.
func RawIO(c net.Conn) net.Conn { return c }

// DeferAccept does nothing here: TCP_DEFER_ACCEPT is Linux's.
func DeferAccept(net.Listener) error { return nil }
