package h1

import (
	"bytes"
)

// Body is how a message's body is delimited (RFC 9112 6.3).
type Body uint8

// The framings of a message body.
const (
	// NoBody: the message ends with its head.
	NoBody Body = iota
	// Length: Content-Length bytes follow the head.
	Length
	// Chunked: the chunked transfer coding, ended by a zero-size chunk,
	// trailer fields and an empty line.
	Chunked
	// UntilClose: the body runs until the sender closes (responses only).
	UntilClose
)

// Form is the form of a request target (RFC 9112 3.2).
type Form uint8

// The request-target forms.
const (
	OriginForm Form = iota
	AbsoluteForm
	AuthorityForm
	AsteriskForm
)

// Request is a parsed request head. Its slices point into the parsed bytes
// and are valid as long as they are.
type Request struct {
	// Size is the length of the head, its empty line included.
	Size   int
	Method []byte
	Target []byte
	Form   Form
	// Minor is the HTTP/1.x minor version: 0 or 1.
	Minor int
	// Host is the Host field's value (nil when absent, allowed in HTTP/1.0).
	Host []byte

	Body          Body
	ContentLength int64 // with Body == Length

	// Close: the client ends the connection after this exchange
	// (Connection: close, or HTTP/1.0 without keep-alive).
	Close bool
	// Expect100: Expect: 100-continue.
	Expect100 bool
	// Upgrade: the client asks to switch protocols.
	Upgrade bool
	// TE: the client sent a TE field (e.g. "trailers"); Trailer: it
	// announced trailer fields.
	TE, Trailer bool
	// IdempotencyKey: an Idempotency-Key field is present.
	IdempotencyKey bool
	// ConnectionNames: Connection names other fields, which are dropped.
	ConnectionNames bool
	// XFF holds the X-Forwarded-For values (at most len(XFF); NXFF counts
	// them all).
	XFF  [4][]byte
	NXFF int
	// UserAgent and RequestID are the first User-Agent and X-Request-Id
	// values (nil when absent), for the access log; both are forwarded as
	// they are.
	UserAgent, RequestID []byte

	drops drops
}

// Drops returns the spans of the head's lines that are not forwarded:
// hop-by-hop fields, those Connection names, the proxy-set X-Forwarded-*
// and Forwarded, Content-Length (the forwarder writes its own) and
// Transfer-Encoding.
func (r *Request) Drops() []Span { return r.drops.List() }

// Idempotent reports whether the request may be sent twice (RFC 9110 9.2.2,
// or an Idempotency-Key).
func (r *Request) Idempotent() bool { return r.IdempotencyKey || IdempotentMethod(r.Method) }

// IdempotentMethod reports whether a request with this method may be sent
// twice whatever its fields.
func IdempotentMethod(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// IsHead reports whether the request's method is HEAD.
func (r *Request) IsHead() bool { return string(r.Method) == "HEAD" }

// ParseRequest parses the request head b (as delimited by HeadEnd) into r. It
// returns an *Error naming the status to answer for anything RFC 9112
// refuses or that could be read two ways.
func ParseRequest(b []byte, lim Limits, r *Request) error {
	*r = Request{Size: len(b)}
	eol := bytes.IndexByte(b, '\n') - 1
	if eol < 0 {
		return reqErr(400, "no request line")
	}
	if err := r.parseLine(b[:eol]); err != nil {
		return err
	}
	var (
		hosts, lengths, fields      int
		te, firstLength             []byte
		hasTE, keepAlive, connNames bool
	)
	for pos := eol + 2; pos < len(b)-2; {
		f, err := nextField(b, pos)
		if err != nil {
			return reqErr(400, err.Error())
		}
		if fields++; fields > lim.maxHeaders() {
			return reqErr(400, "too many header lines")
		}
		pos = f.Line.To
		drop := f.ID.HopByHop() || f.ID.ProxySet()
		switch f.ID {
		case Host:
			if hosts++; hosts > 1 {
				return reqErr(400, "more than one Host")
			}
			if !validHost(f.Value) {
				return reqErr(400, "invalid Host")
			}
			r.Host = f.Value
		case ContentLength:
			n, ok := parseLength(f.Value)
			if !ok {
				return reqErr(400, "invalid Content-Length")
			}
			if lengths > 0 && !bytes.Equal(f.Value, firstLength) {
				// Repeats must read the same (003 and 3 do not), as net/http
				// and nginx have it.
				return reqErr(400, "conflicting Content-Length values")
			}
			if lengths == 0 {
				firstLength = f.Value
			}
			lengths++
			r.ContentLength = n
			drop = true // written anew by the forwarder
		case TransferEncoding:
			if hasTE {
				return reqErr(400, "more than one Transfer-Encoding line")
			}
			te, hasTE = f.Value, true
		case Connection:
			ForEachToken(f.Value, func(t []byte) {
				switch {
				case EqualFold(t, "close"):
					r.Close = true
				case EqualFold(t, "keep-alive"):
					keepAlive = true
				case EqualFold(t, "upgrade"):
				default:
					connNames = true
				}
			})
		case Expect:
			if !EqualFold(f.Value, "100-continue") {
				return reqErr(417, "unsupported expectation")
			}
			r.Expect100 = true
		case Upgrade:
			r.Upgrade = true
		case TE:
			r.TE = true
		case Trailer:
			r.Trailer = true
		case XForwardedFor:
			if r.NXFF < len(r.XFF) {
				r.XFF[r.NXFF] = f.Value
			}
			r.NXFF++
		case IdempotencyKey:
			r.IdempotencyKey = true
		case UserAgent:
			if r.UserAgent == nil {
				r.UserAgent = f.Value
			}
		case XRequestID:
			if r.RequestID == nil {
				r.RequestID = f.Value
			}
		}
		if drop && !r.drops.add(f.Line) {
			return reqErr(400, "too many hop-by-hop header lines")
		}
	}
	switch {
	case r.Minor == 1 && hosts == 0:
		return reqErr(400, "no Host")
	case hasTE && r.Minor == 0:
		return reqErr(400, "Transfer-Encoding in an HTTP/1.0 request")
	case hasTE && lengths > 0:
		return reqErr(400, "both Transfer-Encoding and Content-Length")
	}
	if hasTE {
		if err := requestCoding(te); err != nil {
			return err
		}
		r.Body = Chunked
	} else if lengths > 0 && r.ContentLength > 0 {
		r.Body = Length
	}
	if r.Minor == 0 && !keepAlive {
		r.Close = true
	}
	if connNames {
		r.ConnectionNames = true
		if err := r.dropConnectionNames(b, eol+2); err != nil {
			return err
		}
	}
	return nil
}

// requestCoding checks a request's Transfer-Encoding value: chunked must be
// its only coding (RFC 9112 6.1: not last is 400; net/http and HAProxy
// support no other coding, 501).
func requestCoding(te []byte) error {
	n, chunkedLast := 0, false
	var bad bool
	ForEachToken(te, func(t []byte) {
		n++
		chunkedLast = EqualFold(t, "chunked")
		bad = bad || !isToken(t)
	})
	switch {
	case bad || n == 0:
		return reqErr(400, "invalid Transfer-Encoding")
	case !chunkedLast:
		return reqErr(400, "Transfer-Encoding without chunked last")
	case n > 1:
		return reqErr(501, "unsupported transfer coding")
	}
	return nil
}

// dropConnectionNames adds the lines whose names Connection lists to the
// drops, except those that frame the message.
func (r *Request) dropConnectionNames(b []byte, start int) error {
	for pos := start; pos < len(b)-2; {
		f, _ := nextField(b, pos) // checked in the first pass
		pos = f.Line.To
		if f.ID != Connection {
			continue
		}
		var err error
		ForEachToken(f.Value, func(t []byte) {
			if err != nil || EqualFold(t, "close") || EqualFold(t, "keep-alive") || EqualFold(t, "upgrade") {
				return
			}
			id := Lookup(t)
			if id.Frames() {
				return // RFC 9110 7.6.1: never dropped; only the name goes
			}
			for p := start; p < len(b)-2; {
				g, _ := nextField(b, p)
				p = g.Line.To
				if bytes.EqualFold(g.Name, t) && !r.drops.add(g.Line) {
					err = reqErr(400, "too many hop-by-hop header lines")
				}
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// parseLine parses "method SP request-target SP HTTP-version".
func (r *Request) parseLine(line []byte) error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return reqErr(400, "malformed request line")
	}
	r.Method = line[:sp1]
	if !isToken(r.Method) {
		return reqErr(400, "invalid method")
	}
	rest := line[sp1+1:]
	sp2 := bytes.LastIndexByte(rest, ' ')
	if sp2 <= 0 {
		return reqErr(400, "malformed request line")
	}
	r.Target, rest = rest[:sp2], rest[sp2+1:]
	switch {
	case string(rest) == "HTTP/1.1":
		r.Minor = 1
	case string(rest) == "HTTP/1.0":
		r.Minor = 0
	case len(rest) == 8 && string(rest[:5]) == "HTTP/" && isDigit(rest[5]) && rest[6] == '.' && isDigit(rest[7]):
		return reqErr(505, "unsupported HTTP version")
	default:
		return reqErr(400, "malformed HTTP version")
	}
	return r.parseTarget()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseTarget checks the request target and sets its form.
func (r *Request) parseTarget() error {
	t := r.Target
	for _, c := range t {
		if c <= ' ' || c >= 0x7f || c == '#' {
			return reqErr(400, "invalid character in the request target")
		}
	}
	for i := 0; i < len(t); i++ {
		if t[i] == '%' && (i+2 >= len(t) || !isHex(t[i+1]) || !isHex(t[i+2])) {
			return reqErr(400, "invalid %-escape in the request target")
		}
	}
	connect := string(r.Method) == "CONNECT"
	switch {
	case connect:
		if !validHost(t) || bytes.IndexByte(t, ':') < 0 {
			return reqErr(400, "CONNECT needs host:port")
		}
		r.Form = AuthorityForm
	case t[0] == '/':
		r.Form = OriginForm
	case string(t) == "*":
		if string(r.Method) != "OPTIONS" {
			return reqErr(400, "* is a target for OPTIONS only")
		}
		r.Form = AsteriskForm
	default:
		rest, ok := cutScheme(t)
		if !ok {
			return reqErr(400, "invalid request target")
		}
		auth := rest
		if i := bytes.IndexAny(rest, "/?"); i >= 0 {
			auth = rest[:i]
		}
		if len(auth) == 0 || bytes.IndexByte(auth, '@') >= 0 || !validHost(auth) {
			return reqErr(400, "invalid authority in the request target")
		}
		r.Form = AbsoluteForm
	}
	return nil
}

// cutScheme strips "http://" or "https://" (any case).
func cutScheme(t []byte) ([]byte, bool) {
	for _, s := range [...]string{"http://", "https://"} {
		if len(t) > len(s) && EqualFold(t[:len(s)], s) {
			return t[len(s):], true
		}
	}
	return nil, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// validHost reports whether h is a valid Host value: a reg-name, IPv4 or
// bracketed IP literal, with an optional port (RFC 3986 3.2.2); empty is
// allowed (RFC 9110 7.2).
func validHost(h []byte) bool {
	host, port := h, []byte(nil)
	if len(h) > 0 && h[0] == '[' {
		end := bytes.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		for _, c := range h[1:end] {
			if !isHex(c) && c != ':' && c != '.' && c != '%' && !(c >= 'g' && c <= 'z') && !(c >= 'G' && c <= 'Z') && c != '-' && c != '_' && c != '~' {
				return false
			}
		}
		host, port = nil, h[end+1:]
		if len(port) > 0 {
			if port[0] != ':' {
				return false
			}
			port = port[1:]
		}
	} else if i := bytes.LastIndexByte(h, ':'); i >= 0 {
		host, port = h[:i], h[i+1:]
	}
	for _, c := range host {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '!', c == '$', c == '&', c == '\'',
			c == '(', c == ')', c == '*', c == '+', c == ',', c == ';', c == '=', c == '%':
		default:
			return false
		}
	}
	if len(port) > 5 {
		return false
	}
	for _, c := range port {
		if !isDigit(c) {
			return false
		}
	}
	return true
}
