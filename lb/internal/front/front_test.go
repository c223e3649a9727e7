package front

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lblab/lblab/lb/internal/proxy"
	"github.com/lblab/lblab/lb/internal/upstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawExchange writes raw to addr on one connection and returns everything
// read back until the proxy closes it or idle passes without a byte.
func rawExchange(t *testing.T, addr, raw string, idle time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	var out strings.Builder
	buf := make([]byte, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(idle))
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.String()
		}
	}
}

func TestFrontHandsOverWhatItDoesNotTake(t *testing.T) {
	rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) {
		body, _ := io.ReadAll(r.Body)
		return ok("got:" + string(body)), false
	})
	url, _ := fastFront(t, proxy.Config{}, Config{Handoff: func(p string) bool { return p == "/__health__" }}, rb.addr())
	addr := strings.TrimPrefix(url, "http://")
	big := strings.Repeat("x", 9000)
	tests := []struct {
		name, raw    string
		wantStatus   string
		wantFallback bool
		wantBody     string
	}{
		{"plain GET is fast", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "200", false, "got:"},
		{"POST with a small body is fast", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", "200", false, "got:abc"},
		{"HTTP/1.0 is fast", "GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", "200", false, "got:"},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "200", true, "got:"},
		{"chunked upload", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "200", true, "got:abc"},
		{"Expect: 100-continue", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", "200", true, "got:hi"},
		{"head beyond the first buffer: grown, still fast", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + big + "\r\n\r\n", "200", false, "got:"},
		{"status path", "GET /__health__ HTTP/1.1\r\nHost: a\r\n\r\n", "200", true, "status page"},
		{"escaped status path", "GET /%5F%5Fhealth__ HTTP/1.1\r\nHost: a\r\n\r\n", "200", true, "status page"},
		{"no Host: 400", "GET / HTTP/1.1\r\n\r\n", "400", false, ""},
		{"space before the colon: 400", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", "400", false, ""},
		{"two Content-Lengths: 400", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "400", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := rawExchange(t, addr, tt.raw+"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 2*time.Second)
			br := bufio.NewReader(strings.NewReader(out))
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err, out)
			if resp.StatusCode == http.StatusContinue {
				resp, err = http.ReadResponse(br, nil)
				require.NoError(t, err, out)
			}
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tt.wantStatus, resp.Status[:3], out)
			if tt.wantStatus == "200" {
				assert.Equal(t, tt.wantFallback, resp.Header.Get("X-Front") == "net/http", out)
				assert.Equal(t, tt.wantBody, string(body))
				assert.Contains(t, out[len(out)/2:], "got:", "the connection serves the next request")
			}
		})
	}
}

func TestFrontForwardsRequestHeaders(t *testing.T) {
	rb := newRawBackend(t, func(*http.Request, int) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nX-Reply: r\r\n\r\nok", false
	})
	url, _ := fastFront(t, proxy.Config{}, Config{}, rb.addr())
	out := rawExchange(t, strings.TrimPrefix(url, "http://"), "GET /p/a%20th?q=1 HTTP/1.1\r\nHost: site.test\r\n"+
		"Keep-Alive: 300\r\nProxy-Authorization: dropped\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\n"+
		"Forwarded: for=evil\r\nX-Multi: 1\r\nX-Multi: 2\r\nConnection: keep-alive, close\r\n\r\n", 2*time.Second)

	got := rb.request(0)
	assert.Equal(t, "/p/a%20th?q=1", got.RequestURI)
	assert.Equal(t, "site.test", got.Host)
	for _, h := range []string{"Keep-Alive", "Proxy-Authorization", "Forwarded", "Connection"} {
		assert.Empty(t, got.Header.Get(h), h)
	}
	assert.Equal(t, []string{"127.0.0.1"}, got.Header.Values("X-Forwarded-For"), "an untrusted peer's claim is replaced")
	assert.Equal(t, []string{"site.test"}, got.Header.Values("X-Forwarded-Host"))
	assert.Equal(t, "http", got.Header.Get("X-Forwarded-Proto"))
	assert.Equal(t, []string{"1", "2"}, got.Header.Values("X-Multi"))

	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
	require.NoError(t, err, out)
	assert.Equal(t, "r", resp.Header.Get("X-Reply"))
	assert.Empty(t, resp.Header.Get("X-Secret"), "headers named in the backend's Connection are dropped")
	assert.Empty(t, resp.Header.Get("Keep-Alive"))
	assert.True(t, resp.Close, "the client's Connection: close is answered with Connection: close")
	assert.Empty(t, resp.Header.Get("X-Front"), "served by the fast path")
}

func TestFrontTrustedForwardedFor(t *testing.T) {
	rb := newRawBackend(t, func(*http.Request, int) (string, bool) { return ok("x"), false })
	cfg := proxy.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	url, _ := fastFront(t, cfg, Config{}, rb.addr())
	rawExchange(t, strings.TrimPrefix(url, "http://"),
		"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, 3.3.3.3\r\nConnection: close\r\n\r\n", 2*time.Second)
	assert.Equal(t, "1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1", rb.request(0).Header.Get("X-Forwarded-For"),
		"a trusted peer's X-Forwarded-For is extended")
}

func TestFrontPipelinedRequests(t *testing.T) {
	rb := newRawBackend(t, func(r *http.Request, n int) (string, bool) { return ok(r.URL.Path), false })
	url, _ := fastFront(t, proxy.Config{}, Config{}, rb.addr())
	out := rawExchange(t, strings.TrimPrefix(url, "http://"),
		"GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\nGET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 2*time.Second)
	br := bufio.NewReader(strings.NewReader(out))
	for _, want := range []string{"/one", "/two", "/three"} {
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err, out)
		body, _ := io.ReadAll(resp.Body)
		assert.Equal(t, want, string(body), "answered in order")
	}
	_, err := br.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "closed after the Connection: close request")
}

func TestFrontErrors(t *testing.T) {
	tests := []struct {
		name     string
		raw      string // backend's response; "hang" never answers
		want     int
		wantBody string
	}{
		{"malformed status line", "HTTP/1.1 2OO OK\r\n\r\n", 502, `{"error":"backend failed","status":502}`},
		{"unknown transfer coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 502, ""},
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 502, ""},
		{"head beyond 16 KiB", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("y", 17<<10) + "\r\nContent-Length: 0\r\n\r\n", 502, ""},
		{"no answer within request_timeout", "hang", 504, `{"error":"backend timeout","status":504}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hang := make(chan struct{})
			rb := newRawBackend(t, func(*http.Request, int) (string, bool) {
				if tt.raw == "hang" {
					<-hang
				}
				return tt.raw, true
			})
			t.Cleanup(func() { close(hang) }) // before the backend's cleanup waits for its goroutines
			url, _ := fastFront(t, proxy.Config{Conn: upstream.Config{DialTimeout: time.Second, ResponseHeaderTimeout: 300 * time.Millisecond, MaxIdle: 8}}, Config{}, rb.addr())
			resp, err := http.Get(url + "/")
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, tt.want, resp.StatusCode)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			if tt.wantBody != "" {
				assert.JSONEq(t, tt.wantBody, string(body))
			}
		})
	}
	t.Run("no backend: 503", func(t *testing.T) {
		url, _ := fastFront(t, proxy.Config{}, Config{})
		resp, err := http.Get(url + "/")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 503, resp.StatusCode)
	})
}

func TestFrontStreamsAChunkedResponse(t *testing.T) {
	release := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		http.ReadRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n6\r\nfirst\n\r\n")
		<-release
		io.WriteString(c, "7\r\nsecond\n\r\n0\r\nX-Sum: 13\r\n\r\n")
	}()
	url, _ := fastFront(t, proxy.Config{}, Config{}, ln.Addr().String())
	resp, err := http.Get(url + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	first := make([]byte, 6)
	_, err = io.ReadFull(resp.Body, first)
	require.NoError(t, err, "the first chunk arrives before the backend sends the rest")
	assert.Equal(t, "first\n", string(first))
	close(release)
	rest, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "second\n", string(rest))
	assert.Equal(t, "13", resp.Trailer.Get("X-Sum"))
}

func TestFrontShutdown(t *testing.T) {
	release := make(chan struct{})
	rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) {
		if r.URL.Path == "/slow" {
			<-release
		}
		return ok("done"), false
	})
	url, f := fastFront(t, proxy.Config{}, Config{}, rb.addr())
	addr := strings.TrimPrefix(url, "http://")

	idle, err := net.Dial("tcp", addr) // served one request, then idle
	require.NoError(t, err)
	defer idle.Close()
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	idleBR := bufio.NewReader(idle)
	resp, err := http.ReadResponse(idleBR, nil)
	require.NoError(t, err)
	io.ReadAll(resp.Body)

	busy, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer busy.Close()
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	require.Eventually(t, func() bool { return rb.count() == 2 }, 5*time.Second, 5*time.Millisecond)

	shut := make(chan error, 1)
	go func() { shut <- f.Shutdown(context.Background()) }()
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = idleBR.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "the idle connection is closed at once")
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	resp, err = http.ReadResponse(bufio.NewReader(busy), nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, "done", string(body), "the request in flight is answered")
	assert.True(t, resp.Close, "with Connection: close")
	select {
	case err := <-shut:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the last request")
	}
}
