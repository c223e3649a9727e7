package l4

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/lblab/lblab/lb/internal/balance"
	"github.com/lblab/lblab/lb/internal/netx"
	"github.com/lblab/lblab/lb/internal/pool"
	"github.com/lblab/lblab/lb/internal/upstream"
)

// reason says why a connection ended; it labels lblab_tcp_connections_closed_total.
type reason int32

const (
	reasonNone        reason = iota
	reasonClosed             // both sides ended their direction (EOF each way)
	reasonReset              // a read or write failed (reset, broken pipe)
	reasonIdle               // no data either way for IdleTimeout
	reasonShutdown           // cut by Close
	reasonNoBackend          // no backend available
	reasonConnect            // every connect tried failed
	reasonConnectTime        // the last connect tried timed out
	numReasons
)

var reasonNames = [numReasons]string{"", "closed", "reset", "idle_timeout", "shutdown", "no_backend", "connect_failed", "connect_timeout"}

func (r reason) String() string { return reasonNames[r] }

// status maps an outcome to the HTTP mode's status codes, for the seed-shaped
// /__metrics__: a relayed connection is a 200, the rest are the errors a
// client of the HTTP mode would have seen.
func (r reason) status() int {
	switch r {
	case reasonNoBackend:
		return 503
	case reasonConnect:
		return 502
	case reasonConnectTime:
		return 504
	}
	return 200
}

// conn is one client connection and, once connected, its backend connection.
type conn struct {
	client  *net.TCPConn
	backend atomic.Pointer[net.TCPConn]
	// relay is the connection's relay once its sockets have been handed to
	// an event loop (Linux); abort goes through it from then on.
	relay atomic.Pointer[pair]
	start time.Time
	// forced is the reason the server cut the connection (idle, shutdown);
	// reasonNone while it has not.
	forced atomic.Int32
	// up and down count the bytes relayed client->backend and back.
	up, down atomic.Uint64
}

// abort cuts both sides, recording why (the first reason given wins).
func (c *conn) abort(r reason) {
	c.forced.CompareAndSwap(int32(reasonNone), int32(r))
	if p := c.relay.Load(); p != nil {
		p.abort()
		return
	}
	c.client.Close()
	if b := c.backend.Load(); b != nil {
		b.Close()
	}
}

// handle serves one client connection from connect until it is relayed;
// the relay ends it (on Linux without a goroutine of its own while it
// lasts: the event loop calls back).
func (s *Server) handle(c *conn) {
	s.stats.active.Add(1)

	key := ""
	bal := s.Current()
	if bal.Keyed {
		key = clientIP(c.client.RemoteAddr())
	}
	b, bc, retries, err := s.connect(bal, key)
	if err != nil {
		c.client.Close()
		r := reasonConnect
		var ne net.Error
		switch {
		case errors.Is(err, pool.ErrNoBackend):
			r = reasonNoBackend
		case s.ctx.Err() != nil:
			r = reasonShutdown
		case errors.As(err, &ne) && ne.Timeout():
			r = reasonConnectTime
		}
		if r != reasonShutdown { // each failed connect was logged as a warning already
			s.log.Debug("client connection closed without a backend", "client", c.client.RemoteAddr().String(), "reason", r.String(), "error", err, "retries", retries)
		}
		s.finish(c, nil, r, 0, 0, retries, err)
		s.ended(c)
		return
	}
	c.backend.Store(bc)
	if s.ctx.Err() != nil { // Close ran while we connected and missed bc
		c.abort(reasonShutdown)
	}
	bs := s.stats.backend(b)

	s.relay(c, bc, bs, func(up, down int64, err error) {
		c.client.Close()
		bc.Close()
		r := reason(c.forced.Load())
		switch {
		case r != reasonNone:
		case err != nil:
			r = reasonReset
		default:
			r = reasonClosed
		}
		if r == reasonReset || r == reasonIdle {
			s.log.Debug("connection ended abnormally", "client", c.client.RemoteAddr().String(), "backend", b.Name,
				"reason", r.String(), "error", err, "bytes_in", up, "bytes_out", down)
		}
		s.finish(c, b, r, up, down, retries, err)
		b.Release()
		s.ended(c)
	})
}

// ended releases what a connection held once it has been finished: its
// place among the active and tracked connections, its slot and its part in
// the handlers Shutdown waits for.
func (s *Server) ended(c *conn) {
	s.stats.active.Add(-1)
	s.untrack(c)
	s.releaseSlot()
	s.handlers.Done()
}

// finish records a connection that ended.
func (s *Server) finish(c *conn, b *pool.Backend, r reason, up, down int64, retries int, err error) {
	d := time.Since(c.start)
	s.stats.observe(r, d)
	if s.cfg.AccessLog == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("client", c.client.RemoteAddr().String()),
		slog.String("backend", ""),
		slog.String("reason", r.String()),
		slog.Float64("duration_ms", float64(d.Microseconds())/1e3),
		slog.Int64("bytes_in", up),
		slog.Int64("bytes_out", down),
		slog.Int("retries", retries),
	}
	if b != nil {
		attrs[1] = slog.String("backend", b.Name)
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.cfg.AccessLog.LogAttrs(context.Background(), slog.LevelInfo, "connection", attrs...)
}

// connect picks a backend and connects to it, trying up to Retries other
// backends (never one already tried) when a connect fails. No client byte
// has been read yet, so a retry is invisible to the client. The backend
// returned has been Acquired; the caller Releases it.
func (s *Server) connect(bal *balance.Named, key string) (*pool.Backend, *net.TCPConn, int, error) {
	var (
		tried   []*pool.Backend
		lastErr error
	)
	for attempt := 0; attempt <= s.cfg.Retries; attempt++ {
		cands := s.cfg.Pool.Available()
		if len(tried) > 0 {
			cands = pool.Without(cands, tried)
		}
		b := bal.Pick(cands, key)
		if b == nil {
			if lastErr == nil {
				lastErr = pool.ErrNoBackend
			}
			return nil, nil, len(tried), lastErr
		}
		b.Acquire() // before the connect, so least_connections sees connects in progress
		nc, d, err := s.dial(b)
		if err == nil {
			b.ObserveLatency(d, time.Now())
			s.stats.connectTime.Observe(d.Seconds())
			return b, nc.(*net.TCPConn), len(tried), nil
		}
		b.Release()
		if s.ctx.Err() != nil { // closing: not the backend's fault
			return nil, nil, len(tried), err
		}
		if netx.OutOfDescriptors(err) { // the proxy's own file table full: not the backend's fault either
			s.stats.connectErrors.Add(1)
			s.log.Warn("connect to backend failed: no file descriptor freed within the dial timeout", "backend", b.Name, "address", b.Addr, "error", err)
			return nil, nil, len(tried), err
		}
		b.CountError()
		s.stats.connectErrors.Add(1)
		s.stats.backend(b).connectErrors.Add(1)
		s.cfg.Pool.Fail(b, s.cfg.MaxFails, s.cfg.FailTimeout, "connect: "+err.Error())
		retry := attempt < s.cfg.Retries
		s.log.Warn("connect to backend failed", "backend", b.Name, "address", b.Addr, "error", err, "retry", retry)
		if retry {
			s.stats.retries.Add(1)
			s.cfg.Metrics.Retry(b)
		}
		tried = append(tried, b)
		lastErr = err
	}
	return nil, nil, len(tried), lastErr
}

// dial connects to b. A connect that finds no file descriptor (the proxy's
// own file table full) waits for one, as the HTTP path's does
// (upstream.DialShort), up to DialTimeout. d is how long the connect that
// succeeded took, the waits left out.
func (s *Server) dial(b *pool.Backend) (nc net.Conn, d time.Duration, err error) {
	t0 := time.Now()
	nc, err = s.dialer.DialContext(s.ctx, "tcp", b.Addr)
	d = time.Since(t0)
	if err == nil || !netx.OutOfDescriptors(err) {
		return nc, d, err
	}
	nc, err = upstream.DialShort(s.ctx, err, s.cfg.DialTimeout, nil, func(ctx context.Context) (net.Conn, error) {
		t0 := time.Now()
		nc, err := s.dialer.DialContext(ctx, "tcp", b.Addr)
		d = time.Since(t0)
		return nc, err
	})
	return nc, d, err
}

// clientIP returns the IP address of a TCP peer, the ip_hash key.
func clientIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap().String()
		}
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
