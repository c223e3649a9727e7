//go:build unix

package main

import (
	"net"
	"strconv"
	"syscall"
	"testing"
)

// refusedAddr returns 127.0.0.1:port where connections are refused for
// the whole test: a socket bound to the port but not listening holds it,
// so no other process's listener (another test's, on a busy machine) can
// take the port and answer, as happened when a closed listener's port was
// used.
func refusedAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}

// TestRefusedAddrHoldsItsPort: connections to refusedAddr are refused, and
// no listener can take its port while the test runs.
func TestRefusedAddrHoldsItsPort(t *testing.T) {
	addr := refusedAddr(t)
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("a connection to %s was accepted", addr)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("a listener took %s", addr)
	}
}
