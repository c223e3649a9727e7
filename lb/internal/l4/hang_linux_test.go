//go:build linux

package l4_test

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hangingAddr returns a 127.0.0.1 address whose listen queue is full and
// never accepted from, so that connects to it hang (the kernel drops the SYNs).
func hangingAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	f := os.NewFile(uintptr(fd), "hanging-listener")
	t.Cleanup(func() { f.Close() })
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	require.NoError(t, syscall.Listen(fd, 0))
	sa, err := syscall.Getsockname(fd)
	require.NoError(t, err)
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	for range 8 { // fill the queue (backlog 0 holds one or two)
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("SKIP: could not fill a listen queue to make connects hang")
	return ""
}

func TestConnectTimeoutRetried(t *testing.T) {
	hang := hangingAddr(t)
	live := newTCPBackend(t, "live", nameHandler("live"))
	lb := startLB(t, lbOpts{retries: 1, dial: 150 * time.Millisecond, backendAddrs: []string{hang},
		backendsByName: []*tcpBackend{live}})
	for range 4 {
		got, err := fetchName(lb.addr)
		require.NoError(t, err)
		assert.Equal(t, "live", got)
	}
	assert.Equal(t, uint64(2), lb.srv.Stats().ConnectErrors, "round robin sends every other connection to the hanging backend")

	t.Run("without retries the client is closed", func(t *testing.T) {
		lb := startLB(t, lbOpts{dial: 150 * time.Millisecond, backendAddrs: []string{hang}})
		got, err := fetchName(lb.addr)
		require.NoError(t, err)
		assert.Empty(t, got)
		require.Eventually(t, func() bool { return lb.srv.Stats().ConnectionsClosed["connect_timeout"] == 1 }, 5*time.Second, 10*time.Millisecond)
		assert.Equal(t, uint64(1), lb.srv.Summary().StatusCodes["504"])
	})
}
