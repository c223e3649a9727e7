package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http/httputil"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseChunkLine(t *testing.T) {
	tests := []struct {
		line string
		want int64
		ok   bool
	}{
		{"0\r\n", 0, true},
		{"1a\r\n", 26, true},
		{"FF;ext=1\r\n", 255, true},
		{"FF; ext = 1 ; flag\r\n", 255, true},
		{"FF ;ext\r\n", 0, false}, // net/http refuses whitespace before the first ';'
		{"5;name=\"quoted \\\" value\"\r\n", 5, true},
		{"10 \r\n", 16, true},
		{"0000000000000001\r\n", 1, true},   // leading zeros are not a size
		{"00000000000000001\r\n", 0, false}, // but count as digits (net/http's bound of 16)
		{"fffffffffffff\r\n", MaxChunkSize, true},
		{"10000000000000\r\n", 0, false}, // 2^52: over HAProxy's bound
		{"ffffffffffffffff\r\n", 0, false},
		{"\r\n", 0, false},
		{"x1\r\n", 0, false},
		{"-1\r\n", 0, false},
		{"1 junk\r\n", 0, false},
		{"1;\r\n", 0, false},
		{"1;a=\r\n", 0, false},
		{"1;a=\"open\r\n", 0, false},
		{"1\n", 0, false},
		{"1\r\r\n", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseChunkLine([]byte(tt.line))
		assert.Equal(t, tt.ok, err == nil, "%q: %v", tt.line, err)
		if tt.ok {
			assert.Equal(t, tt.want, got, "%q", tt.line)
		}
	}
}

func TestCheckTrailerLine(t *testing.T) {
	tests := []struct {
		line      string
		last, bad bool
	}{
		{"\r\n", true, false},
		{"X-Sum: 5\r\n", false, false},
		{"NoColon\r\n", false, true},
		{"X: a\rb\r\n", false, true},
		{"X: 1\n", false, true},
		{" X: 1\r\n", false, true},
		{"Content-Length: 5\r\n", false, true},
		{"transfer-encoding: chunked\r\n", false, true},
		{"Host: h\r\n", false, true},
	}
	for _, tt := range tests {
		last, err := CheckTrailerLine([]byte(tt.line))
		assert.Equal(t, tt.bad, err != nil, "%q", tt.line)
		assert.Equal(t, tt.last, last, "%q", tt.line)
	}
}

func TestChunkedScanner(t *testing.T) {
	body := "3\r\nabc\r\n10;x=y\r\n0123456789abcdef\r\n0\r\nX-Sum: 1\r\n\r\n"
	tests := []struct {
		name  string
		in    string
		split int // feed it in pieces of this size
		n     int
		done  bool
		bad   bool
	}{
		{"whole", body + "NEXT", 1 << 20, len(body), true, false},
		{"byte by byte", body + "NEXT", 1, len(body), true, false},
		{"unfinished", body[:20], 7, 20, false, false},
		{"junk after size", "3 x\r\nabc\r\n0\r\n\r\n", 4, 5, false, true},
		{"data not followed by CRLF", "3\r\nabcX\r\n0\r\n\r\n", 64, 6, false, true},
		{"size too large", "ffffffffffffffff\r\n", 64, 18, false, true},
		{"trailer without colon", "0\r\nX\r\n\r\n", 64, 6, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s ChunkedScanner
			in := []byte(tt.in)
			n := 0
			var err error
			for n < len(in) && err == nil && !s.Done() {
				end := min(n+tt.split, len(in))
				var k int
				k, err = s.Scan(in[n:end])
				n += k
			}
			assert.Equal(t, tt.bad, err != nil, "%v", err)
			assert.Equal(t, tt.done, s.Done())
			assert.Equal(t, tt.n, n)
		})
	}
}

// FuzzChunkedScanner holds the scanner to net/http's chunked reader: a body
// the scanner accepts whole, httputil.NewChunkedReader reads to its end with
// the same data, and the scanner stops exactly where the body ends.
func FuzzChunkedScanner(f *testing.F) {
	f.Add([]byte("3\r\nabc\r\n0\r\n\r\nrest"))
	f.Add([]byte("1;a=b\r\nx\r\n0\r\nT: 1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s ChunkedScanner
		n, err := s.Scan(b)
		if err != nil || !s.Done() {
			return
		}
		want, err := dechunk(b[:n])
		require.NoError(t, err)
		got, err := io.ReadAll(httputil.NewChunkedReader(bufio.NewReader(bytes.NewReader(b[:n]))))
		if err != nil {
			t.Fatalf("%q accepted, net/http: %v", b[:n], err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%q: data %q, net/http %q", b[:n], want, got)
		}
	})
}
