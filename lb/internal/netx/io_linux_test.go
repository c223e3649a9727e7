//go:build linux && !386 && !portable

package netx

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tcpPair returns both ends of a loopback TCP connection: the dialed one
// and the accepted one, closed when the test ends.
func tcpPair(t *testing.T) (dialed, accepted net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	dialed, err = net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
	require.NoError(t, err)
	accepted, err = ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { dialed.Close(); accepted.Close() })
	return dialed, accepted
}

// outcome is what a test looks at in a read's or write's result.
type outcome struct {
	n       int
	eof     bool
	timeout bool // a net.Error whose Timeout is true, os.ErrDeadlineExceeded within
	closed  bool // net.ErrClosed within
	reset   bool // ECONNRESET or EPIPE within
	opErr   bool // a *net.OpError
	other   bool // any other error
}

func outcomeOf(n int, err error) outcome {
	o := outcome{n: n}
	var ne net.Error
	var oe *net.OpError
	switch {
	case err == nil:
	case err == io.EOF:
		o.eof = true
	case errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded):
		o.timeout = true
	case errors.Is(err, net.ErrClosed):
		o.closed = true
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		o.reset = true
	default:
		o.other = true
	}
	o.opErr = errors.As(err, &oe)
	return o
}

// TestRawIOMatchesNetConn: a connection wrapped by RawIO reads and writes,
// and fails, as the net.TCPConn it wraps does (net is the oracle).
func TestRawIOMatchesNetConn(t *testing.T) {
	tests := []struct {
		name string
		// do prepares the connection c (whose peer is p) and does one call.
		do func(c, p net.Conn) (int, error)
	}{
		{"read what waits", func(c, p net.Conn) (int, error) {
			p.Write([]byte("hello"))
			return c.Read(make([]byte, 16))
		}},
		{"read waits for bytes", func(c, p net.Conn) (int, error) {
			go func() { time.Sleep(20 * time.Millisecond); p.Write([]byte("late")) }()
			return c.Read(make([]byte, 16))
		}},
		{"read at the peer's close", func(c, p net.Conn) (int, error) {
			p.Close()
			return c.Read(make([]byte, 16))
		}},
		{"read into nothing", func(c, p net.Conn) (int, error) {
			return c.Read(nil)
		}},
		{"read past the deadline", func(c, p net.Conn) (int, error) {
			c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			return c.Read(make([]byte, 16))
		}},
		{"read after close", func(c, p net.Conn) (int, error) {
			c.Close()
			return c.Read(make([]byte, 16))
		}},
		{"read closed meanwhile", func(c, p net.Conn) (int, error) {
			go func() { time.Sleep(20 * time.Millisecond); c.Close() }()
			return c.Read(make([]byte, 16))
		}},
		{"read after a reset", func(c, p net.Conn) (int, error) {
			p.(*net.TCPConn).SetLinger(0)
			p.Close()
			time.Sleep(20 * time.Millisecond)
			return c.Read(make([]byte, 16))
		}},
		{"write", func(c, p net.Conn) (int, error) {
			return c.Write([]byte("hello"))
		}},
		{"write more than the socket holds", func(c, p net.Conn) (int, error) {
			go io.Copy(io.Discard, p)
			return c.Write(make([]byte, 8<<20))
		}},
		{"write past the deadline", func(c, p net.Conn) (int, error) {
			c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			n, err := c.Write(make([]byte, 64<<20)) // the peer reads nothing
			return min(n, 1), err                   // how much left depends on the buffers
		}},
		{"write after close", func(c, p net.Conn) (int, error) {
			c.Close()
			return c.Write([]byte("x"))
		}},
		{"write after a reset", func(c, p net.Conn) (int, error) {
			p.(*net.TCPConn).SetLinger(0)
			p.Close()
			time.Sleep(20 * time.Millisecond)
			return c.Write([]byte("x"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, p := tcpPair(t)
			want := outcomeOf(tt.do(c, p))
			c, p = tcpPair(t)
			raw := RawIO(c)
			require.IsType(t, &rawTCP{}, raw)
			got := outcomeOf(tt.do(raw, p))
			assert.Equal(t, want, got)
		})
	}
}

// TestRawIOAllocatesNothing: a write and a read through RawIO allocate
// nothing (the RawConn callbacks are bound once).
func TestRawIOAllocatesNothing(t *testing.T) {
	c, p := tcpPair(t)
	raw := RawIO(c)
	msg, buf, pbuf := []byte("ping"), make([]byte, 16), make([]byte, 16)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := raw.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(p, pbuf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
		p.Write(msg)
		if _, err := io.ReadFull(raw, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

// TestAcceptorAddresses: the Acceptor's raw accept4 gives the client's
// address as net does, for IPv4 and IPv6.
func TestAcceptorAddresses(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
			if err != nil && host == "::1" {
				t.Skipf("SKIP: no IPv6 loopback here: %v", err)
			}
			require.NoError(t, err)
			defer ln.Close()
			acc, err := NewAcceptor(ln)
			require.NoError(t, err)
			defer acc.Close()
			d, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
			require.NoError(t, err)
			defer d.Close()
			c, err := acc.Accept(nil)
			require.NoError(t, err)
			defer c.Close()
			assert.Equal(t, d.LocalAddr().String(), c.RemoteAddr().String())
			assert.Equal(t, d.RemoteAddr().String(), c.LocalAddr().String())
			// TCP_NODELAY is set, as net sets it.
			v, err := syscall.GetsockoptInt(c.(*rawConn).fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
			require.NoError(t, err)
			assert.Equal(t, 1, v)
		})
	}
}

// TestDeferAccept: with DeferAccept a connection that has sent nothing
// waits in the kernel while one that sent its request is accepted; without
// it they are accepted in the order they connected.
func TestDeferAccept(t *testing.T) {
	for _, deferred := range []bool{true, false} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		if deferred {
			require.NoError(t, DeferAccept(ln))
		}
		silent, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
		require.NoError(t, err)
		defer silent.Close()
		talker, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
		require.NoError(t, err)
		defer talker.Close()
		_, err = talker.Write([]byte("GET / HTTP/1.1\r\n"))
		require.NoError(t, err)
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
		c, err := ln.Accept()
		require.NoError(t, err)
		first := silent
		if deferred {
			first = talker
		}
		assert.Equal(t, first.LocalAddr().String(), c.RemoteAddr().String(), "deferred %v: accepted first", deferred)
		c.Close()
	}
}

// TestEpollWait: Wait returns what is ready at once, waits in the poller
// for what comes later, returns 0 at its deadline, and fails once closed.
func TestEpollWait(t *testing.T) {
	ep, err := NewEpoll()
	require.NoError(t, err)
	var p [2]int
	require.NoError(t, syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC))
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	require.NoError(t, syscall.EpollCtl(ep.FD(), syscall.EPOLL_CTL_ADD, p[0], &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p[0])}))
	events := make([]syscall.EpollEvent, 4)

	// Nothing ready: the deadline ends the wait with 0.
	n, err := ep.Wait(events, time.Now().Add(20*time.Millisecond))
	require.NoError(t, err)
	assert.Zero(t, n)

	// Ready already: returned at once.
	syscall.Write(p[1], []byte{1})
	n, err = ep.Wait(events, time.Time{})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	assert.Equal(t, int32(p[0]), events[0].Fd)
	var b [8]byte
	syscall.Read(p[0], b[:])

	// Ready later: the wait (no deadline) ends when it is.
	go func() { time.Sleep(20 * time.Millisecond); syscall.Write(p[1], []byte{1}) }()
	n, err = ep.Wait(events, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	syscall.Read(p[0], b[:])

	// Closed while waiting: the wait fails.
	errc := make(chan error, 1)
	go func() { _, err := ep.Wait(events, time.Time{}); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, ep.Close())
	select {
	case err := <-errc:
		assert.Error(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after Close")
	}
}
