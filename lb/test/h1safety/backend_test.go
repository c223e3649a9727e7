package h1safety

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The scripted raw backend: TCP listeners on 127.0.0.1 that read requests
// as net/http's server does (readServerRequest), record every request in
// arrival order with its raw bytes and connection, and answer each one with
// an echo (its own sequence number and token) unless a script says
// otherwise for its path.

// Do is what the backend does on reading a scripted request.
type Do int

const (
	// Answer writes the act's Reply (or the echo) after reading the whole request.
	Answer Do = iota
	// CloseAfterRead reads the whole request and closes without answering.
	CloseAfterRead
	// CloseAfterHead reads the head only and closes without answering.
	CloseAfterHead
	// ResetAfterRead reads the whole request and resets the connection.
	ResetAfterRead
	// HangAfterRead reads the whole request and never answers.
	HangAfterRead
)

var doNames = [...]string{"answer", "close after reading", "close after the head", "reset after reading", "hang after reading"}

func (d Do) String() string { return doNames[d] }

// Then is what the backend does with the connection after its answer.
type Then int

const (
	// ThenAuto serves the next request when the answer ended by its own
	// framing as http.ReadResponse reads it, and closes otherwise (a body
	// delimited by close, a malformed answer).
	ThenAuto Then = iota
	// ThenServe reads and serves the next request on the connection.
	ThenServe
	// ThenClose closes the connection.
	ThenClose
	// ThenReset resets the connection.
	ThenReset
	// ThenHang keeps the connection open and reads nothing more.
	ThenHang
)

// Act scripts the backend's answer to a request path.
type Act struct {
	Do Do
	// Reply is written instead of the echo; "" means the echo.
	Reply string
	// Split cuts Reply into writes at these offsets, Gap apart.
	Split []int
	Gap   time.Duration
	Then  Then
	// Late is written on the connection Delay after the answer, while the
	// proxy holds it idle (an unsolicited response, say); Then applies
	// after it (ThenAuto: close).
	Late  string
	Delay time.Duration
	// Times is how many requests for the path the act applies to (0: the
	// first only); later ones get the echo.
	Times int
}

// seen is one request the backend read.
type seen struct {
	Seq      int // order of arrival over all backends, from 1
	Backend  int
	Conn     int // connection number over all backends, from 1
	Req      *request
	BodyCut  bool     // the connection ended inside the body
	Problems []string // strict-grammar findings on the forwarded bytes
	Act      *Act     // nil: echoed
	Answered bool     // the answer was written in full
}

func (s *seen) String() string {
	act := "echo"
	if s.Act != nil {
		act = s.Act.Do.String()
		if s.Act.Do == Answer {
			act = "scripted answer"
		}
	}
	cut := ""
	if s.BodyCut {
		cut = ", body cut off"
	}
	return fmt.Sprintf("#%d backend %d conn %d: %s %s (%s%s) %s", s.Seq, s.Backend, s.Conn,
		s.Req.Method, strconv.Quote(s.Req.Path()), act, cut, quote(s.Req.Raw, 160))
}

// garbage is bytes the backend could not read as a request.
type garbage struct {
	Backend, Conn int
	Raw           []byte
	Err           error
}

// backends is a set of scripted backends sharing one record.
type backends struct {
	t     testing.TB
	addrs []string
	lns   []net.Listener
	// release frees the ports of dead backends.
	release []func()

	// mu guards the fields below it.
	mu sync.Mutex
	// seen[i] has Seq base+i+1: forget drops the oldest.
	seen    []*seen
	base    int
	garbage []garbage
	acts    map[string]*Act
	used    map[string]int
	conns   map[net.Conn]bool
	nconn   int
	// busy counts scripted acts not finished yet (late bytes, closes);
	// idle is signalled when it drops to zero.
	busy int
	idle *sync.Cond
	wg   sync.WaitGroup
}

// startBackends listens on n ports of 127.0.0.1; dead ones are addresses
// that refuse connections.
func startBackends(t testing.TB, n int, dead bool) *backends {
	t.Helper()
	bs := &backends{t: t, acts: map[string]*Act{}, used: map[string]int{}, conns: map[net.Conn]bool{}}
	bs.idle = sync.NewCond(&bs.mu)
	for i := range n {
		if dead {
			addr, release, err := refusingPort()
			if err != nil {
				t.Fatalf("reserve a port: %v", err)
			}
			bs.addrs = append(bs.addrs, addr)
			bs.release = append(bs.release, release)
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("backend listen: %v", err)
		}
		bs.addrs = append(bs.addrs, ln.Addr().String())
		bs.lns = append(bs.lns, ln)
		bs.wg.Go(func() { bs.accept(i+1, ln) })
	}
	return bs
}

// close stops the backends and closes every connection.
func (bs *backends) close() {
	for _, ln := range bs.lns {
		ln.Close()
	}
	for _, r := range bs.release {
		r()
	}
	bs.mu.Lock()
	for c := range bs.conns {
		c.Close()
	}
	bs.mu.Unlock()
	bs.wg.Wait()
}

// script sets the act for a path (replacing any earlier one).
func (bs *backends) script(path string, a *Act) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	bs.acts[path] = a
	bs.used[path] = 0
}

// settle waits until no scripted act is still in progress (late bytes
// still to be written, a connection still to be closed), at most d.
func (bs *backends) settle(d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		bs.mu.Lock()
		for bs.busy > 0 {
			bs.idle.Wait()
		}
		bs.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		bs.mu.Lock()
		bs.busy = 0 // give up on it; wake the waiter
		bs.idle.Broadcast()
		bs.mu.Unlock()
		return false
	}
}

func (bs *backends) accept(backend int, ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		bs.mu.Lock()
		bs.nconn++
		conn := bs.nconn
		bs.conns[c] = true
		bs.mu.Unlock()
		bs.wg.Go(func() { bs.serve(backend, conn, c) })
	}
}

// take returns the act for path, if one applies to this request.
func (bs *backends) take(path string) *Act {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	a := bs.acts[path]
	if a == nil {
		return nil
	}
	times := max(a.Times, 1)
	if bs.used[path] >= times {
		return nil
	}
	bs.used[path]++
	bs.busy++
	return a
}

func (bs *backends) done() {
	bs.mu.Lock()
	if bs.busy > 0 {
		bs.busy--
	}
	if bs.busy == 0 {
		bs.idle.Broadcast()
	}
	bs.mu.Unlock()
}

func (bs *backends) record(s *seen) {
	bs.mu.Lock()
	s.Seq = bs.base + len(bs.seen) + 1
	bs.seen = append(bs.seen, s)
	bs.mu.Unlock()
}

// setAnswered records whether s's answer was written in full: under mu,
// since a check may read the record meanwhile (since copies it).
func (bs *backends) setAnswered(s *seen, ok bool) {
	bs.mu.Lock()
	s.Answered = ok
	bs.mu.Unlock()
}

// mark is a point in the record: what came after it belongs to a run.
type mark struct{ seq, junk int }

// mark returns the current end of the record.
func (bs *backends) mark() mark {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return mark{bs.base + len(bs.seen), len(bs.garbage)}
}

// since returns the requests and garbage seen after m.
func (bs *backends) since(m mark) ([]*seen, []garbage) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	var out []*seen
	for _, s := range bs.seen {
		if s.Seq > m.seq {
			cp := *s // a copy: the backend may still mark it answered
			out = append(out, &cp)
		}
	}
	return out, append([]garbage(nil), bs.garbage[min(m.junk, len(bs.garbage)):]...)
}

// forget drops the records up to m (a long fuzzing run keeps memory flat).
func (bs *backends) forget(m mark) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	n := min(max(m.seq-bs.base, 0), len(bs.seen))
	bs.seen = append([]*seen(nil), bs.seen[n:]...)
	bs.base += n
	bs.garbage = bs.garbage[min(m.junk, len(bs.garbage)):]
}

// bySeq returns the request with sequence number n, or nil.
func (bs *backends) bySeq(n int) *seen {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	i := n - bs.base - 1
	if i < 0 || i >= len(bs.seen) {
		return nil
	}
	return bs.seen[i]
}

func (bs *backends) serve(backend, conn int, c net.Conn) {
	defer func() {
		c.Close()
		bs.mu.Lock()
		delete(bs.conns, c)
		bs.mu.Unlock()
	}()
	m := newMsgReader(c)
	for {
		m.skipAfterPost()
		if _, err := m.br.Peek(1); err != nil {
			return // the proxy closed the connection (or the test ended)
		}
		p0 := m.pos()
		var act *Act
		s := &seen{Backend: backend, Conn: conn}
		r, err := readRequestScripted(m, func(r *http.Request) bool {
			s.Req = &request{Request: r}
			act = bs.take(pathOf(r))
			if act != nil && act.Do == CloseAfterHead {
				return false
			}
			if r.Header.Get("Expect") == "100-continue" {
				io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
			}
			return true
		})
		if r == nil {
			buffered, _ := m.br.Peek(m.br.Buffered())
			bs.mu.Lock()
			bs.garbage = append(bs.garbage, garbage{Backend: backend, Conn: conn,
				Raw: append(m.span(p0, m.pos()), buffered...), Err: err})
			bs.mu.Unlock()
			if act != nil {
				bs.done()
			}
			return
		}
		s.Req, s.Act = r, act
		s.BodyCut = errors.Is(err, errIncomplete)
		if err != nil && !s.BodyCut {
			s.Problems = append(s.Problems, "body: "+err.Error())
		}
		s.Problems = append(s.Problems, requestProblems(r)...)
		bs.record(s)
		if err != nil { // cut off or malformed: the stream cannot go on
			if act != nil {
				bs.done()
			}
			return
		}
		if !bs.answer(c, s, act) {
			return
		}
	}
}

// answer carries out act (nil: echo) for s and reports whether the
// connection serves another request.
func (bs *backends) answer(c net.Conn, s *seen, act *Act) bool {
	if act == nil {
		_, err := io.WriteString(c, echo(s))
		bs.setAnswered(s, err == nil)
		return err == nil
	}
	then := act.Then
	switch act.Do {
	case CloseAfterRead, CloseAfterHead:
		then = ThenClose
	case ResetAfterRead:
		then = ThenReset
	case HangAfterRead:
		then = ThenHang
	default:
		reply := act.Reply
		if reply == "" {
			reply = echo(s)
		}
		if err := writeSplit(c, reply, act.Split, act.Gap); err != nil {
			bs.done()
			return false
		}
		bs.setAnswered(s, true)
		if act.Late != "" {
			time.Sleep(act.Delay)
			if _, err := io.WriteString(c, act.Late); err != nil {
				bs.done()
				return false
			}
			if then == ThenAuto {
				then = ThenClose
			}
		}
		if then == ThenAuto {
			then = ThenClose
			if rp := readReply([]byte(reply), s.Req.Method); rp.HeadErr == nil && rp.Delimited {
				then = ThenServe
			}
		}
	}
	switch then {
	case ThenClose:
		c.Close()
	case ThenReset:
		reset(c)
	}
	bs.done()
	if then == ThenHang {
		hang(c)
	}
	return then == ThenServe
}

// refusingPort returns an address of 127.0.0.1 that refuses connections
// for as long as release is not called: a socket bound to it, not
// listening, keeps any other listener (another vector's backend) off it.
func refusingPort() (addr string, release func(), err error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return "", nil, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return "", nil, err
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return "", nil, err
	}
	port := sa.(*syscall.SockaddrInet4).Port
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), func() { syscall.Close(fd) }, nil
}

// hang reads and drops whatever comes until the connection ends.
func hang(c net.Conn) { io.Copy(io.Discard, c) }

// reset closes c with a TCP reset.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func writeSplit(c net.Conn, s string, at []int, gap time.Duration) error {
	prev := 0
	for _, cut := range at {
		if cut <= prev || cut >= len(s) {
			continue
		}
		if _, err := io.WriteString(c, s[prev:cut]); err != nil {
			return err
		}
		time.Sleep(gap)
		prev = cut
	}
	_, err := io.WriteString(c, s[prev:])
	return err
}

// readRequestScripted is readServerRequest with a hook called once the
// head is read: it returns false to leave the body unread.
func readRequestScripted(m *msgReader, hook func(*http.Request) bool) (*request, error) {
	p0 := m.pos()
	r, _, err := readServerRequestHook(m, hook)
	if r != nil && r.Raw == nil {
		r.Raw = m.span(p0, m.pos())
	}
	return r, err
}

// pathOf is a request's token: its path.
func pathOf(r *http.Request) string { return (&request{Request: r}).Path() }

// echo is the backend's normal answer: its sequence number in X-Seq and a
// body naming the request (no body for HEAD).
func echo(s *seen) string {
	body := echoBody(s)
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Seq: " + strconv.Itoa(s.Seq) +
		"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if s.Req.Method == http.MethodHead {
		return head
	}
	return head + body
}

func echoBody(s *seen) string {
	return fmt.Sprintf("echo %d %s %s\n", s.Seq, s.Req.Method, strconv.Quote(s.Req.Path()))
}

// requestProblems checks the raw bytes of a forwarded request: its head
// (headProblems) and, when chunked, its body framing.
func requestProblems(r *request) []string {
	if r.HeadLen == 0 || r.HeadLen > len(r.Raw) {
		return nil
	}
	probs := headProblems(r.Raw[:r.HeadLen], true)
	if len(r.TransferEncoding) > 0 {
		for _, p := range chunkedProblems(r.Raw[r.HeadLen:], true) {
			probs = append(probs, "chunked body: "+p)
		}
	}
	return probs
}
