package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lblab/lblab/lb/internal/pool"
)

// The lean forwarder carries plain HTTP/1.x requests to a backend on the
// calling goroutine: it takes an idle keep-alive connection from the
// backend's own pool (or dials one), writes the request straight into the
// connection's buffer, reads the response with http.ReadResponse and copies
// it to the client. Unlike http.Transport it hands nothing to per-connection
// reader and writer goroutines, clones no header map and makes no per-request
// contexts, which is where the standard round trip spends its time under load.
//
// Everything else — upgrades (WebSocket), Expect: 100-continue, request
// trailers, chunked request bodies, HTTP/2 from the client — goes through
// httputil.ReverseProxy, which does those well. leanOK decides.

// leanOK reports whether r can take the lean path.
func leanOK(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.Method == http.MethodConnect {
		return false
	}
	if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
		return false // chunked request body
	}
	if len(r.Trailer) > 0 {
		return false
	}
	h := r.Header
	if _, ok := h["Upgrade"]; ok {
		return false
	}
	if _, ok := h["Expect"]; ok {
		return false
	}
	return true
}

// ConnPoolConfig sizes and times a lean connection pool.
type ConnPoolConfig struct {
	// DialTimeout bounds connecting to a backend (connection_timeout).
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response headers once the
	// request is written (request_timeout); past it the client gets a 504.
	ResponseHeaderTimeout time.Duration
	// MaxIdle is the number of idle keep-alive connections kept per backend.
	MaxIdle int
	// IdleTimeout drops connections idle for longer than this (default 90s),
	// before the backend's own keep-alive timeout is likely to close them.
	IdleTimeout time.Duration
}

// connPool holds one backend's idle keep-alive connections, most recently
// used first out (the warmest connection is reused).
type connPool struct {
	addr   string
	cfg    ConnPoolConfig
	dialer net.Dialer

	mu     sync.Mutex
	idle   []*backendConn
	closed bool
}

// backendConn is one keep-alive connection to a backend with its buffers.
type backendConn struct {
	net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
	rd     lazyDeadline
}

// newConnPool returns an empty pool; cfg has its defaults set (see New).
func newConnPool(addr string, cfg ConnPoolConfig) *connPool {
	return &connPool{addr: addr, cfg: cfg, dialer: net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}}
}

// get returns an idle connection (reused=true) or dials a new one. With
// check set, an idle connection is first checked to be still open (see
// alive): for requests whose body cannot be replayed on a fresh connection.
func (cp *connPool) get(ctx context.Context, now time.Time, check bool) (c *backendConn, reused bool, err error) {
	for {
		cp.mu.Lock()
		n := len(cp.idle)
		if n == 0 {
			cp.mu.Unlock()
			return cp.dial(ctx)
		}
		c = cp.idle[n-1]
		cp.idle[n-1] = nil
		cp.idle = cp.idle[:n-1]
		cp.mu.Unlock()
		if now.Sub(c.idleAt) < cp.cfg.IdleTimeout && (!check || (c.br.Buffered() == 0 && alive(c.Conn))) {
			return c, true, nil
		}
		c.Close()
	}
}

func (cp *connPool) dial(ctx context.Context) (*backendConn, bool, error) {
	nc, err := cp.dialer.DialContext(ctx, "tcp", cp.addr)
	if err != nil {
		return nil, false, err
	}
	return &backendConn{Conn: nc, br: bufio.NewReaderSize(nc, backendBufSize), bw: bufio.NewWriterSize(nc, 4<<10)}, false, nil
}

// put returns a healthy connection to the pool, or closes it when the pool
// is full or closed.
func (cp *connPool) put(c *backendConn, now time.Time) {
	c.idleAt = now
	cp.mu.Lock()
	if cp.closed || len(cp.idle) >= cp.cfg.MaxIdle {
		cp.mu.Unlock()
		c.Close()
		return
	}
	cp.idle = append(cp.idle, c)
	cp.mu.Unlock()
}

// close closes the idle connections and makes put close the busy ones as
// they come back.
func (cp *connPool) close() {
	cp.mu.Lock()
	idle := cp.idle
	cp.idle, cp.closed = nil, true
	cp.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// errAbort means the response was cut off after its headers had gone to the
// client: the client connection must be aborted so the client sees it.
var errAbort = errors.New("response body cut off")

// leanForward sends r to b over cp and copies the response to rec. It
// returns nil when the response reached the client; otherwise rec.err is set
// for the retry logic, as ReverseProxy's ErrorHandler would set it, and the
// return value is errAbort when the client connection must be aborted.
func (p *Proxy) leanForward(cp *connPool, rec *recorder, r *http.Request) error {
	ctx := r.Context()
	// spent: the body streams from the client and cannot be sent twice.
	spent := r.Body != nil && r.Body != http.NoBody && r.GetBody == nil
	c, reused, err := cp.get(ctx, time.Now(), spent)
	if err != nil {
		rec.err = err
		return nil
	}
	// One watch per connection covers the whole exchange: a client that goes
	// away unblocks whatever read or write is waiting on the backend.
	watch := func(c *backendConn) func() bool {
		return context.AfterFunc(ctx, func() { c.SetDeadline(aLongTimeAgo) })
	}
	stop := watch(c)
	resp, err := p.roundTrip(cp, c, r)
	if err != nil && reused && !spent && ctx.Err() == nil && errors.Is(err, errNoResponse) {
		// The backend closed the idle connection just as it was reused: send
		// the request again on a new connection, as http.Transport does.
		stop()
		c.Close()
		if r.GetBody != nil {
			if r.Body, err = r.GetBody(); err != nil {
				rec.err = err
				return nil
			}
		}
		if c, _, err = cp.dial(ctx); err != nil {
			rec.err = err
			return nil
		}
		stop = watch(c)
		resp, err = p.roundTrip(cp, c, r)
	}
	if err != nil {
		stop()
		c.Close()
		rec.err = err
		return nil
	}
	return p.copyResponse(cp, c, rec, r, resp, stop)
}

// errNoResponse marks a connection that ended before any byte of a response:
// on a reused connection, the backend closed it while it sat idle, so the
// request never reached it and is sent again on a new connection.
var errNoResponse = errors.New("backend closed the connection before responding")

// roundTrip writes r on c and reads the response headers.
func (p *Proxy) roundTrip(cp *connPool, c *backendConn, r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	if err := p.writeRequest(c.bw, r, cp.addr); err != nil {
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	if d := cp.cfg.ResponseHeaderTimeout; d > 0 {
		c.rd.arm(c, time.Now(), d)
	}
	for {
		if _, err := c.br.Peek(1); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if classify(err, false) == failReset || errors.Is(err, net.ErrClosed) {
				return nil, fmt.Errorf("%w: %w", errNoResponse, err)
			}
			return nil, err
		}
		resp, err := http.ReadResponse(c.br, r)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 {
			if resp.StatusCode == http.StatusSwitchingProtocols {
				return nil, errors.New("backend switched protocols on a request without Upgrade")
			}
			continue // informational (e.g. 103 Early Hints): not forwarded
		}
		if cp.cfg.ResponseHeaderTimeout > 0 && (resp.ContentLength < 0 || int64(c.br.Buffered()) < resp.ContentLength) {
			// More of the body is to be read: it may take longer than the
			// header timeout. (A body already buffered needs no more reads.)
			c.rd.clear(c)
		}
		return resp, nil
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// copyResponse sends resp to the client and puts c back in the pool when
// the body was read to its end and the backend keeps the connection open.
// stop ends the watch on the client's context that leanForward set up.
func (p *Proxy) copyResponse(cp *connPool, c *backendConn, rec *recorder, r *http.Request, resp *http.Response, stop func() bool) error {
	dst := rec.Header()
	for k, vv := range resp.Header {
		if !hopByHop(k) {
			dst[k] = vv
		}
	}
	if conn, ok := resp.Header["Connection"]; ok {
		for _, v := range conn {
			for f := range strings.SplitSeq(v, ",") {
				if f = textproto.TrimString(f); f != "" {
					delete(dst, textproto.CanonicalMIMEHeaderKey(f))
				}
			}
		}
	}
	if len(resp.Trailer) > 0 {
		names := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			names = append(names, k)
		}
		dst["Trailer"] = []string{strings.Join(names, ", ")}
	}
	rec.WriteHeader(resp.StatusCode)

	stream := resp.ContentLength < 0 || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	bufp := p.buffers.Get()
	werr, rerr := copyBody(rec, resp.Body, bufp, stream)
	p.buffers.Put(bufp)
	fired := !stop()
	if werr != nil || rerr != nil || fired {
		c.Close()
		if werr != nil || r.Context().Err() != nil {
			return nil // the client went away: nothing more to tell it
		}
		p.log.Debug("backend response cut off", "backend", cp.addr, "error", rerr)
		return errAbort
	}
	for k, vv := range resp.Trailer {
		dst[http.TrailerPrefix+k] = vv
	}
	// The client's Connection: close is hop-by-hop: it ends the client's
	// connection, not this one, which stays for the next request.
	if resp.Close {
		c.Close()
	} else {
		cp.put(c, time.Now())
	}
	return nil
}

// copyBody copies src to the client, flushing after each write when stream
// is set (chunked and event-stream responses reach the client as they come).
func copyBody(w http.ResponseWriter, src io.Reader, buf []byte, stream bool) (werr, rerr error) {
	var flusher *http.ResponseController
	if stream {
		flusher = http.NewResponseController(w) // reaches Flush through recorder.Unwrap
	}
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr = w.Write(buf[:n]); werr != nil {
				return werr, nil
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// writeRequest writes r's request line, headers and body to bw as a
// reverse proxy forwards it: hop-by-hop headers dropped, the client's Host
// kept, X-Forwarded-For/-Host/-Proto set as httputil.ProxyRequest.SetXForwarded
// sets them (a trusted peer's X-Forwarded-For extended, anyone else's replaced).
func (p *Proxy) writeRequest(bw *bufio.Writer, r *http.Request, addr string) error {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(r.URL.RequestURI())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	host := r.Host
	if host == "" {
		host = addr
	}
	bw.WriteString(host)
	bw.WriteString("\r\n")

	connTokens := r.Header["Connection"]
	for k, vv := range r.Header {
		if hopByHop(k) || forwardedHeader(k) || headerHasToken(connTokens, k) {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if te, ok := r.Header["Te"]; ok && headerHasToken(te, "trailers") {
		bw.WriteString("Te: trailers\r\n")
	}

	clientIP := peerIP(r)
	bw.WriteString("X-Forwarded-For: ")
	if prior, ok := r.Header["X-Forwarded-For"]; ok && len(p.cfg.TrustedProxies) > 0 && isTrusted(clientIP, p.cfg.TrustedProxies) {
		for _, v := range prior {
			bw.WriteString(v)
			bw.WriteString(", ")
		}
	}
	bw.WriteString(clientIP)
	bw.WriteString("\r\nX-Forwarded-Host: ")
	bw.WriteString(r.Host)
	if r.TLS != nil {
		bw.WriteString("\r\nX-Forwarded-Proto: https\r\n")
	} else {
		bw.WriteString("\r\nX-Forwarded-Proto: http\r\n")
	}

	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength > 0
	switch {
	case hasBody:
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(r.ContentLength, 10))
		bw.WriteString("\r\n\r\n")
	case r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n\r\n")
	default:
		bw.WriteString("\r\n")
	}
	if !hasBody {
		return nil
	}
	n, err := io.Copy(bw, io.LimitReader(r.Body, r.ContentLength))
	if err == nil && n < r.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return fmt.Errorf("reading request body: %w", err)
	}
	return nil
}

// hopByHop reports whether a (canonical) header name is a hop-by-hop header
// (RFC 9110 7.6.1), which a proxy does not forward.
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// forwardedHeader reports the headers the proxy sets itself.
func forwardedHeader(k string) bool {
	switch k {
	case "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
		return true
	}
	return false
}

// headerHasToken reports whether the comma-separated values vv (e.g. of a
// Connection header) name token, ignoring case.
func headerHasToken(vv []string, token string) bool {
	for _, v := range vv {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(f), token) {
				return true
			}
		}
	}
	return false
}

// leanPool returns b's connection pool, made on first use.
func (p *Proxy) leanPool(b *pool.Backend) *connPool {
	if v, ok := p.pools.Load(b); ok {
		return v.(*connPool)
	}
	v, _ := p.pools.LoadOrStore(b, newConnPool(b.Addr, p.cfg.Conn))
	return v.(*connPool)
}
