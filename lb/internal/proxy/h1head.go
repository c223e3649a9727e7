package proxy

import (
	"bufio"
	"bytes"
	"errors"
)

// Raw HTTP/1.1 message heads for the fast front end (front.go). The parsers
// work in place on the bytes of a complete head (request or status line,
// header lines, the empty line) and never allocate. The request parser is
// deliberately narrow: it accepts only what it fully understands and reports
// everything else as not fast, so that request goes to net/http's server,
// which answers malformed input with its own 400s.

// span is a half-open byte range [from, to) in a head.
type span struct{ from, to int }

// maxDrops bounds the header lines one head may have dropped.
const maxDrops = 16

// reqHead is a parsed request head. Slices point into the reader's buffer
// and are valid until the head is discarded from it.
type reqHead struct {
	size          int // bytes of the head, the empty line included
	method        []byte
	target        []byte
	host          []byte
	contentLength int64 // 0 when absent
	hasLength     bool
	close         bool // Connection: close
	idemKey       bool // Idempotency-Key present
	xff           [4][]byte
	nxff          int
	drops         [maxDrops]span // hop-by-hop and X-Forwarded-* lines, not forwarded
	ndrops        int
}

// headEnd returns the length of the head at the start of b (through the
// first empty line), or -1 when b does not hold a complete head yet.
func headEnd(b []byte) int {
	i := bytes.Index(b, crlfcrlf)
	if i < 0 {
		return -1
	}
	return i + 4
}

var crlfcrlf = []byte("\r\n\r\n")

// parseRequest parses the request head b (as delimited by headEnd) into h.
// It reports false for anything the fast path leaves to net/http: other
// versions than HTTP/1.1, other target forms than origin-form, bodies that
// are not a single Content-Length of at most bodyLimit, upgrades, Expect,
// TE/Trailer, Connection options other than close and keep-alive, obs-fold
// and every malformed line.
func parseRequest(b []byte, bodyLimit int64, h *reqHead) bool {
	*h = reqHead{size: len(b)}
	eol := bytes.Index(b, crlf)
	if eol < 0 {
		return false
	}
	line := b[:eol]
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 || sp1 > 16 {
		return false
	}
	h.method = line[:sp1]
	for _, c := range h.method {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	if string(h.method) == "CONNECT" || string(h.method) == "PRI" {
		return false
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 || string(rest[sp2+1:]) != "HTTP/1.1" {
		return false
	}
	h.target = rest[:sp2]
	if h.target[0] != '/' {
		return false
	}
	for _, c := range h.target {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	hosts, lengths := 0, 0
	for pos := eol + 2; pos < len(b)-2; {
		l, ok := nextHeader(b, pos)
		if !ok {
			return false
		}
		pos = l.line.to
		switch l.id {
		case hdrHost:
			hosts++
			h.host = l.value
			if len(l.value) == 0 {
				return false
			}
		case hdrContentLength:
			lengths++
			n, ok := parseDecimal(l.value)
			if !ok || n > bodyLimit {
				return false
			}
			h.contentLength, h.hasLength = n, true
		case hdrConnection:
			ok := true
			forEachToken(l.value, func(t []byte) {
				switch {
				case equalFold(t, "close"):
					h.close = true
				case equalFold(t, "keep-alive"):
				default:
					ok = false // names a header to drop: net/http's path does that
				}
			})
			if !ok || !h.drop(l.line) {
				return false
			}
		case hdrKeepAlive, hdrProxyConnection, hdrProxyAuthenticate, hdrProxyAuthorization,
			hdrForwarded, hdrXForwardedHost, hdrXForwardedProto:
			if !h.drop(l.line) { // hop-by-hop, or set by the proxy itself
				return false
			}
		case hdrXForwardedFor:
			if h.nxff == len(h.xff) || !h.drop(l.line) {
				return false
			}
			h.xff[h.nxff] = l.value
			h.nxff++
		case hdrIdempotencyKey:
			h.idemKey = true
		case hdrTE, hdrTrailer, hdrUpgrade, hdrExpect, hdrTransferEncoding:
			return false // net/http's path handles these
		}
	}
	return hosts == 1 && lengths <= 1
}

func (h *reqHead) drop(s span) bool {
	if h.ndrops == maxDrops {
		return false
	}
	h.drops[h.ndrops] = s
	h.ndrops++
	return true
}

var crlf = []byte("\r\n")

// headerLine splits "Name: value" (without its CRLF), trimming the value's
// optional whitespace. It rejects empty or non-token names, whitespace
// before the colon, obs-fold and control characters in the value.
func headerLine(l []byte) (name, value []byte, ok bool) {
	colon := bytes.IndexByte(l, ':')
	if colon <= 0 {
		return nil, nil, false
	}
	name = l[:colon]
	for _, c := range name {
		if !isTokenChar(c) {
			return nil, nil, false
		}
	}
	value = l[colon+1:]
	for _, c := range value {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return nil, nil, false
		}
	}
	for len(value) > 0 && (value[0] == ' ' || value[0] == '\t') {
		value = value[1:]
	}
	for len(value) > 0 && (value[len(value)-1] == ' ' || value[len(value)-1] == '\t') {
		value = value[:len(value)-1]
	}
	return name, value, true
}

// isTokenChar reports whether c may appear in a header name (RFC 9110 tchar).
func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// hdr identifies the header names the parsers act on.
type hdr int

const (
	hdrOther hdr = iota
	hdrHost
	hdrContentLength
	hdrTransferEncoding
	hdrConnection
	hdrKeepAlive
	hdrProxyConnection
	hdrProxyAuthenticate
	hdrProxyAuthorization
	hdrTE
	hdrTrailer
	hdrUpgrade
	hdrExpect
	hdrForwarded
	hdrXForwardedFor
	hdrXForwardedHost
	hdrXForwardedProto
	hdrIdempotencyKey
)

// knownHeaders lists the names of the hdr values, lower case.
var knownHeaders = [...]struct {
	name string
	id   hdr
}{
	{"host", hdrHost}, {"content-length", hdrContentLength}, {"transfer-encoding", hdrTransferEncoding},
	{"connection", hdrConnection}, {"keep-alive", hdrKeepAlive}, {"proxy-connection", hdrProxyConnection},
	{"proxy-authenticate", hdrProxyAuthenticate}, {"proxy-authorization", hdrProxyAuthorization},
	{"te", hdrTE}, {"trailer", hdrTrailer}, {"upgrade", hdrUpgrade}, {"expect", hdrExpect},
	{"forwarded", hdrForwarded}, {"x-forwarded-for", hdrXForwardedFor}, {"x-forwarded-host", hdrXForwardedHost},
	{"x-forwarded-proto", hdrXForwardedProto}, {"idempotency-key", hdrIdempotencyKey},
}

// headerID identifies a header name, ignoring case.
func headerID(name []byte) hdr {
	for _, k := range knownHeaders {
		if equalFold(name, k.name) {
			return k.id
		}
	}
	return hdrOther
}

// headerAt is one header line of a head.
type headerAt struct {
	line  span // the whole line, CRLF included
	name  []byte
	value []byte
	id    hdr
}

// nextHeader parses the header line that starts at pos in head b.
func nextHeader(b []byte, pos int) (headerAt, bool) {
	end := bytes.Index(b[pos:], crlf)
	if end < 0 {
		return headerAt{}, false
	}
	end += pos
	name, value, ok := headerLine(b[pos:end])
	if !ok {
		return headerAt{}, false
	}
	return headerAt{line: span{pos, end + 2}, name: name, value: value, id: headerID(name)}, true
}

// equalFold reports whether b equals the lower-case ASCII string s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// forEachToken calls f with each non-empty, trimmed element of a
// comma-separated header value.
func forEachToken(v []byte, f func([]byte)) {
	for len(v) > 0 {
		var t []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		t = bytes.Trim(t, " \t")
		if len(t) > 0 {
			f(t)
		}
	}
}

// parseDecimal parses a Content-Length value: digits only, no sign, at most
// 18 of them.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// respHead is a parsed response head from a backend.
type respHead struct {
	size          int
	status        int
	lineEnd       int   // end of the status line, CRLF included
	contentLength int64 // -1 when absent
	chunked       bool
	close         bool // the backend closes the connection after this response
	drops         [maxDrops]span
	ndrops        int
}

// errBadResponse is a backend response the proxy cannot forward.
var errBadResponse = errors.New("malformed response from backend")

// maxRespLines bounds the header lines of a backend response head.
const maxRespLines = 100

// parseResponse parses the response head b (as delimited by headEnd) into h.
// lines is scratch space for the header lines (reused across calls).
func parseResponse(b []byte, h *respHead, lines *[]headerAt) error {
	*h = respHead{size: len(b), contentLength: -1}
	eol := bytes.Index(b, crlf)
	// "HTTP/1.x NNN" and an optional reason.
	if eol < 12 || string(b[:7]) != "HTTP/1." || (b[7] != '0' && b[7] != '1') || b[8] != ' ' ||
		(eol > 12 && b[12] != ' ') {
		return errBadResponse
	}
	for _, c := range b[9:12] {
		if c < '0' || c > '9' {
			return errBadResponse
		}
	}
	h.status = int(b[9]-'0')*100 + int(b[10]-'0')*10 + int(b[11]-'0')
	if h.status < 100 {
		return errBadResponse
	}
	http10 := b[7] == '0'
	keepAlive := false
	h.lineEnd = eol + 2
	*lines = (*lines)[:0]
	var connTokens [maxDrops][]byte
	nconn := 0
	for pos := h.lineEnd; pos < len(b)-2; {
		l, ok := nextHeader(b, pos)
		if !ok || len(*lines) == maxRespLines {
			return errBadResponse
		}
		*lines = append(*lines, l)
		pos = l.line.to
		switch l.id {
		case hdrContentLength:
			n, ok := parseDecimal(l.value)
			if !ok || (h.contentLength >= 0 && n != h.contentLength) {
				return errBadResponse
			}
			h.contentLength = n
		case hdrTransferEncoding:
			if !equalFold(l.value, "chunked") || h.chunked {
				return errBadResponse // only chunked, once (net/http refuses others too)
			}
			h.chunked = true
		case hdrConnection:
			forEachToken(l.value, func(t []byte) {
				switch {
				case equalFold(t, "close"):
					h.close = true
				case equalFold(t, "keep-alive"):
					keepAlive = true
				default:
					if nconn < len(connTokens) {
						connTokens[nconn] = t
						nconn++
					}
				}
			})
		}
	}
	if http10 && !keepAlive {
		h.close = true
	}
	if h.chunked {
		h.contentLength = -1 // RFC 9112 6.3: Transfer-Encoding overrides Content-Length
	}
	// Dropped: the hop-by-hop lines and those Connection names. A chunked
	// body is relayed as it is, so Transfer-Encoding stays and a
	// Content-Length beside it goes.
	for _, l := range *lines {
		drop := false
		switch l.id {
		case hdrConnection, hdrKeepAlive, hdrProxyConnection, hdrProxyAuthenticate, hdrUpgrade:
			drop = true
		case hdrContentLength:
			drop = h.chunked
		}
		for _, t := range connTokens[:nconn] {
			drop = drop || bytes.EqualFold(l.name, t)
		}
		if drop {
			if h.ndrops == maxDrops {
				return errBadResponse
			}
			h.drops[h.ndrops] = l.line
			h.ndrops++
		}
	}
	return nil
}

// writeKept writes b[from:to] without the dropped spans (in order, inside
// [from, to)) to w.
func writeKept(w *bufio.Writer, b []byte, from, to int, drops []span) {
	for _, d := range drops {
		w.Write(b[from:d.from])
		from = d.to
	}
	w.Write(b[from:to])
}
