//go:build !unix

package ports

import (
	"net"
	"testing"
)

// Refused returns an address where nothing listens: a closed listener's.
// Outside Unix the port is not held, and another process may take it.
func Refused(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
