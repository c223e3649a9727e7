//go:build linux && !386 && !portable

package l4

import (
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lblab/lblab/lb/internal/netx"
)

// On Linux the bytes of every relayed connection are moved by a few event
// loops, the way HAProxy does it, rather than by two goroutines per
// connection: each loop waits on one epoll instance (level-triggered) for all
// its connections' sockets, reads what a ready socket holds into the loop's
// buffer and writes it straight on to the other socket. A read that does not
// fill the buffer has drained the socket, so no read is spent on EAGAIN, and
// no goroutine is woken or parked per message. Bytes a slow peer does not
// take are kept for it (and that direction stops reading) until it is
// writable again.
//
// The loop owns the sockets while it relays them: only the loop closes them,
// so a descriptor is never reused under it. Others (Close, Shutdown) ask for
// an abort through the loop's wake pipe.

// loopBufSize is the read buffer of a loop, shared by its connections; a
// direction that reads a full buffer reads again, up to maxReadsPerEvent
// times, before the loop serves the next ready socket.
const (
	loopBufSize      = 64 << 10
	maxReadsPerEvent = 4
)

// loopEvents is how many ready sockets one epoll_wait returns at most.
const loopEvents = 256

// pendingPool holds the buffers for bytes a destination did not take.
var pendingPool = sync.Pool{New: func() any { b := make([]byte, loopBufSize); return &b }}

// relayLoops is a server's set of event loops; connections are spread over
// them in turn.
type relayLoops struct {
	loops []*relayLoop
	next  atomic.Uint32
}

// startLoops starts n loops (at least one) with the given idle timeout.
func startLoops(n int, idle time.Duration) (*relayLoops, error) {
	ls := &relayLoops{}
	for range max(n, 1) {
		l, err := newRelayLoop(idle)
		if err != nil {
			ls.stop()
			return nil, err
		}
		ls.loops = append(ls.loops, l)
		go l.run()
	}
	return ls, nil
}

// stop ends every loop (the caller has let all relays finish) and frees
// their descriptors.
func (ls *relayLoops) stop() {
	for _, l := range ls.loops {
		l.stop()
	}
}

func (ls *relayLoops) pick() *relayLoop {
	return ls.loops[ls.next.Add(1)%uint32(len(ls.loops))]
}

// defaultLoops is the number of event loops a server runs: one per P, as a
// loop keeps one busy at most.
func defaultLoops() int { return runtime.GOMAXPROCS(0) }

// relayLoop is one epoll instance and the goroutine that waits on it.
type relayLoop struct {
	ep     *netx.Epoll
	wake   [2]int // pipe; a byte on wake[1] wakes the loop for aborts or stop
	idle   time.Duration
	buf    []byte
	events []syscall.EpollEvent
	base   time.Time // origin of the loop's clock (now)
	tick   int64     // the loop's clock when the current batch of events began
	exited chan struct{}

	mu       sync.Mutex // guards the fields below; held by the loop while it handles a batch of events
	byFD     []*pair    // the pair each registered descriptor belongs to
	count    int        // registered pairs
	aborts   []*pair
	stopping bool
}

func newRelayLoop(idle time.Duration) (*relayLoop, error) {
	ep, err := netx.NewEpoll()
	if err != nil {
		return nil, err
	}
	l := &relayLoop{ep: ep, idle: idle, buf: make([]byte, loopBufSize),
		events: make([]syscall.EpollEvent, loopEvents), base: time.Now(), exited: make(chan struct{})}
	if err := syscall.Pipe2(l.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		ep.Close()
		return nil, osErr("pipe2", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(l.wake[0])}
	if err := syscall.EpollCtl(ep.FD(), syscall.EPOLL_CTL_ADD, l.wake[0], &ev); err != nil {
		l.closeFDs()
		return nil, osErr("epoll_ctl", err)
	}
	return l, nil
}

func osErr(op string, err error) error { return &net.OpError{Op: op, Err: err} }

func (l *relayLoop) closeFDs() {
	syscall.Close(l.wake[0])
	syscall.Close(l.wake[1])
	l.ep.Close()
}

// now is the loop's clock, in nanoseconds since base (monotonic).
func (l *relayLoop) now() int64 { return int64(time.Since(l.base)) }

// poke wakes the loop; a full pipe already will.
func (l *relayLoop) poke() {
	b := [1]byte{1}
	syscall.Write(l.wake[1], b[:])
}

// stop ends the loop and waits for it.
func (l *relayLoop) stop() {
	l.mu.Lock()
	l.stopping = true
	l.mu.Unlock()
	l.poke()
	<-l.exited
	l.closeFDs()
}

// pair is one relayed connection: the client's and the backend's socket and
// the two directions between them.
type pair struct {
	loop *relayLoop
	c    *conn
	fd   [2]int    // client, backend
	dir  [2]flow   // [0] client->backend (src fd[0]), [1] backend->client (src fd[1])
	mask [2]uint32 // epoll events registered for fd[0], fd[1]
	// reg says whether fd[i] is in the epoll set; a socket whose peer hung up
	// is taken out while it can be neither read nor written, as epoll reports
	// a hang-up whatever the events asked for.
	reg  [2]bool
	hup  [2]bool // epoll reported a hang-up on fd[i]
	last int64   // loop clock at the last byte read or written either way
	err  error   // the first failure
	// closed is set (under loop.mu) once the loop has closed both sockets.
	closed  bool
	aborted bool // an abort is queued
	// done is called, on a goroutine of its own, once the loop has closed
	// both sockets.
	done func(up, down int64, err error)
}

// flow is one direction of a pair.
type flow struct {
	pending []byte  // bytes read that the destination has not taken yet
	pbuf    *[]byte // pendingPool buffer pending lives in
	eof     bool    // the source ended; the destination has been shut for writing
	n       int64   // bytes written to the destination
	count   [3]*atomic.Uint64
}

// relay moves bytes both ways between the client and backend until both
// directions have ended (each EOF half-closes its destination) or one fails
// (both sockets are closed); then it calls done with the bytes relayed each
// way and the failure. The net.TCPConns are closed: their descriptors are
// handed to an event loop, which closes them when the relay ends. relay
// returns at once: no goroutine waits while the connection lasts.
func (s *Server) relay(c *conn, backend *net.TCPConn, bs *backendStats, done func(up, down int64, err error)) {
	l := s.loops.pick()
	p := &pair{loop: l, c: c, done: done}
	p.dir[0].count = [3]*atomic.Uint64{&c.up, &bs.up, &s.stats.up}
	p.dir[1].count = [3]*atomic.Uint64{&c.down, &bs.down, &s.stats.down}
	var err error
	if p.fd[0], err = s.detach(c.client); err != nil {
		done(0, 0, err)
		return
	}
	if p.fd[1], err = s.detach(backend); err != nil {
		syscall.Close(p.fd[0])
		done(0, 0, err)
		return
	}
	if err := l.add(p); err != nil {
		syscall.Close(p.fd[0])
		syscall.Close(p.fd[1])
		done(0, 0, err)
		return
	}
	c.relay.Store(p)
	if reason(c.forced.Load()) != reasonNone { // abort ran before relay was set
		p.abort()
	}
}

// detach takes a connection's socket out of Go's poller: it duplicates the
// descriptor (the copy shares the socket and its non-blocking mode) and
// closes the net.TCPConn. The copy needs a descriptor of its own for a
// moment: when the file table is full, detach waits for one as a connect
// does (netx.RetryShort), for up to the dial timeout, rather than cut a
// connection that got through its accept and its connect.
func (s *Server) detach(tc *net.TCPConn) (int, error) {
	rc, err := tc.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd := -1
	dup := func() error {
		var dupErr error
		if err := rc.Control(func(fd uintptr) { nfd, dupErr = netx.DupCloexec(int(fd)) }); err != nil {
			return err
		}
		return dupErr
	}
	if err := netx.RetryShort(s.ctx, dup(), s.cfg.DialTimeout, nil, dup); err != nil {
		return -1, err
	}
	tc.Close()
	return nfd, nil
}

// add registers p's sockets with the loop.
func (l *relayLoop) add(p *pair) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopping {
		return net.ErrClosed
	}
	if need := max(p.fd[0], p.fd[1]) + 1; need > len(l.byFD) {
		l.byFD = append(l.byFD, make([]*pair, need-len(l.byFD)+need/2)...)
	}
	p.last = l.now()
	for i, fd := range p.fd {
		p.mask[i] = syscall.EPOLLIN
		ev := syscall.EpollEvent{Events: p.mask[i], Fd: int32(fd)}
		if err := syscall.EpollCtl(l.ep.FD(), syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			if i == 1 {
				syscall.EpollCtl(l.ep.FD(), syscall.EPOLL_CTL_DEL, p.fd[0], nil)
			}
			return osErr("epoll_ctl", err)
		}
	}
	l.byFD[p.fd[0]], l.byFD[p.fd[1]] = p, p
	p.reg = [2]bool{true, true}
	if l.count++; l.count == 1 { // the loop may be sleeping without a timeout: let it start sweeping
		l.poke()
	}
	return nil
}

// abort asks the loop to end p at once (both sockets closed). The caller has
// recorded why in p.c.forced.
func (p *pair) abort() {
	l := p.loop
	l.mu.Lock()
	if p.closed || p.aborted {
		l.mu.Unlock()
		return
	}
	p.aborted = true
	l.aborts = append(l.aborts, p)
	l.mu.Unlock()
	l.poke()
}

// run is the loop: wait for ready sockets, relay, repeat; every sweep
// interval, end the connections idle for the idle timeout.
func (l *relayLoop) run() {
	defer close(l.exited)
	sweepEvery := min(max(l.idle/10, 10*time.Millisecond), time.Second)
	nextSweep := l.now() + int64(sweepEvery)
	var until time.Time // no connections: sleep until poked
	for {
		n, err := l.ep.Wait(l.events, until)
		if err != nil {
			panic("l4: epoll_wait: " + err.Error()) // only EBADF/EFAULT/EINVAL: a bug
		}
		l.mu.Lock()
		now := l.now()
		l.tick = now
		for _, ev := range l.events[:max(n, 0)] {
			fd := int(ev.Fd)
			if fd == l.wake[0] {
				l.drainWake()
				continue
			}
			if p := l.byFD[fd]; p != nil && !p.closed {
				p.handle(fd, ev.Events)
			}
		}
		for _, p := range l.aborts {
			l.finish(p)
		}
		l.aborts = l.aborts[:0]
		if l.stopping {
			for _, p := range l.byFD {
				if p != nil && !p.closed {
					l.finish(p)
				}
			}
			l.mu.Unlock()
			return
		}
		if now >= nextSweep {
			l.sweep(now)
			nextSweep = now + int64(sweepEvery)
		}
		until = time.Time{}
		if l.count > 0 {
			until = l.base.Add(time.Duration(nextSweep))
		}
		l.mu.Unlock()
	}
}

func (l *relayLoop) drainWake() {
	var b [64]byte
	for {
		if n, err := syscall.Read(l.wake[0], b[:]); n <= 0 || err != nil {
			return
		}
	}
}

// sweep ends the connections that have not had a byte either way for the
// idle timeout.
func (l *relayLoop) sweep(now int64) {
	for fd, p := range l.byFD {
		if p == nil || p.closed || fd != p.fd[0] || now-p.last < int64(l.idle) {
			continue
		}
		p.c.forced.CompareAndSwap(int32(reasonNone), int32(reasonIdle))
		l.finish(p)
	}
}

// finish closes both sockets of p and lets relay return.
func (l *relayLoop) finish(p *pair) {
	if p.closed {
		return
	}
	p.closed = true
	for i, fd := range p.fd {
		l.byFD[fd] = nil
		syscall.Close(fd) // also takes it out of the epoll set
		if f := &p.dir[i]; f.pbuf != nil {
			pendingPool.Put(f.pbuf)
			f.pbuf, f.pending = nil, nil
		}
	}
	l.count--
	up, down, err := p.dir[0].n, p.dir[1].n, p.err
	go p.done(up, down, err) // logging and accounting, off the loop
}

// handle serves the events ev of p's socket fd.
func (p *pair) handle(fd int, ev uint32) {
	side := 0
	if fd == p.fd[1] {
		side = 1
	}
	in, out := &p.dir[side], &p.dir[1-side] // in reads from fd, out writes to it
	if ev&syscall.EPOLLHUP != 0 {
		p.hup[side] = true
	}
	if ev&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 && out.pending != nil {
		p.flush(1 - side)
	}
	if p.err == nil && ev&(syscall.EPOLLIN|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 && !in.eof && in.pending == nil {
		p.pump(side)
	}
	if p.err == nil && ev&syscall.EPOLLERR != 0 {
		p.fail(sockError(fd))
	}
	if p.err == nil && ev&syscall.EPOLLHUP != 0 && in.eof && !out.eof && out.pending == nil {
		// Both ways of fd are shut while bytes may still come for it.
		p.fail(syscall.EPIPE)
	}
	switch {
	case p.err != nil, p.dir[0].eof && p.dir[1].eof:
		p.loop.finish(p)
	default:
		p.rearm()
	}
}

// pump relays what the source of direction d holds.
func (p *pair) pump(d int) {
	f, src, dst := &p.dir[d], p.fd[d], p.fd[1-d]
	buf := p.loop.buf
	for range maxReadsPerEvent {
		n, err := netx.Read(src, buf)
		switch {
		case err == syscall.EAGAIN:
			return
		case err != nil:
			p.fail(err)
			return
		case n == 0:
			f.eof = true
			syscall.Shutdown(dst, syscall.SHUT_WR) // fails only if dst is gone, which its own events report
			return
		}
		p.last = p.loop.tick
		w, err := p.write(d, buf[:n])
		if err != nil {
			p.fail(err)
			return
		}
		if w < n {
			f.pbuf = pendingPool.Get().(*[]byte)
			f.pending = append((*f.pbuf)[:0], buf[w:n]...)
			return
		}
		if n < len(buf) { // drained
			return
		}
	}
}

// flush writes what direction d holds for its destination.
func (p *pair) flush(d int) {
	f := &p.dir[d]
	w, err := p.write(d, f.pending)
	if err != nil {
		p.fail(err)
		return
	}
	if f.pending = f.pending[w:]; len(f.pending) == 0 {
		pendingPool.Put(f.pbuf)
		f.pbuf, f.pending = nil, nil
	}
}

// write writes b to direction d's destination, returning what it took (0 on
// EAGAIN) and counting it.
func (p *pair) write(d int, b []byte) (int, error) {
	f := &p.dir[d]
	w := 0
	for w < len(b) {
		n, err := netx.Send(p.fd[1-d], b[w:])
		if err == syscall.EAGAIN {
			break
		}
		if err != nil {
			return w, err
		}
		w += n
	}
	if w > 0 {
		p.last = p.loop.tick
		f.n += int64(w)
		for _, c := range f.count {
			c.Add(uint64(w))
		}
	}
	return w, nil
}

func (p *pair) fail(err error) {
	if p.err == nil {
		p.err = osErr("relay", err)
	}
}

// rearm registers, for each socket, the events its directions now wait for:
// readable while its outgoing direction is open and has nothing pending,
// writable while its incoming direction has bytes pending.
func (p *pair) rearm() {
	for i, fd := range p.fd {
		var m uint32
		if f := &p.dir[i]; !f.eof && f.pending == nil {
			m |= syscall.EPOLLIN
		}
		if p.dir[1-i].pending != nil {
			m |= syscall.EPOLLOUT
		}
		var err error
		switch {
		case m == 0 && p.hup[i]:
			if p.reg[i] {
				p.reg[i] = false
				err = syscall.EpollCtl(p.loop.ep.FD(), syscall.EPOLL_CTL_DEL, fd, nil)
			}
		case !p.reg[i]:
			p.reg[i], p.mask[i] = true, m
			err = syscall.EpollCtl(p.loop.ep.FD(), syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: m, Fd: int32(fd)})
		case m != p.mask[i]:
			p.mask[i] = m
			err = syscall.EpollCtl(p.loop.ep.FD(), syscall.EPOLL_CTL_MOD, fd, &syscall.EpollEvent{Events: m, Fd: int32(fd)})
		}
		if err != nil {
			p.fail(osErr("epoll_ctl", err))
			p.loop.finish(p)
			return
		}
	}
}

// sockError returns the socket's pending error (SO_ERROR), or ECONNRESET
// when it reports none.
func sockError(fd int) error {
	if v, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR); err == nil && v != 0 {
		return syscall.Errno(v)
	}
	return syscall.ECONNRESET
}
