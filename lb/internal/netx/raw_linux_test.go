//go:build linux && !386 && !portable

package netx

import (
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestZoneName(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	require.NoError(t, err)
	tests := []struct {
		index uint32
		want  string
	}{
		{0, ""},
		{uint32(lo.Index), "lo"},
		{1 << 30, "1073741824"}, // no such interface: the index, as net writes it
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, zoneName(tt.index), "index %d", tt.index)
	}
}

func TestTCPAddr(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	require.NoError(t, err)
	tests := []struct {
		sa   syscall.Sockaddr
		want string
	}{
		{&syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: 8080}, "127.0.0.1:8080"},
		{&syscall.SockaddrInet6{Addr: [16]byte{15: 1}, Port: 443}, "[::1]:443"},
		{&syscall.SockaddrInet6{Addr: [16]byte{0: 0xfe, 1: 0x80, 15: 1}, Port: 80, ZoneId: uint32(lo.Index)}, "[fe80::1%lo]:80"},
		{&syscall.SockaddrUnix{Name: "/tmp/x"}, ":0"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, TCPAddr(tt.sa).String())
	}
}

func TestReadSend(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Close(fds[1]) })
	buf := make([]byte, 16)
	_, err = Read(fds[1], buf)
	assert.Equal(t, syscall.EAGAIN, err, "nothing sent yet")
	n, err := Send(fds[0], []byte("hello"))
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	n, err = Read(fds[1], buf)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf[:n]))
	syscall.Close(fds[0])
	n, err = Read(fds[1], buf)
	assert.NoError(t, err)
	assert.Zero(t, n, "EOF")
	_, err = Send(fds[1], []byte("x"))
	assert.Equal(t, syscall.EPIPE, err, "the peer is gone: EPIPE, no SIGPIPE")
}
