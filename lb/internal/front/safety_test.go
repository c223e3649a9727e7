package front

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/h1"
	"github.com/lblab/lblab/lb/internal/proxy"
	"github.com/lblab/lblab/lb/internal/upstream"
)

// The classes of issue 17: a backend or a client that misbehaves never
// makes another client get the wrong response, never gets a request sent
// twice, never has a response dropped or withheld. Each test runs through
// the fast path and through the hand-off to net/http and ReverseProxy.
// (lb/test/h1safety runs the whole corpus; these are one representative per
// class, kept beside the code they hold to.)

// echo answers a request with its path as the body.
func echo(r *http.Request) string { return ok(r.URL.Path) }

// script is a backend that answers the request whose path is victim with
// raw (then closes when closeAfter), and every other request with echo.
func script(t *testing.T, victim, raw string, closeAfter bool) *rawBackend {
	return newRawBackend(t, func(r *http.Request, _ int) (string, bool) {
		if r.URL.Path == victim {
			return raw, closeAfter
		}
		return echo(r), false
	})
}

// get sends one request on a new connection and returns the response.
func get(t *testing.T, url, method, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url+path, nil)
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// next checks that clients after the victim each get their own response.
func next(t *testing.T, url string) {
	t.Helper()
	for i := range 3 {
		path := "/next" + strconv.Itoa(i)
		resp, body := get(t, url, "GET", path)
		assert.Equal(t, 200, resp.StatusCode, "client %d after the victim", i)
		assert.Equal(t, path, body, "client %d after the victim got someone else's response", i)
	}
}

// Class 1: a backend connection goes back to the pool only when its
// response ended exactly on its framing.
func TestSafetyLeftoverBytesNeverReachTheNextClient(t *testing.T) {
	smuggled := "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nsmuggled!"
	tests := []struct {
		name, method, raw string
		status            int
	}{
		{"HEAD answered with a body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled, 200},
		{"204 with a body", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled, 204},
		{"304 with a body", "GET", "HTTP/1.1 304 Not Modified\r\n\r\n" + smuggled, 304},
		{"more bytes than Content-Length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + smuggled, 200},
		{"bytes after the chunked terminator", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" + smuggled, 200},
		{"103 with a body", "GET", "HTTP/1.1 103 Early Hints\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 502},
	}
	for _, mode := range frontEnds {
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				rb := script(t, "/victim", tt.raw, false)
				url := proxyURL(t, mode, proxy.Config{}, rb.addr())
				resp, body := get(t, url, tt.method, "/victim")
				if tt.status != 502 || resp.StatusCode != 200 { // 103 with a body: net/http may read it as 200 "ok"
					assert.Equal(t, tt.status, resp.StatusCode)
				}
				assert.NotContains(t, body, "smuggled")
				next(t, url)
			})
		}
	}
}

// Class 1, the unsolicited response: bytes that arrive on an idle pooled
// connection close it.
func TestSafetyUnsolicitedResponseOnAnIdleConnection(t *testing.T) {
	for _, mode := range frontEnds {
		t.Run(mode, func(t *testing.T) {
			var mu sync.Mutex
			var conns []net.Conn
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			t.Cleanup(func() {
				ln.Close()
				mu.Lock()
				for _, c := range conns {
					c.Close()
				}
				mu.Unlock()
			})
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
					go func() {
						br := bufio.NewReader(c)
						for {
							r, err := http.ReadRequest(br)
							if err != nil {
								return
							}
							io.WriteString(c, echo(r))
							if r.URL.Path == "/first" {
								time.Sleep(50 * time.Millisecond) // idle in the pool by now
								io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 7\r\n\r\ntimeout")
							}
						}
					}()
				}
			}()
			url := proxyURL(t, mode, proxy.Config{}, ln.Addr().String())
			_, body := get(t, url, "GET", "/first")
			assert.Equal(t, "/first", body)
			time.Sleep(150 * time.Millisecond) // the 408 has arrived on the idle connection
			next(t, url)
		})
	}
}

// rawConv writes raw on one connection and reads len(want) responses,
// returning their status codes and bodies.
func rawConv(t *testing.T, url, raw string, n int) (statuses []int, bodies []string, c net.Conn, br *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, raw)
	br = bufio.NewReader(c)
	for len(statuses) < n {
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err, "response %d of %d", len(statuses)+1, n)
		if resp.StatusCode == http.StatusContinue {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
		bodies = append(bodies, string(b))
	}
	return statuses, bodies, c, br
}

// Class 2: everything answered is flushed before a hand-off.
func TestSafetyPipelinedResponsesAreNotDropped(t *testing.T) {
	tests := []struct {
		name   string
		second string
		want   []string
	}{
		{"then HTTP/1.0", "GET /second HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", []string{"/first", "/second"}},
		{"then an empty line and a request", "\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n", []string{"/first", "/second"}},
		{"then a status path", "GET /__health__ HTTP/1.1\r\nHost: a\r\n\r\n", []string{"/first", "status page"}},
		{"then Expect: 100-continue", "POST /second HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", []string{"/first", "/second"}},
		{"then a malformed request", "GET /second HTTP/1.1\r\nHost : a\r\n\r\n", []string{"/first", `{"error":"Bad Request","status":400}` + "\n"}},
	}
	for _, mode := range frontEnds {
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) { return echo(r), false })
				url, _ := serveFront(t, proxy.Config{}, Config{Fast: mode == "fast", Handoff: func(p string) bool { return p == "/__health__" }}, rb.addr())
				raw := "GET /first HTTP/1.1\r\nHost: a\r\n\r\n" + tt.second
				_, bodies, _, _ := rawConv(t, url, raw, len(tt.want))
				assert.Equal(t, tt.want, bodies, "answers lost or out of order")
			})
		}
	}
}

// Class 3: a complete response is never held back for a next request that
// has not fully arrived.
func TestSafetyResponseNotWithheldForAnIncompleteNextRequest(t *testing.T) {
	for _, mode := range frontEnds {
		t.Run(mode, func(t *testing.T) {
			rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) { return echo(r), false })
			url, _ := serveFront(t, proxy.Config{}, Config{Fast: mode == "fast", ReadHeaderTimeout: 10 * time.Second}, rb.addr())
			c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
			require.NoError(t, err)
			defer c.Close()
			io.WriteString(c, "GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET /sec")
			c.SetReadDeadline(time.Now().Add(2 * time.Second)) // far below read_header_timeout
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			require.NoError(t, err, "the first response waits for the second request")
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, "/first", string(body))
		})
	}
}

// Class 4: a request whose bytes the backend read is never sent again.
func TestSafetyPostIsNeverSentTwice(t *testing.T) {
	for _, mode := range frontEnds {
		t.Run(mode, func(t *testing.T) {
			rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) {
				if r.URL.Path == "/pay" {
					return "", true // read it whole, close without answering
				}
				return echo(r), false
			})
			url := proxyURL(t, mode, proxy.Config{Retries: 2}, rb.addr())
			get(t, url, "GET", "/warm") // a pooled connection to reuse
			req, _ := http.NewRequest("POST", url+"/pay", strings.NewReader("amount=1"))
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
			pays := 0
			for i := range rb.count() {
				if rb.request(i).URL.Path == "/pay" {
					pays++
				}
			}
			assert.Equal(t, 1, pays, "the backend saw the POST more than once")
		})
	}
}

// Class 4, the other side: an idempotent request on a reused connection
// that ended with no response is sent again, and a POST goes through when
// the pooled connection had visibly closed before it was sent.
func TestSafetyGetResentAfterTheBackendDropsIt(t *testing.T) {
	for _, mode := range frontEnds {
		t.Run(mode, func(t *testing.T) {
			dropped := false
			var mu sync.Mutex
			rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) {
				mu.Lock()
				defer mu.Unlock()
				if r.URL.Path == "/again" && !dropped {
					dropped = true
					return "", true
				}
				return echo(r), false
			})
			url := proxyURL(t, mode, proxy.Config{}, rb.addr())
			get(t, url, "GET", "/warm")
			resp, body := get(t, url, "GET", "/again")
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "/again", body)
		})
	}
}

// Class 5: a backend's Connection naming a framing header drops only the
// name; the framing stays and the client finds the end of the body.
func TestSafetyConnectionNeverDropsTheFraming(t *testing.T) {
	tests := []struct{ name, raw string }{
		{"Content-Length", "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nhello"},
		{"Transfer-Encoding", "HTTP/1.1 200 OK\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
	}
	for _, mode := range frontEnds {
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				rb := script(t, "/v", tt.raw, false)
				url := proxyURL(t, mode, proxy.Config{}, rb.addr())
				statuses, bodies, _, _ := rawConv(t, url, "GET /v HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n", 2)
				assert.Equal(t, []int{200, 200}, statuses)
				assert.Equal(t, []string{"hello", "/after"}, bodies, "the client lost the end of the body")
			})
		}
	}
}

// Classes 6, 10 and the malformed chunk lines: on the fast path a
// malformed backend response is a 502 at once, never forwarded and never
// waited on. (ReverseProxy's Transport reads such responses its own way and
// sends what it parsed, re-written: the clients after are unaffected.)
func TestSafetyMalformedResponsesAre502(t *testing.T) {
	tests := []struct{ name, raw string }{
		{"bare LF in the status line", "HTTP/1.1 200 OK\nSet-Cookie: injected=1\r\nContent-Length: 2\r\n\r\nok"},
		{"bare CR in the status line", "HTTP/1.1 200 OK\rSet-Cookie: injected=1\r\nContent-Length: 2\r\n\r\nok"},
		{"bare-LF line ends", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok"},
		{"junk after a chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 junk\r\nok\r\n0\r\n\r\n"},
		{"trailer without a colon", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nbad trailer\r\n\r\n"},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 2\r\n\r\nok"},
		{"NUL in a field", "HTTP/1.1 200 OK\r\nX-A: 1\x002\r\nContent-Length: 2\r\n\r\nok"},
	}
	for _, mode := range frontEnds {
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				rb := script(t, "/v", tt.raw, false)
				url := proxyURL(t, mode, proxy.Config{Conn: upstream.Config{DialTimeout: time.Second, ResponseHeaderTimeout: 10 * time.Second, MaxIdle: 8}}, rb.addr())
				t0 := time.Now()
				req, _ := http.NewRequest("GET", url+"/v", nil)
				resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
				if mode == "fast" {
					require.NoError(t, err)
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					assert.Equal(t, http.StatusBadGateway, resp.StatusCode, "%q", body)
					assert.Empty(t, resp.Header.Get("Set-Cookie"))
				} else if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				assert.Less(t, time.Since(t0), 5*time.Second, "waited for request_timeout")
				next(t, url)
			})
		}
	}
}

// Class 7: one Content-Length reaches the backend, whatever the client sent.
func TestSafetyOneContentLength(t *testing.T) {
	for _, mode := range frontEnds {
		t.Run(mode, func(t *testing.T) {
			rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) { return echo(r), false })
			url := proxyURL(t, mode, proxy.Config{}, rb.addr())
			statuses, _, _, _ := rawConv(t, url, "POST /lz HTTP/1.0\r\nContent-Length: 003\r\n\r\nabc", 1)
			assert.Equal(t, []int{200}, statuses)
			require.Equal(t, 1, rb.count())
			assert.Equal(t, []string{"3"}, rb.request(0).Header.Values("Content-Length"))
			b, _ := io.ReadAll(rb.request(0).Body)
			assert.Equal(t, "abc", string(b))
		})
	}
}

// Class 8: the proxy's own answer to HEAD has no body.
func TestSafetyErrorToHeadHasNoBody(t *testing.T) {
	for _, mode := range frontEnds {
		t.Run(mode, func(t *testing.T) {
			rb := script(t, "/v", "HTTP/1.1 2OO Broken\r\n\r\n", true)
			url := proxyURL(t, mode, proxy.Config{}, rb.addr())
			c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
			require.NoError(t, err)
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, "HEAD /v HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n")
			br := bufio.NewReader(c)
			head, _ := http.NewRequest("HEAD", "/v", nil)
			resp, err := http.ReadResponse(br, head)
			require.NoError(t, err)
			assert.Equal(t, 502, resp.StatusCode)
			// What follows is the next response, not the 502's body.
			resp, err = http.ReadResponse(br, nil)
			require.NoError(t, err, "a body followed the 502 to HEAD")
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, "/after", string(body))
		})
	}
}

// Class 9: a request larger than the write buffer, on a pooled connection
// the backend had closed, is sent on a new one.
func TestSafetyLargeRequestOnAStalePooledConnection(t *testing.T) {
	for _, mode := range frontEnds {
		t.Run(mode, func(t *testing.T) {
			rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) { return echo(r), true }) // closes after each
			url := proxyURL(t, mode, proxy.Config{}, rb.addr())
			get(t, url, "GET", "/warm")
			req, _ := http.NewRequest("GET", url+"/big", nil)
			req.Header.Set("Cookie", "c="+strings.Repeat("x", 9000))
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "/big", string(body))
		})
	}
}

// The client side: what HAProxy refuses, refused with its status, never
// forwarded, and the connection closed after.
func TestSafetyRefusedRequests(t *testing.T) {
	tests := []struct {
		name, raw string
		status    int
	}{
		{"TE and CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400},
		{"oversized chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", 400},
		{"10,000 header lines", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: 1\r\n", 10000) + "\r\n", 400},
		{"invalid %-escape", "GET /%0 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"invalid Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501},
		{"unknown coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
	}
	for _, mode := range frontEnds {
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) { return echo(r), false })
				url, _ := serveFront(t, proxy.Config{}, Config{Fast: mode == "fast", MaxHeaderBytes: 1 << 20}, rb.addr())
				statuses, _, _, br := rawConv(t, url, tt.raw+"GET /after HTTP/1.1\r\nHost: a\r\n\r\n", 1)
				assert.Equal(t, []int{tt.status}, statuses)
				_, err := br.ReadByte()
				assert.ErrorIs(t, err, io.EOF, "the connection closes after a refusal")
				assert.Zero(t, rb.count(), "a refused request reached the backend")
			})
		}
	}
}

// The client side, slow: a head that does not arrive within
// read_header_timeout is answered 408 (net/http answers 400, HAProxy 408).
func TestSafetySlowHeadIs408(t *testing.T) {
	for _, mode := range frontEnds {
		t.Run(mode, func(t *testing.T) {
			url, _ := serveFront(t, proxy.Config{}, Config{Fast: mode == "fast", ReadHeaderTimeout: 200 * time.Millisecond})
			statuses, _, _, _ := rawConv(t, url, "GET / HTTP/1.1\r\nHost: a\r\n", 1)
			assert.Equal(t, []int{408}, statuses)
		})
	}
}

// max_header_lines bounds request heads (400) and response heads (502).
func TestSafetyHeaderLineBound(t *testing.T) {
	lines := func(n int) string { return strings.Repeat("X-L: 1\r\n", n) }
	rb := newRawBackend(t, func(r *http.Request, _ int) (string, bool) {
		if r.URL.Path == "/many" {
			return "HTTP/1.1 200 OK\r\n" + lines(11) + "Content-Length: 0\r\n\r\n", false
		}
		return echo(r), false
	})
	url, _ := serveFront(t, proxy.Config{}, Config{Fast: true, Limits: h1.Limits{MaxHeaders: 12}}, rb.addr())
	statuses, _, _, _ := rawConv(t, url, "GET /ok HTTP/1.1\r\nHost: a\r\n"+lines(11)+"\r\n", 1)
	assert.Equal(t, []int{200}, statuses, "12 lines are allowed")
	statuses, _, _, _ = rawConv(t, url, "GET /ok HTTP/1.1\r\nHost: a\r\n"+lines(12)+"\r\n", 1)
	assert.Equal(t, []int{400}, statuses, "13 are not")
	statuses, _, _, _ = rawConv(t, url, "GET /many HTTP/1.1\r\nHost: a\r\n\r\n", 1)
	assert.Equal(t, []int{200}, statuses, "a response with 12 lines passes")
}
