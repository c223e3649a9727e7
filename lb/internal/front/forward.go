package front

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/lblab/lblab/lb/internal/h1"
	"github.com/lblab/lblab/lb/internal/pool"
	"github.com/lblab/lblab/lb/internal/proxy"
	"github.com/lblab/lblab/lb/internal/upstream"
)

// try sends the request (head and body as the client sent them) to b and
// relays the response to the client's buffer. With t.HeadTimeout the wait
// for the response head is that (try_timeout), not request_timeout.
func (fc *conn) try(b *pool.Backend, t proxy.Try, head, body []byte) proxy.Outcome {
	b.Acquire()
	defer b.Release()
	cp := fc.p.Upstream(b)
	now := time.Now()
	fc.tc, fc.tr, fc.backendStatus = -1, -1, 0
	c, reused, err := cp.Get(context.Background(), now)
	if err != nil {
		return proxy.Outcome{Err: err}
	}
	if fc.timed {
		fc.tc = 0
		if !reused {
			fc.tc = time.Since(now)
		}
	}
	err = fc.exchange(cp, c, head, body, now, &fc.resp, t.HeadTimeout)
	if err != nil && upstream.Resend(err, reused, fc.req.Idempotent()) {
		// A pooled connection failed before the request could have been
		// acted on: send it on a new connection.
		t0 := time.Now()
		if c, err = cp.Redial(context.Background(), c); err != nil {
			return proxy.Outcome{Err: err}
		}
		fc.tc = time.Since(t0)
		err = fc.exchange(cp, c, head, body, time.Now(), &fc.resp, t.HeadTimeout)
	}
	if err != nil {
		c.Close()
		return proxy.Outcome{Err: err}
	}
	return fc.relay(cp, c)
}

// leg is one try of a hedged request (proxy.Hedge): sent, with its
// response head read into resp, not yet relayed.
type leg struct {
	fc   *conn
	b    *pool.Backend
	cp   *upstream.Pool
	resp h1.Response
	tc   time.Duration // connect time (0: a pooled connection)
	tr   time.Duration // request sent → response head read

	mu        sync.Mutex // guards c and cancelled: the try's goroutine and the canceller
	c         *upstream.Conn
	cancelled bool
}

// use makes c the leg's connection unless the leg was cancelled (then c is
// closed).
func (l *leg) use(c *upstream.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancelled {
		c.Close()
		return false
	}
	l.c = c
	return true
}

// cancel closes the leg's connection: a pending exchange ends at once and
// the backend sees the request cancelled.
func (l *leg) cancel() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cancelled = true
	if l.c != nil {
		l.c.Close()
	}
}

func (l *leg) Status() int { return l.resp.Status }

// Relay sends the response to the client (on the connection's goroutine).
func (l *leg) Relay() proxy.Outcome {
	defer l.b.Release()
	l.fc.resp = l.resp
	l.fc.backendStatus = l.resp.Status
	if l.fc.timed {
		l.fc.tc, l.fc.tr = l.tc, l.tr
	}
	return l.fc.relay(l.cp, l.c)
}

// Drop abandons the response.
func (l *leg) Drop() {
	l.c.Close()
	l.b.Release()
}

// send is try's first half for proxy.Hedge, on a goroutine of its own: it
// sends the request to b and reads the response head. Cancelling ctx closes
// the connection. It only reads the connection's state (the request head
// and body stay put until Hedge returns).
func (fc *conn) send(ctx context.Context, b *pool.Backend, t proxy.Try, head, body []byte) (proxy.Leg, error) {
	b.Acquire()
	l := &leg{fc: fc, b: b, cp: fc.p.Upstream(b)}
	stop := context.AfterFunc(ctx, l.cancel)
	fail := func(err error) (proxy.Leg, error) {
		stop()
		l.cancel()
		b.Release()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	now := time.Now()
	c, reused, err := l.cp.Get(ctx, now)
	if err != nil {
		return fail(err)
	}
	if !l.use(c) {
		return fail(context.Canceled)
	}
	sent := time.Now()
	if !reused {
		l.tc = sent.Sub(now)
	}
	err = fc.exchange(l.cp, c, head, body, now, &l.resp, t.HeadTimeout)
	if err != nil && ctx.Err() == nil && upstream.Resend(err, reused, fc.req.Idempotent()) {
		t0 := time.Now()
		if c, err = l.cp.Redial(ctx, c); err != nil {
			return fail(err)
		}
		if !l.use(c) {
			return fail(context.Canceled)
		}
		sent = time.Now()
		l.tc = sent.Sub(t0)
		err = fc.exchange(l.cp, c, head, body, sent, &l.resp, t.HeadTimeout)
	}
	l.tr = time.Since(sent)
	if err != nil {
		return fail(err)
	}
	if !stop() {
		return fail(context.Canceled) // cancelled as the head came
	}
	return l, nil
}

// exchange writes the request on c and reads the final response head into
// resp (1xx responses are skipped). The head stays in c's reader. With
// headTimeout > 0 the wait for the head is that long (try_timeout), and its
// expiry an error wrapping proxy.ErrTryTimeout.
func (fc *conn) exchange(cp *upstream.Pool, c *upstream.Conn, head, body []byte, now time.Time, resp *h1.Response, headTimeout time.Duration) error {
	h := &fc.req
	w := c.BW
	c.Begin()
	if h.Minor == 0 {
		// An HTTP/1.0 client's request goes on as HTTP/1.1, so the
		// backend keeps its connection open for the next one.
		eol := bytes.IndexByte(head, '\n') - 1
		w.Write(head[:eol-len("HTTP/1.0")])
		w.WriteString("HTTP/1.1")
		h1.WriteKept(w, head, eol, len(head)-2, h.Drops())
	} else {
		h1.WriteKept(w, head, 0, len(head)-2, h.Drops())
	}
	var prior [][]byte
	if trusted := fc.p.Config().TrustedProxies; h.NXFF > 0 && len(trusted) > 0 && proxy.IsTrusted(fc.peer, trusted) {
		prior = h.XFF[:h.NXFF]
	}
	h1.WriteForwarded(w, prior, fc.peer, h.Host, false)
	if fc.newID != nil {
		w.WriteString("X-Request-Id: ")
		w.Write(fc.newID)
		w.WriteString("\r\n")
	}
	switch {
	case h.Body == h1.Length:
		w.WriteString("Content-Length: ")
		w.WriteString(itoa(h.ContentLength))
		w.WriteString("\r\n")
	case string(h.Method) == "POST" || string(h.Method) == "PUT" || string(h.Method) == "PATCH":
		w.WriteString("Content-Length: 0\r\n")
	}
	w.WriteString("\r\n")
	w.Write(body)
	if headTimeout > 0 {
		c.RD.Arm(c, now, headTimeout)
	} else if d := cp.Config().ResponseHeaderTimeout; d > 0 {
		c.RD.Arm(c, now, d)
	}
	var sent time.Time
	at := &sent
	if !fc.timed {
		at = nil
	}
	if err := c.Send(at); err != nil {
		if c.Sent() == 0 {
			return fmt.Errorf("%w: %w", upstream.ErrNotSent, err)
		}
		return fmt.Errorf("%w: %w", upstream.ErrNoResponse, err)
	}
	br := c.BR
	for {
		n, err := awaitHead(c)
		if err != nil {
			if headTimeout > 0 && isTimeout(err) {
				return fmt.Errorf("%w (%s): %w", proxy.ErrTryTimeout, headTimeout, err)
			}
			return err
		}
		b, _ := br.Peek(n)
		if err := h1.ParseResponse(b, h.IsHead(), fc.f.cfg.Limits, resp); err != nil {
			return err
		}
		switch {
		case resp.Status == 101:
			return errors.New("backend switched protocols on a request without Upgrade")
		case resp.Informational():
			br.Discard(n) // e.g. 103 Early Hints: not forwarded
		default:
			if resp == &fc.resp { // not a hedged leg (Relay sets these for the winner)
				if fc.timed {
					fc.tr = time.Since(sent)
				}
				fc.backendStatus = resp.Status
			}
			return nil
		}
	}
}

// lastLook is how long a response head that had begun to arrive when the
// wait for it expired gets to complete.
const lastLook = 100 * time.Millisecond

// awaitHead is readResponseHead on c's reader with a last look when its
// read deadline expires: if bytes of the response wait on the socket by
// then, the head gets lastLook more to complete, and a 504 (or a retry
// after try_timeout) only follows when it does not. The runtime fires an
// expired deadline before it polls the network, so on a starved process
// the expiry can win over a response that came seconds before it (beside
// two busy loops, a backend that answered in 15 ms got a 504 after 2.28 s).
// HAProxy likewise lets a read event seen in the same pass override an
// expired timeout.
func awaitHead(c *upstream.Conn) (int, error) {
	n, err := readResponseHead(c.BR)
	if err == nil || !isTimeout(err) || !c.Arrived() {
		return n, err
	}
	c.RD.Set(c, time.Now().Add(lastLook))
	return readResponseHead(c.BR)
}

// isTimeout says whether err is a read deadline's expiry.
func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// readResponseHead waits until br holds a complete response head and
// returns its length.
func readResponseHead(br *bufio.Reader) (int, error) {
	if _, err := br.Peek(1); err != nil {
		if !isTimeout(err) {
			return 0, fmt.Errorf("%w: %w", upstream.ErrNoResponse, err)
		}
		return 0, err
	}
	for {
		buf, _ := br.Peek(br.Buffered())
		n, err := h1.HeadEnd(buf)
		switch {
		case err != nil:
			return 0, &h1.Error{Status: 502, Reason: err.Error()}
		case n >= 0:
			return n, nil
		case len(buf) == br.Size():
			return 0, &h1.Error{Status: 502, Reason: "response head too large"}
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
	}
}

// relay writes the response head in fc.resp and its body to the client's
// buffer, and puts c back in its pool when the response ended exactly on its
// framing and the backend keeps the connection open.
func (fc *conn) relay(cp *upstream.Pool, c *upstream.Conn) proxy.Outcome {
	rh := &fc.resp
	br := c.BR
	if rh.Body == h1.Chunked {
		if err := prescan(br, rh.Size); err != nil {
			c.Close()
			return proxy.Outcome{Err: err}
		}
	}
	head, _ := br.Peek(rh.Size)
	w := fc.bw
	w.WriteString("HTTP/1.1")
	w.Write(head[8:rh.LineEnd])
	// An HTTP/1.0 client does not know chunked: it gets the data alone,
	// delimited by the close.
	dechunk := fc.req.Minor == 0 && rh.Body == h1.Chunked
	if dechunk {
		writeKeptAlso(w, head, rh.LineEnd, rh.Size-2, rh.Drops(), rh.TE)
	} else {
		h1.WriteKept(w, head, rh.LineEnd, rh.Size-2, rh.Drops())
	}
	switch {
	case fc.req.Close || rh.Body == h1.UntilClose || dechunk || fc.f.shutting.Load():
		w.WriteString("Connection: close\r\n")
		fc.req.Close = true
	case fc.req.Minor == 0:
		w.WriteString("Connection: keep-alive\r\n") // HTTP/1.0 closes unless told
	}
	w.WriteString("\r\n")
	br.Discard(rh.Size)
	done := proxy.Outcome{Status: rh.Status, WroteHeader: true}

	var rerr, werr error
	if rh.Body != h1.NoBody {
		if rh.Body != h1.Length || int64(br.Buffered()) < rh.ContentLength {
			c.RD.Clear(c) // more to read: the body may take longer than request_timeout
		}
		switch rh.Body {
		case h1.Chunked:
			rerr, werr = fc.copyChunked(c, dechunk)
		case h1.Length:
			rerr, werr = fc.copyBody(c, rh.ContentLength)
		default:
			rerr, werr = fc.copyBody(c, -1)
		}
	}
	if rerr != nil || werr != nil {
		c.Close()
		fc.term = proxy.TermResponseCut
		if werr != nil {
			fc.term = proxy.TermClientAborted
		}
		if rerr != nil {
			fc.p.Logger().Debug("backend response cut off", "backend", cp.Addr(), "error", rerr)
		}
		done.Aborted = true
		return done
	}
	if rh.Close {
		c.Close()
	} else {
		cp.Put(c, time.Now()) // closes it if bytes wait past the response
	}
	return done
}

// prescan checks the chunk lines of a chunked body that already wait in br
// behind its head (of size n): a malformed one is a 502 before anything goes
// to the client, as HAProxy answers. (Lines that come later cut the
// response off instead.)
func prescan(br *bufio.Reader, n int) error {
	b, _ := br.Peek(br.Buffered())
	var s h1.ChunkedScanner
	if _, err := s.Scan(b[n:]); err != nil {
		return &h1.Error{Status: 502, Reason: err.Error()}
	}
	return nil
}

// bodyBufs holds the buffers copyBody moves large bodies through: 64 KiB,
// so that a body the backend wrote at once takes one read and one write
// rather than one per 16 KiB of the backend reader (a 64 KiB response took
// 15 system calls against HAProxy's 12). A buffer is held only while a body
// is being copied.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// copyBody copies n body bytes (n < 0: until EOF) from the backend to the
// client's buffer, handing the client what it has before each wait for the
// backend, so a slow or streamed body reaches it as it comes.
func (fc *conn) copyBody(c *upstream.Conn, n int64) (rerr, werr error) {
	br, w := c.BR, fc.bw
	var big *[]byte
	defer func() {
		if big != nil {
			bodyBufs.Put(big)
		}
	}()
	for n != 0 {
		if br.Buffered() == 0 {
			if w.Buffered() > 0 {
				if werr = w.Flush(); werr != nil {
					return nil, werr
				}
			}
			if n < 0 || n >= int64(br.Size()) {
				// More than the reader holds: read straight into a larger
				// buffer, and write it straight out (both buffers are
				// empty), never past the body's end.
				if big == nil {
					big = bodyBufs.Get().(*[]byte)
				}
				b := *big
				if n >= 0 && int64(len(b)) > n {
					b = b[:n]
				}
				m, err := br.Read(b)
				if m > 0 {
					if _, werr = w.Write(b[:m]); werr != nil {
						return nil, werr
					}
					fc.bytes += int64(m)
					if n > 0 {
						n -= int64(m)
					}
				}
				switch {
				case err == io.EOF && n < 0:
					return nil, nil
				case err == io.EOF:
					return io.ErrUnexpectedEOF, nil
				case err != nil:
					return err, nil
				}
				continue
			}
			if _, rerr = br.Peek(1); rerr != nil {
				if rerr == io.EOF {
					if n < 0 {
						return nil, nil
					}
					rerr = io.ErrUnexpectedEOF
				}
				return rerr, nil
			}
		}
		k := br.Buffered()
		if n >= 0 && int64(k) > n {
			k = int(n)
		}
		b, _ := br.Peek(k)
		m, err := w.Write(b)
		br.Discard(m)
		fc.bytes += int64(m)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			n -= int64(m)
		}
	}
	return nil, nil
}

// copyChunked relays a chunked body with its framing and trailers (with
// dechunk: the data alone), checking every chunk line and trailer line as it
// goes (h1's rules): a malformed one cuts the response off.
func (fc *conn) copyChunked(c *upstream.Conn, dechunk bool) (rerr, werr error) {
	w := fc.bw
	frame := func(line []byte) { // the framing, relayed unless de-chunking
		if !dechunk {
			w.Write(line)
		}
	}
	for {
		line, err := fc.backendLine(c)
		if err != nil {
			return err, nil
		}
		size, err := h1.ParseChunkLine(line)
		if err != nil {
			return &h1.Error{Status: 502, Reason: err.Error()}, nil
		}
		frame(line)
		if size == 0 {
			for trailers := 0; ; trailers++ { // trailer fields, then the empty line
				line, err := fc.backendLine(c)
				if err != nil {
					return err, nil
				}
				last, err := h1.CheckTrailerLine(line)
				if err != nil || trailers > fc.f.cfg.Limits.Headers() {
					return &h1.Error{Status: 502, Reason: "malformed trailer"}, nil
				}
				frame(line)
				if last {
					return nil, nil
				}
			}
		}
		if rerr, werr = fc.copyBody(c, size); rerr != nil || werr != nil {
			return rerr, werr
		}
		if line, err = fc.backendLine(c); err != nil {
			return err, nil
		}
		if len(line) != 2 {
			return &h1.Error{Status: 502, Reason: "chunk data not followed by CRLF"}, nil
		}
		frame(line)
	}
}

// writeKeptAlso is h1.WriteKept with one more span left out (ordered into
// drops; a zero span is none).
func writeKeptAlso(w *bufio.Writer, b []byte, from, to int, drops []h1.Span, also h1.Span) {
	if also == (h1.Span{}) {
		h1.WriteKept(w, b, from, to, drops)
		return
	}
	for _, d := range drops {
		if also.From >= from && also.To <= d.From {
			w.Write(b[from:also.From])
			from = also.To
		}
		w.Write(b[from:d.From])
		from = d.To
	}
	if also.From >= from {
		w.Write(b[from:also.From])
		from = also.To
	}
	w.Write(b[from:to])
}

// backendLine reads one LF-terminated line of a chunked body (the caller
// checks its CRLF).
func (fc *conn) backendLine(c *upstream.Conn) ([]byte, error) {
	if c.BR.Buffered() == 0 && fc.bw.Buffered() > 0 {
		fc.bw.Flush() // an error sticks and ends the response later
	}
	line, err := c.BR.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, &h1.Error{Status: 502, Reason: "chunk line too long"}
	case err == io.EOF:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	}
	return line, nil
}
