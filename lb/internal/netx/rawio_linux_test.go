//go:build linux && !386 && !portable

package netx

import (
	"errors"
	"fmt"
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
			b := make([]byte, 64<<20) // made first: on a busy machine, making it can take the 50 ms
			c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			n, err := c.Write(b)  // the peer reads nothing
			return min(n, 1), err // how much left depends on the buffers
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
	// The connections under test: RawIO's (of a dialed connection) and the
	// Acceptor's (once it has had to wait, or at once), with raw system
	// calls and with the scheduler's (SetCrowded).
	wraps := []struct {
		name string
		pair func(t *testing.T) (c, p net.Conn)
	}{
		{"RawIO", func(t *testing.T) (net.Conn, net.Conn) {
			c, p := tcpPair(t)
			raw := RawIO(c)
			require.IsType(t, &rawTCP{}, raw)
			return raw, p
		}},
		{"Acceptor", acceptedPair},
	}
	t.Cleanup(func() { SetCrowded(false) })
	for _, crowd := range []bool{false, true} {
		for _, w := range wraps {
			for _, tt := range tests {
				t.Run(fmt.Sprintf("crowded=%v/%s/%s", crowd, w.name, tt.name), func(t *testing.T) {
					SetCrowded(crowd)
					c, p := tcpPair(t)
					want := outcomeOf(tt.do(c, p))
					c, p = w.pair(t)
					got := outcomeOf(tt.do(c, p))
					assert.Equal(t, want, got)
				})
			}
		}
	}
}

// acceptedPair is tcpPair with the accepted end an Acceptor's connection.
func acceptedPair(t *testing.T) (accepted, dialed net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	acc, err := NewAcceptor(ln)
	require.NoError(t, err)
	defer acc.Close()
	dialed, err = net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
	require.NoError(t, err)
	accepted, err = acc.Accept(nil)
	require.NoError(t, err)
	t.Cleanup(func() { dialed.Close(); accepted.Close() })
	return accepted, dialed
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
