//go:build linux && !386 && !portable

package netx

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// holdPair returns an accepted rawConn and its client. With polled, the
// server has already waited for (and read) one line, as a keep-alive
// connection has by its second request, so that it can Hold.
func holdPair(t *testing.T, polled bool) (*rawConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	acc, err := NewAcceptor(ln)
	require.NoError(t, err)
	t.Cleanup(func() { acc.Close() })
	cl, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close() })
	c, err := acc.Accept(nil)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	rc := c.(*rawConn)
	require.NoError(t, rc.SetReadDeadline(time.Now().Add(10*time.Second)))
	if polled {
		go func() {
			time.Sleep(20 * time.Millisecond) // the server reads first and waits
			cl.Write([]byte("hello\n"))
		}()
		buf := make([]byte, 64)
		n, err := rc.Read(buf)
		require.NoError(t, err)
		require.Equal(t, "hello\n", string(buf[:n]))
	}
	return rc, cl
}

// lineServer is a Hold step answering each line it reads with "ok <line>",
// up to max lines, then ending the Hold; got is called after each line is
// read, before its answer goes out.
type lineServer struct {
	c     *rawConn
	br    *bufio.Reader
	max   int
	got   func(line string)
	n     int
	err   error // the read error that ended the Hold
	seen  []string
	waits []error // why each wait began
}

func (s *lineServer) step() bool {
	for {
		line, err := s.br.ReadString('\n')
		if errors.Is(err, ErrWouldBlock) || errors.Is(err, ErrDrained) {
			s.waits = append(s.waits, err)
			return false // (the lines here arrive whole)
		}
		if err != nil {
			s.err = err
			return true
		}
		s.seen = append(s.seen, line)
		if s.got != nil {
			s.got(line)
		}
		if _, err := s.c.Write([]byte("ok " + line)); err != nil {
			s.err = err
			return true
		}
		if s.n++; s.n == s.max {
			return true
		}
	}
}

// TestRawConnHold: inside Hold a keep-alive exchange reads no empty socket
// between requests, yet misses no byte that arrives while a request is
// being answered; the wait keeps the read deadline and ends at Close.
func TestRawConnHold(t *testing.T) {
	t.Run("no empty read between requests", func(t *testing.T) {
		rc, cl := holdPair(t, true)
		const rounds = 50
		before := EmptyReads()
		s := &lineServer{c: rc, br: bufio.NewReader(rc), max: rounds}
		done := make(chan error, 1)
		go func() {
			cr := bufio.NewReader(cl)
			for i := range rounds {
				msg := strings.Repeat("x", i) + "\n"
				if _, err := cl.Write([]byte(msg)); err != nil {
					done <- err
					return
				}
				reply, err := cr.ReadString('\n')
				if err != nil || reply != "ok "+msg {
					done <- errors.Join(err, errors.New("reply "+reply))
					return
				}
			}
			done <- nil
		}()
		held, err := rc.Hold(s.step)
		require.True(t, held)
		require.NoError(t, err)
		require.NoError(t, <-done)
		assert.Equal(t, rounds, s.n)
		// The first step may find the first line not there yet; no other
		// read may find nothing.
		assert.LessOrEqual(t, EmptyReads()-before, int64(1), "reads that found nothing in %d rounds", rounds)
	})

	t.Run("a line sent while the step works is not missed", func(t *testing.T) {
		rc, cl := holdPair(t, true)
		require.NoError(t, rc.SetReadDeadline(time.Now().Add(5*time.Second)))
		sent := make(chan struct{})
		s := &lineServer{c: rc, br: bufio.NewReader(rc), max: 2}
		s.got = func(line string) {
			if line != "one\n" {
				return
			}
			// The first line was read (and the socket found drained); the
			// second arrives before the first's answer goes out.
			go func() { cl.Write([]byte("two\n")); close(sent) }()
			<-sent
			time.Sleep(20 * time.Millisecond)
		}
		_, err := cl.Write([]byte("one\n"))
		require.NoError(t, err)
		start := time.Now()
		held, err := rc.Hold(s.step)
		require.True(t, held)
		require.NoError(t, err, "the wait after the first answer missed the second line")
		assert.Equal(t, []string{"one\n", "two\n"}, s.seen)
		assert.Less(t, time.Since(start), 3*time.Second)
	})

	t.Run("the wait keeps the read deadline", func(t *testing.T) {
		rc, _ := holdPair(t, true)
		require.NoError(t, rc.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
		s := &lineServer{c: rc, br: bufio.NewReader(rc), max: 1}
		held, err := rc.Hold(s.step)
		require.True(t, held)
		require.Error(t, err)
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		var ne net.Error
		require.True(t, errors.As(err, &ne))
		assert.True(t, ne.Timeout())
		assert.Empty(t, s.seen)
	})

	t.Run("close ends the wait", func(t *testing.T) {
		rc, _ := holdPair(t, true)
		s := &lineServer{c: rc, br: bufio.NewReader(rc), max: 1}
		time.AfterFunc(30*time.Millisecond, func() { rc.Close() })
		held, err := rc.Hold(s.step)
		require.True(t, held)
		// The wait ends, failed or with the step's read failing.
		assert.ErrorIs(t, errors.Join(err, s.err), net.ErrClosed)
		_, err = rc.Write([]byte("x"))
		assert.ErrorIs(t, err, net.ErrClosed)
	})

	t.Run("a close that came with the last line", func(t *testing.T) {
		// The line and the close arrive before the Hold: one readiness
		// edge, consumed before it. The read takes the line and leaves
		// the close pending, which no wait would see: Read says ErrDrained
		// (not ErrWouldBlock), the wait has a short deadline, and a new
		// Hold reads the close.
		rc, cl := holdPair(t, true)
		s := &lineServer{c: rc, br: bufio.NewReader(rc), max: 5}
		cl.Write([]byte("last\n"))
		cl.(*net.TCPConn).CloseWrite()
		time.Sleep(20 * time.Millisecond)
		require.NoError(t, rc.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
		held, err := rc.Hold(s.step)
		require.True(t, held)
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Equal(t, []string{"last\n"}, s.seen)
		assert.Equal(t, []error{ErrDrained}, s.waits)
		require.NoError(t, rc.SetReadDeadline(time.Now().Add(5*time.Second)))
		held, err = rc.Hold(s.step)
		require.True(t, held)
		require.NoError(t, err)
		assert.ErrorIs(t, s.err, io.EOF)
	})

	t.Run("a close while waiting on an empty socket", func(t *testing.T) {
		rc, cl := holdPair(t, true)
		s := &lineServer{c: rc, br: bufio.NewReader(rc), max: 5}
		time.AfterFunc(30*time.Millisecond, func() { cl.(*net.TCPConn).CloseWrite() })
		held, err := rc.Hold(s.step)
		require.True(t, held)
		require.NoError(t, err)
		assert.Equal(t, []error{ErrWouldBlock}, s.waits)
		assert.ErrorIs(t, s.err, io.EOF)
	})

	t.Run("not before the first wait", func(t *testing.T) {
		rc, _ := holdPair(t, false)
		held, err := rc.Hold(func() bool { t.Error("step ran"); return true })
		assert.False(t, held)
		assert.NoError(t, err)
	})
}
