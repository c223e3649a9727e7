// Package server wires the balancer together from a Config: pool, discovery,
// health checks, metrics, the proxy (or TCP mode) and the admin listener, and
// runs them under one context with a graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lblab/lblab/lb/internal/admin"
	"github.com/lblab/lblab/lb/internal/budget"
	"github.com/lblab/lblab/lb/internal/config"
	"github.com/lblab/lblab/lb/internal/discovery"
	"github.com/lblab/lblab/lb/internal/front"
	"github.com/lblab/lblab/lb/internal/h1"
	"github.com/lblab/lblab/lb/internal/health"
	"github.com/lblab/lblab/lb/internal/hedge"
	"github.com/lblab/lblab/lb/internal/l4"
	"github.com/lblab/lblab/lb/internal/metrics"
	"github.com/lblab/lblab/lb/internal/netx"
	"github.com/lblab/lblab/lb/internal/outlier"
	"github.com/lblab/lblab/lb/internal/pool"
	"github.com/lblab/lblab/lb/internal/proxy"
	"github.com/lblab/lblab/lb/internal/upstream"
)

// Options are what a Server needs besides its Config.
type Options struct {
	Logger *slog.Logger
	// AccessLog receives the access log when enable_logging is true.
	AccessLog *slog.Logger
	// AccessLogDropped, when set, reports the access-log lines dropped so
	// far (lb writes the log off the request path: lb/internal/logbuf).
	AccessLogDropped func() uint64
	// ProxyListener and AdminListener, when set, are used instead of listening
	// on the configured addresses (tests pass listeners on port 0).
	ProxyListener net.Listener
	AdminListener net.Listener
	// Version is the balancer's version, reported as lblab_build_info.
	Version string
}

// Server is a running balancer.
type Server struct {
	cfg     *config.Config
	opts    Options
	log     *slog.Logger
	Pool    *pool.Pool
	Metrics *metrics.Metrics
	Proxy   *proxy.Proxy
	// L4 serves the proxy port in tcp mode (nil in http mode).
	L4     *l4.Server
	Admin  *admin.Server
	health *health.Checker
	disc   *discovery.Discoverer
	// Outliers ejects sick backends (nil unless outlier_detection is on).
	Outliers *outlier.Detector
	// front is the HTTP mode's front end once Run started it.
	front atomic.Pointer[front.Front]

	ready     chan struct{}
	proxyAddr net.Addr
	adminAddr net.Addr
}

// New builds a server for cfg; Run starts it.
func New(cfg *config.Config, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, opts: opts, log: opts.Logger, ready: make(chan struct{})}
	var m *metrics.Metrics
	s.Pool = pool.New(pool.Options{
		Logger:              opts.Logger,
		SlowStart:           cfg.SlowStart.D(),
		PassiveMinAvailable: cfg.PassiveMinAvailablePercent.Fraction(),
		OnChange:            func(b *pool.Backend, _, to pool.State, _ string) { m.Transition(b, to) },
		OnPassiveHeld:       func(b *pool.Backend) { m.Gray().PassiveHeld(b) },
		OnRemove: func(b *pool.Backend) {
			m.Forget(b)
			if s.Proxy != nil {
				s.Proxy.Forget(b)
			}
		},
	})
	m = metrics.New(s.Pool)
	s.Metrics = m

	var trusted []netip.Prefix
	for _, t := range cfg.TrustedProxies {
		p, _ := config.ParsePrefix(t) // validated by config
		trusted = append(trusted, p)
	}
	var accessLog *slog.Logger
	if cfg.EnableLogging {
		accessLog = opts.AccessLog
	}
	var observer proxy.Observer
	if cfg.OutlierDetection {
		s.Outliers = outlier.New(outlier.Config{
			Pool: s.Pool, Interval: cfg.OutlierInterval.D(),
			ErrorRate: cfg.OutlierErrorPercent.Fraction(), LatencyFactor: cfg.OutlierLatencyFactor,
			SlowShare:    cfg.OutlierSlowPercent.Fraction(),
			MinRequests:  cfg.OutlierMinRequests,
			BaseEjection: cfg.OutlierBaseEjectionTime.D(), MaxEjection: cfg.OutlierMaxEjectionTime.D(),
			MaxEjectedFraction: cfg.MaxEjectionPercent.Fraction(),
			Logger:             opts.Logger,
			OnEject:            func(b *pool.Backend) { m.Gray().Ejection(b) },
		})
		observer = s.Outliers
	}
	var err error
	s.Proxy, err = proxy.New(proxy.Config{
		Pool: s.Pool, Algorithm: cfg.Algorithm, Metrics: m, Logger: opts.Logger, AccessLog: accessLog,
		Forwarder: cfg.Forwarder,
		Conn: upstream.Config{
			DialTimeout:           cfg.ConnectionTimeout.D(),
			ResponseHeaderTimeout: cfg.RequestTimeout.D(),
			MaxIdle:               cfg.MaxIdleConnsPerBackend,
			MaxConns:              cfg.MaxConnsPerBackend,
		},
		Retries: cfg.Retries, RetryBodyLimit: cfg.RetryBodyLimit,
		MaxFails: cfg.MaxFails, FailTimeout: cfg.FailTimeout.D(), Passive5xx: cfg.PassiveOn5xx,
		TrustedProxies: trusted,
		TryTimeout:     cfg.TryTimeout.D(),
		Hedge:          hedgeDelay(cfg.HedgeAfter),
		Budget:         budget.New(cfg.RetryBudget.Fraction(), cfg.RetryBudgetMinPerSecond, config.RetryBudgetWindow),
		Outliers:       observer,
	})
	if err != nil {
		return nil, err
	}
	var switcher admin.Switcher = s.Proxy
	var extra func() map[string]any
	if cfg.Mode == "tcp" {
		if s.L4, err = l4.New(l4.FromConfig(cfg, s.Pool, m, opts.Logger, accessLog)); err != nil {
			return nil, err
		}
		switcher, extra = s.L4, s.L4.StatusExtra
	} else {
		extra = func() map[string]any {
			m := s.grayStatus()
			m["queued_requests"] = s.Proxy.QueuedUpstream()
			return m
		}
	}
	mo := metrics.Options{Version: opts.Version, TCP: cfg.Mode == "tcp"}
	if cfg.EnableLogging {
		mo.AccessLogDropped = opts.AccessLogDropped
	}
	if !mo.TCP {
		mo.QueuedRequests = s.Proxy.QueuedUpstream
		mo.OpenConnections = func() int {
			if fe := s.front.Load(); fe != nil {
				return fe.Open()
			}
			return 0
		}
	}
	m.Setup(mo)

	expect, _ := config.ParseStatusSet(cfg.HealthCheckStatus) // validated by config
	check := health.HTTPCheck(health.NewHTTPClient(), cfg.HealthCheckPath, expect.Contains)
	if cfg.Mode == "tcp" && !cfg.IsSet("health_check_path") {
		check = health.TCPCheck()
	}
	s.health = health.New(health.Config{
		Pool: s.Pool, Interval: cfg.HealthCheckInterval.D(), Timeout: cfg.HealthCheckTimeout.D(),
		Rise: cfg.HealthyThreshold, Fall: cfg.UnhealthyThreshold, FailTimeout: cfg.FailTimeout.D(),
		Check:   check,
		OnCheck: func(b *pool.Backend, err error) { m.Check(b, err == nil) },
		Logger:  opts.Logger,
	})
	s.disc = discovery.New(discovery.Config{
		Pool: s.Pool, Entries: cfg.BackendServers, Interval: cfg.ResolveInterval.D(),
		DrainTimeout: cfg.ShutdownTimeout.D(), Logger: opts.Logger,
	})
	s.Admin = admin.New(admin.Config{
		Pool: s.Pool, Metrics: m, Switcher: switcher, Mode: cfg.Mode, Token: cfg.AdminToken, Pprof: cfg.EnablePprof,
		DrainTimeout: cfg.ShutdownTimeout.D(), Logger: opts.Logger, Extra: extra,
	})
	return s, nil
}

// grayStatus is the "gray_failures" object of /__status__ in http mode:
// the knobs in force, retries, try timeouts, hedges, budget refusals and
// ejections so far, and the backends ejected now.
func (s *Server) grayStatus() map[string]any {
	cfg := s.cfg
	g := map[string]any{
		"try_timeout": cfg.TryTimeout.String(), "hedge_after": cfg.HedgeAfter.String(),
		"retry_budget": cfg.RetryBudget.String(), "outlier_detection": cfg.OutlierDetection,
		"counts": s.Metrics.Gray().Snapshot(),
	}
	if s.Outliers != nil {
		g["ejected"] = s.Outliers.Ejected()
	}
	return map[string]any{"gray_failures": g}
}

// hedgeDelay makes hedge_after's delay (nil when hedging is off). A
// percentile is of the response times of the last 5 to 10 seconds, and
// waits for 100 of them.
func hedgeDelay(h config.HedgeDelay) *hedge.Delay {
	switch {
	case !h.On():
		return nil
	case h.Percentile > 0:
		return hedge.Percentile(h.Percentile, 5*time.Second, 100, time.Now())
	}
	return hedge.Fixed(h.Delay)
}

// ProxyAddr returns the proxy listener's address once Run has started.
func (s *Server) ProxyAddr() net.Addr { <-s.ready; return s.proxyAddr }

// AdminAddr returns the admin listener's address (nil when off) once Run has started.
func (s *Server) AdminAddr() net.Addr { <-s.ready; return s.adminAddr }

// Ready is closed once the listeners are open.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Run serves until ctx ends, then stops accepting, lets in-flight requests
// finish for up to shutdown_timeout, and returns nil on a clean stop.
func (s *Server) Run(ctx context.Context) error {
	cfg := s.cfg
	s.disc.Sync(ctx)
	if len(s.Pool.All()) == 0 {
		s.log.Warn("no backend resolved yet; answering 503 until one does")
	}
	if w := descriptorWarning(cfg.MaxConnections, openFileLimit()); w != "" {
		s.log.Warn(w)
	}

	// HTTP clients' connections get no TCP keep-alive probes (HAProxy's
	// default): idle_timeout closes idle ones, and each accepted connection
	// is spared four setsockopt calls. TCP mode keeps them for its
	// long-lived connections.
	pl, err := s.listen(s.opts.ProxyListener, cfg.ProxyHost, cfg.ProxyPort, "proxy_port", cfg.Mode == "tcp")
	if err != nil {
		return err
	}
	if cfg.DefersAccept() {
		if err := netx.DeferAccept(pl); err != nil {
			pl.Close()
			return fmt.Errorf("defer_accept on %s: %w", pl.Addr(), err)
		}
	}
	// HTTP clients speak first and get a response at once: the ACK of a
	// request rides on it (HAProxy's tcp-smart-accept).
	if cfg.Mode == "http" {
		if err := netx.DelayFirstAck(pl); err != nil {
			pl.Close()
			return fmt.Errorf("delayed ACKs on %s: %w", pl.Addr(), err)
		}
	}
	s.proxyAddr = pl.Addr()
	var al net.Listener
	if s.opts.AdminListener != nil || cfg.AdminPort != 0 {
		if al, err = s.listen(s.opts.AdminListener, cfg.AdminHost, cfg.AdminPort, "admin_port", true); err != nil {
			pl.Close()
			return err
		}
		s.adminAddr = al.Addr()
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { s.health.Run(runCtx) })
	if s.disc.Dynamic() {
		wg.Go(func() { s.disc.Run(runCtx) })
	}
	if s.Outliers != nil {
		wg.Go(func() { s.Outliers.Run(runCtx) })
	}

	// The front end owns every client connection and checks every request
	// with h1's rules; it forwards plain ones itself with the lean
	// forwarder, and hands the rest (all of them with "reverseproxy") to
	// net/http's server and the proxy's ReverseProxy path.
	fe := front.New(s.Proxy, front.Config{
		Fallback: s.httpServer(s.proxyHandler()), Fast: s.Proxy.Lean(), Handoff: s.statusPath(),
		IdleTimeout: cfg.IdleTimeout.D(), ReadHeaderTimeout: cfg.ReadHeaderTimeout.D(), MaxHeaderBytes: cfg.MaxHeaderBytes,
		MaxConnections: cfg.MaxConnections, Limits: h1.Limits{MaxHeaders: cfg.MaxHeaderLines},
		ParkAbove:     front.DefaultParkAbove,
		RawCallsBelow: front.DefaultRawCallsBelow(),
	})
	var proxySrv service = fe
	s.front.Store(fe)
	counts := []func() int{fe.Open, fe.Served, s.Proxy.IdleUpstream}
	adminHandler := s.Admin.Handler()
	if s.L4 != nil {
		proxySrv, adminHandler = s.L4, s.L4.AdminHandler(adminHandler)
		counts = []func() int{s.L4.Active}
	} else {
		wg.Go(func() { every(runCtx, upstream.PurgeEvery, func() { s.Proxy.PurgeIdle(time.Now()) }) })
	}
	wg.Go(func() { trimMemory(runCtx, counts, trimSample, trimGap, trimMaxGap, freeMemory) })
	servers := []service{proxySrv}
	listeners := []net.Listener{pl}
	if al != nil {
		servers = append(servers, s.httpServer(adminHandler))
		listeners = append(listeners, al)
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	s.log.Info("lb started", "mode", cfg.Mode, "listen", s.proxyAddr.String(), "admin", addrString(s.adminAddr),
		"algorithm", cfg.Algorithm, "backends", len(s.Pool.All()))
	close(s.ready)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("shutting down", "grace", cfg.ShutdownTimeout.String())
	shutCtx, done := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout.D())
	defer done()
	var errs []error
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) && !errors.Is(serveErr, l4.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("serve: %w", serveErr))
	}
	for _, srv := range servers {
		if err := srv.Shutdown(shutCtx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w (in-flight requests cut after %s)", err, cfg.ShutdownTimeout))
			srv.Close()
		}
	}
	cancel()
	wg.Wait()
	s.Proxy.CloseIdleConnections()
	s.log.Info("stopped")
	return errors.Join(errs...)
}

// every calls f every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// How trimMemory runs in the server: the counts are sampled every
// trimSample, so that the peak of a burst that lasts a second is seen (a
// sample a second missed it: 9,500 connections opened 2,000 at a time kept
// 8 KiB each for as long as they idled, 2.6 KiB after a trim), and it trims
// at most every trimGap (a trim is two garbage collections), a gap that
// doubles with each trim up to trimMaxGap while the counts keep rising and
// falling, and goes back to trimGap once twice trimMaxGap has passed
// without one. With a fixed gap of 2 s, a crowd of 9,800 connections whose
// served count rose and fell by thousands was trimmed every 2-3 s while it
// ran (a build that logged instead of trimming: 26 times in 81 s): 1.15x
// the CPU per request of the same build without trims, and a p99 695 ms
// higher.
const (
	trimSample = 100 * time.Millisecond
	trimGap    = 2 * time.Second
	trimMaxGap = 64 * time.Second
)

// A count that rose has settled for trimMemory once it has moved by no more
// than trimStill (or a hundredth of itself) from one sample to the next,
// trimSettle samples in a row.
const (
	trimSettle = 10
	trimStill  = 10
)

// trimMemory returns the memory of connections that have closed, or gone
// idle and been parked (HTTP mode: they hand back their goroutine's stack
// and their buffers), to the system: when one of counts (the open
// connections, the served ones, the idle backend connections), sampled
// every sample, has dropped by at least half its peak and by 1,000 or more
// since the last trim, or has risen by 1,000 or more since the last trim
// and then settled (moved by trimStill at most, or a hundredth, in
// trimSettle samples: a burst of new connections that went idle leaves the
// garbage of their first requests, which with nothing allocating no
// collection would take back), or was still moving at the last trim and has
// since settled elsewhere (a trim that came halfway through a burst: the
// served count fell by thousands as the first connections parked, while
// the rest were opening), and the last trim was long enough ago, it
// calls free. Long enough is gap after a trim that came twice maxGap or more
// after the one before it, and twice the last wait (at most maxGap) after
// one that came sooner: counts that keep rising and falling are not
// trimmed each time they fall, and once every maxGap at most. Go would
// otherwise keep that memory until a garbage collection and its background
// scavenger got to it, which with little allocation going on can take
// minutes.
func trimMemory(ctx context.Context, counts []func() int, sample, gap, maxGap time.Duration, free func()) {
	peaks := make([]int, len(counts))
	now := make([]int, len(counts))
	base := make([]int, len(counts))    // at the last trim
	prev := make([]int, len(counts))    // at the last sample
	still := make([]int, len(counts))   // samples in a row that barely moved
	moving := make([]bool, len(counts)) // not settled at the last trim
	var last time.Time
	wait := gap
	every(ctx, sample, func() {
		trim := false
		for i, count := range counts {
			now[i] = count()
			peaks[i] = max(peaks[i], now[i])
			if drop := peaks[i] - now[i]; drop >= 1000 && drop >= peaks[i]/2 {
				trim = true
			}
			if d := now[i] - prev[i]; max(d, -d) <= max(trimStill, now[i]/100) {
				still[i]++
			} else {
				still[i] = 0
			}
			prev[i] = now[i]
			if still[i] >= trimSettle {
				if now[i]-base[i] >= 1000 {
					trim = true
				}
				if d := now[i] - base[i]; moving[i] && max(d, -d) > max(trimStill, base[i]/100) {
					trim = true
				}
			}
		}
		if since := time.Since(last); trim && since >= wait {
			free()
			if last.IsZero() || since >= 2*maxGap {
				wait = gap
			} else {
				wait = min(2*wait, maxGap)
			}
			last = time.Now()
			copy(peaks, now)
			copy(base, now)
			for i := range moving {
				moving[i] = still[i] < trimSettle
			}
		}
	})
}

// freeMemory collects garbage twice (the first moves the buffer pools'
// contents, sync.Pool, to their victim caches; the second frees them) and
// returns the freed pages to the system.
func freeMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// service is what Run starts and stops: an *http.Server or, in tcp mode, the
// *l4.Server on the proxy port.
type service interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout.D(),
		IdleTimeout:       s.cfg.IdleTimeout.D(),
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// proxyHandler answers the status endpoints itself (when enable_metrics is
// true) and forwards everything else.
func (s *Server) proxyHandler() http.Handler {
	if !s.cfg.EnableMetrics {
		return s.Proxy
	}
	status := s.Admin.StatusHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if admin.IsStatusPath(r.URL.Path) {
			status.ServeHTTP(w, r)
			return
		}
		s.Proxy.ServeHTTP(w, r)
	})
}

// statusPath returns which paths the proxy port answers itself (nil when
// enable_metrics is off).
func (s *Server) statusPath() func(string) bool {
	if !s.cfg.EnableMetrics {
		return nil
	}
	return admin.IsStatusPath
}

func (s *Server) listen(given net.Listener, host string, port int, key string, keepAlive bool) (net.Listener, error) {
	if given != nil {
		return given, nil
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	var lc net.ListenConfig
	if !keepAlive {
		lc.KeepAlive = -1
	}
	// Plain TCP, as HAProxy and nginx listen by default. Go (1.24 on) would
	// listen with Multipath TCP where the kernel has it: connections from
	// plain TCP clients fall back to TCP, but the listener then takes fewer
	// TCP options (no TCP_QUICKACK, see netx.DelayFirstAck) and every
	// handshake passes MPTCP's layer first.
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (%s): %w", addr, key, err)
	}
	return ln, nil
}

func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}

// WaitReady waits until s is listening or ctx ends.
func WaitReady(ctx context.Context, s *Server) error {
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return errors.New("server did not start within 30s")
	}
}
