package h1safety

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"
)

// Raw clients: they send bytes as given (all at once, or trickled) and read
// responses strictly, in order, with http.ReadResponse, keeping every byte
// they received for the checks and the failure messages.

// readTimeout bounds the wait for each response: well above the harness's
// request_timeout (5 s) and read_header_timeout (3 s), so a proxy that
// answers by those timeouts is seen answering, also on a busy machine.
const readTimeout = 10 * time.Second

type client struct {
	c net.Conn
	// wait bounds the wait for each response (default readTimeout).
	wait time.Duration
	m    *msgReader
	sent []byte
	// closed: the connection ended (EOF or reset) where a response could
	// have started.
	closed bool
}

// dial connects to the proxy. A connect on loopback completes at once in
// the kernel; the bound is as generous as readTimeout because the Go side
// may not see it for seconds: with 48 vectors in parallel on a machine whose
// two cores are busy, a 2 s bound once ran out (make test beside two busy
// loops: "dial the proxy: i/o timeout" with no SYN retransmitted).
func dial(addr string) (*client, error) {
	c, err := net.DialTimeout("tcp", addr, readTimeout)
	if err != nil {
		return nil, fmt.Errorf("dial the proxy: %w", err)
	}
	return &client{c: c, m: newMsgReader(c), wait: readTimeout}, nil
}

func (cl *client) close() { cl.c.Close() }

// send writes b, in one write, or byte by byte trickle apart.
func (cl *client) send(b []byte, trickle time.Duration) error {
	cl.sent = append(cl.sent, b...)
	cl.c.SetWriteDeadline(time.Now().Add(readTimeout))
	if trickle <= 0 {
		_, err := cl.c.Write(b)
		return err
	}
	for i := range b {
		if _, err := cl.c.Write(b[i : i+1]); err != nil {
			return err
		}
		time.Sleep(trickle)
	}
	return nil
}

// got is one response as the client read it.
type got struct {
	Resp    *http.Response // nil when none could be read (see Err)
	Body    []byte
	BodyErr error
	Interim []int  // 1xx statuses read before it
	Raw     []byte // the bytes the response took, head and body
	// Problems are the strict-grammar findings on its head and body framing.
	Problems []string
	// Err: no response: the connection closed (errClosed), the wait timed
	// out, or the bytes are not a response.
	Err error
}

var errClosed = errors.New("connection closed")

// seq is the X-Seq the backend put in an echo (0: none).
func (g *got) seq() int {
	if g.Resp == nil {
		return 0
	}
	n, _ := strconv.Atoi(g.Resp.Header.Get("X-Seq"))
	return n
}

func (g *got) status() int {
	if g.Resp == nil {
		return 0
	}
	return g.Resp.StatusCode
}

func (g *got) String() string {
	if g.Resp == nil {
		return fmt.Sprintf("no response (%v)", g.Err)
	}
	s := fmt.Sprintf("%d", g.Resp.StatusCode)
	if n := g.seq(); n > 0 {
		s += fmt.Sprintf(" echo #%d", n)
	}
	return s + " " + quote(g.Raw, 120)
}

// read reads the next response to a request with the given method: 1xx
// responses are noted and skipped, then the final response and its body.
func (cl *client) read(method string) *got {
	g := &got{}
	cl.c.SetReadDeadline(time.Now().Add(cl.wait))
	p0 := cl.m.pos()
	req := &http.Request{Method: method}
	for {
		h0 := cl.m.pos()
		resp, err := http.ReadResponse(cl.m.br, req)
		if err != nil {
			g.Raw = cl.m.span(p0, cl.m.pos())
			buffered, _ := cl.m.br.Peek(cl.m.br.Buffered())
			g.Raw = append(g.Raw, buffered...)
			switch {
			case len(g.Raw) == 0 && isClosed(err):
				cl.closed = true
				g.Err = errClosed
			case isTimeout(err):
				g.Err = fmt.Errorf("no complete response within %v", cl.wait)
			default:
				g.Err = fmt.Errorf("not a response: %v", err)
				if isClosed(err) {
					cl.closed = true
				}
			}
			return g
		}
		head := cl.m.span(h0, cl.m.pos())
		for _, p := range headProblems(head, false) {
			g.Problems = append(g.Problems, "head: "+p)
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			g.Interim = append(g.Interim, resp.StatusCode)
			continue
		}
		g.Resp = resp
		b0 := cl.m.pos()
		g.Body, g.BodyErr = io.ReadAll(resp.Body)
		g.Raw = cl.m.span(p0, cl.m.pos())
		if g.BodyErr != nil {
			if isClosed(g.BodyErr) {
				cl.closed = true
			}
			if isTimeout(g.BodyErr) {
				g.BodyErr = fmt.Errorf("body not complete within %v: %w", cl.wait, g.BodyErr)
			}
		}
		if isChunked(resp) && method != http.MethodHead && bodyAllowed(resp.StatusCode) {
			for _, p := range chunkedProblems(cl.m.span(b0, cl.m.pos()), g.BodyErr == nil) {
				g.Problems = append(g.Problems, "chunked body: "+p)
			}
		}
		if g.BodyErr == nil && resp.ContentLength < 0 && !isChunked(resp) && bodyAllowed(resp.StatusCode) && method != http.MethodHead {
			cl.closed = true // delimited by close: read to EOF
		}
		return g
	}
}

// expectClosed waits for the proxy to close the connection; it returns
// what came instead, if anything.
func (cl *client) expectClosed() string {
	if cl.closed {
		return ""
	}
	// A proxy closes right after the answer it has sent (no timer runs):
	// half the wait for an answer is plenty.
	wait := cl.wait / 2
	cl.c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 512)
	var extra []byte
	for {
		n, err := cl.m.br.Read(buf)
		extra = append(extra, buf[:n]...)
		if err != nil {
			cl.closed = true
			switch {
			case isTimeout(err) && len(extra) == 0:
				return fmt.Sprintf("the connection stayed open (nothing within %v)", wait)
			case len(extra) > 0:
				return "bytes came instead of the close: " + quote(extra, 120)
			}
			return ""
		}
	}
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// simple sends "GET path" on a new connection and reads the answer.
func simple(addr, path string) (*got, []byte) {
	cl, err := dial(addr)
	if err != nil {
		return &got{Err: err}, nil
	}
	defer cl.close()
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: lb.test\r\n\r\n")
	if err := cl.send(req, 0); err != nil {
		return &got{Err: err}, req
	}
	return cl.read(http.MethodGet), req
}
