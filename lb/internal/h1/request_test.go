package h1

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kept returns the head's lines after the start line, less the dropped ones.
func kept(b []byte, from int, drops []Span) string {
	var s strings.Builder
	for _, d := range drops {
		s.Write(b[from:d.From])
		from = d.To
	}
	s.Write(b[from:])
	return s.String()
}

func TestHeadEnd(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
		err  bool
	}{
		{"complete", "GET / HTTP/1.1\r\nHost: h\r\n\r\nrest", 27, false},
		{"incomplete", "GET / HTTP/1.1\r\nHost: h\r\n", -1, false},
		{"ends in CR", "GET / HTTP/1.1\r\nHost: h\r\n\r", -1, false},
		{"bare LF line end", "GET / HTTP/1.1\nHost: h\r\n\r\n", 0, true},
		{"bare LF head end", "HTTP/1.1 200 OK\r\nContent-Length: 0\n\n", 0, true},
		{"bare CR", "GET / HTTP/1.1\rX\r\n\r\n", 0, true},
		{"bare CR before more bytes", "GET / HTTP/1.1\rX", 0, true},
		{"empty start line", "\r\nGET / HTTP/1.1\r\n\r\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := HeadEnd([]byte(tt.in))
			assert.Equal(t, tt.err, err != nil, "%v", err)
			if !tt.err {
				assert.Equal(t, tt.want, n)
			}
		})
	}
}

func TestParseRequestAccepts(t *testing.T) {
	tests := []struct {
		name, raw  string
		method     string
		target     string
		form       Form
		minor      int
		body       Body
		length     int64
		close      bool
		xff        int
		kept       string // the header lines forwarded
		idempotent bool
	}{
		{"GET", "GET /a?b=c HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/a?b=c", OriginForm, 1, NoBody, 0, false, 0, "Host: h\r\n\r\n", true},
		{"POST with a body", "POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 12\r\n\r\n", "POST", "/", OriginForm, 1, Length, 12, false, 0, "Host: h\r\n\r\n", false},
		{"same length twice, folded", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", "POST", "/", OriginForm, 1, Length, 3, false, 0, "Host: h\r\n\r\n", false},
		{"leading zeros", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 003\r\n\r\n", "POST", "/", OriginForm, 1, Length, 3, false, 0, "Host: h\r\n\r\n", false},
		{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", "POST", "/", OriginForm, 1, Chunked, 0, false, 0, "Host: h\r\n\r\n", false},
		{"close among options", "GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", "GET", "/", OriginForm, 1, NoBody, 0, true, 0, "Host: h\r\n\r\n", true},
		{"hop-by-hop and forwarded lines dropped", "GET / HTTP/1.1\r\nHost: h\r\nKeep-Alive: 5\r\nProxy-Authorization: x\r\nForwarded: for=a\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Host: e\r\nX-Forwarded-Proto: https\r\nProxy-Connection: close\r\nX-Keep: 1\r\n\r\n", "GET", "/", OriginForm, 1, NoBody, 0, false, 1, "Host: h\r\nX-Keep: 1\r\n\r\n", true},
		{"Connection names a header: dropped, framing kept", "POST / HTTP/1.1\r\nHost: h\r\nX-Hop: 1\r\nContent-Length: 2\r\nConnection: X-Hop, Content-Length, Host\r\nX-Keep: 2\r\n\r\n", "POST", "/", OriginForm, 1, Length, 2, false, 0, "Host: h\r\nX-Keep: 2\r\n\r\n", false},
		{"Idempotency-Key", "POST / HTTP/1.1\r\nHost: h\r\nIdempotency-Key: 7\r\n\r\n", "POST", "/", OriginForm, 1, NoBody, 0, false, 0, "Host: h\r\nIdempotency-Key: 7\r\n\r\n", true},
		{"value whitespace trimmed, obs-text kept", "GET / HTTP/1.1\r\nHost:\th \r\nX-Name: caf\xc3\xa9\r\n\r\n", "GET", "/", OriginForm, 1, NoBody, 0, false, 0, "Host:\th \r\nX-Name: caf\xc3\xa9\r\n\r\n", true},
		{"HTTP/1.0 closes by default", "GET / HTTP/1.0\r\n\r\n", "GET", "/", OriginForm, 0, NoBody, 0, true, 0, "\r\n", true},
		{"HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET", "/", OriginForm, 0, NoBody, 0, false, 0, "\r\n", true},
		{"absolute-form", "GET http://h:8080/x HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "http://h:8080/x", AbsoluteForm, 1, NoBody, 0, false, 0, "Host: h\r\n\r\n", true},
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "OPTIONS", "*", AsteriskForm, 1, NoBody, 0, false, 0, "Host: h\r\n\r\n", true},
		{"CONNECT", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", "CONNECT", "h:443", AuthorityForm, 1, NoBody, 0, false, 0, "Host: h:443\r\n\r\n", false},
		{"IPv6 Host", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", "GET", "/", OriginForm, 1, NoBody, 0, false, 0, "Host: [::1]:80\r\n\r\n", true},
		{"lower-case method is a token", "get / HTTP/1.1\r\nHost: h\r\n\r\n", "get", "/", OriginForm, 1, NoBody, 0, false, 0, "Host: h\r\n\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.raw)
			n, err := HeadEnd(b)
			require.NoError(t, err)
			require.Equal(t, len(b), n)
			var r Request
			require.NoError(t, ParseRequest(b, Limits{}, &r))
			assert.Equal(t, tt.method, string(r.Method))
			assert.Equal(t, tt.target, string(r.Target))
			assert.Equal(t, tt.form, r.Form)
			assert.Equal(t, tt.minor, r.Minor)
			assert.Equal(t, tt.body, r.Body)
			if tt.body == Length {
				assert.Equal(t, tt.length, r.ContentLength)
			}
			assert.Equal(t, tt.close, r.Close)
			assert.Equal(t, tt.xff, r.NXFF)
			assert.Equal(t, tt.idempotent, r.Idempotent())
			assert.Equal(t, tt.kept, kept(b, bytes.Index(b, []byte("\r\n"))+2, r.Drops()))
		})
	}
}

func TestParseRequestRefuses(t *testing.T) {
	tests := []struct {
		name, raw string
		status    int
	}{
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n", 400},
		{"Host with a slash", "GET / HTTP/1.1\r\nHost: h/x\r\n\r\n", 400},
		{"Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"Host with userinfo", "GET / HTTP/1.1\r\nHost: u@h\r\n\r\n", 400},
		{"Host port not digits", "GET / HTTP/1.1\r\nHost: h:8x\r\n\r\n", 400},
		{"TE and CL", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
		{"CL and TE", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"TE not chunked last", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
		{"TE gzip, chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
		{"TE twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"TE obfuscated", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", 400},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"two different lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
		{"the same length written two ways", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 003\r\nContent-Length: 3\r\n\r\n", 400},
		{"length list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n", 400},
		{"signed length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n", 400},
		{"hex length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x1\r\n\r\n", 400},
		{"empty length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n", 400},
		{"huge length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
		{"space before the colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n", 400},
		{"line without colon", "GET / HTTP/1.1\r\nHost: h\r\nX-A\r\n\r\n", 400},
		{"empty name", "GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n", 400},
		{"NUL in a value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n", 400},
		{"DEL in a value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7fb\r\n\r\n", 400},
		{"non-token name", "GET / HTTP/1.1\r\nHost: h\r\nX(A): 1\r\n\r\n", 400},
		{"space in the target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"bad %-escape", "GET /%0 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"bad %-escape letters", "GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"fragment", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"unknown scheme", "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"asterisk for GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"method with a slash", "G/T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
		{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505},
		{"HTTP/0.9", "GET /\r\n\r\n", 400},
		{"lower-case version", "GET / http/1.1\r\nHost: h\r\n\r\n", 400},
		{"unknown expectation", "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", 417},
		{"too many fields", "GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X-A: 1\r\n", 100) + "\r\n", 400},
		{"too many hop-by-hop lines", "GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("Keep-Alive: 1\r\n", 30) + "\r\n", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			err := ParseRequest([]byte(tt.raw), Limits{}, &r)
			var he *Error
			require.True(t, errors.As(err, &he), "accepted %q", tt.raw)
			assert.Equal(t, tt.status, he.Status, he.Reason)
		})
	}
}

// FuzzParseRequest holds the request parser to net/http's: whatever it
// accepts, http.ReadRequest accepts too, with the same method, target,
// Host, framing, Close and number of field values; and its drops are spans
// of whole lines, in order.
func FuzzParseRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := HeadEnd(b)
		if err != nil || n < 0 {
			return
		}
		b = b[:n]
		var r Request
		if ParseRequest(b, Limits{}, &r) != nil {
			return
		}
		hr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			if r.Form == AbsoluteForm || r.Form == AuthorityForm || r.Form == AsteriskForm {
				return // net/http's URL parsing is stricter on these forms; they go to net/http anyway
			}
			t.Fatalf("accepted %q, net/http refuses it: %v", b, err)
		}
		if hr.Method != string(r.Method) || hr.RequestURI != string(r.Target) {
			t.Fatalf("%q: method/target %q %q, net/http %q %q", b, r.Method, r.Target, hr.Method, hr.RequestURI)
		}
		if r.Form == OriginForm && hr.Host != string(r.Host) {
			t.Fatalf("%q: Host %q, net/http %q", b, r.Host, hr.Host)
		}
		switch r.Body {
		case NoBody:
			if hr.ContentLength != 0 || len(hr.TransferEncoding) > 0 {
				t.Fatalf("%q: no body, net/http length %d TE %v", b, hr.ContentLength, hr.TransferEncoding)
			}
		case Length:
			if hr.ContentLength != r.ContentLength {
				t.Fatalf("%q: length %d, net/http %d", b, r.ContentLength, hr.ContentLength)
			}
		case Chunked:
			if len(hr.TransferEncoding) != 1 || hr.TransferEncoding[0] != "chunked" {
				t.Fatalf("%q: chunked, net/http TE %v", b, hr.TransferEncoding)
			}
		}
		if hr.Close != r.Close {
			t.Fatalf("%q: close %v, net/http %v", b, r.Close, hr.Close)
		}
		// net/http keeps Transfer-Encoding out of Header and folds
		// identical Content-Length lines into one.
		fields, lengths := 0, 0
		for pos := bytes.Index(b, []byte("\r\n")) + 2; pos < len(b)-2; {
			end := pos + bytes.Index(b[pos:], []byte("\r\n"))
			name, _, _ := SplitField(b[pos:end])
			switch Lookup(name) {
			case TransferEncoding:
			case ContentLength:
				if lengths++; lengths == 1 {
					fields++
				}
			default:
				fields++
			}
			pos = end + 2
		}
		values := 0
		for k, vv := range hr.Header {
			if k != "Host" {
				values += len(vv)
			}
		}
		if r.Host != nil {
			values++
		}
		if values != fields {
			t.Fatalf("%q: %d field lines, net/http has %d values", b, fields, values)
		}
		prev := 0
		for _, d := range r.Drops() {
			if d.From < prev || d.To <= d.From || d.To > len(b)-2 || b[d.To-1] != '\n' || b[d.From-1] != '\n' {
				t.Fatalf("bad drop span %+v in %q", d, b)
			}
			prev = d.To
		}
	})
}

var requestSeeds = []string{
	"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\nX-Forwarded-For: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nKeep-Alive: 1\r\nProxy-Connection: x\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	"GET http://h/a HTTP/1.1\r\nHost: h\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
	"PUT /a%20b?c HTTP/1.1\r\nHost: [::1]:8\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nConnection: X-A, close\r\nX-A: 1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
}
