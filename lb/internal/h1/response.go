package h1

import "bytes"

// Response is a parsed response head from a backend. Its slices point into
// the parsed bytes.
type Response struct {
	// Size is the length of the head, its empty line included.
	Size   int
	Status int
	// Minor is the HTTP/1.x minor version: 0 or 1.
	Minor int
	// LineEnd is the end of the status line, its CRLF included.
	LineEnd int

	Body          Body
	ContentLength int64 // with Body == Length

	// Close: the backend connection cannot carry another request after this
	// response (Connection: close, HTTP/1.0 without keep-alive, a body that
	// runs until close, or Transfer-Encoding beside Content-Length).
	Close bool
	// TE is the Transfer-Encoding line, kept when the body is chunked (a
	// forwarder that removes the chunking drops it too); zero when absent.
	TE Span

	drops drops
}

// Drops returns the spans of the head's lines that are not forwarded: the
// hop-by-hop fields other than Transfer-Encoding (a chunked body is relayed
// with its framing), those Connection names (never a framing field), and a
// Content-Length that a chunked Transfer-Encoding overrides.
func (r *Response) Drops() []Span { return r.drops.List() }

// Informational reports a 1xx response, which a final response follows.
func (r *Response) Informational() bool { return r.Status < 200 }

// ParseResponse parses the response head b (as delimited by HeadEnd) to a
// request (head: the request was HEAD) into r, and decides the body's
// framing (RFC 9112 6.3). A malformed or ambiguous head is an *Error with
// Status 502.
func ParseResponse(b []byte, head bool, lim Limits, r *Response) error {
	*r = Response{Size: len(b), ContentLength: -1}
	eol := bytes.IndexByte(b, '\n') - 1
	if eol < 0 {
		return respErr("no status line")
	}
	if err := r.parseLine(b[:eol]); err != nil {
		return err
	}
	r.LineEnd = eol + 2
	var (
		firstLength          []byte
		lengths, fields      int
		hasTE, chunked       bool
		keepAlive, connNames bool
	)
	for pos := r.LineEnd; pos < len(b)-2; {
		f, err := nextField(b, pos)
		if err != nil {
			return respErr(err.Error())
		}
		if fields++; fields > lim.maxHeaders() {
			return respErr("too many header lines")
		}
		pos = f.Line.To
		drop := false
		switch f.ID {
		case ContentLength:
			n, ok := parseLength(f.Value)
			if !ok {
				return respErr("invalid Content-Length")
			}
			if lengths > 0 {
				if !bytes.Equal(f.Value, firstLength) {
					return respErr("conflicting Content-Length values")
				}
				drop = true // an identical repeat: one is enough
			} else {
				firstLength = f.Value
			}
			lengths++
			r.ContentLength = n
		case TransferEncoding:
			if hasTE {
				return respErr("more than one Transfer-Encoding line")
			}
			hasTE = true
			r.TE = f.Line
			if r.Minor == 0 {
				// RFC 9112 6.1: the framing of an HTTP/1.0 message with
				// Transfer-Encoding is faulty.
				return respErr("Transfer-Encoding in an HTTP/1.0 response")
			}
			if !EqualFold(f.Value, "chunked") {
				return respErr("unsupported Transfer-Encoding") // as net/http's client
			}
			chunked = true
		case Connection:
			drop = true
			ForEachToken(f.Value, func(t []byte) {
				switch {
				case EqualFold(t, "close"):
					r.Close = true
				case EqualFold(t, "keep-alive"):
					keepAlive = true
				default:
					connNames = true
				}
			})
		case KeepAlive, ProxyConnection, ProxyAuthenticate, Upgrade, Trailer, TE:
			// Trailer is kept by HAProxy, but a relayed chunked body keeps
			// its trailers, so the announcement stays meaningful: keep it.
			drop = f.ID != Trailer
		}
		if drop && !r.drops.add(f.Line) {
			return respErr("too many hop-by-hop header lines")
		}
	}
	if r.Minor == 0 && !keepAlive {
		r.Close = true
	}
	if chunked && lengths > 0 {
		// RFC 9112 6.3: Transfer-Encoding overrides Content-Length, and a
		// message never carries both; the sender was wrong, so its
		// connection is not trusted again. (Whatever the body's framing
		// below: a response to HEAD passes its fields on too.)
		r.Close = true
		if err := r.dropAll(b, ContentLength); err != nil {
			return err
		}
	}
	switch {
	case head || r.Status < 200 || r.Status == 204 || r.Status == 304:
		r.Body = NoBody     // whatever the fields say
		if !head && hasTE { // RFC 9112 6.1: never sent with these; don't pass it on
			if err := r.dropAll(b, TransferEncoding); err != nil {
				return err
			}
		}
		if (r.Status < 200 || r.Status == 204) && lengths > 0 && !chunked { // RFC 9110 8.6 (with chunked: dropped above)
			if err := r.dropAll(b, ContentLength); err != nil {
				return err
			}
		}
	case chunked:
		r.Body = Chunked
	case lengths > 0:
		r.Body = Length
	default:
		r.Body = UntilClose
		r.Close = true
	}
	if connNames {
		if err := r.dropConnectionNames(b); err != nil {
			return err
		}
	}
	return nil
}

// parseLine parses "HTTP/1.x SP 3DIGIT [SP reason]".
func (r *Response) parseLine(line []byte) error {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || (line[7] != '0' && line[7] != '1') || line[8] != ' ' {
		return respErr("malformed status line")
	}
	r.Minor = int(line[7] - '0')
	for _, c := range line[9:12] {
		if !isDigit(c) {
			return respErr("malformed status code")
		}
	}
	r.Status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	if r.Status < 100 {
		return respErr("status code below 100")
	}
	if len(line) > 12 {
		if line[12] != ' ' {
			return respErr("malformed status line")
		}
		if !validValue(line[13:]) {
			return respErr("control character in the reason phrase")
		}
	}
	return nil
}

// dropAll drops every line of field id.
func (r *Response) dropAll(b []byte, id Header) error {
	for pos := r.LineEnd; pos < len(b)-2; {
		f, _ := nextField(b, pos) // checked by the first pass
		pos = f.Line.To
		if f.ID == id && !r.drops.add(f.Line) {
			return respErr("too many hop-by-hop header lines")
		}
	}
	return nil
}

// dropConnectionNames drops the fields Connection names, except those that
// frame the message.
func (r *Response) dropConnectionNames(b []byte) error {
	for pos := r.LineEnd; pos < len(b)-2; {
		f, _ := nextField(b, pos)
		pos = f.Line.To
		if f.ID != Connection {
			continue
		}
		var err error
		ForEachToken(f.Value, func(t []byte) {
			if err != nil || EqualFold(t, "close") || EqualFold(t, "keep-alive") || Lookup(t).Frames() {
				return
			}
			for p := r.LineEnd; p < len(b)-2; {
				g, _ := nextField(b, p)
				p = g.Line.To
				if bytes.EqualFold(g.Name, t) && !r.drops.add(g.Line) {
					err = respErr("too many hop-by-hop header lines")
				}
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}
