//go:build !linux || 386 || portable

package netx

import "net"

// RawIO returns c: raw system calls are Linux's.
func RawIO(c net.Conn) net.Conn { return c }

// SetCrowded does nothing here (see the Linux one).
func SetCrowded(bool) {}

// Crowded is false here.
func Crowded() bool { return false }
