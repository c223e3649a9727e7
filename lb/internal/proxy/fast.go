package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/lblab/lblab/lb/internal/pool"
)

// One request of the fast front end (front.go) on one backend: the request
// head is written on as it came, less its hop-by-hop lines, plus
// X-Forwarded-*; the response head and body are relayed as they come, a
// chunked body with its framing.

// try sends the request (head and body as the client sent them) to b and
// relays the response to the client's buffer.
func (fc *frontConn) try(b *pool.Backend, head, body []byte) outcome {
	b.Acquire()
	defer b.Release()
	cp := fc.p.leanPool(b)
	now := time.Now()
	c, reused, err := cp.get(context.Background(), now, false)
	if err != nil {
		return outcome{err: err}
	}
	err = fc.exchange(cp, c, head, body, now)
	if err != nil && reused && errors.Is(err, errNoResponse) {
		// The backend closed the idle connection just as it was reused: the
		// request never reached it; send it on a new connection.
		c.Close()
		if c, _, err = cp.dial(context.Background()); err != nil {
			return outcome{err: err}
		}
		err = fc.exchange(cp, c, head, body, time.Now())
	}
	if err != nil {
		c.Close()
		return outcome{err: err}
	}
	return fc.relay(cp, c)
}

// exchange writes the request on c and reads the final response head into
// fc.resp (1xx responses are skipped). The head stays in c's reader.
func (fc *frontConn) exchange(cp *connPool, c *backendConn, head, body []byte, now time.Time) error {
	h := &fc.req
	w := c.bw
	writeKept(w, head, 0, len(head)-2, h.drops[:h.ndrops])
	w.WriteString("X-Forwarded-For: ")
	if trusted := fc.p.cfg.TrustedProxies; h.nxff > 0 && len(trusted) > 0 && isTrusted(fc.peer, trusted) {
		for _, v := range h.xff[:h.nxff] {
			w.Write(v)
			w.WriteString(", ")
		}
	}
	w.WriteString(fc.peer)
	w.WriteString("\r\nX-Forwarded-Host: ")
	w.Write(h.host)
	w.WriteString("\r\nX-Forwarded-Proto: http\r\n")
	if !h.hasLength {
		switch string(h.method) {
		case "POST", "PUT", "PATCH":
			w.WriteString("Content-Length: 0\r\n")
		}
	}
	w.WriteString("\r\n")
	w.Write(body)
	if err := w.Flush(); err != nil {
		// Nothing of a response came back: on a reused connection the
		// backend had closed it.
		return fmt.Errorf("%w: %w", errNoResponse, err)
	}
	if d := cp.cfg.ResponseHeaderTimeout; d > 0 {
		c.rd.arm(c, now, d)
	}
	br := c.br
	for {
		n, err := readResponseHead(br)
		if err != nil {
			return err
		}
		b, _ := br.Peek(n)
		if err := parseResponse(b, &fc.resp, &fc.lines); err != nil {
			return err
		}
		switch s := fc.resp.status; {
		case s >= 200:
			return nil
		case s == 101:
			return errors.New("backend switched protocols on a request without Upgrade")
		}
		br.Discard(n) // informational (e.g. 103 Early Hints): not forwarded
	}
}

// readResponseHead waits until br holds a complete response head and
// returns its length.
func readResponseHead(br *bufio.Reader) (int, error) {
	if _, err := br.Peek(1); err != nil {
		if classify(err, false) == failReset || errors.Is(err, net.ErrClosed) {
			return 0, fmt.Errorf("%w: %w", errNoResponse, err)
		}
		return 0, err
	}
	for {
		buf, _ := br.Peek(br.Buffered())
		if n := headEnd(buf); n >= 0 {
			return n, nil
		}
		if len(buf) == br.Size() {
			return 0, fmt.Errorf("%w: head larger than %d bytes", errBadResponse, br.Size())
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
// buffer and puts c back in its pool when the backend keeps it open.
func (fc *frontConn) relay(cp *connPool, c *backendConn) outcome {
	rh := &fc.resp
	br := c.br
	head, _ := br.Peek(rh.size)
	w := fc.bw
	w.WriteString("HTTP/1.1")
	w.Write(head[8:rh.lineEnd])
	writeKept(w, head, rh.lineEnd, rh.size-2, rh.drops[:rh.ndrops])
	noBody := string(fc.req.method) == "HEAD" || rh.status == 204 || rh.status == 304
	untilClose := !noBody && !rh.chunked && rh.contentLength < 0
	if fc.req.close || untilClose || fc.f.shutting.Load() {
		w.WriteString("Connection: close\r\n")
		fc.req.close = true
	}
	w.WriteString("\r\n")
	br.Discard(rh.size)
	done := outcome{status: rh.status, wroteHeader: true}

	var rerr, werr error
	if !noBody {
		if rh.chunked || untilClose || int64(br.Buffered()) < rh.contentLength {
			c.rd.clear(c) // more to read: the body may take longer than request_timeout
		}
		switch {
		case rh.chunked:
			rerr, werr = fc.copyChunked(c)
		default:
			rerr, werr = fc.copyBody(c, rh.contentLength) // -1: until the backend closes
		}
	}
	if rerr != nil || werr != nil {
		c.Close()
		if rerr != nil {
			fc.p.log.Debug("backend response cut off", "backend", cp.addr, "error", rerr)
		}
		done.aborted = true
		return done
	}
	if rh.close || untilClose {
		c.Close()
	} else {
		cp.put(c, time.Now())
	}
	return done
}

// copyBody copies n body bytes (n < 0: until EOF) from the backend to the
// client's buffer, handing the client what it has before each wait for the
// backend, so a slow or streamed body reaches it as it comes.
func (fc *frontConn) copyBody(c *backendConn, n int64) (rerr, werr error) {
	br, w := c.br, fc.bw
	for n != 0 {
		if br.Buffered() == 0 {
			if w.Buffered() > 0 {
				if werr = w.Flush(); werr != nil {
					return nil, werr
				}
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

// copyChunked relays a chunked body with its framing and trailers, checking
// the framing as it goes.
func (fc *frontConn) copyChunked(c *backendConn) (rerr, werr error) {
	w := fc.bw
	for {
		line, err := fc.backendLine(c)
		if err != nil {
			return err, nil
		}
		size, ok := chunkSize(line)
		if !ok {
			return errBadResponse, nil
		}
		w.Write(line)
		if size == 0 {
			for { // trailer fields, then the empty line
				line, err := fc.backendLine(c)
				if err != nil {
					return err, nil
				}
				w.Write(line)
				if len(line) == 2 {
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
			return errBadResponse, nil
		}
		w.Write(line)
	}
}

// backendLine reads one CRLF-terminated line of a chunked body.
func (fc *frontConn) backendLine(c *backendConn) ([]byte, error) {
	if c.br.Buffered() == 0 && fc.bw.Buffered() > 0 {
		fc.bw.Flush() // an error sticks and ends the response later
	}
	line, err := c.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, errBadResponse
	case err == io.EOF:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	case len(line) < 2 || line[len(line)-2] != '\r':
		return nil, errBadResponse
	}
	return line, nil
}

// chunkSize parses a chunk-size line ("1a2b;ext\r\n").
func chunkSize(line []byte) (int64, bool) {
	line = line[:len(line)-2]
	var n int64
	digits := 0
	for _, c := range line {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		case c == ';' || c == ' ' || c == '\t':
			return n, digits > 0
		default:
			return 0, false
		}
		if digits++; digits > 15 {
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, digits > 0
}

// lazyDeadline is a connection's read deadline, re-armed lazily: one set
// within the last hundredth of its timeout is left as it is, which saves
// re-arming a timer on every request of a busy connection.
type lazyDeadline struct{ at time.Time } // zero: none, or not known

// arm makes sure a read deadline d from now (less at most d/100) is set on c.
func (l *lazyDeadline) arm(c net.Conn, now time.Time, d time.Duration) {
	if !l.at.IsZero() && l.at.Sub(now) >= d-d/100 {
		return
	}
	l.at = now.Add(d)
	c.SetReadDeadline(l.at)
}

// clear removes c's read deadline.
func (l *lazyDeadline) clear(c net.Conn) {
	if !l.at.IsZero() {
		l.at = time.Time{}
		c.SetReadDeadline(time.Time{})
	}
}

// set sets a deadline arm does not know of (the next arm sets its own).
func (l *lazyDeadline) set(c net.Conn, t time.Time) {
	l.at = time.Time{}
	c.SetReadDeadline(t)
}
