package front

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lblab/lblab/lb/internal/proxy"
	"github.com/lblab/lblab/lb/internal/upstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestForwardReusesBackendConnections(t *testing.T) {
	tests := []struct {
		name      string
		clientHdr map[string]string
		wantConns int64
	}{
		{"keep-alive client", nil, 1},
		// The client's Connection: close is hop-by-hop: the backend connection stays.
		{"client sends Connection: close", map[string]string{"Connection": "close"}, 1},
	}
	for _, front := range frontEnds {
		for _, tt := range tests {
			t.Run(front+"/"+tt.name, func(t *testing.T) {
				rb := newRawBackend(t, func(*http.Request, int) (string, bool) { return ok("hi"), false })
				url := proxyURL(t, front, proxy.Config{}, rb.addr())
				for range 5 {
					req, _ := http.NewRequest("GET", url+"/x", nil)
					for k, v := range tt.clientHdr {
						req.Header.Set(k, v)
					}
					resp, err := http.DefaultClient.Do(req)
					require.NoError(t, err)
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					assert.Equal(t, "hi", string(body))
				}
				assert.Equal(t, tt.wantConns, rb.conns.Load())
				assert.Empty(t, rb.request(4).Header.Get("Connection"), "Connection is not forwarded")
			})
		}
	}
}

func TestForwardRetriesAStaleIdleConnection(t *testing.T) {
	tests := []struct {
		name   string
		method string
		body   string
	}{
		{"GET", "GET", ""},
		{"POST with a buffered body", "POST", "payload"},
	}
	for _, front := range frontEnds {
		for _, tt := range tests {
			t.Run(front+"/"+tt.name, func(t *testing.T) {
				// The backend answers, then closes the connection without saying
				// so: the proxy's pooled connection is dead when it is reused.
				// (Each request waits until the backend has closed: one that
				// arrives while the backend is closing is lost to a race no
				// proxy can see, and a POST then gets 502, never a resend.)
				rb := newRawBackend(t, func(r *http.Request, n int) (string, bool) { return ok("n" + strconv.Itoa(n)), true })
				url := proxyURL(t, front, proxy.Config{}, rb.addr())
				for i := 1; i <= 3; i++ {
					require.Eventually(t, func() bool { return rb.closed.Load() == int64(i-1) }, 5*time.Second, time.Millisecond)
					var body io.Reader
					if tt.body != "" {
						body = strings.NewReader(tt.body)
					}
					req, _ := http.NewRequest(tt.method, url+"/", body)
					resp, err := http.DefaultClient.Do(req)
					require.NoError(t, err)
					got, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					assert.Equal(t, 200, resp.StatusCode, "request %d", i)
					assert.Equal(t, "n"+strconv.Itoa(i), string(got))
				}
				for i := range 3 {
					b, _ := io.ReadAll(rb.request(i).Body)
					assert.Equal(t, tt.body, string(b), "request %d reached the backend whole, once", i)
				}
			})
		}
	}
}

func TestForwardRequestHeaders(t *testing.T) {
	rb := newRawBackend(t, func(*http.Request, int) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nX-Reply: r\r\n\r\nok", false
	})
	url := proxyURL(t, "handoff", proxy.Config{}, rb.addr())
	req, _ := http.NewRequest("GET", url+"/p/a%20th?q=1&r=2", nil)
	req.Host = "site.test"
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "dropped")
	req.Header.Set("Proxy-Authorization", "dropped")
	req.Header.Set("X-Forwarded-For", "6.6.6.6") // an untrusted peer's claim is replaced
	req.Header.Set("Te", "trailers, deflate")
	req.Header.Add("X-Multi", "1")
	req.Header.Add("X-Multi", "2")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	io.ReadAll(resp.Body)
	resp.Body.Close()

	got := rb.request(0)
	assert.Equal(t, "/p/a%20th?q=1&r=2", got.RequestURI)
	assert.Equal(t, "site.test", got.Host)
	assert.Empty(t, got.Header.Get("X-Hop"))
	assert.Empty(t, got.Header.Get("Proxy-Authorization"))
	assert.Equal(t, "127.0.0.1", got.Header.Get("X-Forwarded-For"))
	assert.Equal(t, "site.test", got.Header.Get("X-Forwarded-Host"))
	assert.Equal(t, "http", got.Header.Get("X-Forwarded-Proto"))
	assert.Equal(t, "trailers", got.Header.Get("Te"))
	assert.Equal(t, []string{"1", "2"}, got.Header.Values("X-Multi"))

	assert.Equal(t, "r", resp.Header.Get("X-Reply"))
	assert.Empty(t, resp.Header.Get("X-Secret"), "headers named in the backend's Connection are dropped")
	assert.Empty(t, resp.Header.Get("Keep-Alive"))
}

func TestForwardResponses(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		raw      string
		wantCode int
		wantBody string
		wantTrl  string
	}{
		{"chunked with trailer", "GET", "HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n", 200, "abcde", "5"},
		{"HEAD has no body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 200, "", ""},
		{"103 Early Hints then 204", "GET", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 204, "", ""},
		{"HTTP/1.0 body until close", "GET", "HTTP/1.0 200 OK\r\n\r\nall of it", 200, "all of it", ""},
	}
	for _, front := range frontEnds {
		for _, tt := range tests {
			t.Run(front+"/"+tt.name, func(t *testing.T) {
				closeAfter := strings.HasPrefix(tt.raw, "HTTP/1.0")
				rb := newRawBackend(t, func(*http.Request, int) (string, bool) { return tt.raw, closeAfter })
				url := proxyURL(t, front, proxy.Config{}, rb.addr())
				for range 2 { // the second request checks the connection was left clean
					req, _ := http.NewRequest(tt.method, url+"/", nil)
					resp, err := http.DefaultClient.Do(req)
					require.NoError(t, err)
					body, err := io.ReadAll(resp.Body)
					require.NoError(t, err)
					resp.Body.Close()
					assert.Equal(t, tt.wantCode, resp.StatusCode)
					assert.Equal(t, tt.wantBody, string(body))
					assert.Equal(t, tt.wantTrl, resp.Trailer.Get("X-Sum"))
				}
			})
		}
	}
}

func TestForwardCutOffBodyAbortsTheClient(t *testing.T) {
	// Content-Length promises more than the backend sends before it closes.
	tests := []struct{ name, sent string }{
		{"cut before the headers were flushed", "short"},
		{"cut after the headers went out", strings.Repeat("x", 64<<10)},
	}
	for _, front := range frontEnds {
		for _, tt := range tests {
			t.Run(front+"/"+tt.name, func(t *testing.T) {
				rb := newRawBackend(t, func(*http.Request, int) (string, bool) {
					return "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + tt.sent, true
				})
				url := proxyURL(t, front, proxy.Config{}, rb.addr())
				resp, err := http.Get(url + "/")
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "the client sees the truncation")
				}
				require.Error(t, err, "a truncated response never looks complete")
			})
		}
	}
}

func TestForwardBackendTimeoutAndClientGone(t *testing.T) {
	hang := make(chan struct{})
	rb := newRawBackend(t, func(*http.Request, int) (string, bool) { <-hang; return "", true })
	t.Cleanup(func() { close(hang) }) // runs before the backend's cleanup waits for its goroutines
	url := proxyURL(t, "handoff", proxy.Config{Conn: upstream.Config{DialTimeout: time.Second, ResponseHeaderTimeout: 200 * time.Millisecond, MaxIdle: 8}}, rb.addr())

	t0 := time.Now()
	resp, err := http.Get(url + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
	assert.Less(t, time.Since(t0), 5*time.Second)

	// A client that gives up frees the proxy's goroutine long before the
	// response-header timeout would.
	url2, f2 := serveFront(t, proxy.Config{Conn: upstream.Config{DialTimeout: time.Second, ResponseHeaderTimeout: time.Hour, MaxIdle: 8}}, Config{}, rb.addr())
	client := &http.Client{Timeout: 100 * time.Millisecond}
	_, err = client.Get(url2 + "/")
	require.Error(t, err)
	closed := make(chan struct{})
	go func() { f2.Shutdown(context.Background()); close(closed) }() // Shutdown waits for the handler
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler still waits on the backend after the client left")
	}
}

func TestForwardChecksIdleConnectionBeforeAStreamedBody(t *testing.T) {
	// The body is larger than retry_body_limit, so it is streamed and cannot
	// be sent twice: the pool must not hand out a connection the backend has
	// already closed.
	rb := newRawBackend(t, func(r *http.Request, n int) (string, bool) { return ok("n" + strconv.Itoa(n)), true })
	url := proxyURL(t, "fast", proxy.Config{RetryBodyLimit: 16}, rb.addr())
	payload := strings.Repeat("p", 1000)
	for i := 1; i <= 3; i++ {
		resp, err := http.Post(url+"/", "text/plain", strings.NewReader(payload))
		require.NoError(t, err)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, "request %d", i)
		assert.Equal(t, "n"+strconv.Itoa(i), string(got))
		b, _ := io.ReadAll(rb.request(i - 1).Body)
		assert.Len(t, b, len(payload))
	}
	assert.Equal(t, int64(3), rb.conns.Load(), "a fresh connection for each request")
}

// HTTP/1.0 clients take the fast path: the request goes on as HTTP/1.1 (the
// backend connection is kept), a keep-alive client is told so, and a
// chunked response reaches it de-chunked, ended by the close.
func TestForwardHTTP10(t *testing.T) {
	rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) {
		if r.URL.Path == "/chunked" {
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n", false
		}
		return ok(r.Proto + " " + r.URL.Path), false
	})
	url, _ := fastFront(t, proxy.Config{}, Config{}, rb.addr())
	addr := strings.TrimPrefix(url, "http://")

	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for _, path := range []string{"/a", "/b"} {
		io.WriteString(c, "GET "+path+" HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n")
		req, _ := http.NewRequest("GET", path, nil)
		req.ProtoMajor, req.ProtoMinor = 1, 0
		resp, err := http.ReadResponse(br, req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		assert.Equal(t, "HTTP/1.1 "+path, string(body), "forwarded as HTTP/1.1")
		assert.Equal(t, "keep-alive", resp.Header.Get("Connection"))
		assert.Empty(t, resp.Header.Get("X-Front"), "served by the fast path")
	}
	assert.Equal(t, int64(1), rb.conns.Load(), "one backend connection for both")

	out := rawExchange(t, addr, "GET /chunked HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", 2*time.Second)
	assert.Contains(t, out, "Connection: close\r\n")
	assert.NotContains(t, out, "Transfer-Encoding")
	assert.True(t, strings.HasSuffix(out, "\r\n\r\nabcde"), "%q", out)

	out = rawExchange(t, addr, "GET /plain HTTP/1.0\r\nHost: h\r\n\r\n", 2*time.Second)
	assert.Contains(t, out, "Connection: close\r\n", "no keep-alive asked: closed after")
	assert.True(t, strings.HasSuffix(out, "HTTP/1.1 /plain"), "%q", out)
}

// TestForwardBodySizes: bodies around the sizes where copyBody changes
// course (the backend reader's 16 KiB, the 64 KiB body buffer) reach the
// client byte for byte: with Content-Length (the backend connection is then
// reused: nothing was read past the body), with stray bytes after it (never
// relayed; the connection is not reused) and until the backend closes.
func TestForwardBodySizes(t *testing.T) {
	sizes := []int{1, 16<<10 - 1, 16 << 10, 16<<10 + 1, 64 << 10, 64<<10 + 1, 200<<10 + 3}
	kinds := []struct {
		name      string
		resp      func(body string) (string, bool)
		wantConns int64 // backend connections for two requests; 0: not checked
	}{
		{"Content-Length", func(b string) (string, bool) { return ok(b), false }, 1},
		{"stray bytes after it", func(b string) (string, bool) { return ok(b) + "HTTP/1.1 200 OK\r\n\r\nstray", false }, 2},
		{"until the backend closes", func(b string) (string, bool) { return "HTTP/1.1 200 OK\r\n\r\n" + b, true }, 0},
	}
	for _, front := range frontEnds {
		for _, kind := range kinds {
			for _, size := range sizes {
				t.Run(fmt.Sprintf("%s/%s/%d bytes", front, kind.name, size), func(t *testing.T) {
					body := make([]byte, size)
					for i := range body {
						body[i] = byte('a' + i%23 + i/4096%3)
					}
					rb := newRawBackend(t, func(*http.Request, int) (string, bool) { return kind.resp(string(body)) })
					url := proxyURL(t, front, proxy.Config{}, rb.addr())
					var c net.Conn
					var br *bufio.Reader
					for range 2 {
						if c == nil {
							var err error
							c, err = net.Dial("tcp", strings.TrimPrefix(url, "http://"))
							require.NoError(t, err)
							defer c.Close()
							c.SetDeadline(time.Now().Add(10 * time.Second))
							br = bufio.NewReader(c)
						}
						io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
						resp, err := http.ReadResponse(br, nil)
						require.NoError(t, err)
						got, err := io.ReadAll(resp.Body)
						require.NoError(t, err)
						require.Equal(t, len(body), len(got))
						require.True(t, bytes.Equal(body, got), "the body as the backend sent it")
						if resp.Close {
							c = nil
						}
					}
					if c != nil { // nothing follows the response
						c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
						n, err := br.Read(make([]byte, 64))
						assert.Zero(t, n, "bytes after the response")
						assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
					}
					if kind.wantConns > 0 {
						assert.Eventually(t, func() bool { return rb.conns.Load() == kind.wantConns }, 5*time.Second, time.Millisecond,
							"backend connections for two requests: %d", rb.conns.Load())
					}
				})
			}
		}
	}
}

// TestAwaitHeadLastLook: when the wait for a response head expires, a head
// that waits on the socket by then is read, not turned into a 504 (on a
// starved process the runtime fires the expired deadline before it polls
// the network); nothing waiting, or half a head that never completes, still
// times out.
func TestAwaitHeadLastLook(t *testing.T) {
	const head = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	for _, tc := range []struct {
		name    string
		sent    string
		wantLen int // 0: a timeout
	}{
		{"the whole head waits", head, len(head)},
		{"nothing came", "", 0},
		{"half a head that never completes", head[:20], 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			t.Cleanup(func() { ln.Close() })
			accepted := make(chan net.Conn, 1)
			go func() {
				s, err := ln.Accept()
				if err == nil {
					accepted <- s
				}
			}()
			p := upstream.New(ln.Addr().String(), upstream.Config{DialTimeout: time.Second, MaxIdle: 1})
			t.Cleanup(p.Close)
			c, err := p.Dial(context.Background())
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			s := <-accepted
			t.Cleanup(func() { s.Close() })
			if tc.sent != "" {
				_, err = io.WriteString(s, tc.sent)
				require.NoError(t, err)
				for i := 0; !c.Arrived(); i++ { // on loopback, at once
					require.Less(t, i, 5000, "the bytes never reached the socket")
					time.Sleep(time.Millisecond)
				}
			}
			// The deadline expired before the reader looked.
			c.RD.Set(c, time.Now().Add(-time.Second))
			n, err := awaitHead(c)
			if tc.wantLen == 0 {
				require.Error(t, err)
				assert.True(t, isTimeout(err), "a timeout: %v", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantLen, n)
		})
	}
}

// TestForwardQueuesAtMaxConns: with max_conns_per_backend reached, a
// request waits for the busy connection and is sent on it when it comes
// back (no second connection), on the fast path and through net/http's
// Transport (handoff: the "reverseproxy" forwarder); one that waits longer than
// connection_timeout is answered 503 and does not count against the
// backend (with max_fails 1, a failure would take it down).
func TestForwardQueuesAtMaxConns(t *testing.T) {
	tests := []struct {
		name       string
		mode       string // proxyURL's
		queueWait  time.Duration
		wantStatus int
	}{
		{"served once the connection is free", "fast", 5 * time.Second, http.StatusOK},
		{"503 when none came free in time", "fast", 100 * time.Millisecond, http.StatusServiceUnavailable},
		{"handoff: served once the connection is free", "handoff", 5 * time.Second, http.StatusOK},
		{"handoff: 503 when none came free in time", "handoff", 100 * time.Millisecond, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) {
				if r.URL.Path == "/slow" {
					<-release
				}
				return ok(r.URL.Path), false
			})
			cfg := proxy.Config{MaxFails: 1, FailTimeout: time.Minute,
				Conn: upstream.Config{DialTimeout: tt.queueWait, ResponseHeaderTimeout: 10 * time.Second, MaxIdle: -1, MaxConns: 1}}
			url := proxyURL(t, tt.mode, cfg, rb.addr())
			get := func(path string) chan *http.Response {
				ch := make(chan *http.Response, 1)
				go func() {
					resp, err := http.Get(url + path)
					if !assert.NoError(t, err, path) {
						ch <- nil
						return
					}
					io.ReadAll(resp.Body)
					resp.Body.Close()
					ch <- resp
				}()
				return ch
			}
			slow := get("/slow")
			require.Eventually(t, func() bool { return rb.count() == 1 }, 5*time.Second, time.Millisecond, "the slow request reached the backend")
			queued := get("/queued")
			if tt.wantStatus == http.StatusOK {
				time.Sleep(50 * time.Millisecond)
				assert.Equal(t, 1, rb.count(), "the second request waits for the connection")
				close(release)
			}
			resp := <-queued
			require.NotNil(t, resp)
			assert.Equal(t, tt.wantStatus, resp.StatusCode, "the queued request")
			if tt.wantStatus != http.StatusOK {
				close(release)
			}
			require.NotNil(t, <-slow)
			assert.Equal(t, int64(1), rb.conns.Load(), "one connection to the backend")

			after := get("/after")
			resp = <-after
			require.NotNil(t, resp)
			assert.Equal(t, http.StatusOK, resp.StatusCode, "the backend was not taken down")
		})
	}
}
