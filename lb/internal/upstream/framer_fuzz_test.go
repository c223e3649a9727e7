package upstream

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"
)

// FuzzFramer checks the framer against net/http's ReadResponse: where the
// framer follows a response to its end, that end is where ReadResponse
// (with the body read out, 1xx responses skipped as the Transport does)
// leaves the stream; the rest are the stale bytes. Fed whole or in two
// pieces, the framer finds the same end.
func FuzzFramer(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nX",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nab",
	} {
		f.Add(s, false, 7)
		f.Add(s, true, 20)
	}
	f.Fuzz(func(t *testing.T, s string, head bool, cut int) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		var whole framer
		whole.request([]byte(method + " / HTTP/1.1\r\n"))
		n := whole.read([]byte(s))
		if n > len(s) || n < 0 {
			t.Fatalf("read %d of %d bytes", n, len(s))
		}
		if cut >= 0 && cut <= len(s) {
			var split framer
			split.request([]byte(method + " / HTTP/1.1\r\n"))
			k := split.read([]byte(s[:cut]))
			if k == cut {
				k += split.read([]byte(s[cut:]))
			}
			if !whole.lost && !split.lost && k != n {
				t.Fatalf("whole: %d bytes, in two pieces (at %d): %d", n, cut, k)
			}
		}
		if whole.lost || whole.answering() {
			return // gave up, or the response has not ended within s
		}
		rd := bytes.NewReader([]byte(s))
		br := bufio.NewReader(rd)
		req := &http.Request{Method: method}
		for {
			resp, err := http.ReadResponse(br, req)
			if err != nil {
				t.Fatalf("the framer found a response of %d bytes that ReadResponse refuses: %v", n, err)
			}
			_, err = io.Copy(io.Discard, resp.Body)
			if err != nil {
				t.Fatalf("the framer found a response of %d bytes whose body ReadResponse cannot read: %v", n, err)
			}
			if resp.StatusCode >= 200 || resp.StatusCode == 101 {
				break
			}
		}
		if used := len(s) - rd.Len() - br.Buffered(); used != n {
			t.Fatalf("the framer ends the response at %d, ReadResponse at %d: %q", n, used, s)
		}
	})
}
