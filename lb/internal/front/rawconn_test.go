package front

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lblab/lblab/lb/internal/proxy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The front end reads and writes a client's socket directly until the
// socket makes it wait; these tests make it wait at each step.
func TestFrontClientsThatMakeItWait(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16) // more than the socket buffers hold
	sum := sha256.Sum256(big)
	rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) {
		if r.URL.Path == "/big" {
			return "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + string(big), false
		}
		return ok("hello " + r.URL.Path), false
	})
	// The idle cases run with a 300 ms idle timeout, the rest with the
	// default: a client that takes longer than 300 ms to read what the
	// kernel already holds for it is idle as far as the front end knows.
	url, _ := fastFront(t, proxy.Config{}, Config{}, rb.addr())
	shortURL, _ := fastFront(t, proxy.Config{}, Config{IdleTimeout: 300 * time.Millisecond}, rb.addr())

	tests := []struct {
		name      string
		shortIdle bool
		run       func(t *testing.T, c net.Conn, br *bufio.Reader)
	}{
		{"request head in two parts, the second late", false, func(t *testing.T, c net.Conn, br *bufio.Reader) {
			io.WriteString(c, "GET /split HTTP/1.1\r\nHo")
			time.Sleep(100 * time.Millisecond)
			io.WriteString(c, "st: a\r\n\r\n")
			assert.Equal(t, "hello /split", readBody(t, br))
		}},
		{"client connects and waits before its first request", false, func(t *testing.T, c net.Conn, br *bufio.Reader) {
			time.Sleep(100 * time.Millisecond)
			io.WriteString(c, "GET /late HTTP/1.1\r\nHost: a\r\n\r\n")
			assert.Equal(t, "hello /late", readBody(t, br))
		}},
		{"client reads a large response late", false, func(t *testing.T, c net.Conn, br *bufio.Reader) {
			io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
			time.Sleep(200 * time.Millisecond)
			got := readBody(t, br)
			assert.Equal(t, len(big), len(got))
			assert.Equal(t, sum, sha256.Sum256([]byte(got)), "the body differs")
			io.WriteString(c, "GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
			assert.Equal(t, "hello /after", readBody(t, br), "the connection goes on")
		}},
		{"requests spaced within the idle timeout keep the connection open", true, func(t *testing.T, c net.Conn, br *bufio.Reader) {
			// 5 x 100 ms: past the 300 ms idle timeout in all, never idle
			// for it, with 200 ms to spare for a busy machine's scheduling.
			for i := range 5 {
				io.WriteString(c, "GET /spaced HTTP/1.1\r\nHost: a\r\n\r\n")
				assert.Equal(t, "hello /spaced", readBody(t, br), "request %d", i)
				time.Sleep(100 * time.Millisecond)
			}
		}},
		{"idle timeout after the front end had to wait", true, func(t *testing.T, c net.Conn, br *bufio.Reader) {
			io.WriteString(c, "GET /one HTTP/1.1\r\nHost: a\r\n\r\n")
			assert.Equal(t, "hello /one", readBody(t, br))
			start := time.Now()
			_, err := br.ReadByte()
			assert.ErrorIs(t, err, io.EOF)
			assert.Greater(t, time.Since(start), 200*time.Millisecond, "closed before the idle timeout")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := url
			if tt.shortIdle {
				u = shortURL
			}
			c, err := net.Dial("tcp", strings.TrimPrefix(u, "http://"))
			require.NoError(t, err)
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			tt.run(t, c, bufio.NewReader(c))
		})
	}
}

func readBody(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestFrontMaxConnections: past MaxConnections the front end stops
// accepting; a connection handed to net/http holds its slot too, and each
// slot comes back when its connection closes.
func TestFrontMaxConnections(t *testing.T) {
	rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) { return ok("hi"), false })
	url, _ := fastFront(t, proxy.Config{}, Config{MaxConnections: 2}, rb.addr())
	addr := strings.TrimPrefix(url, "http://")

	open := func(req string) (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, req)
		return c, bufio.NewReader(c)
	}
	plain := "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	chunked := "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n" // handed to net/http

	fast, fastBR := open(plain)
	assert.Equal(t, "hi", readBody(t, fastBR))
	handed, handedBR := open(chunked)
	resp, err := http.ReadResponse(handedBR, nil)
	require.NoError(t, err)
	io.ReadAll(resp.Body)
	assert.Equal(t, "net/http", resp.Header.Get("X-Front"))

	third, thirdBR := open(plain)
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = thirdBR.ReadByte()
	var ne net.Error
	require.ErrorAs(t, err, &ne, "a third connection was served while two were open")
	require.True(t, ne.Timeout())

	fast.Close() // frees a slot: the third is served
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	assert.Equal(t, "hi", readBody(t, thirdBR))

	fourth, fourthBR := open(plain)
	fourth.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = fourthBR.ReadByte()
	require.ErrorAs(t, err, &ne, "a fourth connection was served while two were open")

	handed.Close() // net/http closes its side, which frees the slot
	fourth.SetReadDeadline(time.Now().Add(5 * time.Second))
	assert.Equal(t, "hi", readBody(t, fourthBR))
}
