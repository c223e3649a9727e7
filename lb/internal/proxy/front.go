package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"

	"github.com/lblab/lblab/lb/internal/netx"
	"github.com/lblab/lblab/lb/internal/pool"
)

// The fast front end serves the proxy port for the lean forwarder. net/http's
// server spends more CPU per request than the forwarding itself: it parses
// every header into a map, clones it when the response is written, starts a
// goroutine per request to watch for the client going away and sets read
// deadlines several times per request. The front end reads a request head
// into the connection's buffer, parses it in place (h1head.go), writes it on
// to a backend with the hop-by-hop headers dropped and X-Forwarded-* added,
// and relays the backend's response head and body as they are, all on the
// connection's goroutine, without allocating per request.
//
// It takes only plain HTTP/1.1 requests without a body or with a
// Content-Length body of at most retry_body_limit (buffered, so a retry can
// replay it). Everything else — HTTP/1.0, upgrades, Expect, chunked uploads,
// oversized heads, the status endpoints, malformed requests — is handed, with
// the bytes already read, to net/http's server on the same connection, which
// serves that connection from then on (Proxy.ServeHTTP and
// httputil.ReverseProxy). Unlike net/http, the front end does not notice a
// client that goes away while the backend is still working on its request
// (HAProxy's default too): it finds out when it writes the response.

// FrontConfig configures a Front.
type FrontConfig struct {
	// Fallback serves the connections the fast path hands over. Its Handler
	// is the proxy's handler; its timeouts and header limit apply there.
	Fallback *http.Server
	// Handoff, when set, sends requests for the paths it accepts to Fallback
	// (the status endpoints).
	Handoff func(path string) bool
	// IdleTimeout bounds the wait for the next request on a connection;
	// ReadHeaderTimeout the wait for the rest of a request head once its
	// first byte has come.
	IdleTimeout       time.Duration
	ReadHeaderTimeout time.Duration
	// MaxHeaderBytes: larger request heads go to Fallback, which refuses
	// them by its own MaxHeaderBytes.
	MaxHeaderBytes int
	// MaxConnections bounds the open client connections (those handed to
	// Fallback included); past it, accepting pauses. 0: no bound.
	MaxConnections int
}

// Front serves HTTP on the proxy port with the fast path described above.
type Front struct {
	p        *Proxy
	cfg      FrontConfig
	handoff  *connQueue
	shutting atomic.Bool

	// next hands a new connection to a goroutine that has finished its last
	// one and waits for another (unbuffered: a send succeeds only when one
	// waits); stop, closed by Shutdown or Close, ends the waiting ones.
	next     chan *frontConn
	stop     chan struct{}
	stopOnce sync.Once

	// slots bounds the open connections (MaxConnections) when the acceptor
	// is in use; else netutil.LimitListener bounds them.
	slots *netx.Slots

	mu    sync.Mutex
	ln    net.Listener
	acc   *acceptor // nil: ln.Accept
	conns map[*frontConn]struct{}
}

// workerIdle is how long a connection's goroutine waits for the next
// connection after its own has closed. Reusing it saves the stack growth a
// fresh goroutine goes through on its first request (the request path is
// deeper than a new goroutine's starting stack), which was 9% of the CPU
// with a new connection per request.
const workerIdle = 10 * time.Second

// NewFront returns a front end for p.
func (p *Proxy) NewFront(cfg FrontConfig) *Front {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	return &Front{p: p, cfg: cfg, conns: map[*frontConn]struct{}{},
		next: make(chan *frontConn), stop: make(chan struct{}), slots: netx.NewSlots(cfg.MaxConnections)}
}

// Serve accepts connections on ln until Shutdown or Close, then returns
// http.ErrServerClosed.
func (f *Front) Serve(ln net.Listener) error {
	acc, err := newAcceptor(ln)
	if err != nil {
		ln.Close()
		return fmt.Errorf("proxy listener: %w", err)
	}
	if acc == nil && f.cfg.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, f.cfg.MaxConnections)
	}
	f.mu.Lock()
	f.ln, f.acc = ln, acc
	f.handoff = newConnQueue(ln.Addr())
	f.mu.Unlock()
	if f.shutting.Load() { // Shutdown or Close ran before Serve
		f.closeListener()
		return http.ErrServerClosed
	}
	go f.cfg.Fallback.Serve(f.handoff)
	var backoff time.Duration
	for {
		var c net.Conn
		if acc != nil {
			if !f.slots.Acquire(f.stop) {
				return http.ErrServerClosed
			}
			if c, err = acc.accept(f.slots.Release); err != nil {
				f.slots.Release()
			}
		} else {
			c, err = ln.Accept()
		}
		if err != nil {
			if f.shutting.Load() {
				return http.ErrServerClosed
			}
			if netx.TemporaryAcceptError(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				f.p.log.Warn("accept failed; retrying", "error", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		fc := f.newConn(c)
		if fc == nil {
			c.Close()
			return http.ErrServerClosed
		}
		select {
		case f.next <- fc:
		default:
			go f.worker(fc)
		}
	}
}

// closeListener closes the listener and the acceptor's copy of it.
func (f *Front) closeListener() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln != nil {
		f.ln.Close()
	}
	if f.acc != nil {
		f.acc.close()
	}
}

// worker serves fc, then the connections Serve hands it, until it has
// waited workerIdle for one or the front end stops.
func (f *Front) worker(fc *frontConn) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		fc.serve()
		t.Reset(workerIdle)
		select {
		case fc = <-f.next:
		case <-t.C:
			return
		case <-f.stop:
			return
		}
	}
}

// stopWorkers ends the goroutines waiting for a connection.
func (f *Front) stopWorkers() { f.stopOnce.Do(func() { close(f.stop) }) }

// Shutdown stops accepting, closes idle connections and waits until the
// requests in flight are answered (their connections close after), or ctx
// ends.
func (f *Front) Shutdown(ctx context.Context) error {
	f.shutting.Store(true)
	f.stopWorkers()
	f.closeListener()
	errc := make(chan error, 1)
	go func() { errc <- f.cfg.Fallback.Shutdown(ctx) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		f.mu.Lock()
		n := len(f.conns)
		for fc := range f.conns {
			if fc.idle.Load() {
				fc.c.SetReadDeadline(aLongTimeAgo) // wakes the idle reader, which sees shutting
			}
		}
		f.mu.Unlock()
		if n == 0 {
			return <-errc
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes the listener and every connection at once.
func (f *Front) Close() error {
	f.shutting.Store(true)
	f.stopWorkers()
	f.closeListener()
	f.mu.Lock()
	for fc := range f.conns {
		fc.c.Close()
	}
	f.mu.Unlock()
	return f.cfg.Fallback.Close()
}

func (f *Front) newConn(c net.Conn) *frontConn {
	fc := &frontConn{f: f, p: f.p, c: c, remote: c.RemoteAddr().String()}
	fc.peer = fc.remote
	if host, _, err := net.SplitHostPort(fc.remote); err == nil {
		fc.peer = host
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shutting.Load() {
		return nil
	}
	f.conns[fc] = struct{}{}
	return fc
}

func (f *Front) forget(fc *frontConn) {
	f.mu.Lock()
	delete(f.conns, fc)
	f.mu.Unlock()
}

// frontConn is one client connection on the fast path.
type frontConn struct {
	f      *Front
	p      *Proxy
	c      net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	remote string // RemoteAddr, for the access log
	peer   string // its host part, for X-Forwarded-For
	idle   atomic.Bool

	rd       lazyDeadline // the client's read deadline
	req      reqHead
	resp     respHead
	lines    []headerAt
	headCopy []byte // the request head, when its body does not fit beside it
	body     []byte // scratch for request bodies
	bytes    int64  // response body bytes sent, for the access log
}

// Buffer sizes: a request head beyond clientBufSize goes to net/http (which
// allows up to max_header_bytes); a response head must fit in the backend
// connection's reader (backendBufSize, as HAProxy's default tune.bufsize).
const (
	clientBufSize  = 8 << 10
	backendBufSize = 16 << 10
)

var (
	clientReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, clientBufSize) }}
	clientWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

func (fc *frontConn) serve() {
	fc.br = clientReaders.Get().(*bufio.Reader)
	fc.br.Reset(fc.c)
	fc.bw = clientWriters.Get().(*bufio.Writer)
	fc.bw.Reset(fc.c)
	handedOff := false
	defer func() {
		if !handedOff { // a handed-off connection keeps its reader until it is drained
			fc.c.Close()
			clientReaders.Put(fc.br)
		}
		clientWriters.Put(fc.bw)
		fc.f.forget(fc)
	}()
	for {
		n, err := fc.readHead()
		if err != nil {
			return
		}
		if n < 0 || n > fc.f.cfg.MaxHeaderBytes || !parseRequest(fc.peek(n), fc.p.cfg.RetryBodyLimit, &fc.req) || fc.handoffPath() {
			handedOff = fc.f.handoff.push(&handoffConn{Conn: fc.c, br: fc.br})
			return
		}
		if !fc.serveRequest(n) || fc.f.shutting.Load() {
			return
		}
	}
}

// readHead waits for the next request head and returns its length, or -1
// when it does not fit in the buffer (net/http's server takes it then).
func (fc *frontConn) readHead() (int, error) {
	br := fc.br
	if br.Buffered() == 0 {
		fc.idle.Store(true)
		if fc.f.shutting.Load() {
			return 0, http.ErrServerClosed
		}
		fc.rd.arm(fc.c, time.Now(), fc.f.cfg.IdleTimeout)
		_, err := br.Peek(1)
		fc.idle.Store(false)
		if err != nil {
			return 0, err
		}
	}
	headerDeadline := false
	for {
		buf, _ := br.Peek(br.Buffered())
		if n := headEnd(buf); n >= 0 {
			return n, nil
		}
		if len(buf) == br.Size() {
			return -1, nil
		}
		if !headerDeadline {
			headerDeadline = true
			fc.rd.set(fc.c, time.Now().Add(fc.f.cfg.ReadHeaderTimeout))
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			return 0, err
		}
	}
}

// peek returns the first n buffered bytes.
func (fc *frontConn) peek(n int) []byte {
	b, _ := fc.br.Peek(n)
	return b
}

// handoffPath reports whether the request's path is one net/http serves.
func (fc *frontConn) handoffPath() bool {
	if fc.f.cfg.Handoff == nil {
		return false
	}
	t := fc.req.target
	if len(t) < 3 || (string(t[:3]) != "/__" && bytes.IndexByte(t, '%') < 0) {
		return false
	}
	return fc.f.cfg.Handoff(fc.path())
}

// path returns the request's path, unescaped as net/http's URL.Path.
func (fc *frontConn) path() string {
	t := fc.req.target
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
func (fc *frontConn) serveRequest(n int) bool {
	start := time.Now()
	p := fc.p
	br := fc.br
	h := &fc.req
	head, _ := br.Peek(n)
	var body []byte
	unread := n // bytes of this request still in br when it is done
	if cl := int(h.contentLength); cl > 0 {
		if n+cl <= br.Size() {
			b, err := br.Peek(n + cl)
			if err != nil {
				return false
			}
			head, body = b[:n], b[n:]
			unread = n + cl
		} else {
			// The body does not fit beside the head: keep a copy of the head
			// (reading the body reuses the buffer) and read the body apart.
			fc.headCopy = append(fc.headCopy[:0], head...)
			head = fc.headCopy
			parseRequest(head, p.cfg.RetryBodyLimit, h)
			br.Discard(n)
			unread = 0
			if cap(fc.body) < cl {
				fc.body = make([]byte, cl)
			}
			body = fc.body[:cl]
			fc.rd.arm(fc.c, time.Now(), fc.f.cfg.IdleTimeout)
			if _, err := io.ReadFull(br, body); err != nil {
				fc.writeError(http.StatusBadRequest, "cannot read request body", true)
				fc.finish(nil, http.StatusBadRequest, start, 0)
				fc.bw.Flush()
				return false
			}
		}
	}

	bal := p.Current()
	key := ""
	if bal.Name == "ip_hash" {
		key = fc.clientIP()
	}
	pl := plan{key: key, replayable: true, idempotent: h.idemKey || idempotentMethod(string(h.method)), clientGone: never}
	fc.bytes = 0
	served, last, retries := p.attempt(bal, pl, func(b *pool.Backend) outcome {
		return fc.try(b, head, body)
	})
	status := last.status
	keep := !h.close && !last.aborted && last.err == nil
	if last.err != nil && !last.wroteHeader {
		status = StatusFor(last.err)
		fc.writeError(status, errorText(status), h.close)
		keep = !h.close
	}
	br.Discard(unread)
	// Logged and counted before the last of the response goes out, as on
	// net/http's path: whoever has the response sees it in the metrics.
	fc.finish(served, status, start, retries)
	if !keep || br.Buffered() == 0 { // a pipelined request waits: answer both at once
		if err := fc.bw.Flush(); err != nil {
			keep = false
		}
	}
	return keep
}

func never() bool { return false }

// clientIP is ClientIP for the fast path.
func (fc *frontConn) clientIP() string {
	trusted := fc.p.cfg.TrustedProxies
	if len(trusted) == 0 || fc.req.nxff == 0 || !isTrusted(fc.peer, trusted) {
		return fc.peer
	}
	values := make([]string, fc.req.nxff)
	for i, v := range fc.req.xff[:fc.req.nxff] {
		values[i] = string(v)
	}
	return clientFromForwarded(fc.peer, values, trusted)
}

func (fc *frontConn) finish(b *pool.Backend, status int, start time.Time, retries int) {
	d := time.Since(start)
	fc.p.cfg.Metrics.Observe(b, status, d)
	if fc.p.cfg.AccessLog != nil {
		fc.p.logAccess(context.Background(), fc.remote, string(fc.req.method), fc.path(), status, b, d, fc.bytes, retries)
	}
}

// writeError answers the client with one of the proxy's own JSON errors
// (into its buffer: the caller flushes).
func (fc *frontConn) writeError(code int, msg string, closeConn bool) {
	body := jsonError(code, msg)
	w := fc.bw
	w.WriteString("HTTP/1.1 ")
	w.WriteString(strconv.Itoa(code))
	w.WriteByte(' ')
	w.WriteString(http.StatusText(code))
	w.WriteString("\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: ")
	w.WriteString(strconv.Itoa(len(body)))
	if closeConn {
		w.WriteString("\r\nConnection: close")
	}
	w.WriteString("\r\n\r\n")
	w.Write(body)
	fc.bytes = int64(len(body))
}

// handoffConn is a client connection handed to net/http's server with the
// bytes the fast path had already read from it.
type handoffConn struct {
	net.Conn
	br *bufio.Reader
}

func (h *handoffConn) Read(p []byte) (int, error) {
	if h.br != nil {
		if h.br.Buffered() > 0 {
			return h.br.Read(p)
		}
		clientReaders.Put(h.br)
		h.br = nil
	}
	return h.Conn.Read(p)
}

// connQueue is the listener net/http's server accepts handed-over
// connections from.
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
