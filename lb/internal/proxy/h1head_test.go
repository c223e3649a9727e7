package proxy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRequest(t *testing.T) {
	const limit = 100
	fast := []struct {
		name, raw  string
		method     string
		target     string
		length     int64
		close      bool
		xff        int
		drops      int
		idempotent bool
	}{
		{"GET", "GET /a?b=c HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/a?b=c", 0, false, 0, 0, false},
		{"POST with a body", "POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 12\r\n\r\n", "POST", "/", 12, false, 0, 0, false},
		{"close among options", "GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", "GET", "/", 0, true, 0, 1, false},
		{"hop-by-hop and forwarded lines dropped", "GET / HTTP/1.1\r\nHost: h\r\nKeep-Alive: 5\r\nProxy-Authorization: x\r\nForwarded: for=a\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Host: e\r\nX-Forwarded-Proto: https\r\nProxy-Connection: close\r\n\r\n", "GET", "/", 0, false, 1, 7, false},
		{"Idempotency-Key", "POST / HTTP/1.1\r\nHost: h\r\nIdempotency-Key: 7\r\n\r\n", "POST", "/", 0, false, 0, 0, true},
		{"value whitespace trimmed, obs-text kept", "GET / HTTP/1.1\r\nHost:\th \r\nX-Name: caf\xc3\xa9\r\n\r\n", "GET", "/", 0, false, 0, 0, false},
	}
	for _, tt := range fast {
		t.Run("fast/"+tt.name, func(t *testing.T) {
			b := []byte(tt.raw)
			require.Equal(t, len(b), headEnd(b))
			var h reqHead
			require.True(t, parseRequest(b, limit, &h))
			assert.Equal(t, tt.method, string(h.method))
			assert.Equal(t, tt.target, string(h.target))
			assert.Equal(t, "h", string(h.host))
			assert.Equal(t, tt.length, h.contentLength)
			assert.Equal(t, tt.close, h.close)
			assert.Equal(t, tt.xff, h.nxff)
			assert.Equal(t, tt.drops, h.ndrops)
			assert.Equal(t, tt.idempotent, h.idemKey)
		})
	}
	notFast := []struct{ name, raw string }{
		{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: h\r\n\r\n"},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\n"},
		{"absolute-form", "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"CONNECT", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"},
		{"lower-case method", "get / HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"no Host", "GET / HTTP/1.1\r\n\r\n"},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n"},
		{"empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n"},
		{"chunked upload", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"two Content-Lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"},
		{"signed Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n"},
		{"body over the limit", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n"},
		{"Upgrade", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"},
		{"Expect", "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n"},
		{"TE", "GET / HTTP/1.1\r\nHost: h\r\nTE: trailers\r\n\r\n"},
		{"Connection names a header", "GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Hop\r\n\r\n"},
		{"space before the colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n"},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n"},
		{"bare LF", "GET / HTTP/1.1\nHost: h\r\n\r\n"},
		{"control character in a value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n"},
		{"space in the target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"five X-Forwarded-For lines", "GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X-Forwarded-For: 1.1.1.1\r\n", 5) + "\r\n"},
	}
	for _, tt := range notFast {
		t.Run("not fast/"+tt.name, func(t *testing.T) {
			b := []byte(tt.raw)
			if n := headEnd(b); n > 0 {
				b = b[:n]
			}
			var h reqHead
			assert.False(t, parseRequest(b, limit, &h))
		})
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		status  int
		length  int64
		chunked bool
		close   bool
		kept    string // the head as forwarded, status line excluded
	}{
		{"plain", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\n", 200, 2, false, false, "Content-Length: 2\r\nX-A: 1\r\n\r\n"},
		{"no reason phrase", "HTTP/1.1 204\r\n\r\n", 204, -1, false, false, "\r\n"},
		{"chunked wins over Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n", 200, -1, true, false, "Transfer-Encoding: chunked\r\n\r\n"},
		{"Connection and what it names dropped", "HTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nX-Secret: s\r\nKeep-Alive: 5\r\nX-B: 2\r\n\r\n", 200, -1, false, true, "X-B: 2\r\n\r\n"},
		{"HTTP/1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 200, 0, false, true, "Content-Length: 0\r\n\r\n"},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 200, 0, false, false, "Content-Length: 0\r\n\r\n"},
		{"same length twice", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", 200, 3, false, false, "Content-Length: 3\r\nContent-Length: 3\r\n\r\n"},
	}
	var lines []headerAt
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h respHead
			b := []byte(tt.raw)
			require.NoError(t, parseResponse(b, &h, &lines))
			assert.Equal(t, tt.status, h.status)
			assert.Equal(t, tt.length, h.contentLength)
			assert.Equal(t, tt.chunked, h.chunked)
			assert.Equal(t, tt.close, h.close)
			var kept strings.Builder
			from := h.lineEnd
			for _, d := range h.drops[:h.ndrops] {
				kept.Write(b[from:d.from])
				from = d.to
			}
			kept.Write(b[from:])
			assert.Equal(t, tt.kept, kept.String())
		})
	}
	bad := []string{
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 099 Low\r\n\r\n",
		"ICY 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
	}
	for _, raw := range bad {
		var h respHead
		assert.ErrorIs(t, parseResponse([]byte(raw), &h, &lines), errBadResponse, "%q", raw)
	}
}

func TestChunkSize(t *testing.T) {
	tests := []struct {
		line string
		want int64
		ok   bool
	}{
		{"0\r\n", 0, true},
		{"1a\r\n", 26, true},
		{"FF;ext=1\r\n", 255, true},
		{"10 \r\n", 16, true},
		{"\r\n", 0, false},
		{"x1\r\n", 0, false},
		{"-1\r\n", 0, false},
		{"1000000000000000\r\n", 0, false}, // 16 hex digits overflow the bound
	}
	for _, tt := range tests {
		got, ok := chunkSize([]byte(tt.line))
		assert.Equal(t, tt.ok, ok, "%q", tt.line)
		if tt.ok {
			assert.Equal(t, tt.want, got, "%q", tt.line)
		}
	}
}

// FuzzParseRequest checks that the request parser never panics and that
// what it accepts is consistent: spans inside the head, in order, the body
// length within the limit.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
	f.Add([]byte("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\nX-Forwarded-For: a\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: h\r\nKeep-Alive: 1\r\nProxy-Connection: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := headEnd(b)
		if n < 0 {
			return
		}
		b = b[:n]
		var h reqHead
		if !parseRequest(b, 1<<20, &h) {
			return
		}
		if h.contentLength < 0 || h.contentLength > 1<<20 || len(h.method) == 0 || h.target[0] != '/' || len(h.host) == 0 {
			t.Fatalf("accepted %q as %+v", b, h)
		}
		prev := 0
		for _, d := range h.drops[:h.ndrops] {
			if d.from < prev || d.to <= d.from || d.to > len(b)-2 {
				t.Fatalf("bad drop span %+v in %q", d, b)
			}
			prev = d.to
		}
	})
}
