// Package ports gives tests addresses on 127.0.0.1 that other tests running
// beside them (other packages, other modules, on a busy machine) cannot take
// away: a port for a process to bind next, picked outside the range the
// kernel hands out by itself, and an address that refuses connections for the
// whole test, its port held by a socket bound but not listening.
//
// A port read from a listener on port 0 and closed at once is neither: the
// kernel hands it to the next bind to port 0 or outgoing connection, and
// another test's backend answered on an address a test thought refused.
package ports

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Free returns a TCP port on 127.0.0.1 that was free a moment ago, for a
// process to bind next. It picks one at random below the kernel's range of
// ephemeral ports, which listeners on port 0 and outgoing connections never
// take, so only another caller of Free can take it first.
func Free(tb testing.TB) int {
	tb.Helper()
	low := ephemeralLow()
	for range 200 {
		p := MinPort + rand.IntN(low-MinPort)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			ln.Close()
			return p
		}
	}
	tb.Fatalf("no free port found in [%d, %d) in 200 tries", MinPort, low)
	return 0
}

// FreeAddr returns 127.0.0.1:port for a port from Free.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(Free(tb)))
}

// MinPort is the lowest port Free returns.
const MinPort = 10000

// ephemeralLow returns the lowest port of the kernel's ephemeral range
// (Linux's ip_local_port_range; 32768 elsewhere, below the BSDs' and
// Windows' 49152).
func ephemeralLow() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > MinPort+1000 {
				low = n
			}
		}
	}
	return low
}
