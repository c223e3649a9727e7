package ports

import (
	"net"
	"strconv"
	"testing"
)

// Connections to Refused's address are refused, and no listener can take
// its port while the test runs.
func TestRefusedHoldsItsPort(t *testing.T) {
	addr := Refused(t)
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("a connection to %s was accepted", addr)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("a listener took %s", addr)
	}
}

// Free's ports lie below the kernel's ephemeral range and can be bound.
func TestFreeIsBelowTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	for range 20 {
		p := Free(t)
		if p < MinPort || p >= low {
			t.Fatalf("Free returned %d, outside [%d, %d)", p, MinPort, low)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d from Free cannot be bound: %v", p, err)
		}
		ln.Close()
	}
}
