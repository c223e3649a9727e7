//go:build !unix

package main

import (
	"net"
	"testing"
)

// refusedAddr returns an address where nothing listens: a closed
// listener's (another process may take the port meanwhile).
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
