//go:build linux && !386 && !portable

package netx

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Parker holds idle sockets for their owners without a goroutine or a
// buffer each, as HAProxy holds an idle connection by its state alone: a
// few event loops wait on epoll sets (one-shot registrations) and hand a
// socket back to its owner when bytes or a hang-up arrive, or when its
// deadline passes. A socket is parked by its descriptor; the owner keeps
// the descriptor open while it is parked and closes it only after Expire.
type Parker struct {
	loops []*parkLoop
	once  sync.Once // Close
}

// Parkee is what a Parker holds for a parked socket. Its methods are called
// on a goroutine of the Parker's, once per Park, and must return quickly
// (hand the socket to a goroutine of the owner's, or close it).
type Parkee interface {
	// Wake: the socket is readable (or hung up); it is no longer parked.
	Wake()
	// Expire: its deadline passed, or the Parker closed; it is no longer
	// parked and should be closed.
	Expire()
}

// ErrParkerClosed is Park's error once the Parker is closing.
var ErrParkerClosed = errors.New("parker closed")

// parkLoop is one epoll set, the goroutine that waits on it and the
// sockets parked in it.
type parkLoop struct {
	ep     *Epoll
	wake   [2]int // pipe: a byte wakes the loop (Close)
	sweep  time.Duration
	events []syscall.EpollEvent
	exited chan struct{}

	mu     sync.Mutex // guards slots, free and closed
	slots  []parkSlot // by slot index; an event carries the index and its generation
	free   []int32
	closed bool
	parked atomic.Int64

	woken, expired []Parkee // for dispatch (the loop's goroutine only)
}

type parkSlot struct {
	p        Parkee // nil: free
	fd       int
	deadline int64 // unix nanoseconds
	gen      int32
}

// NewParker starts n loops (at least one; 0: one per P) that check the
// deadlines every sweep.
func NewParker(n int, sweep time.Duration) (*Parker, error) {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	p := &Parker{}
	for range n {
		l, err := newParkLoop(sweep)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.loops = append(p.loops, l)
		go l.run()
	}
	return p, nil
}

func newParkLoop(sweep time.Duration) (*parkLoop, error) {
	ep, err := NewEpoll()
	if err != nil {
		return nil, err
	}
	l := &parkLoop{ep: ep, sweep: sweep, events: make([]syscall.EpollEvent, 256), exited: make(chan struct{})}
	if err := syscall.Pipe2(l.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		ep.Close()
		return nil, &net.OpError{Op: "pipe2", Err: err}
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: -1}
	if err := syscall.EpollCtl(ep.FD(), syscall.EPOLL_CTL_ADD, l.wake[0], &ev); err != nil {
		l.closeFDs()
		return nil, &net.OpError{Op: "epoll_ctl", Err: err}
	}
	return l, nil
}

func (l *parkLoop) closeFDs() {
	syscall.Close(l.wake[0])
	syscall.Close(l.wake[1])
	l.ep.Close()
}

// Parked returns the number of sockets parked now.
func (p *Parker) Parked() int {
	n := 0
	for _, l := range p.loops {
		n += int(l.parked.Load())
	}
	return n
}

// Park holds the socket fd for who until it is readable (Wake) or deadline
// passes (Expire). After a nil error who belongs to the Parker until one of
// them is called: the caller must not touch it.
func (p *Parker) Park(fd int, who Parkee, deadline time.Time) error {
	l := p.loops[fd%len(p.loops)] // a socket always parks in the same set
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrParkerClosed
	}
	var i int32
	if n := len(l.free); n > 0 {
		i, l.free = l.free[n-1], l.free[:n-1]
	} else {
		i = int32(len(l.slots))
		l.slots = append(l.slots, parkSlot{})
	}
	s := &l.slots[i]
	s.p, s.fd, s.deadline, s.gen = who, fd, deadline.UnixNano(), s.gen+1
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: i, Pad: s.gen}
	err := syscall.EpollCtl(l.ep.FD(), syscall.EPOLL_CTL_MOD, fd, &ev) // parked here before: re-arm
	if err == syscall.ENOENT {
		err = syscall.EpollCtl(l.ep.FD(), syscall.EPOLL_CTL_ADD, fd, &ev)
	}
	if err != nil {
		s.p = nil
		l.free = append(l.free, i)
		return &net.OpError{Op: "epoll_ctl", Err: err}
	}
	l.parked.Add(1)
	return nil
}

// Close stops the loops; every socket still parked is expired. Park fails
// from then on.
func (p *Parker) Close() { p.once.Do(p.close) }

func (p *Parker) close() {
	for _, l := range p.loops {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		b := [1]byte{1}
		syscall.Write(l.wake[1], b[:])
	}
	for _, l := range p.loops {
		<-l.exited
		l.closeFDs()
	}
}

// run waits for parked sockets to become readable (handle), and expires
// those whose deadline passed.
func (l *parkLoop) run() {
	defer close(l.exited)
	handle := l.handle
	nextSweep := time.Now().Add(l.sweep).UnixNano()
	for {
		// Every registration in the set is one-shot (the wake pipe's is
		// written only at Close, which ends the loop): Hold may wait on a
		// drained set without polling it again.
		if err := l.ep.Hold(l.events, time.Unix(0, nextSweep), handle); err != nil {
			panic("netx: epoll_wait: " + err.Error()) // only EBADF/EFAULT/EINVAL: a bug
		}
		l.mu.Lock()
		now := time.Now().UnixNano()
		if now >= nextSweep || l.closed {
			for i := range l.slots {
				if s := &l.slots[i]; s.p != nil && (l.closed || s.deadline <= now) {
					l.expired = append(l.expired, s.p)
					l.release(int32(i))
				}
			}
			nextSweep = now + int64(l.sweep)
		}
		closed := l.closed
		l.mu.Unlock()
		l.dispatch()
		if closed {
			return
		}
	}
}

// handle takes the first n events: the parked sockets that became readable
// are handed back to their owners (Wake), those whose peer closed them are
// expired. It reports whether the Parker is closing (the loop ends).
func (l *parkLoop) handle(n int) bool {
	l.mu.Lock()
	for _, ev := range l.events[:n] {
		if ev.Fd < 0 || int(ev.Fd) >= len(l.slots) {
			continue // the wake pipe
		}
		if s := &l.slots[ev.Fd]; s.p != nil && s.gen == ev.Pad {
			if gone(s.fd, ev.Events) {
				l.expired = append(l.expired, s.p) // closed by its peer: no goroutine to wake
			} else {
				l.woken = append(l.woken, s.p)
			}
			l.release(ev.Fd)
		}
	}
	closed := l.closed
	l.mu.Unlock()
	l.dispatch()
	return closed
}

// dispatch tells the owners of the sockets handle or the sweep took out of
// the set (Wake, Expire), outside mu: an owner may park again at once.
func (l *parkLoop) dispatch() {
	for i, p := range l.woken {
		p.Wake()
		l.woken[i] = nil
	}
	for i, p := range l.expired {
		p.Expire()
		l.expired[i] = nil
	}
	l.woken, l.expired = l.woken[:0], l.expired[:0]
}

// gone reports whether a socket that epoll reports hung up has nothing left
// to read: its peer closed it while it was idle.
func gone(fd int, events uint32) bool {
	if events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) == 0 {
		return false
	}
	var b [1]byte
	n, err := Peek(fd, &b)
	return n == 0 && err != syscall.EAGAIN
}

// release frees slot i; the caller holds mu.
func (l *parkLoop) release(i int32) {
	l.slots[i].p = nil
	l.free = append(l.free, i)
	l.parked.Add(-1)
}
