//go:build linux && !386 && !portable

package netx

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
			// TCP_NODELAY is set, as net sets it, before the second write.
			fd := c.(*rawConn).fd
			for i, want := range []int{0, 0, 1, 1} {
				v, err := syscall.GetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
				require.NoError(t, err)
				assert.Equal(t, want, v, "TCP_NODELAY after %d writes", i)
				_, err = c.Write([]byte("x"))
				require.NoError(t, err)
			}
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

// TestEpollHold: Hold polls once per wake-up (a drained set is waited on
// without another poll), yet an event that comes while handle runs ends
// the next wait at once.
func TestEpollHold(t *testing.T) {
	for _, inside := range []bool{false, true} {
		name := map[bool]string{false: "events from another goroutine", true: "event made inside handle"}[inside]
		t.Run(name, func(t *testing.T) {
			ep, err := NewEpoll()
			require.NoError(t, err)
			defer ep.Close()
			var p [2]int
			require.NoError(t, syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC))
			defer syscall.Close(p[0])
			defer syscall.Close(p[1])
			arm := func(op int) {
				ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLONESHOT, Fd: int32(p[0])}
				require.NoError(t, syscall.EpollCtl(ep.FD(), op, p[0], &ev))
			}
			arm(syscall.EPOLL_CTL_ADD)
			const rounds = 30
			next := make(chan struct{}, 1)
			if !inside {
				go func() {
					for range next {
						time.Sleep(time.Millisecond) // the loop waits first
						syscall.Write(p[1], []byte{1})
					}
				}()
				defer close(next)
			}
			got := 0
			events := make([]syscall.EpollEvent, 4)
			syscall.Write(p[1], []byte{1})
			start := time.Now()
			err = ep.Hold(events, time.Now().Add(5*time.Second), func(n int) bool {
				var b [8]byte
				syscall.Read(p[0], b[:])
				if got += n; got == rounds {
					return true
				}
				arm(syscall.EPOLL_CTL_MOD)
				if inside {
					syscall.Write(p[1], []byte{1}) // before the wait begins
				} else {
					next <- struct{}{}
				}
				return false
			})
			require.NoError(t, err)
			require.Equal(t, rounds, got, "events handled before the deadline (an event was missed)")
			assert.Less(t, time.Since(start), 4*time.Second)
			// One poll per wake-up; none to find the drained set empty.
			assert.LessOrEqual(t, ep.polls, rounds+1)
		})
	}
}

// TestDelayFirstAck: a plain TCP listener takes the cleared TCP_QUICKACK;
// one that refuses it (Multipath TCP's, Go's default listener where the
// kernel has it) and one that is not TCP are left as they are, without an
// error.
func TestDelayFirstAck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proto int // the listener's SO_PROTOCOL; 0: not a TCP listener
	}{
		{"tcp", syscall.IPPROTO_TCP},
		{"mptcp", 262},
		{"unix", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lc net.ListenConfig
			lc.SetMultipathTCP(tc.proto == 262)
			network, addr := "tcp", "127.0.0.1:0"
			if tc.proto == 0 {
				network, addr = "unix", t.TempDir()+"/l.sock"
			}
			ln, err := lc.Listen(t.Context(), network, addr)
			require.NoError(t, err)
			defer ln.Close()
			if tc.proto == 0 {
				assert.NoError(t, DelayFirstAck(ln))
				return
			}
			rc, err := ln.(*net.TCPListener).SyscallConn()
			require.NoError(t, err)
			// sockopt reads an option of the listener (-1: refused).
			sockopt := func(level, opt int) int {
				v := -1
				require.NoError(t, rc.Control(func(fd uintptr) {
					if got, err := syscall.GetsockoptInt(int(fd), level, opt); err == nil {
						v = got
					}
				}))
				return v
			}
			if proto := sockopt(syscall.SOL_SOCKET, syscall.SO_PROTOCOL); proto != tc.proto {
				t.Skipf("SKIP: the kernel gave protocol %d, not %d (no Multipath TCP here)", proto, tc.proto)
			}
			before := sockopt(syscall.IPPROTO_TCP, syscall.TCP_QUICKACK)
			require.NoError(t, DelayFirstAck(ln))
			if tc.proto == syscall.IPPROTO_TCP {
				assert.Equal(t, 1, before, "a new listener acks at once")
				assert.Equal(t, 0, sockopt(syscall.IPPROTO_TCP, syscall.TCP_QUICKACK), "quick ACKs cleared")
			}
		})
	}
}
