// Package proxy is the layer-7 policy: it picks a backend with the
// configured algorithm, tries the request there and, where that is safe, on
// other backends; feeds the passive health checks and latency figures;
// maps failures to statuses; and records metrics and the access log. It
// forwards *http.Request values with httputil.ReverseProxy (the library path:
// upgrades, 100-continue, chunked uploads, HTTP/1.0, absolute-form targets,
// large bodies), and offers the same policy to the fast front end
// (lb/internal/front), which forwards plain HTTP/1.1 requests itself over the
// keep-alive pools this package keeps per backend (Upstream).
package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lblab/lblab/lb/internal/balance"
	"github.com/lblab/lblab/lb/internal/budget"
	"github.com/lblab/lblab/lb/internal/h1"
	"github.com/lblab/lblab/lb/internal/hedge"
	"github.com/lblab/lblab/lb/internal/metrics"
	"github.com/lblab/lblab/lb/internal/pool"
	"github.com/lblab/lblab/lb/internal/upstream"
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
	// Forwarder is "lean" (the default: the fast front end forwards plain
	// HTTP/1.1 requests itself, httputil.ReverseProxy the rest) or
	// "reverseproxy" (every request through httputil.ReverseProxy).
	Forwarder string
	// Conn configures the connections to the backends, for both forwarders.
	Conn upstream.Config
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

	// TryTimeout, when positive, bounds the wait for the response head of
	// each try of an idempotent request that could go elsewhere
	// (try_timeout); the try is then abandoned and the request retried.
	TryTimeout time.Duration
	// Hedge, when set, hedges idempotent requests (hedge_after; lean
	// forwarder only).
	Hedge *hedge.Delay
	// Budget, when set, bounds retries and hedges (retry_budget).
	Budget *budget.Budget
	// Outliers, when set, is told of every try's outcome.
	Outliers Observer
}

// NewTransport returns an http.Transport tuned for a reverse proxy: keep-alive
// pools per backend whose idle connections are checked before reuse
// (upstream.CheckedDialer), bounded dials and response-header waits, no
// proxy from the environment, no transparent compression.
func NewTransport(c upstream.Config) *http.Transport {
	d := &net.Dialer{Timeout: c.DialTimeout, KeepAlive: 30 * time.Second}
	// The Transport reads 0 as its default of 2, and a negative number as
	// none: the pool's 0 (none) and negative (no limit) translated.
	perHost := c.MaxIdle
	switch {
	case perHost == 0:
		perHost = -1
	case perHost < 0:
		perHost = math.MaxInt
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           upstream.CheckedDialer(d),
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   perHost,
		IdleConnTimeout:       c.IdleTimeout,
		ResponseHeaderTimeout: c.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
}

// splitTransport sends a request whose body cannot be replayed (streamed,
// larger than retry_body_limit) on a new connection of its own, which no
// idle-connection race can have closed under it; the rest share keep-alive
// connections.
type splitTransport struct{ keep, fresh *http.Transport }

func (t *splitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if ownConnection(r) {
		return t.fresh.RoundTrip(r)
	}
	return t.keep.RoundTrip(r)
}

// ownConnection reports whether r is sent on a new connection of its own:
// its body cannot be replayed.
func ownConnection(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.GetBody == nil
}

// CloseIdleConnections closes both transports' idle connections.
func (t *splitTransport) CloseIdleConnections() {
	t.keep.CloseIdleConnections()
	t.fresh.CloseIdleConnections()
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
	pools   sync.Map // *pool.Backend -> *upstream.Pool (fast front end)
	lean    bool
	buffers bufferPool
	hedge   *hedge.Delay
}

// New returns a proxy for cfg.
func New(cfg Config) (*Proxy, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Conn == (upstream.Config{}) {
		cfg.Conn = upstream.Config{DialTimeout: 5 * time.Second, ResponseHeaderTimeout: 30 * time.Second, MaxIdle: 256}
	}
	if cfg.Conn.IdleTimeout <= 0 {
		cfg.Conn.IdleTimeout = 90 * time.Second
	}
	if cfg.Transport == nil {
		keep := NewTransport(cfg.Conn)
		fresh := NewTransport(cfg.Conn)
		fresh.DisableKeepAlives = true
		cfg.Transport = &splitTransport{keep: keep, fresh: fresh}
	}
	switch cfg.Forwarder {
	case "", "lean", "reverseproxy":
	default:
		return nil, fmt.Errorf("forwarder %q: must be \"lean\" or \"reverseproxy\"", cfg.Forwarder)
	}
	p := &Proxy{cfg: cfg, log: cfg.Logger, errLog: cfg.Logger.With("component", "reverseproxy"), lean: cfg.Forwarder != "reverseproxy",
		hedge: cfg.Hedge}
	var err error
	if p.Switch, err = balance.NewSwitch(cfg.Algorithm, p.log); err != nil {
		return nil, err
	}
	return p, nil
}

// Lean reports whether the fast front end forwards plain requests itself.
func (p *Proxy) Lean() bool { return p.lean }

// Config returns the proxy's configuration, defaults applied. The caller
// must not modify it.
func (p *Proxy) Config() *Config { return &p.cfg }

// Logger is the proxy's logger.
func (p *Proxy) Logger() *slog.Logger { return p.log }

// Forget drops what the proxy cached for a backend removed from the pool and
// closes its idle connections.
func (p *Proxy) Forget(b *pool.Backend) {
	p.proxies.Delete(b)
	if v, ok := p.pools.LoadAndDelete(b); ok {
		v.(*upstream.Pool).Close()
	}
}

// CloseIdleConnections closes every idle keep-alive connection to the
// backends (on shutdown).
func (p *Proxy) CloseIdleConnections() {
	p.pools.Range(func(_, v any) bool { v.(*upstream.Pool).Close(); return true })
	if t, ok := p.cfg.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// PurgeIdle purges the fast front end's backend pools (upstream.Pool.Purge)
// and returns how many idle connections it closed.
func (p *Proxy) PurgeIdle(now time.Time) int {
	n := 0
	p.pools.Range(func(_, v any) bool { n += v.(*upstream.Pool).Purge(now); return true })
	return n
}

// IdleUpstream returns the number of idle connections in the fast front
// end's backend pools.
func (p *Proxy) IdleUpstream() int {
	n := 0
	p.pools.Range(func(_, v any) bool { n += v.(*upstream.Pool).Idle(); return true })
	return n
}

// QueuedUpstream returns the number of requests waiting in the backend
// pools' queues for a connection (max_conns_per_backend): the fast path's,
// and net/http's dials (see try).
func (p *Proxy) QueuedUpstream() int {
	n := 0
	p.pools.Range(func(_, v any) bool { n += v.(*upstream.Pool).Queued(); return true })
	return n
}

// Upstream returns b's keep-alive pool for the fast front end, made on
// first use.
func (p *Proxy) Upstream(b *pool.Backend) *upstream.Pool {
	if v, ok := p.pools.Load(b); ok {
		return v.(*upstream.Pool)
	}
	np := upstream.New(b.Addr, p.cfg.Conn)
	np.Reclaim = p.shedIdle
	v, _ := p.pools.LoadOrStore(b, np)
	return v.(*upstream.Pool)
}

// shedIdle closes the older half of every backend pool's idle connections
// (upstream.Pool.Shed), for a dial that found no file descriptor: with no
// cap on the pools (max_idle_conns_per_backend -1), connections a burst
// left idle are the descriptors the process can give back at once. It
// returns how many it closed.
func (p *Proxy) shedIdle() int {
	n := 0
	p.pools.Range(func(_, v any) bool { n += v.(*upstream.Pool).Shed(); return true })
	if n > 0 {
		p.log.Warn("out of file descriptors: closed idle backend connections to dial another", "closed", n)
	}
	return n
}

// ServeHTTP forwards r to a backend with httputil.ReverseProxy, retrying on
// others where it is safe.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Body != nil && r.Body != http.NoBody {
		// Relay both ways at once, as HAProxy does: net/http's server
		// otherwise reads (and closes) what is left of the request body
		// when the response starts, which waits on a client that waits
		// for the response, and fails the Transport's last read of the
		// body, which then cuts the response. (HTTP/1 only; an error
		// means there is nothing to enable.)
		_ = http.NewResponseController(w).EnableFullDuplex()
	}
	rec := &recorder{ResponseWriter: w}
	var lg reqLog
	if p.cfg.AccessLog != nil { // an id only for the access log to name
		lg.id = requestID(r)
		lg.times = &tryTimes{}
		r = r.WithContext(httptrace.WithClientTrace(r.Context(), lg.times.trace()))
	}
	body, replayable, err := p.bufferBody(r)
	if err != nil {
		// net/http already answered a body over its limits; a body that
		// breaks its framing (h1's rules, enforced under net/http by the
		// front end) or times out is the client's fault.
		rec.Header().Set("Connection", "close")
		writeJSONError(rec, http.StatusBadRequest, "cannot read request body")
		lg.term = TermRefused
		p.finish(r, rec, nil, start, 0, lg)
		return
	}
	bal := p.Current()
	key := ""
	if bal.Keyed {
		key = ClientIP(r, p.cfg.TrustedProxies)
	}
	pl := Plan{Key: key, Replayable: replayable, Idempotent: idempotent(r), ClientGone: func() bool { return r.Context().Err() != nil }}
	served, last, retries := p.Attempt(bal, pl, func(b *pool.Backend, t Try) Outcome {
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rec.err = nil
		lg.times.reset()
		if t.HeadTimeout > 0 {
			return p.tryTimed(b, rec, r, t.HeadTimeout)
		}
		aborted := p.try(b, rec, r)
		return Outcome{Status: rec.status, WroteHeader: rec.wroteHeader, Err: rec.err, Aborted: aborted}
	})
	if last.Err != nil && !rec.wroteHeader {
		if pl.ClientGone() {
			rec.status = 499 // client closed the request (nginx's convention); nothing is sent
		} else {
			code := StatusFor(last.Err)
			writeJSONError(rec, code, ErrorText(code))
		}
	}
	lg.term = Termination(last, pl.ClientGone())
	if last.Err == nil {
		lg.backendStatus = rec.status
	}
	p.finish(r, rec, served, start, retries, lg)
	if last.Aborted {
		// The response was cut off after its headers went out: abort the
		// client connection so the client sees a truncated response.
		panic(http.ErrAbortHandler)
	}
}

// Plan is what the retry loop needs to know of a client request.
type Plan struct {
	Key        string // the balancer's key, when it is Keyed
	Replayable bool   // the body (if any) can be sent again
	Idempotent bool
	// ClientGone reports whether the client has gone (its failures are not
	// the backend's).
	ClientGone func() bool
}

// Outcome is what one try of a request on one backend came to.
type Outcome struct {
	Status      int   // status of the response the client got (0: none)
	WroteHeader bool  // the response head went to the client: no retry
	Err         error // the backend failure; nil when a response reached the client
	Aborted     bool  // cut off after the head: the client connection must be aborted
}

// Attempt picks a backend with bal and tries the request there with try,
// then on other backends where that is safe: a failed connect, or a request
// that never left, for any request; a reset or empty response for
// idempotent ones; never after the response head went out, and at most
// Retries times. It feeds the passive health checks and latency figures.
// last.Err is nil when a response reached the client, pool.ErrNoBackend when
// no backend was left to try.
//
// With try_timeout set, a try of an idempotent, replayable request that
// could go elsewhere gets Try.HeadTimeout; its expiry (ErrTryTimeout) is
// retried like a reset. Retries are bounded by the retry budget too.
func (p *Proxy) Attempt(bal *balance.Named, pl Plan, try func(*pool.Backend, Try) Outcome) (served *pool.Backend, last Outcome, retries int) {
	var tried []*pool.Backend
	if p.cfg.Budget != nil {
		p.cfg.Budget.Request(time.Now())
	}
	for {
		cands := p.cfg.Pool.Available()
		if len(tried) > 0 {
			cands = pool.Without(cands, tried)
		}
		b := bal.Pick(cands, pl.Key)
		if b == nil {
			if last.Err == nil {
				last.Err = ErrNoBackend
			}
			return served, last, len(tried)
		}
		served = b
		t0 := time.Now()
		last = try(b, Try{HeadTimeout: p.headTimeout(pl, len(tried), len(cands))})
		d := time.Since(t0)
		if last.Err == nil {
			b.ObserveLatency(d, time.Now())
			p.observe(b, last.Status >= 500, d)
			if last.Status >= 500 {
				b.CountError()
				if p.cfg.Passive5xx {
					p.cfg.Pool.Fail(b, p.cfg.MaxFails, p.cfg.FailTimeout, fmt.Sprintf("HTTP %d", last.Status))
				}
			}
			return served, last, len(tried)
		}
		kind := classify(last.Err, pl.ClientGone != nil && pl.ClientGone())
		if kind == failNone {
			return served, last, len(tried)
		}
		b.CountError()
		p.observe(b, true, d)
		if kind == failTryTimeout {
			// Slow, not failed: not a passive failure (on a busy host every
			// backend would soon be down); outlier ejection weighs it
			// against the others.
			p.cfg.Metrics.Gray().TryTimeout(b)
		} else {
			p.cfg.Pool.Fail(b, p.cfg.MaxFails, p.cfg.FailTimeout, last.Err.Error())
		}
		retry := len(tried) < p.cfg.Retries && !last.WroteHeader && pl.Replayable &&
			(kind == failConnect || ((kind == failReset || kind == failTryTimeout) && pl.Idempotent)) &&
			p.withdraw("retry")
		p.log.Debug("backend failed", "backend", b.Name, "error", last.Err, "retry", retry)
		if !retry {
			return served, last, len(tried)
		}
		p.cfg.Metrics.Retry(b)
		p.cfg.Metrics.Gray().Retry()
		tried = append(tried, b)
	}
}

// try sends r to b once with httputil.ReverseProxy. It reports whether the
// client connection must be aborted (the response was cut off).
func (p *Proxy) try(b *pool.Backend, rec *recorder, r *http.Request) (aborted bool) {
	b.Acquire()
	defer b.Release()
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true // ReverseProxy cut off a response body
		}
	}()
	if p.cfg.Conn.MaxConns > 0 { // the Transport's dial takes a place in b's pool (upstream.WithPool)
		r = r.WithContext(upstream.WithPool(r.Context(), p.Upstream(b), !ownConnection(r)))
	}
	p.reverseProxy(b).ServeHTTP(rec, r)
	return false
}

// headTimer is put in the context of a try with a per-try timeout; the
// ReverseProxy's ModifyResponse stops it when the response head is in.
type headTimer struct {
	t     *time.Timer
	fired atomic.Bool
}

type headTimerKey struct{}

// tryTimed is try with a per-try timeout d on the response head: a try
// whose head has not come by then is cancelled and fails with
// ErrTryTimeout.
func (p *Proxy) tryTimed(b *pool.Backend, rec *recorder, r *http.Request, d time.Duration) Outcome {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	ht := &headTimer{}
	ht.t = time.AfterFunc(d, func() { ht.fired.Store(true); cancel() })
	defer ht.t.Stop()
	rr := r.WithContext(context.WithValue(ctx, headTimerKey{}, ht))
	aborted := p.try(b, rec, rr)
	out := Outcome{Status: rec.status, WroteHeader: rec.wroteHeader, Err: rec.err, Aborted: aborted}
	if out.Err != nil && !out.WroteHeader && ht.fired.Load() && r.Context().Err() == nil {
		out.Err = fmt.Errorf("%w (%s)", ErrTryTimeout, d)
	}
	return out
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

// reqLog is what ServeHTTP gathers for a request's access-log line.
type reqLog struct {
	id            string
	times         *tryTimes // nil when there is no access log
	term          string
	backendStatus int
}

func (p *Proxy) finish(r *http.Request, rec *recorder, b *pool.Backend, start time.Time, retries int, lg reqLog) {
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
		a := Access{Client: r.RemoteAddr, ClientIP: ClientIP(r, p.cfg.TrustedProxies),
			Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host, Proto: r.Proto,
			UserAgent: r.UserAgent(), RequestID: lg.id,
			Status: status, BackendStatus: lg.backendStatus, Backend: b,
			Connect: -1, Response: -1, Duration: d, Bytes: rec.bytes, Retries: retries, Termination: lg.term}
		if lg.times != nil {
			a.Connect, a.Response = lg.times.connect(), lg.times.response()
		}
		p.LogAccess(context.WithoutCancel(r.Context()), a)
	}
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
			if len(trusted) > 0 && IsTrusted(peerIP(pr.In), trusted) {
				pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			}
			pr.SetXForwarded()
		},
		Transport:  p.cfg.Transport,
		BufferPool: &p.buffers,
		ModifyResponse: func(r *http.Response) error {
			if r.StatusCode < 100 || r.StatusCode > 999 {
				return fmt.Errorf("%w: status %d", h1.ErrMalformedResponse, r.StatusCode) // net/http reads 000; a 502, as h1 says
			}
			if ht, ok := r.Request.Context().Value(headTimerKey{}).(*headTimer); ok && !ht.t.Stop() {
				return ErrTryTimeout // the head came as the try timed out
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			if rec, ok := w.(*recorder); ok {
				rec.err = err
				return
			}
			writeJSONError(w, StatusFor(err), ErrorText(StatusFor(err)))
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

// ErrorText is the message of the proxy's own JSON error for a status.
func ErrorText(code int) string {
	switch code {
	case http.StatusServiceUnavailable:
		return ErrNoBackend.Error()
	case http.StatusGatewayTimeout:
		return "backend timeout"
	case http.StatusBadGateway:
		return "backend failed"
	}
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "error"
}

// writeJSONError sends {"error": msg, "status": code}.
func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(JSONError(code, msg))
}

// JSONError is the body of an error the proxy answers itself.
func JSONError(code int, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"error": msg, "status": code})
	return append(b, '\n')
}
