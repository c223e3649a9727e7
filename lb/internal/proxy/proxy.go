// Package proxy is the layer-7 data path: it picks a backend with the
// configured algorithm, forwards the request with httputil.ReverseProxy,
// retries safely on another backend, feeds passive health checks and records
// metrics and the access log.
package proxy

import (
	"bytes"
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
	key := ""
	bal := p.Current()
	if bal.Name == "ip_hash" {
		key = ClientIP(r, p.cfg.TrustedProxies)
	}

	var (
		served  *pool.Backend
		lastErr error
		tried   []*pool.Backend
		aborted bool
	)
	for attempt := 0; ; attempt++ {
		cands := p.cfg.Pool.Available()
		if len(tried) > 0 {
			cands = pool.Without(cands, tried)
		}
		b := bal.Pick(cands, key)
		if b == nil {
			if lastErr == nil {
				lastErr = ErrNoBackend
			}
			break
		}
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rec.err = nil
		served = b
		t0 := time.Now()
		aborted = p.try(b, rec, r)
		if rec.err == nil {
			lastErr = nil
			b.ObserveLatency(time.Since(t0), time.Now())
			if rec.status >= 500 {
				b.CountError()
				if p.cfg.Passive5xx {
					p.cfg.Pool.Fail(b, p.cfg.MaxFails, p.cfg.FailTimeout, fmt.Sprintf("HTTP %d", rec.status))
				}
			}
			break
		}
		lastErr = rec.err
		kind := classify(rec.err, r.Context().Err() != nil)
		if kind == failNone {
			break
		}
		b.CountError()
		p.cfg.Pool.Fail(b, p.cfg.MaxFails, p.cfg.FailTimeout, rec.err.Error())
		retry := attempt < p.cfg.Retries && !rec.wroteHeader && replayable &&
			(kind == failConnect || (kind == failReset && idempotent(r)))
		p.log.Debug("backend failed", "backend", b.Name, "error", rec.err, "retry", retry)
		if !retry {
			break
		}
		p.cfg.Metrics.Retry(b)
		tried = append(tried, b)
	}
	if lastErr != nil && !rec.wroteHeader {
		if r.Context().Err() != nil {
			rec.status = 499 // client closed the request (nginx's convention); nothing is sent
		} else {
			code := StatusFor(lastErr)
			writeJSONError(rec, code, errorText(code))
		}
	}
	p.finish(r, rec, served, start, len(tried))
	if aborted {
		// The response was cut off after its headers went out: abort the
		// client connection so the client sees a truncated response.
		panic(http.ErrAbortHandler)
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
	if p.cfg.AccessLog == nil {
		return
	}
	backend := ""
	if b != nil {
		backend = b.Name
	}
	p.cfg.AccessLog.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("client", r.RemoteAddr),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.String("backend", backend),
		slog.Float64("duration_ms", float64(d.Microseconds())/1e3),
		slog.Int64("bytes", rec.bytes),
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
	json.NewEncoder(w).Encode(map[string]any{"error": msg, "status": code})
}
