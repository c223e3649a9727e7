package front

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"

	"github.com/lblab/lblab/lb/internal/h1"
	"github.com/lblab/lblab/lb/internal/netx"
	"github.com/lblab/lblab/lb/internal/proxy"
)

// Config configures a Front.
type Config struct {
	// Fallback serves the requests the fast path hands over, one at a time
	// (Handler is wrapped so the front end knows when each is done). Its
	// MaxHeaderBytes and timeouts apply there too.
	Fallback *http.Server
	// Fast: forward plain HTTP/1.1 requests on the fast path (the "lean"
	// forwarder). Otherwise every request goes to Fallback, after the same
	// checks.
	Fast bool
	// Handoff, when set, sends requests for the paths it accepts to
	// Fallback (the status endpoints).
	Handoff func(path string) bool
	// IdleTimeout bounds the wait for the next request on a connection;
	// ReadHeaderTimeout the wait for the rest of a request head once its
	// first byte has come (408 after it).
	IdleTimeout       time.Duration
	ReadHeaderTimeout time.Duration
	// MaxHeaderBytes bounds a request head (431 beyond it).
	MaxHeaderBytes int
	// MaxConnections bounds the open client connections; past it, accepting
	// pauses. 0: no bound.
	MaxConnections int
	// Limits bound what the request parser accepts.
	Limits h1.Limits
	// ParkAbove: idle connections are parked (see parkAfter) only while
	// more than this many client connections are open; below it an idle
	// connection keeps its goroutine, which costs memory (about 16 KiB) but
	// no system calls. 0: always park; negative: never.
	ParkAbove int
	// RawCallsBelow: client and backend sockets are read and written with
	// raw system calls while fewer than this many client connections are
	// served (open and not parked), and as the scheduler's own system calls
	// from then on (see netx.SetCrowded; the setting is the process's). 0:
	// never raw.
	RawCallsBelow int
}

// DefaultRawCallsBelow is the RawCallsBelow the server uses: 48 connections
// per P (96 on a 2-core machine). Measured on 2 cores side by side with
// wrk, raw calls gave 8-13% less CPU per request at 64 connections and cost
// 6-7% of the req/s at 256 and 512; at 128 neither won.
func DefaultRawCallsBelow() int { return 48 * runtime.GOMAXPROCS(0) }

// DefaultParkAbove is the ParkAbove the server uses: a few hundred busy
// keep-alive connections (wrk -c 512, say) are served without parking's
// system calls, and a crowd of idle ones holds no goroutines.
const DefaultParkAbove = 1024

// Front serves HTTP on the proxy port; see the package documentation.
type Front struct {
	p        *proxy.Proxy
	cfg      Config
	handoff  *connQueue
	shutting atomic.Bool

	// next hands a new connection to a goroutine that has finished its last
	// one and waits for another (unbuffered: a send succeeds only when one
	// waits); stop, closed by Shutdown or Close, ends the waiting ones.
	next     chan *conn
	stop     chan struct{}
	stopOnce sync.Once

	// slots bounds the open connections (MaxConnections) when the acceptor
	// is in use; else netutil.LimitListener bounds them.
	slots *netx.Slots
	// parker holds idle connections without a goroutine each (Linux; nil
	// elsewhere, and then every connection keeps its goroutine).
	parker *netx.Parker

	mu    sync.Mutex // guards ln, acc and conns
	ln    net.Listener
	acc   *netx.Acceptor // nil: ln.Accept
	conns map[*conn]struct{}
	open  atomic.Int64 // len(conns), read without the lock

	// idleWorkers counts the goroutines waiting for a connection (at most
	// maxIdleWorkers wait; the others end).
	idleWorkers atomic.Int32
}

// workerIdle is how long a connection's goroutine waits for the next
// connection after its own has closed. Reusing it saves the stack growth a
// fresh goroutine goes through on its first request (the request path is
// deeper than a new goroutine's starting stack), which was 9% of the CPU
// with a new connection per request.
const workerIdle = 10 * time.Second

// maxIdleWorkers bounds the goroutines kept waiting for a connection: a
// crowd of connections that park after their request must not leave a
// crowd of goroutines (each with its grown stack) behind.
const maxIdleWorkers = 64

// New returns a front end for p. It wraps cfg.Fallback's Handler and sets
// its ConnContext, so that each hand-off ends when its request is answered.
func New(p *proxy.Proxy, cfg Config) *Front {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	f := &Front{p: p, cfg: cfg, conns: map[*conn]struct{}{},
		next: make(chan *conn), stop: make(chan struct{}), slots: netx.NewSlots(cfg.MaxConnections)}
	wrapFallback(cfg.Fallback)
	return f
}

// Serve accepts connections on ln until Shutdown or Close, then returns
// http.ErrServerClosed.
func (f *Front) Serve(ln net.Listener) error {
	acc, err := netx.NewAcceptor(ln)
	if err != nil {
		ln.Close()
		return fmt.Errorf("proxy listener: %w", err)
	}
	if acc == nil && f.cfg.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, f.cfg.MaxConnections)
	}
	parker, _ := netx.NewParker(0, min(max(f.cfg.IdleTimeout/10, 10*time.Millisecond), time.Second))
	f.mu.Lock()
	f.ln, f.acc, f.parker = ln, acc, parker
	f.handoff = newConnQueue(ln.Addr())
	f.mu.Unlock()
	if f.shutting.Load() { // Shutdown or Close ran before Serve
		f.closeListener()
		return http.ErrServerClosed
	}
	go f.cfg.Fallback.Serve(f.handoff)
	var backoff time.Duration
	for {
		var c net.Conn
		if acc != nil {
			if !f.slots.Acquire(f.stop) {
				return http.ErrServerClosed
			}
			if c, err = acc.Accept(f.slots.Release); err != nil {
				f.slots.Release()
			}
		} else {
			c, err = ln.Accept()
		}
		if err != nil {
			if f.shutting.Load() {
				return http.ErrServerClosed
			}
			if netx.TemporaryAcceptError(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				f.p.Logger().Warn("accept failed; retrying", "error", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		fc := f.newConn(c)
		if fc == nil {
			c.Close()
			return http.ErrServerClosed
		}
		f.dispatch(fc)
	}
}

// dispatch has fc served by a goroutine that waits for one, or a new one.
func (f *Front) dispatch(fc *conn) {
	select {
	case f.next <- fc:
	default:
		go f.worker(fc)
	}
}

// closeListener closes the listener and the acceptor's copy of it, and
// expires the parked connections (closing them).
func (f *Front) closeListener() {
	f.mu.Lock()
	parker := f.parker
	if f.ln != nil {
		f.ln.Close()
	}
	if f.acc != nil {
		f.acc.Close()
	}
	f.mu.Unlock()
	if parker != nil {
		parker.Close()
	}
}

// worker serves fc, then the connections Serve hands it, until it has
// waited workerIdle for one or the front end stops.
func (f *Front) worker(fc *conn) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		fc.serve()
		if f.idleWorkers.Add(1) > maxIdleWorkers {
			f.idleWorkers.Add(-1)
			return
		}
		t.Reset(workerIdle)
		select {
		case fc = <-f.next:
			f.idleWorkers.Add(-1)
		case <-t.C:
			f.idleWorkers.Add(-1)
			return
		case <-f.stop:
			f.idleWorkers.Add(-1)
			return
		}
	}
}

// stopWorkers ends the goroutines waiting for a connection.
func (f *Front) stopWorkers() { f.stopOnce.Do(func() { close(f.stop) }) }

// Shutdown stops accepting, closes idle connections and waits until the
// requests in flight are answered (their connections close after), or ctx
// ends.
func (f *Front) Shutdown(ctx context.Context) error {
	f.shutting.Store(true)
	f.stopWorkers()
	f.closeListener()
	errc := make(chan error, 1)
	go func() { errc <- f.cfg.Fallback.Shutdown(ctx) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		f.mu.Lock()
		n := len(f.conns)
		for fc := range f.conns {
			if fc.idle.Load() {
				fc.c.SetReadDeadline(aLongTimeAgo) // wakes the idle reader, which sees shutting
			}
		}
		f.mu.Unlock()
		if n == 0 {
			return <-errc
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// Close closes the listener and every connection at once.
func (f *Front) Close() error {
	f.shutting.Store(true)
	f.stopWorkers()
	f.closeListener()
	f.mu.Lock()
	for fc := range f.conns {
		fc.c.Close()
	}
	f.mu.Unlock()
	return f.cfg.Fallback.Close()
}

func (f *Front) newConn(c net.Conn) *conn {
	fc := &conn{f: f, p: f.p, c: c, fd: -1, remote: c.RemoteAddr().String()}
	if fdc, ok := c.(interface{ Fd() int }); ok {
		fc.fd = fdc.Fd()
	}
	fc.peer = fc.remote
	if host, _, err := net.SplitHostPort(fc.remote); err == nil {
		fc.peer = host
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shutting.Load() {
		return nil
	}
	f.conns[fc] = struct{}{}
	f.countLocked()
	return fc
}

// Open returns the number of client connections open now (parked ones
// included).
func (f *Front) Open() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// Served returns the number of open client connections that hold a
// goroutine and buffers: the open ones less the parked ones.
func (f *Front) Served() int {
	f.mu.Lock()
	parker := f.parker
	f.mu.Unlock()
	return f.served(parker)
}

// served is the open connections less those parked in parker (nil: none).
func (f *Front) served(parker *netx.Parker) int {
	n := int(f.open.Load())
	if parker != nil {
		n -= parker.Parked()
	}
	return max(n, 0)
}

func (f *Front) forget(fc *conn) {
	f.mu.Lock()
	delete(f.conns, fc)
	f.countLocked()
	f.mu.Unlock()
}

// countLocked records how many connections are open; the caller holds mu.
func (f *Front) countLocked() {
	f.open.Store(int64(len(f.conns)))
	f.recount()
}

// recount says whether the sockets' system calls are raw: while fewer than
// RawCallsBelow connections are served, that is open and not parked. A
// parked connection makes no system call and holds no goroutine, so a
// crowd of idle connections keeps the raw calls, which spare the runtime's
// monitor thread the wake-ups the scheduler's calls cost it (see
// netx.SetCrowded). It is called as connections open and close, park and
// wake, without a lock: two calls that race may leave the older count's
// word until the next one, which costs time, not correctness (either kind
// of call works).
func (f *Front) recount() {
	// f.parker is set before the first connection is accepted, and the
	// callers are its connections (or hold mu).
	netx.SetCrowded(f.served(f.parker) >= f.cfg.RawCallsBelow)
}
