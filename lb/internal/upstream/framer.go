package upstream

import (
	"github.com/lblab/lblab/lb/internal/h1"
)

// framer follows the requests an http.Transport writes on a connection and
// the responses it reads back, to know where each response ends (RFC 9112
// 6.3, by h1's rules). Bytes that come past the end of the last response
// asked for answer nothing: a Transport that read them into its buffer
// would take them for the response to the next request it sends on the
// connection (its background read looks for such bytes only after it has
// put the connection back in its pool, and a request can take it first).
//
// When it cannot follow the framing (a head h1 refuses, a body that runs
// until the close, a protocol switch, a write that does not start like a
// request) it gives up and judges nothing more on that connection: the
// Transport's own checks apply as before.
type framer struct {
	pending []bool // the requests written and not yet answered: whether each was HEAD
	state   frameState
	head    []byte // the response head gathered so far
	left    int64  // body bytes still to come (stateLength)
	chunks  h1.ChunkedScanner
	lost    bool
}

type frameState uint8

const (
	stateIdle    frameState = iota // between responses
	stateHead                      // in a response head
	stateLength                    // in a body of known length
	stateChunked                   // in a chunked body
)

// maxFramedHead bounds the head the framer gathers; beyond it, it gives up
// (the Transport refuses such a head itself).
const maxFramedHead = 64 << 10

// answering reports whether a response is due or under way.
func (f *framer) answering() bool { return f.state != stateIdle || len(f.pending) > 0 }

// request notes a request whose first bytes b the Transport writes while no
// response is due.
func (f *framer) request(b []byte) {
	if f.lost {
		return
	}
	sp := 0
	for sp < len(b) && h1.IsTokenChar(b[sp]) {
		sp++
	}
	if sp == 0 || sp == len(b) || b[sp] != ' ' {
		f.lost = true // not the start of a request: a body after an early answer?
		return
	}
	f.pending = append(f.pending, string(b[:sp]) == "HEAD")
}

// read follows the bytes p just read and returns how many of them belong
// to the responses asked for: fewer than len(p) when the rest answers
// nothing.
func (f *framer) read(p []byte) int {
	n := 0
	for n < len(p) && !f.lost {
		switch f.state {
		case stateIdle:
			if len(f.pending) == 0 {
				return n // nothing was asked: stale bytes
			}
			f.state, f.head = stateHead, f.head[:0]
		case stateHead:
			before := len(f.head)
			f.head = append(f.head, p[n:]...)
			end, err := h1.HeadEnd(f.head)
			switch {
			case err != nil:
				f.lost = true
			case end < 0:
				n = len(p)
				if len(f.head) > maxFramedHead {
					f.lost = true
				}
			default:
				n += end - before
				f.response(f.head[:end])
			}
		case stateLength:
			k := int(min(f.left, int64(len(p)-n)))
			n += k
			if f.left -= int64(k); f.left == 0 {
				f.answered()
			}
		case stateChunked:
			k, err := f.chunks.Scan(p[n:])
			n += k
			switch {
			case err != nil:
				f.lost = true
			case f.chunks.Done():
				f.answered()
			}
		}
	}
	if f.lost {
		return len(p)
	}
	return n
}

// response takes in a complete response head.
func (f *framer) response(head []byte) {
	var r h1.Response
	if err := h1.ParseResponse(head, f.pending[0], h1.Limits{}, &r); err != nil || r.Status == 101 {
		f.lost = true
		return
	}
	switch {
	case r.Informational(): // the final response follows
		f.head = f.head[:0]
	case r.Body == h1.NoBody || (r.Body == h1.Length && r.ContentLength == 0):
		f.answered()
	case r.Body == h1.Length:
		f.state, f.left = stateLength, r.ContentLength
	case r.Body == h1.Chunked:
		f.state, f.chunks = stateChunked, h1.ChunkedScanner{}
	default: // until the close: the connection carries nothing after it
		f.lost = true
	}
}

// answered ends the oldest request's response.
func (f *framer) answered() {
	f.pending = f.pending[1:]
	f.state = stateIdle
}
