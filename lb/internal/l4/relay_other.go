//go:build !linux || 386 || portable

package l4

import (
	"cmp"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Elsewhere than Linux (and on linux/386, whose socket calls go through
// socketcall, and in builds tagged "portable", which test this code on
// Linux) the bytes are relayed by two goroutines per connection, with
// io.Copy, and a timer per connection enforces the idle timeout.

// relayLoops stands for Linux's event loops; there are none here.
type relayLoops struct{}

func startLoops(int, time.Duration) (*relayLoops, error) { return &relayLoops{}, nil }
func (*relayLoops) stop()                                {}
func defaultLoops() int                                  { return 0 }

// pair is Linux's relayed connection; conn.relay stays nil here.
type pair struct{}

func (*pair) abort() {}

// relay copies client->backend and backend->client until both directions
// have ended. A direction that reaches EOF half-closes its destination
// (CloseWrite), so the other direction goes on; a direction that fails
// closes both connections, so the other one ends too. It returns the bytes
// relayed each way and the first error. The byte counters of c, bs and the
// server are added to as the bytes move.
func (s *Server) relay(c *conn, backend *net.TCPConn, bs *backendStats, done func(up, down int64, err error)) {
	done(s.copyBoth(c, backend, bs))
}

// copyBoth relays both ways with io.Copy until both directions end or one
// fails, and returns the bytes each way and the failure.
func (s *Server) copyBoth(c *conn, backend *net.TCPConn, bs *backendStats) (up, down int64, err error) {
	w := s.watchIdle(c)
	defer w.stop()
	client := c.client
	var (
		wg    sync.WaitGroup
		upErr error
	)
	wg.Go(func() {
		up, upErr = pipe(backend, client, &c.up, &bs.up, &s.stats.up)
		if upErr != nil {
			client.Close()
			backend.Close()
			return
		}
		backend.CloseWrite()
	})
	down, downErr := pipe(client, backend, &c.down, &bs.down, &s.stats.down)
	if downErr != nil {
		client.Close()
		backend.Close()
	} else {
		client.CloseWrite()
	}
	wg.Wait()
	if upErr != nil && !errors.Is(upErr, net.ErrClosed) {
		return up, down, upErr
	}
	return up, down, cmp.Or(downErr, upErr)
}

// pipe copies src to dst until src's EOF (returning a nil error) or a
// failure, adding each write to the counters, so that they (and the idle
// probe, which watches them) see every message, however small.
func pipe(dst, src *net.TCPConn, counters ...*atomic.Uint64) (int64, error) {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		m, rerr := src.Read(buf)
		if m > 0 {
			w, werr := dst.Write(buf[:m])
			n += int64(w)
			for _, c := range counters {
				c.Add(uint64(w))
			}
			if werr != nil {
				return n, werr
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// idleProbe calls a connection active when
// its byte counters moved since the last probe.
type idleProbe struct {
	bytes uint64
	since time.Time
}

func (p *idleProbe) idleFor(c *conn) (time.Duration, error) {
	now := time.Now()
	if p.since.IsZero() {
		p.since = c.start
	}
	if n := c.up.Load() + c.down.Load(); n != p.bytes {
		p.bytes, p.since = n, now
	}
	return now.Sub(p.since), nil
}

// idleWatch enforces IdleTimeout on one connection without touching the data
// path: a timer wakes once per idle period and asks how long the connection
// has been without data (idleFor); if that is the whole timeout it cuts the
// connection, else it sleeps for the rest. An active connection thus costs
// one timer and one getsockopt per idle period, and io.Copy keeps its splice.
type idleWatch struct {
	mu      sync.Mutex // guards t and stopped
	t       *time.Timer
	stopped bool
	probe   idleProbe
}

// watchIdle starts watching c; the caller must call stop when c ends.
func (s *Server) watchIdle(c *conn) *idleWatch {
	w := &idleWatch{}
	timeout := s.cfg.IdleTimeout
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t = time.AfterFunc(timeout, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.stopped {
			return
		}
		since, err := w.probe.idleFor(c)
		if err != nil { // the socket is closing; the relay is ending anyway
			return
		}
		if since >= timeout {
			c.abort(reasonIdle)
			return
		}
		w.t.Reset(timeout - since)
	})
	return w
}

func (w *idleWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.t.Stop()
}
