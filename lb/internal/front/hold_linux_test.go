//go:build linux && !386 && !portable

package front

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/netx"
	"github.com/lblab/lblab/lb/internal/proxy"
)

// openConn returns the one client connection f has open.
func openConn(t *testing.T, f *Front) *conn {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, f.conns, 1)
	for fc := range f.conns {
		return fc
	}
	return nil
}

// TestHeldKeepAlive: a keep-alive client's requests are served inside a
// Hold (netx), so the waits between them read no empty socket; a client
// whose last request comes with its close is answered and closed at once,
// not after the idle timeout, though the two may arrive as one readiness
// edge.
func TestHeldKeepAlive(t *testing.T) {
	rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) { return ok("hi " + r.URL.Path), false })
	// No parking (ParkAbove -1): an unseen close would wait for the idle timeout.
	url, f := fastFront(t, proxy.Config{}, Config{IdleTimeout: 30 * time.Second, ParkAbove: -1}, rb.addr())
	addr := strings.TrimPrefix(url, "http://")

	get := func(t *testing.T, c net.Conn, br *bufio.Reader, path string) {
		t.Helper()
		_, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: h\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		require.Equal(t, "hi "+path, string(body))
	}

	t.Run("no empty read between requests", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		const n = 40
		before := netx.EmptyReads() // (process-wide: this connection's and its backend's)
		for i := range n {
			get(t, c, br, "/"+strings.Repeat("x", i))
		}
		openConn(t, f)
		// The first waits, before the connection joins the poller and
		// the first Hold starts, find the socket empty; none after them.
		empty := netx.EmptyReads() - before
		assert.LessOrEqual(t, empty, int64(6), "reads that found nothing in %d requests", n)
	})

	t.Run("the last request with the close", func(t *testing.T) {
		for i := range 20 {
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			get(t, c, br, "/1")
			get(t, c, br, "/2")
			start := time.Now()
			_, err = io.WriteString(c, "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n")
			require.NoError(t, err)
			require.NoError(t, c.(*net.TCPConn).CloseWrite())
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			require.Equal(t, "hi /3", string(body))
			_, err = br.ReadByte()
			require.ErrorIs(t, err, io.EOF, "round %d: the connection was not closed after the client's close (idle timeout 30 s)", i)
			assert.Less(t, time.Since(start), 5*time.Second)
			c.Close()
		}
	})
}
