//go:build linux && !386 && !portable

package l4_test

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNoGoroutinePerConnection: on Linux a relayed connection is held by an
// event loop, not by a goroutine of its own, so idle connections cost only
// their state. The backend here runs one goroutine per connection (it is in
// the same process): the count may grow by that, not by the balancer's.
func TestNoGoroutinePerConnection(t *testing.T) {
	const n = 200
	b := newTCPBackend(t, "echo", echoHandler)
	lb := startLB(t, lbOpts{backendsByName: []*tcpBackend{b}})
	before := runtime.NumGoroutine()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range n {
		c := dial(t, lb.addr)
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Write([]byte("ping"))
		require.NoError(t, err)
		buf := make([]byte, 4)
		_, err = io.ReadFull(c, buf)
		require.NoError(t, err)
	}
	// Each connection's handler has returned once its relay began.
	require.Eventually(t, func() bool { return runtime.NumGoroutine()-before <= n+n/10 }, 5*time.Second, 10*time.Millisecond,
		"goroutines grew by %d for %d relayed connections (the backend's own: %d)", runtime.NumGoroutine()-before, n, n)
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	assert.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+5 }, 5*time.Second, 10*time.Millisecond,
		"goroutines left after every connection closed: %d more than before", runtime.NumGoroutine()-before)
}
