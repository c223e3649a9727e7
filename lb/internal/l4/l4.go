// Package l4 is the balancer's layer-4 (TCP) mode: each accepted client
// connection is balanced as a unit. A backend is picked with the configured
// algorithm and connected to before a byte of the client's is read, so a
// connect failure is retried on another backend without the client noticing;
// then bytes are relayed both ways, and each direction is half-closed when its
// source ends. On Linux a few event loops (one per P) relay every
// connection's bytes from one epoll set each, as HAProxy does
// (relay_linux.go); elsewhere two goroutines per connection copy them.
//
// The Server has the shape of http.Server: Serve(listener), Shutdown(ctx) to
// stop accepting and wait for open connections, Close to cut them.
package l4

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/lblab/lblab/lb/internal/balance"
	"github.com/lblab/lblab/lb/internal/config"
	"github.com/lblab/lblab/lb/internal/metrics"
	"github.com/lblab/lblab/lb/internal/netx"
	"github.com/lblab/lblab/lb/internal/pool"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("l4: server closed")

// Config configures a Server.
type Config struct {
	// Pool holds the backends; only available (up) ones get new connections.
	Pool *pool.Pool
	// Algorithm is one of config.Algorithms. least_connections counts open
	// connections, ip_hash keys on the client's IP address, least_latency uses
	// the time to connect to a backend.
	Algorithm string
	// Metrics provides the Prometheus registry the server adds its collectors
	// to, and counts retries. Required.
	Metrics *metrics.Metrics
	// Logger receives warnings (connect failures) and debug lines (resets, idle
	// timeouts). Default: slog.Default().
	Logger *slog.Logger
	// AccessLog, when set, receives one line per connection.
	AccessLog *slog.Logger
	// DialTimeout bounds one connect to a backend. Default 5s.
	DialTimeout time.Duration
	// IdleTimeout closes a connection when no data has moved either way for
	// this long. Default 120s.
	IdleTimeout time.Duration
	// Retries is how many other backends a failed connect is tried on.
	Retries int
	// MaxFails connect failures within FailTimeout take a backend down (0: off).
	MaxFails    int
	FailTimeout time.Duration
	// MaxConnections bounds the open client connections; past it the server
	// stops accepting (clients wait in the kernel's backlog). 0: no bound.
	MaxConnections int
}

// FromConfig returns the l4 configuration for a tcp-mode balancer config.
func FromConfig(c *config.Config, p *pool.Pool, m *metrics.Metrics, logger, accessLog *slog.Logger) Config {
	return Config{
		Pool: p, Algorithm: c.Algorithm, Metrics: m, Logger: logger, AccessLog: accessLog,
		DialTimeout: c.ConnectionTimeout.D(), IdleTimeout: c.IdleTimeout.D(),
		Retries: c.Retries, MaxFails: c.MaxFails, FailTimeout: c.FailTimeout.D(),
		MaxConnections: c.MaxConnections,
	}
}

// Server balances TCP connections. All methods are safe for concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	dialer net.Dialer
	// Switch is the algorithm in use (Algorithm, SetAlgorithm); a switch
	// applies to connections accepted from then on.
	*balance.Switch
	slots *netx.Slots // one per open client connection; nil: no bound
	stats *stats
	start time.Time

	// ctx is cancelled by Close: it aborts connects in progress and accept
	// back-offs.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex // guards closing, listeners, conns and the Adds of serving and handlers
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	serving   sync.WaitGroup // Serve loops
	handlers  sync.WaitGroup // connection goroutines
	// loops relay the bytes of open connections (started by the first
	// Serve, stopped once every handler has returned).
	loops *relayLoops
}

// New returns a server for cfg and registers its collectors on
// cfg.Metrics.Registry().
func New(cfg Config) (*Server, error) {
	if cfg.Pool == nil || cfg.Metrics == nil {
		return nil, errors.New("new l4 server: Pool and Metrics are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger.With("mode", "tcp"),
		dialer:    net.Dialer{Timeout: cfg.DialTimeout},
		start:     time.Now(),
		ctx:       ctx,
		cancel:    cancel,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
	}
	s.slots = netx.NewSlots(cfg.MaxConnections)
	var err error
	if s.Switch, err = balance.NewSwitch(cfg.Algorithm, s.log); err != nil {
		cancel()
		return nil, err
	}
	s.stats = newStats(s)
	if err := cfg.Metrics.Registry().Register(s.stats); err != nil {
		cancel()
		return nil, fmt.Errorf("register tcp metrics: %w", err)
	}
	return s, nil
}

// Serve accepts connections on ln and balances each one until Shutdown or
// Close, then returns ErrServerClosed; any other error is a failed Accept. ln
// should yield *net.TCPConn (a *net.TCPListener does); other connections are
// refused. Serve closes ln when it returns.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	if s.loops == nil {
		loops, err := startLoops(defaultLoops(), s.cfg.IdleTimeout)
		if err != nil {
			s.mu.Unlock()
			ln.Close()
			return fmt.Errorf("start relay loops: %w", err)
		}
		s.loops = loops
	}
	s.listeners[ln] = struct{}{}
	s.serving.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
		s.serving.Done()
	}()

	var backoff time.Duration
	for {
		if !s.acquireSlot() {
			return ErrServerClosed
		}
		c, err := ln.Accept()
		if err != nil {
			s.releaseSlot()
			if s.isClosing() {
				return ErrServerClosed
			}
			if !netx.TemporaryAcceptError(err) {
				return fmt.Errorf("accept: %w", err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", "error", err, "in", backoff)
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
				return ErrServerClosed
			}
			continue
		}
		backoff = 0
		tc, ok := c.(*net.TCPConn)
		if !ok {
			s.releaseSlot()
			c.Close()
			s.log.Error("refused a connection that is not TCP", "type", fmt.Sprintf("%T", c))
			continue
		}
		s.stats.accepted.Add(1)
		cn := &conn{client: tc, start: time.Now()}
		if !s.track(cn) {
			s.releaseSlot()
			tc.Close()
			s.stats.closed[reasonShutdown].Add(1)
			continue
		}
		go s.handle(cn)
	}
}

// acquireSlot takes a connection slot, waiting while MaxConnections are
// open. It returns false when the server closes meanwhile.
func (s *Server) acquireSlot() bool {
	if s.slots.TryAcquire() {
		return true
	}
	s.stats.acceptLimited.Add(1)
	s.log.Debug("max_connections reached; accepting paused", "max_connections", s.cfg.MaxConnections)
	return s.slots.Acquire(s.ctx.Done())
}

func (s *Server) releaseSlot() { s.slots.Release() }

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// track registers cn; it returns false once the server is closing.
func (s *Server) track(cn *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[cn] = struct{}{}
	s.handlers.Add(1)
	return true
}

func (s *Server) untrack(cn *conn) {
	s.mu.Lock()
	delete(s.conns, cn)
	s.mu.Unlock()
}

// beginClose stops accepting: it marks the server closing and closes its
// listeners, so the Serve loops return.
func (s *Server) beginClose() {
	s.mu.Lock()
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
}

// Active returns the number of open client connections.
func (s *Server) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Shutdown stops accepting at once, then waits for the open connections to
// finish on their own. It returns nil when they all have, or ctx's error when
// ctx ends first (the connections are left open: call Close to cut them).
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginClose()
	s.serving.Wait()
	if n := s.Active(); n > 0 {
		s.log.Info("waiting for open connections", "connections", n)
	}
	wait := time.Millisecond
	for s.Active() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("shutdown with %d connections open: %w", s.Active(), ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
	s.handlers.Wait()
	s.stopLoops()
	return nil
}

// stopLoops stops the relay loops once no handler is left.
func (s *Server) stopLoops() {
	s.mu.Lock()
	loops := s.loops
	s.loops = nil
	s.mu.Unlock()
	if loops != nil {
		loops.stop()
	}
}

// Close stops accepting, cuts every open connection (both sides), aborts
// connects in progress and waits until every goroutine of the server has
// returned.
func (s *Server) Close() error {
	s.beginClose()
	s.cancel()
	s.mu.Lock()
	cut := len(s.conns)
	for cn := range s.conns {
		cn.abort(reasonShutdown)
	}
	s.mu.Unlock()
	if cut > 0 {
		s.log.Warn("closed open connections", "connections", cut)
	}
	s.serving.Wait()
	s.handlers.Wait()
	s.stopLoops()
	return nil
}
