// Package proxy is the layer-7 data path: it picks a backend with the
// configured algorithm, forwards the request with httputil.ReverseProxy,
// retries safely on another backend, feeds passive health checks and records
// metrics and the access log.
package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"sync"
	"time"

	"github.com/lblab/lblab/lb/internal/balance"
	"github.com/lblab/lblab/lb/internal/metrics"
	"github.com/lblab/lblab/lb/internal/pool"
)

// Config configures a Proxy.
type Config struct {
	Pool      *pool.Pool
	Algorithm string
	Metrics   *metrics.Metrics
	// Logger receives debug and error logs. Default: slog.Default().
	Logger *slog.Logger
	// AccessLog, when set, receives one line per request.
	AccessLog *slog.Logger
	// Forwarder is "lean" (the default: plain HTTP/1.x requests take the lean
	// forwarder, everything else httputil.ReverseProxy) or "reverseproxy"
	// (every request takes httputil.ReverseProxy).
	Forwarder string
	// Conn configures the connections to the backends, for both forwarders.
	Conn ConnPoolConfig
	// Transport, when set, replaces the http.Transport that ReverseProxy
	// uses (made from Conn by default).
	Transport http.RoundTripper
	// Retries bounds how many other backends a failed request is tried on.
	Retries int
	// RetryBodyLimit is the largest request body buffered so that it can be
	// replayed on a retry; larger bodies are streamed and not retried.
	RetryBodyLimit int64
	// MaxFails failures within FailTimeout take a backend down (0: off).
	MaxFails    int
	FailTimeout time.Duration
	// Passive5xx counts 5xx responses as backend failures.
	Passive5xx bool
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
}

// NewTransport returns an http.Transport tuned for a reverse proxy: keep-alive
// pools per backend, bounded dials and response-header waits, no proxy from
// the environment, no transparent compression.
func NewTransport(c ConnPoolConfig) *http.Transport {
	d := &net.Dialer{Timeout: c.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   c.MaxIdle,
		IdleConnTimeout:       c.IdleTimeout,
		ResponseHeaderTimeout: c.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
}

// Proxy is an http.Handler that balances requests over a pool. It is safe for
// concurrent use; the algorithm can be switched at run time.
type Proxy struct {
	cfg    Config
	log    *slog.Logger
	errLog *slog.Logger
	// Switch is the algorithm in use (Algorithm, SetAlgorithm); requests
	// already picked are not affected by a switch.
	*balance.Switch
	proxies sync.Map // *pool.Backend -> *httputil.ReverseProxy
	pools   sync.Map // *pool.Backend -> *connPool (lean forwarder)
	lean    bool
	buffers bufferPool
}

// New returns a proxy for cfg.
func New(cfg Config) (*Proxy, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Conn == (ConnPoolConfig{}) {
		cfg.Conn = ConnPoolConfig{DialTimeout: 5 * time.Second, ResponseHeaderTimeout: 30 * time.Second, MaxIdle: 256}
	}
	if cfg.Conn.IdleTimeout <= 0 {
		cfg.Conn.IdleTimeout = 90 * time.Second
	}
	if cfg.Transport == nil {
		cfg.Transport = NewTransport(cfg.Conn)
	}
	switch cfg.Forwarder {
	case "", "lean", "reverseproxy":
	default:
		return nil, fmt.Errorf("forwarder %q: must be \"lean\" or \"reverseproxy\"", cfg.Forwarder)
	}
	p := &Proxy{cfg: cfg, log: cfg.Logger, errLog: cfg.Logger.With("component", "reverseproxy"), lean: cfg.Forwarder != "reverseproxy"}
	var err error
	if p.Switch, err = balance.NewSwitch(cfg.Algorithm, p.log); err != nil {
		return nil, err
	}
	return p, nil
}

// Lean reports whether the lean forwarder (and with it the fast front end,
// NewFront) is in use.
func (p *Proxy) Lean() bool { return p.lean }

// Forget drops what the proxy cached for a backend removed from the pool and
// closes its idle connections.
func (p *Proxy) Forget(b *pool.Backend) {
	p.proxies.Delete(b)
	if v, ok := p.pools.LoadAndDelete(b); ok {
		v.(*connPool).close()
	}
}

// CloseIdleConnections closes every idle keep-alive connection to the
// backends (on shutdown).
func (p *Proxy) CloseIdleConnections() {
	p.pools.Range(func(_, v any) bool { v.(*connPool).close(); return true })
	if t, ok := p.cfg.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// ServeHTTP forwards r to a backend, retrying on others where it is safe.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	body, replayable, err := p.bufferBody(r)
	if err != nil {
		writeJSONError(rec, http.StatusBadRequest, "cannot read request body")
		p.finish(r, rec, nil, start, 0)
		return
	}
	bal := p.Current()
	key := ""
	if bal.Name == "ip_hash" {
		key = ClientIP(r, p.cfg.TrustedProxies)
	}
	plan := plan{key: key, replayable: replayable, idempotent: idempotent(r), clientGone: func() bool { return r.Context().Err() != nil }}
	served, last, retries := p.attempt(bal, plan, func(b *pool.Backend) outcome {
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rec.err = nil
		aborted := p.try(b, rec, r)
		return outcome{status: rec.status, wroteHeader: rec.wroteHeader, err: rec.err, aborted: aborted}
	})
	if last.err != nil && !rec.wroteHeader {
		if plan.clientGone() {
			rec.status = 499 // client closed the request (nginx's convention); nothing is sent
		} else {
			code := StatusFor(last.err)
			writeJSONError(rec, code, errorText(code))
		}
	}
	p.finish(r, rec, served, start, retries)
	if last.aborted {
		// The response was cut off after its headers went out: abort the
		// client connection so the client sees a truncated response.
		panic(http.ErrAbortHandler)
	}
}

// plan is what the retry loop needs to know of a client request.
type plan struct {
	key        string // the ip_hash key
	replayable bool   // the body (if any) can be sent again
	idempotent bool
	clientGone func() bool
}

// outcome is what one try of a request on one backend came to.
type outcome struct {
	status      int   // status of the response the client got (0: none)
	wroteHeader bool  // the response head went to the client: no retry
	err         error // the backend failure; nil when a response reached the client
	aborted     bool  // cut off after the head: the client connection must be aborted
}

// attempt picks a backend with bal and tries the request there with try,
// then on other backends where that is safe: a failed connect for any
// request, a reset or empty response for idempotent ones, never after the
// response head went out, and at most Retries times. It feeds the passive
// health checks and latency figures. last.err is nil when a response reached
// the client, ErrNoBackend when no backend was left to try.
func (p *Proxy) attempt(bal *balance.Named, pl plan, try func(*pool.Backend) outcome) (served *pool.Backend, last outcome, retries int) {
	var tried []*pool.Backend
	for {
		cands := p.cfg.Pool.Available()
		if len(tried) > 0 {
			cands = pool.Without(cands, tried)
		}
		b := bal.Pick(cands, pl.key)
		if b == nil {
			if last.err == nil {
				last.err = ErrNoBackend
			}
			return served, last, len(tried)
		}
		served = b
		t0 := time.Now()
		last = try(b)
		if last.err == nil {
			b.ObserveLatency(time.Since(t0), time.Now())
			if last.status >= 500 {
				b.CountError()
				if p.cfg.Passive5xx {
					p.cfg.Pool.Fail(b, p.cfg.MaxFails, p.cfg.FailTimeout, fmt.Sprintf("HTTP %d", last.status))
				}
			}
			return served, last, len(tried)
		}
		kind := classify(last.err, pl.clientGone())
		if kind == failNone {
			return served, last, len(tried)
		}
		b.CountError()
		p.cfg.Pool.Fail(b, p.cfg.MaxFails, p.cfg.FailTimeout, last.err.Error())
		retry := len(tried) < p.cfg.Retries && !last.wroteHeader && pl.replayable &&
			(kind == failConnect || (kind == failReset && pl.idempotent))
		p.log.Debug("backend failed", "backend", b.Name, "error", last.err, "retry", retry)
		if !retry {
			return served, last, len(tried)
		}
		p.cfg.Metrics.Retry(b)
		tried = append(tried, b)
	}
}

// try sends r to b once, with the lean forwarder when r allows it. It reports
// whether the client connection must be aborted (the response was cut off).
func (p *Proxy) try(b *pool.Backend, rec *recorder, r *http.Request) (aborted bool) {
	b.Acquire()
	defer b.Release()
	if p.lean && leanOK(r) {
		return p.leanForward(p.leanPool(b), rec, r) == errAbort
	}
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true // ReverseProxy cut off a response body
		}
	}()
	p.reverseProxy(b).ServeHTTP(rec, r)
	return false
}

// bufferBody reads a request body of up to RetryBodyLimit bytes into memory so
// it can be replayed. It returns the bytes (nil when there is no body or it is
// too large to buffer) and whether the request can be replayed at all.
func (p *Proxy) bufferBody(r *http.Request) ([]byte, bool, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, true, nil
	}
	limit := p.cfg.RetryBodyLimit
	if limit <= 0 || r.ContentLength > limit {
		return nil, false, nil
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(buf)) > limit { // chunked body larger than the limit: stream the rest
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		return nil, false, nil
	}
	r.Body.Close()
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	return buf, true, nil
}

func (p *Proxy) finish(r *http.Request, rec *recorder, b *pool.Backend, start time.Time, retries int) {
	d := time.Since(start)
	status := rec.status
	if status == 0 && rec.wroteHeader {
		status = http.StatusOK
	}
	if status == 0 && r.Header.Get("Upgrade") != "" {
		status = http.StatusSwitchingProtocols
	}
	p.cfg.Metrics.Observe(b, status, d)
	if p.cfg.AccessLog != nil {
		p.logAccess(r.Context(), r.RemoteAddr, r.Method, r.URL.Path, status, b, d, rec.bytes, retries)
	}
}

// logAccess writes one access-log line (AccessLog must be set).
func (p *Proxy) logAccess(ctx context.Context, client, method, path string, status int, b *pool.Backend, d time.Duration, bytes int64, retries int) {
	backend := ""
	if b != nil {
		backend = b.Name
	}
	p.cfg.AccessLog.LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("client", client),
		slog.String("method", method),
		slog.String("path", path),
		slog.Int("status", status),
		slog.String("backend", backend),
		slog.Float64("duration_ms", float64(d.Microseconds())/1e3),
		slog.Int64("bytes", bytes),
		slog.Int("retries", retries),
	)
}

func (p *Proxy) reverseProxy(b *pool.Backend) *httputil.ReverseProxy {
	if v, ok := p.proxies.Load(b); ok {
		return v.(*httputil.ReverseProxy)
	}
	target := b.URL
	trusted := p.cfg.TrustedProxies
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // pass the client's Host, as HAProxy and Traefik do
			if len(trusted) > 0 && isTrusted(peerIP(pr.In), trusted) {
				pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			}
			pr.SetXForwarded()
		},
		Transport:  p.cfg.Transport,
		BufferPool: &p.buffers,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			if rec, ok := w.(*recorder); ok {
				rec.err = err
				return
			}
			writeJSONError(w, StatusFor(err), errorText(StatusFor(err)))
		},
		ErrorLog: slog.NewLogLogger(p.errLog.Handler(), slog.LevelDebug),
	}
	v, _ := p.proxies.LoadOrStore(b, rp)
	return v.(*httputil.ReverseProxy)
}

func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func errorText(code int) string {
	switch code {
	case http.StatusServiceUnavailable:
		return ErrNoBackend.Error()
	case http.StatusGatewayTimeout:
		return "backend timeout"
	}
	return "backend failed"
}

// writeJSONError sends {"error": msg, "status": code}.
func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(jsonError(code, msg))
}

// jsonError is the body of an error the proxy answers itself.
func jsonError(code int, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"error": msg, "status": code})
	return append(b, '\n')
}
