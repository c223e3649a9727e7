package upstream

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync/atomic"
	"time"
)

// A pool with Config.MaxConns bounds the connections to its backend, busy
// and idle together, as HAProxy's maxconn on a server line does: a request
// that finds them all taken waits in a queue, first come first served, for
// one to come back (Put hands it over) or to close (its place goes to the
// head of the queue, which dials). The wait is bounded by DialTimeout, as
// HAProxy's timeout queue defaults to its timeout connect, and by the
// request's context; then Get fails with ErrQueueTimeout. A balancer
// that has fallen behind thus holds its waiting requests rather than a
// backend connection (and a descriptor at both ends) for each.

// ErrQueueTimeout is Get's error when no connection to the backend came
// free within the wait: the balancer's own limit, not the backend's
// failure (a 503, as HAProxy's when a wait in its queue ends).
var ErrQueueTimeout = errors.New("no connection to the backend came free within connection_timeout (max_conns_per_backend)")

// ErrBackendRemoved is what a Get waiting in the queue gets when the pool
// closes (its backend was removed), inside a *net.OpError of a dial:
// nothing was sent, so the request may be tried on another backend.
var ErrBackendRemoved = errors.New("backend removed while the request waited for a connection")

// removed is the error of a Get that waited in the queue of a closed pool.
func (p *Pool) removed() error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: addr(p.addr), Err: ErrBackendRemoved}
}

// addr is a backend address as a net.Addr, for errors.
type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }

// closedPool is what Close hands the Gets waiting in the queue.
var closedPool = new(Conn)

// waiter is a Get waiting in the queue: it receives a connection handed
// over by Put, or nil for a place of its own (it dials).
type waiter chan *Conn

// slot is what a bounded pool's Conn holds: its place among the pool's
// MaxConns, given back once when the connection closes.
type slot struct {
	pool *Pool
	done atomic.Bool
}

// bounded reports whether the pool bounds its connections.
func (p *Pool) bounded() bool { return p.cfg.MaxConns > 0 }

// conns returns the number of connections to the backend the pool counts:
// busy and idle (bounded pools only; 0 otherwise).
func (p *Pool) conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live
}

// Queued returns the number of requests waiting for a connection.
func (p *Pool) Queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}

// waitLocked is Get with every connection taken: it queues, unlocks p.mu
// and waits. It returns a connection handed over (reused), or nil and no
// error for a place of its own to dial with.
func (p *Pool) waitLocked(ctx context.Context) (*Conn, error) {
	w := make(waiter, 1)
	p.queue = append(p.queue, w)
	p.mu.Unlock()
	limit := p.cfg.DialTimeout
	if limit <= 0 {
		limit = 5 * time.Second
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case c := <-w:
		return p.handed(c)
	case <-ctx.Done():
	case <-t.C:
	}
	p.mu.Lock()
	if i := slices.Index(p.queue, w); i >= 0 {
		p.queue = slices.Delete(p.queue, i, i+1)
		p.mu.Unlock()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, ErrQueueTimeout
	}
	p.mu.Unlock()
	return p.handed(<-w) // handed something as the wait ended: take it
}

// handed is what a waiter was given: a connection, nil (a place), or the
// pool's close.
func (p *Pool) handed(c *Conn) (*Conn, error) {
	if c == closedPool {
		return nil, p.removed()
	}
	return c, nil
}

// headLocked takes the head of the queue, if any, for the caller to hand
// something to once it has unlocked p.mu.
func (p *Pool) headLocked() (waiter, bool) {
	if len(p.queue) == 0 {
		return nil, false
	}
	w := p.queue[0]
	p.queue = slices.Delete(p.queue, 0, 1)
	return w, true
}

// release gives back a closed connection's place: to the head of the
// queue, if any, else to the pool.
func (s *slot) release() {
	if s == nil || s.done.Swap(true) {
		return
	}
	p := s.pool
	p.mu.Lock()
	if w, ok := p.headLocked(); ok {
		p.mu.Unlock()
		w <- nil
		return
	}
	p.live--
	p.mu.Unlock()
}

// takeOver closes c keeping its place for the caller, who dials in it (nil
// when c held none: no bound, or closed meanwhile and its place given on).
func takeOver(c *Conn) *slot {
	s := c.s.Swap(nil) // not given back by c's Close
	c.Close()
	return s
}

// handOffLocked gives c, on its way back to the pool, to the head of the
// queue if there is one; it reports whether it did (and then has unlocked
// p.mu).
func (p *Pool) handOffLocked(c *Conn) bool {
	w, ok := p.headLocked()
	if !ok {
		return false
	}
	p.mu.Unlock()
	w <- c
	return true
}
