//go:build linux && !386 && !portable

package server

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/lblab/lblab/lb/internal/config"
	"github.com/lblab/lblab/testkit/ports"
)

// TestFirstAckRidesOnResponse: in HTTP mode the kernel does not ACK a
// client's first bytes on their own: the ACK waits to ride on the
// response. The client sends half a request head, which the proxy answers
// only after its read_header_timeout, and looks at once at how many of its
// segments are unacknowledged (on loopback an immediate ACK has come back
// before the write returns; a delayed one comes after 40 ms or more). TCP
// mode keeps the kernel's immediate ACK. (It needs the plain TCP listener
// of TestListenerIsPlainTCP: Multipath TCP's takes no TCP_QUICKACK.)
func TestFirstAckRidesOnResponse(t *testing.T) {
	backend := newBackend(t, "b1", nil)
	for _, tc := range []struct {
		mode        string
		wantUnacked uint8
	}{
		{"http", 1},
		{"tcp", 0},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			port := ports.Free(t)
			cfg, err := config.Parse(fmt.Appendf(nil, `{"mode": %q, "proxy_host": "127.0.0.1", "proxy_port": %d,
				"admin_host": "127.0.0.1", "admin_port": %d, "backend_servers": [{"host": "127.0.0.1", "port": %d}], "health_check_interval": 0, "enable_logging": false}`,
				tc.mode, port, ports.Free(t), backend.port()))
			require.NoError(t, err)
			srv := startOwn(t, cfg)

			// A delayed ACK could still come between the write and the look
			// on a stalled machine: the best of five tries counts.
			var unacked uint8
			for try := 0; try < 5 && unacked != tc.wantUnacked; try++ {
				unacked = firstBytesUnacked(t, srv.ProxyAddr().String())
			}
			assert.Equal(t, tc.wantUnacked, unacked, "segments the proxy had not ACKed right after the client's first write")
		})
	}
}

// firstBytesUnacked connects to addr, writes half a request head and returns
// the number of the connection's segments not yet acknowledged just after.
func firstBytesUnacked(t *testing.T, addr string) uint8 {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	require.NoError(t, err)
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	var info *unix.TCPInfo
	var ierr error
	require.NoError(t, rc.Write(func(fd uintptr) bool {
		if _, ierr = unix.Write(int(fd), []byte("GET / HTTP/1.1\r\n")); ierr == nil {
			info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		}
		return true
	}))
	require.NoError(t, ierr)
	return uint8(info.Unacked)
}

// TestListenerIsPlainTCP: the listeners the server opens itself are plain
// TCP, as HAProxy's and nginx's, not the Multipath TCP that Go's net.Listen
// opens by default where the kernel has it (protocol 262).
func TestListenerIsPlainTCP(t *testing.T) {
	ln, err := (&Server{}).listen(nil, "127.0.0.1", 0, "proxy_port", false)
	require.NoError(t, err)
	defer ln.Close()
	rc, err := ln.(*net.TCPListener).SyscallConn()
	require.NoError(t, err)
	var proto int
	var perr error
	require.NoError(t, rc.Control(func(fd uintptr) {
		proto, perr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PROTOCOL)
	}))
	require.NoError(t, perr)
	assert.Equal(t, syscall.IPPROTO_TCP, proto)
}
