package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		head   bool
		status int
		body   Body
		length int64
		close  bool
		kept   string // the head as forwarded, status line excluded
	}{
		{"plain", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\n", false, 200, Length, 2, false, "Content-Length: 2\r\nX-A: 1\r\n\r\n"},
		{"no reason phrase", "HTTP/1.1 204\r\n\r\n", false, 204, NoBody, 0, false, "\r\n"},
		{"empty reason phrase", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", false, 200, Length, 0, false, "Content-Length: 0\r\n\r\n"},
		{"chunked wins over Content-Length, and the backend is not trusted again", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n", false, 200, Chunked, 0, true, "Transfer-Encoding: chunked\r\n\r\n"},
		{"Connection and what it names dropped", "HTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nX-Secret: s\r\nKeep-Alive: 5\r\nX-B: 2\r\nContent-Length: 0\r\n\r\n", false, 200, Length, 0, true, "X-B: 2\r\nContent-Length: 0\r\n\r\n"},
		{"Connection never drops the framing", "HTTP/1.1 200 OK\r\nConnection: Content-Length, Transfer-Encoding\r\nContent-Length: 4\r\n\r\n", false, 200, Length, 4, false, "Content-Length: 4\r\n\r\n"},
		{"HTTP/1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, 200, Length, 0, true, "Content-Length: 0\r\n\r\n"},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false, 200, Length, 0, false, "Content-Length: 0\r\n\r\n"},
		{"same length twice: one kept", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", false, 200, Length, 3, false, "Content-Length: 3\r\n\r\n"},
		{"no length: until close", "HTTP/1.1 200 OK\r\n\r\n", false, 200, UntilClose, 0, true, "\r\n"},
		{"HEAD: no body whatever the length", "HTTP/1.1 200 OK\r\nContent-Length: 88\r\n\r\n", true, 200, NoBody, 0, false, "Content-Length: 88\r\n\r\n"},
		{"HEAD: no body, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, 200, NoBody, 0, false, "Transfer-Encoding: chunked\r\n\r\n"},
		{"HEAD: both framings, only chunked passed on", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", true, 200, NoBody, 0, true, "Transfer-Encoding: chunked\r\n\r\n"},
		{"204 with a length: dropped", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false, 204, NoBody, 0, false, "\r\n"},
		{"304 keeps its length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", false, 304, NoBody, 0, false, "Content-Length: 5\r\n\r\n"},
		{"304 with both framings: neither passed on", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", false, 304, NoBody, 0, true, "\r\n"},
		{"103", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", false, 103, NoBody, 0, false, "Link: </a>\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Response
			b := []byte(tt.raw)
			require.NoError(t, ParseResponse(b, tt.head, Limits{}, &r))
			assert.Equal(t, tt.status, r.Status)
			assert.Equal(t, tt.body, r.Body)
			if tt.body == Length {
				assert.Equal(t, tt.length, r.ContentLength)
			}
			assert.Equal(t, tt.close, r.Close)
			assert.Equal(t, tt.kept, kept(b, r.LineEnd, r.Drops()))
		})
	}
}

func TestParseResponseRefuses(t *testing.T) {
	bad := []string{
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 099 Low\r\n\r\n",
		"HTTP/1.1 2OO OK\r\n\r\n",
		"ICY 200 OK\r\n\r\n",
		"HTTP/1.1  200 OK\r\n\r\n",
		"HTTP/1.1 200 O\x00K\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 01\r\nContent-Length: 1\r\n\r\n",
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
		"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
		"HTTP/1.1 200 OK\r\n" + strings.Repeat("X: 1\r\n", 101) + "\r\n",
	}
	for _, raw := range bad {
		var r Response
		err := ParseResponse([]byte(raw), false, Limits{}, &r)
		assert.ErrorIs(t, err, ErrMalformedResponse, "%q", raw)
	}
}

// FuzzParseResponse holds the response parser to net/http's client: what
// it accepts, http.ReadResponse accepts with the same status and the same
// body (read with the framing the parser chose).
func FuzzParseResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s), false)
	}
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\n\r\n"), true)
	f.Fuzz(func(t *testing.T, b []byte, head bool) {
		n, err := HeadEnd(b)
		if err != nil || n < 0 {
			return
		}
		var r Response
		if ParseResponse(b[:n], head, Limits{}, &r) != nil || r.Informational() {
			return
		}
		method := "GET"
		if head {
			method = "HEAD"
		}
		req, _ := http.NewRequest(method, "http://h/", nil)
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), req)
		if err != nil {
			t.Fatalf("accepted %q, net/http refuses it: %v", b[:n], err)
		}
		if resp.StatusCode != r.Status {
			t.Fatalf("%q: status %d, net/http %d", b[:n], r.Status, resp.StatusCode)
		}
		got, gotErr := io.ReadAll(resp.Body)
		var want []byte
		var wantErr error
		rest := b[n:]
		switch r.Body {
		case Length:
			if int64(len(rest)) < r.ContentLength {
				return // net/http reports the short body as it sees fit
			}
			want = rest[:r.ContentLength]
		case UntilClose:
			want = rest
		case Chunked:
			want, wantErr = dechunk(rest)
		}
		if wantErr == nil && gotErr == nil && !bytes.Equal(got, want) {
			t.Fatalf("%q: body %q, net/http %q", b, want, got)
		}
		if (wantErr == nil) != (gotErr == nil) && !errors.Is(gotErr, io.ErrUnexpectedEOF) {
			// Our chunk rules are stricter than net/http's: we may refuse
			// what it reads, never the reverse.
			if wantErr == nil {
				t.Fatalf("%q: body %q accepted, net/http: %v", b, want, gotErr)
			}
		}
	})
}

// dechunk reads a complete chunked body with ChunkedScanner and the line
// parsers, returning its data.
func dechunk(b []byte) ([]byte, error) {
	var out []byte
	var s ChunkedScanner
	n, err := s.Scan(b)
	if err != nil {
		return nil, err
	}
	if !s.Done() {
		return nil, io.ErrUnexpectedEOF
	}
	b = b[:n]
	for {
		i := bytes.IndexByte(b, '\n')
		size, err := ParseChunkLine(b[:i+1])
		if err != nil {
			return nil, err
		}
		b = b[i+1:]
		if size == 0 {
			return out, nil
		}
		out = append(out, b[:size]...)
		b = b[size+2:]
	}
}

var responseSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n1;a=\"b\"\r\nx\r\n0\r\n\r\n",
	"HTTP/1.0 200 OK\r\n\r\nuntil close",
	"HTTP/1.1 204 No Content\r\nContent-Length: 4\r\n\r\nbody",
	"HTTP/1.1 304 Not Modified\r\n\r\n",
	"HTTP/1.1 200\r\nConnection: close, X-A\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n",
}
