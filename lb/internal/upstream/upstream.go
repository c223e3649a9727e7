// Package upstream keeps the balancer's keep-alive connections to one
// backend for the fast HTTP path: get, put, dial, idle expiry, the check
// that an idle connection is still quiet before it carries a request, and
// the one rule for sending a request again on a new connection after a
// reused one failed.
//
// A connection goes back to its pool only when its response ended exactly
// on its framing with nothing buffered past it (Put checks the buffer; the
// caller vouches for the framing). Bytes that arrive on an idle pooled
// connection — an unsolicited 408, the rest of a body the backend should not
// have sent — mean it is closed, never read as the next response: Get looks
// (one non-blocking peek, one system call) before reusing it. Send pays
// that call back on Linux: it arms the wait for the response before the
// request leaves, so the response is not first read for nothing.
package upstream

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lblab/lblab/lb/internal/netx"
)

// Config sizes and times a pool.
type Config struct {
	// DialTimeout bounds connecting to the backend (connection_timeout).
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for a response head once the
	// request is written (request_timeout).
	ResponseHeaderTimeout time.Duration
	// MaxIdle is the number of idle keep-alive connections kept; negative:
	// no limit (the purge still closes those the pool does not need).
	MaxIdle int
	// IdleTimeout drops connections idle for longer than this (default
	// 90s), before the backend's own keep-alive timeout is likely to.
	IdleTimeout time.Duration
	// MaxConns bounds the connections to the backend, busy and idle
	// (max_conns_per_backend); a request beyond it waits in the pool's
	// queue (see queue.go). 0: no bound.
	MaxConns int
}

// Buffer sizes of a backend connection: a response head must fit in the
// reader (16 KiB, HAProxy's default tune.bufsize).
const (
	ReadBufSize  = 16 << 10
	WriteBufSize = 4 << 10
)

// Pool holds one backend's idle keep-alive connections, most recently used
// first out (the warmest connection is reused). It is safe for concurrent
// use; a Conn taken from it belongs to its taker until Put or Close.
type Pool struct {
	addr   string
	cfg    Config
	dialer net.Dialer

	// Reclaim, when set (before the pool is used), is called when a dial
	// fails for want of file descriptors: it closes idle connections (of
	// this pool and others) and returns how many; when it closed any, the
	// dial is tried again at once, otherwise after a wait (dialShort).
	Reclaim func() int

	mu     sync.Mutex // guards idle, low, closed, live, queue, nets, needy and reclaiming
	idle   []*Conn    // oldest first
	low    int        // the fewest idle since the last Purge: idle[:low] were not needed all that time
	closed bool
	live   int                       // connections holding a place (bounded pools only)
	queue  []waiter                  // Gets waiting for a connection, first come first
	nets   map[*checkedConn]struct{} // net/http's connections holding a place (see CheckedDialer)
	// needy: the waiters in queue that no idle connection of net/http's
	// Transport can serve (Gets, and dials for requests that take a
	// connection of their own); reclaimIdle works for them.
	needy map[waiter]bool
	// reclaiming: reclaimIdle is scheduled.
	reclaiming bool
}

// New returns an empty pool for the backend at addr.
func New(addr string, cfg Config) *Pool {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 90 * time.Second
	}
	return &Pool{addr: addr, cfg: cfg, dialer: net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}}
}

// Addr is the backend's address.
func (p *Pool) Addr() string { return p.addr }

// Config is the pool's configuration, defaults applied.
func (p *Pool) Config() Config { return p.cfg }

// Conn is one keep-alive connection to a backend with its buffers. Its
// owner reads responses from BR and writes requests through BW. An idle
// connection in the pool has neither: its owner must not keep them past
// Put.
type Conn struct {
	net.Conn
	BR *bufio.Reader
	BW *bufio.Writer
	// RD is the connection's read deadline.
	RD netx.LazyDeadline

	w      countingWriter // under BW: counts what the kernel took
	q      quiet          // the idle check's state
	idleAt time.Time
	s      atomic.Pointer[slot] // its place in a bounded pool, given back by Close
}

// Close closes the connection and gives its place in a bounded pool back.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.s.Swap(nil).release()
	return err
}

// countingWriter counts the bytes written to the connection.
type countingWriter struct {
	c net.Conn
	n int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.c.Write(b)
	w.n += int64(n)
	return n, err
}

// Send writes the request buffered in BW to the backend and, on Linux,
// waits until the response can be read (see quiet.send): the first read
// from BR then finds it. at, when not nil, gets the time the request left.
// The read deadline, if any, must be armed before Send. An error is the
// write's: what Sent counts tells how much of the request left.
func (c *Conn) Send(at *time.Time) error {
	if c.w.n > 0 {
		// Part of the request left before (a body larger than BW goes
		// straight out): its answer may already be here, before a wait
		// could be armed, so the read takes its chances as usual.
		return flushAt(c.BW, at)
	}
	return c.q.send(c.BW, at)
}

// Arrived reports whether bytes from the backend wait unread on c's socket
// now, without reading them (false where it cannot look). After a read
// deadline expired, it tells a backend that answered in time from one that
// did not: the runtime fires an expired deadline before it polls the
// network, so on a starved process the expiry can win over a response that
// came long before it.
func (c *Conn) Arrived() bool { return c.q.arrived() }

// Begin marks the start of a request on c (Sent counts from here).
func (c *Conn) Begin() { c.w.n = 0 }

// Sent returns how many bytes of the current request the kernel took.
func (c *Conn) Sent() int64 { return c.w.n }

// Get returns an idle connection that is still quiet (reused=true) or dials
// a new one. In a bounded pool with every connection taken it waits in the
// queue for one (reused) or for a place to dial with; ErrQueueTimeout when
// none came in time.
func (p *Pool) Get(ctx context.Context, now time.Time) (c *Conn, reused bool, err error) {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			s, h, err := p.placeLocked(ctx, true)
			if err != nil {
				return nil, false, err
			}
			if h != nil { // handed over by Put
				if p.usable(h, now) {
					h.takeBufs()
					return h, true, nil
				}
				// Gone stale: dial in its place rather than queue again.
				if s = takeOver(h); s == nil {
					continue
				}
			}
			c, err = p.dial(ctx, s)
			return c, false, err
		}
		c = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.low = min(p.low, n-1)
		p.mu.Unlock()
		if p.usable(c, now) {
			c.takeBufs()
			return c, true, nil
		}
		c.Close()
	}
}

// usable reports whether c, back from the pool, may carry a request: not
// idle too long, and quiet (no stray bytes, no close from the backend).
func (p *Pool) usable(c *Conn, now time.Time) bool {
	return now.Sub(c.idleAt) < p.cfg.IdleTimeout && c.q.quiet(c.Conn, &c.RD)
}

// placeLocked, with p.mu held, takes a place for a new connection in a
// bounded pool (nil in one with no bound), waiting in the queue when every
// place is taken; it unlocks p.mu. A connection handed over while it
// waited is returned as h when handed is true; otherwise it is closed and
// its place taken.
func (p *Pool) placeLocked(ctx context.Context, handed bool) (s *slot, h *Conn, err error) {
	if !p.bounded() {
		p.mu.Unlock()
		return nil, nil, nil
	}
	if p.closed {
		p.mu.Unlock()
		return nil, nil, p.removed()
	}
	if p.live < p.cfg.MaxConns {
		p.live++
		p.mu.Unlock()
		return &slot{pool: p}, nil, nil
	}
	req := wantFrom(ctx)
	if s := p.reclaimLocked(handed, req.needsPlace()); s != nil {
		return s, nil, nil
	}
	if h, err = p.waitLocked(ctx, req); err != nil {
		return nil, nil, err
	}
	if h == nil { // a place given back by a connection that closed
		return &slot{pool: p}, nil, nil
	}
	if handed {
		return nil, h, nil
	}
	if s = takeOver(h); s == nil {
		return p.place(ctx)
	}
	return s, nil, nil
}

// place is placeLocked for a caller that does not hold p.mu.
func (p *Pool) place(ctx context.Context) (*slot, *Conn, error) {
	p.mu.Lock()
	return p.placeLocked(ctx, false)
}

// Dial connects a new connection to the backend (in a bounded pool, once
// it has a place: see Get). A dial that finds no file descriptor goes on
// as dialShort says.
func (p *Pool) Dial(ctx context.Context) (*Conn, error) {
	s, _, err := p.place(ctx)
	if err != nil {
		return nil, err
	}
	return p.dial(ctx, s)
}

// Redial closes old, a connection of the pool's, and dials a new one in its
// place (in a bounded pool, without waiting in the queue).
func (p *Pool) Redial(ctx context.Context, old *Conn) (*Conn, error) {
	s := takeOver(old)
	if s == nil && p.bounded() { // closed already: its place went on
		return p.Dial(ctx)
	}
	return p.dial(ctx, s)
}

// dial connects a new connection holding place s (nil: none); s is given
// back when the dial fails.
func (p *Pool) dial(ctx context.Context, s *slot) (*Conn, error) {
	nc, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil && netx.OutOfDescriptors(err) {
		nc, err = p.dialShort(ctx, err)
	}
	if err != nil {
		s.release()
		return nil, err
	}
	c := &Conn{Conn: netx.RawIO(nc)} // reads and writes as raw system calls (Linux)
	c.w.c = c.Conn
	c.takeBufs()
	c.q.init(nc)
	c.s.Store(s)
	return c, nil
}

// dialShort dials again after a dial found no file descriptor (err), as
// DialShort says, with the pool's Reclaim and DialTimeout.
func (p *Pool) dialShort(ctx context.Context, err error) (net.Conn, error) {
	return DialShort(ctx, err, p.cfg.DialTimeout, p.Reclaim, func(ctx context.Context) (net.Conn, error) {
		return p.dialer.DialContext(ctx, "tcp", p.addr)
	})
}

// DialShort dials again after a dial found no file descriptor (err), for
// as long and with the waits netx.RetryShort says: reclaim, when not nil,
// closes idle connections first. It returns the last error when the time
// is up, and any other error of a dial at once.
func DialShort(ctx context.Context, err error, limit time.Duration, reclaim func() int, dial func(context.Context) (net.Conn, error)) (net.Conn, error) {
	var nc net.Conn
	err = netx.RetryShort(ctx, err, limit, reclaim, func() (err error) {
		nc, err = dial(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return nc, nil
}

// Idle connections hold no buffers: Put hands a connection's to these
// pools and Get takes a pair again, so that the connections a burst leaves
// in the pool cost their descriptors and a few hundred bytes each rather
// than 20 KiB more (HAProxy's idle connections hold no buffer either).
var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, ReadBufSize) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, WriteBufSize) }}
)

// takeBufs gives c a reader and a writer from the pools.
func (c *Conn) takeBufs() {
	c.BR = readers.Get().(*bufio.Reader)
	c.BR.Reset(c.Conn)
	c.BW = writers.Get().(*bufio.Writer)
	c.BW.Reset(&c.w)
}

// dropBufs hands c's reader and writer (both empty) back to the pools; c
// has none until takeBufs.
func (c *Conn) dropBufs() {
	c.BR.Reset(nil)
	readers.Put(c.BR)
	c.BW.Reset(nil)
	writers.Put(c.BW)
	c.BR, c.BW = nil, nil
}

// Put returns c to the pool once its response has ended exactly on its
// framing. A connection with bytes buffered past the response, or one the
// pool has no room for, is closed.
func (p *Pool) Put(c *Conn, now time.Time) {
	if c.BR.Buffered() > 0 || c.BW.Buffered() > 0 {
		c.Close()
		return
	}
	c.idleAt = now
	c.dropBufs() // before c is in idle, where another Get may take it
	p.mu.Lock()
	if !p.closed && p.handOffLocked(c) {
		return
	}
	if p.closed || (p.cfg.MaxIdle >= 0 && len(p.idle) >= p.cfg.MaxIdle) {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// Close closes the idle connections and makes Put close the busy ones as
// they come back; the requests waiting in a bounded pool's queue fail at
// once with ErrBackendRemoved, and new ones get it without waiting.
func (p *Pool) Close() {
	p.mu.Lock()
	idle, queue := p.idle, p.queue
	p.idle, p.low, p.closed, p.queue, p.needy = nil, 0, true, nil, nil
	p.mu.Unlock()
	for _, w := range queue { // their backend is gone: they fail at once
		w <- closedPool
	}
	for _, c := range idle {
		c.Close()
	}
}

// PurgeEvery is how often the server calls Purge: HAProxy's default
// pool-purge-delay.
const PurgeEvery = 5 * time.Second

// Purge closes the idle connections that have been idle for IdleTimeout or
// longer, and half (rounded up) of those that sat idle since the last
// Purge: the pool did not need them. A burst leaves many connections behind
// (each with its 20 KiB of buffers, and a descriptor at both ends); taken
// from the most recent first, the oldest would otherwise stay until the
// backend closes them. Called every PurgeEvery, a pool that is no longer
// needed is halved each time. It returns how many it closed.
func (p *Pool) Purge(now time.Time) int {
	p.mu.Lock()
	k := (p.low + 1) / 2
	for k < len(p.idle) && now.Sub(p.idle[k].idleAt) >= p.cfg.IdleTimeout {
		k++
	}
	drop := p.takeOldestLocked(k)
	p.low = len(p.idle)
	p.mu.Unlock()
	for _, c := range drop {
		c.Close()
	}
	return k
}

// takeOldestLocked removes the k oldest idle connections from the pool and
// returns them, for the caller to close once it has unlocked mu.
func (p *Pool) takeOldestLocked(k int) []*Conn {
	drop := make([]*Conn, k)
	copy(drop, p.idle)
	n := copy(p.idle, p.idle[k:])
	clear(p.idle[n:])
	p.idle = p.idle[:n]
	return drop
}

// Shed closes the older half (rounded up) of the idle connections, and
// returns how many it closed: descriptors for a dial that found none.
func (p *Pool) Shed() int {
	p.mu.Lock()
	k := (len(p.idle) + 1) / 2
	drop := p.takeOldestLocked(k)
	p.low = min(p.low, len(p.idle))
	p.mu.Unlock()
	for _, c := range drop {
		c.Close()
	}
	return k
}

// Idle returns the number of idle connections.
func (p *Pool) Idle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// ErrNotSent wraps a write error after which the kernel had taken no byte
// of the request: nothing of it can have reached the backend.
var ErrNotSent = errors.New("request not sent")

// ErrNoResponse wraps a read error on a connection that ended (reset or
// closed) after the request was written and before any byte of a response.
var ErrNoResponse = errors.New("backend closed the connection before responding")

// Resend reports whether a request that failed with err on a connection
// from the pool (reused) may be sent again on a new connection to the same
// backend: only when no byte of it can have been acted on — nothing was
// sent — or, for an idempotent request, when the connection ended with no
// response (the backend may have closed it as it sat idle). Never a request
// the backend may have read and acted on.
func Resend(err error, reused, idempotent bool) bool {
	if !reused {
		return false
	}
	return errors.Is(err, ErrNotSent) || (idempotent && errors.Is(err, ErrNoResponse))
}
