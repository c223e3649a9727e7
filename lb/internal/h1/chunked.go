package h1

import (
	"errors"
)

// MaxChunkSize bounds a chunk's size: 13 hex digits (2^52 - 1), as HAProxy,
// so no value can overflow a reader that counts in floats or int64s. A size
// is at most 16 digits long, leading zeros included (net/http's bound).
const MaxChunkSize = 1<<52 - 1

// ParseChunkLine parses a chunk-size line, CRLF included:
// 1*HEXDIG ( *WSP / chunk-ext ) CRLF, where chunk-ext is a list of
// ";" name [ "=" token / quoted-string ], with optional whitespace around
// the separators (RFC 9112 7.1.1).
func ParseChunkLine(line []byte) (int64, error) {
	n := len(line)
	if n < 3 || line[n-2] != '\r' || line[n-1] != '\n' {
		return 0, errors.New("chunk line without CRLF")
	}
	line = line[:n-2]
	var size int64
	i := 0
	for ; i < len(line) && isHex(line[i]); i++ {
		size = size<<4 | int64(unhex(line[i]))
		if size > MaxChunkSize {
			return 0, errors.New("chunk size too large")
		}
	}
	if i == 0 {
		return 0, errors.New("chunk line without a size")
	}
	if i > 16 { // leading zeros included, as net/http
		return 0, errors.New("chunk size too long")
	}
	if err := checkChunkExt(line[i:]); err != nil {
		return 0, err
	}
	return size, nil
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// checkChunkExt checks what follows a chunk size: trailing whitespace, or
// extensions *( ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] BWS )
// starting right after the size (net/http refuses whitespace before the
// first ";", so it is refused here too).
func checkChunkExt(b []byte) error {
	bad := errors.New("malformed chunk extension")
	if len(b) > 0 && b[0] != ';' {
		if len(skipWS(b)) > 0 {
			return bad
		}
		return nil
	}
	for len(b) > 0 {
		if b[0] != ';' {
			return bad
		}
		b = skipWS(b[1:])
		n := tokenLen(b)
		if n == 0 {
			return bad
		}
		b = skipWS(b[n:])
		if len(b) > 0 && b[0] == '=' {
			b = skipWS(b[1:])
			if len(b) > 0 && b[0] == '"' {
				q, ok := quotedLen(b)
				if !ok {
					return bad
				}
				b = b[q:]
			} else {
				n := tokenLen(b)
				if n == 0 {
					return bad
				}
				b = b[n:]
			}
			b = skipWS(b)
		}
	}
	return nil
}

func skipWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

func tokenLen(b []byte) int {
	n := 0
	for n < len(b) && IsTokenChar(b[n]) {
		n++
	}
	return n
}

// quotedLen returns the length of the quoted-string at the start of b.
func quotedLen(b []byte) (int, bool) {
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(b) || !qdtextOrVCHAR(b[i+1]) {
				return 0, false
			}
			i++
		case !qdtextOrVCHAR(c):
			return 0, false
		}
	}
	return 0, false
}

func qdtextOrVCHAR(c byte) bool { return c == '\t' || c == ' ' || (c > ' ' && c != 0x7f) }

// CheckTrailerLine checks one line of a trailer section, CRLF included: a
// field line, or the empty line that ends the section (last reports it).
func CheckTrailerLine(line []byte) (last bool, err error) {
	n := len(line)
	if n < 2 || line[n-2] != '\r' || line[n-1] != '\n' {
		return false, errors.New("trailer line without CRLF")
	}
	if n == 2 {
		return true, nil
	}
	for _, c := range line[:n-2] {
		if c == '\r' || c == '\n' {
			return false, errors.New("bare CR or LF in a trailer line")
		}
	}
	name, _, err := SplitField(line[:n-2])
	if err != nil {
		return false, err
	}
	switch Lookup(name) {
	case Host, ContentLength, TransferEncoding, Connection, KeepAlive, ProxyConnection, TE, Trailer, Upgrade, Expect:
		// RFC 9110 6.5.1: framing, routing and hop-by-hop fields are never
		// trailers; one would mean something else to each reader.
		return false, errors.New("trailer field not allowed: " + string(name))
	}
	return false, nil
}

// ChunkedScanner follows a chunked body as its bytes stream past, without
// holding them: Scan tells how many of the bytes it is shown belong to the
// body and when the body has ended. It refuses what ParseChunkLine and
// CheckTrailerLine refuse, and lines longer than MaxLine.
type ChunkedScanner struct {
	state    scanState
	left     int64  // bytes left in the current chunk's data
	line     []byte // the line being gathered (size or trailer line)
	buf      [64]byte
	trailers int // trailer lines seen
	// MaxLine bounds a chunk-size or trailer line (default 4096).
	MaxLine int
	// MaxTrailers bounds the trailer lines (default DefaultMaxHeaders).
	MaxTrailers int
}

type scanState uint8

const (
	scanSize scanState = iota
	scanData
	scanDataCRLF
	scanTrailer
	scanDone
)

// Done reports whether the body has ended.
func (s *ChunkedScanner) Done() bool { return s.state == scanDone }

// Scan consumes the body bytes at the start of p and returns how many of
// them belong to the body: n < len(p) only when the body ended at p[n] (or
// it had ended before). A framing error is returned with the bytes before it.
func (s *ChunkedScanner) Scan(p []byte) (n int, err error) {
	maxLine := s.MaxLine
	if maxLine <= 0 {
		maxLine = 4096
	}
	maxTrailers := s.MaxTrailers
	if maxTrailers <= 0 {
		maxTrailers = DefaultMaxHeaders
	}
	if s.line == nil {
		s.line = s.buf[:0]
	}
	for n < len(p) && s.state != scanDone {
		switch s.state {
		case scanData:
			k := int64(len(p) - n)
			if k > s.left {
				k = s.left
			}
			n += int(k)
			if s.left -= k; s.left == 0 {
				s.state = scanDataCRLF
			}
		case scanDataCRLF, scanSize, scanTrailer:
			c := p[n]
			n++
			s.line = append(s.line, c)
			if s.state == scanDataCRLF && ((len(s.line) == 1 && c != '\r') || (len(s.line) == 2 && c != '\n')) {
				return n - 1, errors.New("chunk data not followed by CRLF")
			}
			if c != '\n' {
				if len(s.line) > maxLine {
					return n, errors.New("chunk or trailer line too long")
				}
				continue
			}
			line := s.line
			s.line = s.line[:0]
			switch s.state {
			case scanDataCRLF:
				if len(line) != 2 || line[0] != '\r' {
					return n, errors.New("chunk data not followed by CRLF")
				}
				s.state = scanSize
			case scanSize:
				size, err := ParseChunkLine(line)
				if err != nil {
					return n, err
				}
				if size == 0 {
					s.state = scanTrailer
				} else {
					s.left, s.state = size, scanData
				}
			case scanTrailer:
				last, err := CheckTrailerLine(line)
				if err != nil {
					return n, err
				}
				if last {
					s.state = scanDone
				} else if s.trailers++; s.trailers > maxTrailers {
					return n, errors.New("too many trailer lines")
				}
			}
		}
	}
	return n, nil
}
