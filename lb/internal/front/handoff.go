package front

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lblab/lblab/lb/internal/h1"
)

// A request the fast path does not forward itself goes to net/http's server
// (Fallback) one request at a time: handOff gives net/http a handoffConn
// that delivers exactly that request's bytes — its head, then its body as
// framed by h1 (Content-Length, or chunked with every chunk line checked) —
// and reports EOF once net/http is done with it, then waits. net/http
// answers, finds no next request and closes the handoffConn; the front end
// goes on reading the connection itself. So the rules of h1 hold for every
// request, whichever path serves it, and responses leave in request order:
// the fast path's are flushed before the hand-off, net/http's are written
// before it lets go.
//
// While net/http's handler runs, its background read (how it learns that a
// client went away) reaches the real connection through the handoffConn: a
// client that closes cancels the request; bytes of a pipelined next request
// stay in the front end's buffer for later. A handler that hijacks the
// connection (a protocol upgrade) gets it raw from then on.

// handOff serves the parsed request whose head is the first n buffered
// bytes through Fallback, and reports whether the connection stays open.
func (fc *conn) handOff(n int) bool {
	if fc.bw.Buffered() > 0 {
		if err := fc.bw.Flush(); err != nil {
			return false
		}
	}
	hc := &handoffConn{fc: fc, br: fc.br, headLeft: n, body: fc.req.Body, bodyLeft: fc.req.ContentLength,
		done: make(chan bool, 1), wake: make(chan struct{}, 1), closed: make(chan struct{})}
	if hc.body == h1.NoBody {
		hc.bodyLeft = 0
	}
	if hc.body == h1.Chunked {
		hc.chunks = &h1.ChunkedScanner{MaxTrailers: fc.f.cfg.Limits.MaxHeaders}
	}
	if !fc.f.handoff.push(hc) {
		return false
	}
	resume := <-hc.done
	fc.rd.Forget() // net/http set deadlines of its own
	if !resume {
		// net/http or a hijacker may still be reading through fc.br (a
		// background read, the other half of an upgraded connection) until
		// the connection closes: the reader is not recycled.
		fc.big = true
		return false
	}
	fc.c.SetDeadline(time.Time{})
	return true
}

// handoffConn is the client connection as net/http sees it for one
// request. net/http reads it from one goroutine at a time (its connection
// goroutine, or its background read), and may set deadlines and close it
// from another.
type handoffConn struct {
	fc *conn
	// br is the connection's reader, held here: when the connection does
	// not resume, the front end lets go of its state (fc.state is nil)
	// while net/http's background read may still be reading.
	br *bufio.Reader

	// Read's state: only Read touches it.
	headLeft int                // head bytes not yet delivered
	body     h1.Body            // the body's framing
	bodyLeft int64              // Length: body bytes not yet delivered
	chunks   *h1.ChunkedScanner // Chunked: the framing so far
	bodyErr  error              // a framing error to report on the next Read
	raw      bool               // hijacked: everything passes

	// done: net/http has answered (StateIdle); hijacked: StateHijacked.
	finished atomic.Bool
	hijacked atomic.Bool
	eofGiven atomic.Bool

	wake      chan struct{} // a read deadline in the past was set
	closeOnce sync.Once
	closed    chan struct{} // closed by Close
	done      chan bool     // true: the front end goes on with the connection
}

// Read delivers the request, then watches the client, then reports EOF.
func (h *handoffConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if h.raw {
		return h.br.Read(p)
	}
	if h.headLeft > 0 || h.bodyLeft > 0 || (h.chunks != nil && !h.chunks.Done()) {
		return h.readMessage(p)
	}
	switch {
	case h.hijacked.Load():
		h.raw = true
		return h.br.Read(p)
	case h.finished.Load():
		h.eofGiven.Store(true)
		return 0, io.EOF
	}
	return h.watch()
}

// readMessage delivers the next bytes of the request.
func (h *handoffConn) readMessage(p []byte) (int, error) {
	br := h.br
	if h.headLeft > 0 { // the head is in the buffer already
		n := min(len(p), h.headLeft)
		b, _ := br.Peek(n)
		copy(p, b)
		br.Discard(n)
		h.headLeft -= n
		return n, nil
	}
	if h.bodyErr != nil {
		return 0, h.bodyErr
	}
	if br.Buffered() == 0 {
		if _, err := br.Peek(1); err != nil {
			return 0, err
		}
	}
	b, _ := br.Peek(min(len(p), br.Buffered()))
	n := len(b)
	if h.chunks != nil {
		var err error
		if n, err = h.chunks.Scan(b); err != nil {
			h.bodyErr = &h1.Error{Status: http.StatusBadRequest, Reason: err.Error()}
			if n == 0 {
				return 0, h.bodyErr
			}
		}
	} else {
		n = int(min(int64(n), h.bodyLeft))
		h.bodyLeft -= int64(n)
	}
	copy(p, b[:n])
	br.Discard(n)
	return n, nil
}

// watch is net/http's background read while its handler runs: it waits on
// the real connection, so a client that goes away shows as EOF (net/http
// cancels the request), while bytes of a next request stay buffered for the
// front end and the read waits until net/http ends it with a deadline.
func (h *handoffConn) watch() (int, error) {
	br := h.br
	for {
		if br.Buffered() > 0 {
			select {
			case <-h.wake:
				return 0, os.ErrDeadlineExceeded
			case <-h.closed:
				return 0, net.ErrClosed
			}
		}
		if _, err := br.Peek(1); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return 0, err
			}
			return 0, io.EOF
		}
	}
}

// Write writes to the client: the fast path's responses were flushed before
// the hand-off, so net/http's follow them in order.
func (h *handoffConn) Write(p []byte) (int, error) { return h.fc.c.Write(p) }

// Close ends the hand-off: the front end goes on with the connection when
// net/http let go after answering (it read EOF for a next request), and
// closes it otherwise (net/http or a hijacker decided to).
func (h *handoffConn) Close() error {
	h.closeOnce.Do(func() {
		close(h.closed)
		h.done <- h.eofGiven.Load() && !h.hijacked.Load()
	})
	return nil
}

// connState follows net/http's view of the connection.
func (h *handoffConn) connState(s http.ConnState) {
	switch s {
	case http.StateIdle:
		h.finished.Store(true)
	case http.StateHijacked:
		h.hijacked.Store(true)
	}
}

func (h *handoffConn) LocalAddr() net.Addr  { return h.fc.c.LocalAddr() }
func (h *handoffConn) RemoteAddr() net.Addr { return h.fc.c.RemoteAddr() }

func (h *handoffConn) SetDeadline(t time.Time) error {
	h.SetReadDeadline(t)
	return h.fc.c.SetWriteDeadline(t)
}

// SetReadDeadline sets the real connection's read deadline; one in the past
// also ends a watch that waits with bytes buffered. A zero deadline (set by
// net/http before each background read) drops a stale wake-up.
func (h *handoffConn) SetReadDeadline(t time.Time) error {
	switch {
	case t.IsZero():
		select {
		case <-h.wake:
		default:
		}
	case !t.After(time.Now()):
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
	return h.fc.c.SetReadDeadline(t)
}

func (h *handoffConn) SetWriteDeadline(t time.Time) error { return h.fc.c.SetWriteDeadline(t) }

// wrapFallback makes srv report its connection states to the handoffConns.
func wrapFallback(srv *http.Server) {
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if hc, ok := c.(*handoffConn); ok {
			hc.connState(s)
		}
		if prev != nil {
			prev(c, s)
		}
	}
}

// connQueue is the listener net/http's server accepts handed-off requests
// from.
type connQueue struct {
	addr   net.Addr
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c over; it reports false (and c is not taken) once the queue is
// closed.
func (q *connQueue) push(c net.Conn) bool {
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.closed.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }
