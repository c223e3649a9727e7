package h1

import (
	"bufio"
	"bytes"
	"errors"
	"strconv"
)

// Error is a message the proxy refuses, with the status it answers with.
type Error struct {
	// Status is the answer: 4xx/5xx towards a client for a request, 502 for
	// a backend's response.
	Status int
	// Reason says what was wrong, for logs.
	Reason string
}

func (e *Error) Error() string { return strconv.Itoa(e.Status) + " " + e.Reason }

// ErrMalformedResponse is what errors.Is finds in every *Error about a
// backend's response.
var ErrMalformedResponse = errors.New("malformed response from backend")

// Is makes errors.Is(err, ErrMalformedResponse) true for a 502 Error.
func (e *Error) Is(target error) bool { return target == ErrMalformedResponse && e.Status == 502 }

func reqErr(status int, reason string) error { return &Error{Status: status, Reason: reason} }
func respErr(reason string) error            { return &Error{Status: 502, Reason: reason} }

// Limits bound what a parser accepts.
type Limits struct {
	// MaxHeaders is the most header lines a head may have (default 100).
	MaxHeaders int
}

// Headers is MaxHeaders, or its default when unset.
func (l Limits) Headers() int { return l.maxHeaders() }

func (l Limits) maxHeaders() int {
	if l.MaxHeaders <= 0 {
		return DefaultMaxHeaders
	}
	return l.MaxHeaders
}

// DefaultMaxHeaders is the default bound on the header lines of a head.
const DefaultMaxHeaders = 100

// Span is a half-open byte range [From, To) in a head.
type Span struct{ From, To int }

// HeadEnd returns the length of the head at the start of b (through its
// empty line), or -1 when b does not hold a complete head yet. It returns an
// error as soon as b shows a bare LF or CR, so a malformed head is refused at
// once instead of waiting for more bytes that would never end it.
func HeadEnd(b []byte) (int, error) {
	pos := 0
	for {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			if j := bytes.IndexByte(b[pos:], '\r'); j >= 0 && j < len(b)-pos-1 {
				return 0, errBareCR
			}
			return -1, nil
		}
		lf := pos + i
		if lf == 0 || b[lf-1] != '\r' {
			return 0, errBareLF
		}
		if j := bytes.IndexByte(b[pos:lf-1], '\r'); j >= 0 {
			return 0, errBareCR
		}
		if lf-1 == pos { // an empty line ends the head
			if pos == 0 {
				return 0, errors.New("empty start line")
			}
			return lf + 1, nil
		}
		pos = lf + 1
	}
}

var (
	errBareLF = errors.New("bare LF in a head")
	errBareCR = errors.New("bare CR in a head")
)

// Header identifies the header names the rules act on.
type Header uint8

// The header names the rules act on; every other name is Other.
const (
	Other Header = iota
	Host
	ContentLength
	TransferEncoding
	Connection
	KeepAlive
	ProxyConnection
	ProxyAuthenticate
	ProxyAuthorization
	TE
	Trailer
	Upgrade
	Expect
	Forwarded
	XForwardedFor
	XForwardedHost
	XForwardedProto
	IdempotencyKey
	UserAgent
	XRequestID
)

// names lists the known header names, lower case, by Header.
var names = [...]string{
	Host: "host", ContentLength: "content-length", TransferEncoding: "transfer-encoding",
	Connection: "connection", KeepAlive: "keep-alive", ProxyConnection: "proxy-connection",
	ProxyAuthenticate: "proxy-authenticate", ProxyAuthorization: "proxy-authorization",
	TE: "te", Trailer: "trailer", Upgrade: "upgrade", Expect: "expect",
	Forwarded: "forwarded", XForwardedFor: "x-forwarded-for", XForwardedHost: "x-forwarded-host",
	XForwardedProto: "x-forwarded-proto", IdempotencyKey: "idempotency-key",
	UserAgent: "user-agent", XRequestID: "x-request-id",
}

// HopByHop reports whether h is a hop-by-hop header (RFC 9110 7.6.1, plus
// the legacy Keep-Alive and Proxy-Connection), which a proxy does not
// forward. Transfer-Encoding is hop-by-hop too, but frames the message: the
// writers keep or rewrite it explicitly.
func (h Header) HopByHop() bool {
	switch h {
	case Connection, KeepAlive, ProxyConnection, ProxyAuthenticate, ProxyAuthorization, TE, Trailer, Upgrade, TransferEncoding:
		return true
	}
	return false
}

// ProxySet reports whether the proxy writes h itself on a forwarded request
// (the client's own lines are dropped; a trusted peer's X-Forwarded-For is
// extended).
func (h Header) ProxySet() bool {
	switch h {
	case Forwarded, XForwardedFor, XForwardedHost, XForwardedProto:
		return true
	}
	return false
}

// Frames reports whether h frames a message (never dropped because
// Connection names it).
func (h Header) Frames() bool { return h == ContentLength || h == TransferEncoding || h == Host }

// Lookup identifies a header name, ignoring case.
func Lookup(name []byte) Header {
	if len(name) < 2 || len(name) > 19 {
		return Other
	}
	for h, n := range names {
		if len(n) == len(name) && EqualFold(name, n) {
			return Header(h)
		}
	}
	return Other
}

// Field is one header line of a head.
type Field struct {
	Line  Span // the whole line, CRLF included
	Name  []byte
	Value []byte // optional whitespace trimmed
	ID    Header
}

// nextField parses the header line that starts at pos in head b (which
// HeadEnd has checked for bare CR and LF).
func nextField(b []byte, pos int) (Field, error) {
	end := bytes.IndexByte(b[pos:], '\n')
	if end < 1 {
		return Field{}, errors.New("header line without CRLF")
	}
	end += pos - 1 // the CR
	name, value, err := SplitField(b[pos:end])
	if err != nil {
		return Field{}, err
	}
	return Field{Line: Span{pos, end + 2}, Name: name, Value: value, ID: Lookup(name)}, nil
}

// SplitField splits one field line "Name: value" (without its CRLF),
// trimming the value's optional whitespace. It refuses an empty or non-token
// name, whitespace before the colon (and so obs-fold), and control
// characters other than HTAB in the value.
func SplitField(l []byte) (name, value []byte, err error) {
	colon := bytes.IndexByte(l, ':')
	if colon < 0 {
		return nil, nil, errors.New("header line without a colon")
	}
	if colon == 0 {
		if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') {
			return nil, nil, errors.New("obs-fold (line folding)")
		}
		return nil, nil, errors.New("empty header name")
	}
	name = l[:colon]
	for _, c := range name {
		if !IsTokenChar(c) {
			if c == ' ' || c == '\t' {
				if name[0] == ' ' || name[0] == '\t' {
					return nil, nil, errors.New("obs-fold (line folding)")
				}
				return nil, nil, errors.New("whitespace before the colon")
			}
			return nil, nil, errors.New("invalid character in a header name")
		}
	}
	value = l[colon+1:]
	if !validValue(value) {
		return nil, nil, errors.New("control character in a header value")
	}
	return name, trimOWS(value), nil
}

// validValue reports whether v holds only field-content characters: VCHAR,
// obs-text, SP and HTAB.
func validValue(v []byte) bool {
	for _, c := range v {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func trimOWS(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// IsTokenChar reports whether c is a tchar (RFC 9110 5.6.2).
func IsTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// isToken reports whether b is a non-empty token.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !IsTokenChar(c) {
			return false
		}
	}
	return true
}

// EqualFold reports whether b equals the lower-case ASCII string s, ignoring
// case.
func EqualFold(b []byte, s string) bool {
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

// ForEachToken calls f with each non-empty, trimmed element of a
// comma-separated field value.
func ForEachToken(v []byte, f func([]byte)) {
	for len(v) > 0 {
		var t []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		if t = trimOWS(t); len(t) > 0 {
			f(t)
		}
	}
}

// HasToken reports whether the comma-separated value v has the element tok
// (lower case), ignoring case.
func HasToken(v []byte, tok string) bool {
	found := false
	ForEachToken(v, func(t []byte) { found = found || EqualFold(t, tok) })
	return found
}

// parseLength parses a Content-Length value: 1*DIGIT, at most 18 of them.
func parseLength(b []byte) (int64, bool) {
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

// drops is the fixed set of lines a head does not forward.
type drops struct {
	spans [maxDrops]Span
	n     int
}

// maxDrops bounds the lines one head may have dropped; a head needing more
// is refused (requests) or malformed (responses).
const maxDrops = 24

func (d *drops) add(s Span) bool {
	if d.n == maxDrops {
		return false
	}
	// Keep them in order: fields are visited in order, but a second pass
	// (names listed in Connection) may add earlier lines.
	i := d.n
	for i > 0 && d.spans[i-1].From > s.From {
		i--
	}
	if i < d.n && d.spans[i] == s {
		return true
	}
	if i > 0 && d.spans[i-1] == s {
		return true
	}
	copy(d.spans[i+1:d.n+1], d.spans[i:d.n])
	d.spans[i] = s
	d.n++
	return true
}

// List returns the dropped spans in order.
func (d *drops) List() []Span { return d.spans[:d.n] }

// WriteKept writes b[from:to] to w without the spans in drops (in order,
// inside [from, to)).
func WriteKept(w *bufio.Writer, b []byte, from, to int, drops []Span) {
	for _, d := range drops {
		w.Write(b[from:d.From])
		from = d.To
	}
	w.Write(b[from:to])
}
