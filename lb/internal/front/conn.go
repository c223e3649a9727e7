package front

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lblab/lblab/lb/internal/h1"
	"github.com/lblab/lblab/lb/internal/netx"
	"github.com/lblab/lblab/lb/internal/pool"
	"github.com/lblab/lblab/lb/internal/proxy"
)

// conn is one client connection. Everything in it belongs to the goroutine
// serving it, except idle (read by Shutdown) and, during a hand-off, the
// reader and the socket, which the handoffConn uses while this goroutine
// waits for it. While the connection is parked (waiting for its next
// request in the Parker's event loop) it holds no goroutine and no buffer:
// state is nil.
type conn struct {
	f      *Front
	p      *proxy.Proxy
	c      net.Conn
	fd     int    // the socket's descriptor, for parking; -1: not parkable
	remote string // RemoteAddr, for the access log
	peer   string // its host part, for X-Forwarded-For
	idle   atomic.Bool

	rd        netx.LazyDeadline // the client's read deadline
	idleSince time.Time         // when the connection last began to wait for a request
	arrived   time.Time         // when the first byte of the request being read came
	// slow: its last wait for a request lasted parkAfter or longer; woken:
	// the Parker has just handed it back.
	slow, woken bool

	// heldFn is heldStep, bound at the connection's first Hold (see
	// nextHead); the rest of a Hold's state is in state.
	heldFn func() bool
	*state
}

// state is what a connection needs only while it is being served.
type state struct {
	br       *bufio.Reader
	bw       *bufio.Writer
	big      bool // br is not to be pooled: grown for a big head, or still read by a hand-off
	req      h1.Request
	resp     h1.Response
	headCopy []byte // the request head, when its body does not fit beside it
	body     []byte // scratch for request bodies
	bytes    int64  // response body bytes sent, for the access log

	// For the request id and the access log, reset for each request:
	// newID is the id made for a request that came without X-Request-Id
	// (nil when it had one), in idBuf; timed says whether the access log
	// is on (then tc and tr are the last try's connect and response
	// times, -1 when none); backendStatus is the last try's response
	// status; term is set where the front end knows better than the
	// outcome how the request ended.
	idBuf         [proxy.RequestIDLen]byte
	newID         []byte
	timed         bool
	tc, tr        time.Duration
	backendStatus int
	term          string

	// Holding (see nextHead). What the step tells nextHead: heldErr, the
	// idle wait's failure; heldEnd, the connection is done; heldLeft, a
	// request is buffered for readHead (it arrived already). waiting: a
	// held idle wait is under way, parking after it if waitPark, brief if
	// waitDrained; inHold: heldStep is running. Here rather than in conn,
	// which idle connections keep: all false (nil) between requests.
	heldErr                        error
	heldEnd, heldLeft, inHold      bool
	waiting, waitPark, waitDrained bool
}

// clientBufSize is the client reader's size: a request head and a small
// body fit beside each other. A larger head (up to MaxHeaderBytes) grows the
// reader of that connection.
const clientBufSize = 8 << 10

var states = sync.Pool{New: func() any {
	return &state{br: bufio.NewReaderSize(nil, clientBufSize), bw: bufio.NewWriterSize(nil, 4<<10)}
}}

// acquire gives the connection its buffers and scratch space.
func (fc *conn) acquire() {
	st := states.Get().(*state)
	st.br.Reset(fc.c)
	st.bw.Reset(fc.c)
	fc.state = st
}

// release gives them back (the reader is empty, the writer flushed).
func (fc *conn) release() {
	st := fc.state
	fc.state = nil
	if st.big {
		return // its reader may still be read, or is oversized: not reused
	}
	st.br.Reset(nil)
	st.bw.Reset(nil)
	st.req, st.resp = h1.Request{}, h1.Response{}
	st.newID, st.term = nil, ""
	st.heldErr, st.heldEnd, st.heldLeft, st.inHold = nil, false, false, false
	st.waiting, st.waitPark, st.waitDrained = false, false, false
	states.Put(st)
}

// parkAfter is how long a connection waits for its next request with a
// goroutine before it is parked. A busy keep-alive connection never waits
// that long; a mostly idle one gives its goroutine and buffers back.
const parkAfter = 20 * time.Millisecond

// parkRecheck is how often an idle connection that was not parked, because
// no more than ParkAbove connections were open, looks again.
const parkRecheck = time.Second

func (fc *conn) serve() {
	fc.acquire()
	for {
		n, err := fc.nextHead()
		// The request's time runs from its first byte, not from the wait
		// for it (the client's pause between requests is not the proxy's).
		start := fc.arrived
		if err == errPark {
			if fc.park() {
				return // fc belongs to the Parker now: not touched again here
			}
			fc.acquire()
			continue
		}
		if err == errHeldDone {
			break
		}
		if err != nil {
			fc.refuseHead(err, start)
			break
		}
		if !fc.handle(n, start) || fc.f.shutting.Load() {
			break
		}
	}
	fc.c.Close()
	fc.release()
	fc.f.forget(fc)
}

// handle parses and answers the request whose head is the first n
// buffered bytes; it reports whether the connection stays open.
func (fc *conn) handle(n int, start time.Time) bool {
	if err := h1.ParseRequest(fc.peek(n), fc.f.cfg.Limits, &fc.req); err != nil {
		var he *h1.Error
		errors.As(err, &he)
		fc.refuse(he.Status, start)
		return false
	}
	switch {
	case string(fc.req.Method) == "CONNECT":
		fc.refuse(http.StatusNotImplemented, start) // no tunnels in HTTP mode
		return false
	case fc.fast():
		return fc.serveRequest(n, start)
	default:
		return fc.handOff(n)
	}
}

// holder is a client connection that can serve its requests inside one
// read of its socket (netx's accepted connections: see their Hold).
type holder interface {
	Hold(step func() bool) (held bool, err error)
}

// nextHead returns the length of the next request's head, in the buffer,
// waiting for it. A connection that can Hold does (heldStep): its fast
// path's requests are served inside, and the wait between them reads
// nothing that would find the socket empty; what else comes (a request for
// net/http, a body still on its way, a head not all there) leaves the Hold
// and is read here as before.
func (fc *conn) nextHead() (int, error) {
	if h, ok := fc.c.(holder); ok && fc.br.Buffered() == 0 && fc.f.cfg.Fast {
		if fc.heldFn == nil {
			fc.heldFn = fc.heldStep
		}
		fc.heldErr, fc.heldEnd = nil, false
		held, werr := h.Hold(fc.heldFn)
		switch {
		case !held:
		case fc.heldEnd:
			return 0, errHeldDone
		case fc.heldErr != nil:
			return 0, fc.heldErr
		case fc.waiting:
			// The held wait for a request ended without one (its deadline,
			// or the connection closed): the idle wait goes on from there.
			if err := fc.waitRequest(werr); err != nil {
				return 0, err
			}
		}
	}
	return fc.readHead()
}

// heldStep is Hold's step (see nextHead): it serves the requests that come
// whole to the fast path, and returns false to wait for the next one, true
// to leave the Hold (the connection is done, or what came is served
// outside it).
func (fc *conn) heldStep() bool {
	fc.inHold = true
	defer func() { fc.inHold = false }()
	for {
		if fc.br.Buffered() == 0 {
			if err := fc.waitRequest(nil); err != nil {
				if err == errHeldWait {
					return false
				}
				fc.heldErr = err
				return true
			}
		} else {
			fc.arrived = time.Now() // pipelined: already here
		}
		n, err := fc.bufferedHead()
		if err != nil || n < 0 || h1.ParseRequest(fc.peek(n), fc.f.cfg.Limits, &fc.req) != nil || !fc.whole(n) {
			fc.heldLeft = true // readHead takes it from the buffer
			return true
		}
		if !fc.serveRequest(n, fc.arrived) || fc.f.shutting.Load() {
			fc.heldEnd = true
			return true
		}
	}
}

// whole reports whether the parsed request, whose head is the first n
// buffered bytes, can be answered inside a Hold: a fast path request whose
// body (if any) is buffered too, so that answering it reads nothing more
// from the client.
func (fc *conn) whole(n int) bool {
	r := &fc.req
	return string(r.Method) != "CONNECT" && fc.fast() &&
		(r.Body != h1.Length || int64(fc.br.Buffered()) >= int64(n)+r.ContentLength)
}

// park hands the idle connection to the Parker, its buffers back to the
// pool; false when it cannot be parked (then its state is gone: acquire).
func (fc *conn) park() bool {
	f := fc.f // fc is the Parker's once parked
	deadline := fc.idleSince.Add(f.cfg.IdleTimeout)
	fc.release()
	if f.parker.Park(fc.fd, fc, deadline) != nil {
		return false
	}
	f.recount()
	return true
}

// Wake is the Parker telling that the parked connection's next request (or
// its close) has come: a goroutine serves it.
func (fc *conn) Wake() {
	fc.woken = true
	fc.f.recount()
	fc.f.dispatch(fc)
}

// Expire is the Parker closing a connection idle for idle_timeout (or at
// shutdown).
func (fc *conn) Expire() {
	fc.c.Close()
	fc.f.forget(fc)
}

// Reasons readHead gives up.
var (
	errIdle        = errors.New("no request")                   // closed quietly
	errGone        = errors.New("client went away mid-request") // closed quietly
	errHeadTimeout = errors.New("request head too slow")        // 408
	errHeadTooBig  = errors.New("request head too large")       // 431
	errPark        = errors.New("idle: park")                   // park the connection
	errHeldWait    = errors.New("idle: wait in the Hold")       // heldStep returns false
	errHeldDone    = errors.New("served in the Hold; closing")  // closed quietly
)

// readHead waits for the next request head, skipping the empty lines before
// it (RFC 9112 2.2), and returns its length.
func (fc *conn) readHead() (int, error) {
	br := fc.br
	if fc.heldLeft {
		fc.heldLeft = false // arrived is set
	} else {
		fc.arrived = time.Now() // a pipelined request: already here
	}
	if br.Buffered() == 0 {
		if err := fc.waitRequest(nil); err != nil {
			return 0, err
		}
	}
	headerDeadline := false
	for {
		n, err := fc.bufferedHead()
		if err != nil || n >= 0 {
			return n, err
		}
		if br.Buffered() == br.Size() {
			fc.grow()
			br = fc.br
			continue
		}
		if !headerDeadline {
			headerDeadline = true
			fc.rd.Set(fc.c, time.Now().Add(fc.f.cfg.ReadHeaderTimeout))
		}
		fc.flushBeforeWait()
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !fc.f.shutting.Load() {
				return 0, errHeadTimeout
			}
			return 0, errGone
		}
	}
}

// waitRequest waits for the first byte of the next request on an idle
// connection (the responses it holds go out first), with the idle timeout,
// parking it where it may. Inside a Hold, a read that would wait gives
// errHeldWait, the wait's deadline armed and fc.waiting set: the Hold waits
// and then calls the step again, whose waitRequest(nil) goes on; a wait
// that failed goes on as waitRequest(its error).
func (fc *conn) waitRequest(resumed error) error {
	br := fc.br
	parkable := fc.parkable()
	now := time.Now()
	park, resuming, drained := fc.waitPark, fc.waiting, fc.waitDrained
	woken := fc.woken
	if resuming {
		fc.waiting, fc.waitDrained = false, false
	} else {
		fc.flushBeforeWait()
		fc.idle.Store(true)
		if fc.f.shutting.Load() {
			return errIdle
		}
		if !fc.woken { // a woken connection's idle time runs on
			fc.idleSince = now
		}
		fc.woken = false
	}
	for {
		var err error
		if resuming {
			resuming, err = false, resumed
		} else {
			park = parkable && fc.f.open.Load() > int64(fc.f.cfg.ParkAbove)
			if park && fc.slow && !woken {
				// Its requests come farther apart than parkAfter: park at once
				// rather than hold a goroutine and a timer for parkAfter first.
				// (Bytes or a close already there wake it again at once: the
				// Parker's registrations are level-triggered. One it has just
				// woken for them reads them first.)
				return errPark
			}
			woken = false
			if !fc.inHold { // (in a Hold the read below never waits: armed after it)
				fc.armIdle(now, park)
			}
		}
		if err == nil {
			if _, err = br.Peek(1); err == nil {
				break
			}
			if err == netx.ErrWouldBlock || err == netx.ErrDrained {
				fc.waiting, fc.waitPark = true, park
				if err == netx.ErrDrained && !park {
					// A close that came with the request may be pending
					// unseen (see netx's Hold): wait briefly, then read.
					fc.waitDrained = true
					fc.rd.ArmWithin(fc.c, now, drainedWait, drainedWait/2)
				} else {
					fc.armIdle(now, park)
				}
				return errHeldWait
			}
		}
		fc.idle.Store(false)
		if drained && errors.Is(err, os.ErrDeadlineExceeded) && !fc.f.shutting.Load() {
			drained = false // the brief wait ended: read (outside the Hold)
			now = time.Now()
			fc.idle.Store(true)
			continue
		}
		if !parkable || !errors.Is(err, os.ErrDeadlineExceeded) || fc.f.shutting.Load() {
			return errIdle
		}
		if park {
			return errPark
		}
		if now = time.Now(); now.Sub(fc.idleSince) >= fc.f.cfg.IdleTimeout {
			return errIdle
		}
		fc.idle.Store(true)
	}
	fc.idle.Store(false)
	fc.arrived = time.Now()
	fc.slow = fc.arrived.Sub(fc.idleSince) >= parkAfter
	return nil
}

// drainedWait bounds a held wait on a socket that a read drained (see
// waitRequest): longer than a busy keep-alive client's pause between
// requests, short enough that a client's close that came with its last
// request is seen soon.
const drainedWait = 100 * time.Millisecond

// armIdle arms the read deadline of the wait for the next request: parkAfter
// when the connection parks after it; else the idle timeout, looked at
// again every parkRecheck when the connection may park later.
func (fc *conn) armIdle(now time.Time, park bool) {
	switch {
	case park:
		fc.rd.ArmWithin(fc.c, now, parkAfter, parkAfter/2)
	case fc.parkable(): // too few connections to park now; look again later
		wait := min(parkRecheck, fc.idleSince.Add(fc.f.cfg.IdleTimeout).Sub(now))
		fc.rd.ArmWithin(fc.c, now, wait, wait/2)
	default:
		// From the wait's start, not now: a brief held wait (drainedWait)
		// may have come first.
		fc.rd.Arm(fc.c, fc.idleSince, fc.f.cfg.IdleTimeout)
	}
}

// parkable reports whether the connection may be parked when idle: it has a
// descriptor, the front end a Parker, parking is on, and the idle timeout
// is long enough to be worth it.
func (fc *conn) parkable() bool {
	return fc.fd >= 0 && fc.f.parker != nil && fc.f.cfg.IdleTimeout > 2*parkAfter && fc.f.cfg.ParkAbove >= 0
}

// bufferedHead skips the empty lines at the start of the buffer and returns
// the length of the request head it holds: -1 while the head is not all
// there yet.
func (fc *conn) bufferedHead() (int, error) {
	br := fc.br
	buf, _ := br.Peek(br.Buffered())
	for skip := emptyLine(buf); skip > 0; skip = emptyLine(buf) {
		br.Discard(skip)
		buf = buf[skip:]
	}
	if len(buf) == 0 {
		return -1, nil
	}
	n, err := h1.HeadEnd(buf)
	switch {
	case err != nil:
		return 0, &h1.Error{Status: http.StatusBadRequest, Reason: err.Error()}
	case n > fc.f.cfg.MaxHeaderBytes:
		return 0, errHeadTooBig
	case n >= 0:
		return n, nil
	case len(buf) >= fc.f.cfg.MaxHeaderBytes:
		return 0, errHeadTooBig
	}
	return -1, nil
}

// emptyLine returns the length of the empty line (CRLF, or a bare LF, as
// HAProxy and net/http skip it too) at the start of b, or 0.
func emptyLine(b []byte) int {
	switch {
	case len(b) >= 1 && b[0] == '\n':
		return 1
	case len(b) >= 2 && b[0] == '\r' && b[1] == '\n':
		return 2
	}
	return 0
}

// grow replaces the connection's reader with one that holds a head of
// MaxHeaderBytes, keeping what was read.
func (fc *conn) grow() {
	old := fc.br
	buffered, _ := old.Peek(old.Buffered())
	rest := bytes.Clone(buffered)
	fc.br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(rest), fc.c), fc.f.cfg.MaxHeaderBytes+1)
	fc.big = true // the old reader goes to the garbage collector with its state
}

// refuseHead answers a head readHead gave up on, if it deserves an answer.
func (fc *conn) refuseHead(err error, start time.Time) {
	fc.req = h1.Request{}
	var he *h1.Error
	switch {
	case errors.As(err, &he):
		fc.refuse(he.Status, start)
	case err == errHeadTimeout:
		fc.refuse(http.StatusRequestTimeout, start)
	case err == errHeadTooBig:
		fc.refuse(http.StatusRequestHeaderFieldsTooLarge, start)
	}
}

// refuse answers the proxy's own error and the connection closes after it:
// after a request the proxy refuses, where the next one starts is in doubt.
func (fc *conn) refuse(code int, start time.Time) {
	fc.bytes = 0
	fc.begin()
	fc.term = proxy.TermRefused
	fc.writeError(code, true)
	fc.bw.Flush()
	fc.finish(nil, code, start, 0)
}

// writeError writes one of the proxy's own JSON errors into the client's
// buffer (the caller flushes); no body to HEAD.
func (fc *conn) writeError(code int, closing bool) {
	body := proxy.JSONError(code, proxy.ErrorText(code))
	h1.WriteError(fc.bw, code, "application/json", body, fc.req.IsHead(), closing)
	if !fc.req.IsHead() {
		fc.bytes = int64(len(body))
	}
}

// peek returns the first n buffered bytes.
func (fc *conn) peek(n int) []byte {
	b, _ := fc.br.Peek(n)
	return b
}

// fast reports whether the parsed request takes the fast path: a plain
// HTTP/1.1 or HTTP/1.0 request in origin-form with a Host, no body or a
// Content-Length body of at most retry_body_limit, nothing to upgrade or
// expect, and not for a path Fallback answers.
func (fc *conn) fast() bool {
	r := &fc.req
	return fc.f.cfg.Fast && r.Form == h1.OriginForm && len(r.Host) > 0 &&
		!r.Upgrade && !r.Expect100 && !r.TE && !r.Trailer && r.Body != h1.Chunked &&
		r.ContentLength <= fc.p.Config().RetryBodyLimit && r.NXFF <= len(r.XFF) && !fc.handoffPath()
}

// handoffPath reports whether the request's path is one Fallback answers.
func (fc *conn) handoffPath() bool {
	if fc.f.cfg.Handoff == nil {
		return false
	}
	t := fc.req.Target
	if len(t) < 3 || (string(t[:3]) != "/__" && bytes.IndexByte(t, '%') < 0) {
		return false
	}
	return fc.f.cfg.Handoff(fc.path())
}

// path returns the request's path, unescaped as net/http's URL.Path.
func (fc *conn) path() string {
	t := fc.req.Target
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		t = t[:i]
	}
	if bytes.IndexByte(t, '%') >= 0 {
		if u, err := url.PathUnescape(string(t)); err == nil {
			return u
		}
	}
	return string(t)
}

// serveRequest forwards the parsed request whose head is the first n
// buffered bytes and answers the client. It reports whether the connection
// stays open for another request.
func (fc *conn) serveRequest(n int, start time.Time) bool {
	p := fc.p
	br := fc.br
	h := &fc.req
	head, _ := br.Peek(n)
	var body []byte
	unread := n // bytes of this request still in br when it is done
	if h.Body == h1.Length {
		cl := int(h.ContentLength)
		if br.Buffered() < n+cl {
			// The body is still coming: the client gets idle_timeout for it
			// (not whatever deadline the wait for the head left set).
			fc.rd.Arm(fc.c, time.Now(), fc.f.cfg.IdleTimeout)
			fc.flushBeforeWait()
		}
		if n+cl <= br.Size() {
			b, err := br.Peek(n + cl)
			if err != nil {
				return fc.bodyFailed(err, start)
			}
			if &b[0] != &head[0] {
				// Reading the body slid the buffered bytes to the start of the
				// buffer: the parsed head's slices point at what is there now.
				h1.ParseRequest(b[:n], fc.f.cfg.Limits, h)
			}
			head, body = b[:n], b[n:]
			unread = n + cl
		} else {
			// The body does not fit beside the head: keep a copy of the head
			// (reading the body reuses the buffer) and read the body apart.
			fc.headCopy = append(fc.headCopy[:0], head...)
			head = fc.headCopy
			h1.ParseRequest(head, fc.f.cfg.Limits, h) // repoint into the copy
			br.Discard(n)
			unread = 0
			if cap(fc.body) < cl {
				fc.body = make([]byte, cl)
			}
			body = fc.body[:cl]
			if _, err := io.ReadFull(br, body); err != nil {
				return fc.bodyFailed(err, start)
			}
		}
	}

	bal := p.Current()
	key := ""
	if bal.Keyed {
		key = fc.clientIP()
	}
	pl := proxy.Plan{Key: key, Replayable: true, Idempotent: h.Idempotent()}
	fc.bytes = 0
	fc.begin()
	if len(h.RequestID) == 0 && fc.timed { // an id only for the access log to name
		fc.newID = proxy.NewRequestID(&fc.idBuf)
	}
	var served *pool.Backend
	var last proxy.Outcome
	var retries int
	if p.Hedging(pl) {
		served, last, retries = p.Hedge(bal, pl, func(ctx context.Context, b *pool.Backend, t proxy.Try) (proxy.Leg, error) {
			return fc.send(ctx, b, t, head, body)
		})
	} else {
		served, last, retries = p.Attempt(bal, pl, func(b *pool.Backend, t proxy.Try) proxy.Outcome {
			return fc.try(b, t, head, body)
		})
	}
	if fc.term == "" {
		fc.term = proxy.Termination(last, false)
	}
	status := last.Status
	keep := !h.Close && !last.Aborted && last.Err == nil
	if last.Err != nil && !last.WroteHeader {
		status = proxy.StatusFor(last.Err)
		fc.writeError(status, h.Close)
		keep = !h.Close
	}
	br.Discard(unread)
	// Logged and counted before the last of the response goes out, as on
	// net/http's path: whoever has the response sees it in the metrics.
	fc.finish(served, status, start, retries)
	// Flush now unless more of the next request is here already
	// (pipelined: answer them together). A response is never held back for
	// a request that has not fully arrived: every wait on the client
	// flushes first (flushBeforeWait).
	if !keep || br.Buffered() == 0 {
		if err := fc.bw.Flush(); err != nil {
			keep = false
		}
	}
	return keep
}

// flushBeforeWait sends the responses the client's buffer holds before a
// read that may wait for the client: it may be waiting for them before it
// sends more.
func (fc *conn) flushBeforeWait() {
	if fc.bw.Buffered() > 0 {
		fc.bw.Flush() // an error sticks; the next write or read sees the connection gone
	}
}

// bodyFailed answers a request whose body did not arrive: 408 when the
// client was too slow, else (it went away) nothing.
func (fc *conn) bodyFailed(err error, start time.Time) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		fc.refuse(http.StatusRequestTimeout, start)
	}
	return false
}

// clientIP is proxy.ClientIP for the fast path.
func (fc *conn) clientIP() string {
	trusted := fc.p.Config().TrustedProxies
	if len(trusted) == 0 || fc.req.NXFF == 0 || !proxy.IsTrusted(fc.peer, trusted) {
		return fc.peer
	}
	values := make([]string, fc.req.NXFF)
	for i, v := range fc.req.XFF[:fc.req.NXFF] {
		values[i] = string(v)
	}
	return proxy.ClientFromForwarded(fc.peer, values, trusted)
}

// begin resets the request's access-log state.
func (fc *conn) begin() {
	fc.newID, fc.term = nil, ""
	fc.tc, fc.tr, fc.backendStatus = -1, -1, 0
	fc.timed = fc.p.Config().AccessLog != nil
}

func (fc *conn) finish(b *pool.Backend, status int, start time.Time, retries int) {
	d := time.Since(start)
	fc.p.Config().Metrics.Observe(b, status, d)
	if fc.p.Config().AccessLog != nil {
		fc.p.LogAccess(context.Background(), fc.access(b, status, d, retries))
	}
}

// access is the access-log entry of the request just served.
func (fc *conn) access(b *pool.Backend, status int, d time.Duration, retries int) proxy.Access {
	r := &fc.req
	a := proxy.Access{Client: fc.remote, Method: string(r.Method), Path: fc.path(),
		Host: string(r.Host), UserAgent: string(r.UserAgent), RequestID: string(r.RequestID),
		Status: status, BackendStatus: fc.backendStatus, Backend: b,
		Connect: fc.tc, Response: fc.tr, Duration: d, Bytes: fc.bytes, Retries: retries, Termination: fc.term}
	if fc.newID != nil {
		a.RequestID = string(fc.newID)
	}
	if len(r.Method) > 0 {
		a.ClientIP = fc.clientIP()
		a.Proto = "HTTP/1.1"
		if r.Minor == 0 {
			a.Proto = "HTTP/1.0"
		}
	} else {
		a.ClientIP = fc.peer // no request parsed: no X-Forwarded-For to read
	}
	if i := bytes.IndexByte(r.Target, '?'); i >= 0 {
		a.Query = string(r.Target[i+1:])
	}
	return a
}

// itoa is strconv.Itoa for the request writer.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
