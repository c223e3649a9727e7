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
// error for a place of its own to dial with. req, when not nil, is the
// net/http request a dial waits for: once it got a connection, the dial
// leaves the queue with errNotNeeded.
func (p *Pool) waitLocked(ctx context.Context, req *want) (*Conn, error) {
	w := make(waiter, 1)
	p.queue = append(p.queue, w)
	if req.needsPlace() {
		if p.needy == nil {
			p.needy = make(map[waiter]bool)
		}
		p.needy[w] = true
	}
	p.scheduleReclaimLocked()
	p.mu.Unlock()
	limit := p.cfg.DialTimeout
	if limit <= 0 {
		limit = 5 * time.Second
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	var served <-chan struct{}
	if req != nil {
		served = req.next()
	}
	withdrawn := false
	select {
	case c := <-w:
		return p.handed(c)
	case <-ctx.Done():
	case <-t.C:
	case <-served:
		withdrawn = true
	}
	p.mu.Lock()
	if i := slices.Index(p.queue, w); i >= 0 {
		p.queue = slices.Delete(p.queue, i, i+1)
		delete(p.needy, w)
		p.mu.Unlock()
		switch {
		case withdrawn:
			return nil, errNotNeeded
		case ctx.Err() != nil:
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

// reclaimLocked, with p.mu held and every place taken, takes the place of
// an idle connection for a caller that would otherwise queue, and unlocks
// p.mu; nil (p.mu still held) when there is none. A dial (not handed)
// takes one of the fast path's idle connections, which net/http could
// never use; a caller that needs a place (a Get, or a dial for a request
// that takes a connection of its own) takes one of net/http's that has
// sat idle for reclaimAfter (see retireIdleLocked). A dial that the
// Transport may serve with one of its own idle connections leaves those
// to the Transport.
func (p *Pool) reclaimLocked(handed, needsPlace bool) *slot {
	if !handed && len(p.idle) > 0 {
		c := p.idle[0]
		p.idle = slices.Delete(p.idle, 0, 1)
		p.low = max(p.low-1, 0)
		p.mu.Unlock()
		if s := takeOver(c); s != nil {
			return s
		}
		p.mu.Lock() // closed meanwhile: its place went on; look again
		return p.reclaimLocked(handed, needsPlace)
	}
	if !needsPlace {
		return nil
	}
	c := p.retireIdleLocked(time.Now())
	if c == nil {
		return nil
	}
	p.mu.Unlock()
	c.Conn.Close()
	return &slot{pool: p}
}

// reclaimAfter is how long one of net/http's connections must have sat
// idle before a request waiting in the queue takes its place: long enough
// that the Transport would have handed it to a request of its own that
// waited for one.
const reclaimAfter = 20 * time.Millisecond

// retireIdleLocked retires one of net/http's connections that has sat
// idle for reclaimAfter (checkedConn.retire), if any, and returns it for
// the caller to close once p.mu is unlocked; its place is the caller's
// (live is unchanged).
func (p *Pool) retireIdleLocked(now time.Time) *checkedConn {
	for c := range p.nets {
		if !c.retire(now, reclaimAfter) {
			continue
		}
		delete(p.nets, c)
		if s := c.s.Swap(nil); s != nil { // else closing: its Close gives the place on
			s.done.Store(true) // its place is the caller's now
			return c
		}
	}
	return nil
}

// reclaimIdle runs every reclaimAfter while requests that need a place
// wait in the queue (needy) and net/http holds connections to the backend:
// the places of those that sat idle go to the first of them. A connection
// net/http's Transport keeps idle would otherwise keep its place from the
// fast path's requests (and from uploads, which take a connection of
// their own) until idle_timeout. The dials the Transport may serve with
// its idle connections are left to it: it hands them one as it comes.
func (p *Pool) reclaimIdle() {
	now := time.Now()
	var (
		given   []waiter
		retired []*checkedConn
	)
	p.mu.Lock()
	for {
		i := slices.IndexFunc(p.queue, func(w waiter) bool { return p.needy[w] })
		if i < 0 {
			break
		}
		c := p.retireIdleLocked(now)
		if c == nil {
			break
		}
		w := p.queue[i]
		p.queue = slices.Delete(p.queue, i, i+1)
		delete(p.needy, w)
		given, retired = append(given, w), append(retired, c)
	}
	p.reclaiming = false
	p.scheduleReclaimLocked()
	p.mu.Unlock()
	for _, w := range given {
		w <- nil // a place of its own
	}
	for _, c := range retired {
		c.Conn.Close()
	}
}

// scheduleReclaimLocked schedules reclaimIdle, unless it is, while
// requests that need a place wait and net/http holds connections.
func (p *Pool) scheduleReclaimLocked() {
	if p.reclaiming || p.closed || len(p.needy) == 0 || len(p.nets) == 0 {
		return
	}
	p.reclaiming = true
	time.AfterFunc(reclaimAfter, p.reclaimIdle)
}

// headLocked takes the head of the queue, if any, for the caller to hand
// something to once it has unlocked p.mu.
func (p *Pool) headLocked() (waiter, bool) {
	if len(p.queue) == 0 {
		return nil, false
	}
	w := p.queue[0]
	p.queue = slices.Delete(p.queue, 0, 1)
	delete(p.needy, w)
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
