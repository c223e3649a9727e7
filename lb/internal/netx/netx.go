// Package netx holds the socket-level pieces the HTTP front end
// (lb/internal/proxy) and TCP mode (lb/internal/l4) share: which accept
// errors to retry, the bound on open connections, and on Linux the plain
// system calls both use to read and write sockets outside Go's poller.
package netx

import (
	"errors"
	"net"
	"syscall"
)

// TemporaryAcceptError reports whether an Accept error is worth retrying
// after a pause: a timeout, running out of file descriptors or buffers, or a
// connection aborted or interrupted before it was accepted.
func TemporaryAcceptError(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EINTR)
}

// Slots bounds the open connections: a slot is taken before a connection is
// accepted and given back when it closes. A nil *Slots has no bound.
type Slots struct{ ch chan struct{} }

// NewSlots returns n slots, or nil (no bound) when n <= 0.
func NewSlots(n int) *Slots {
	if n <= 0 {
		return nil
	}
	return &Slots{ch: make(chan struct{}, n)}
}

// TryAcquire takes a slot if one is free.
func (s *Slots) TryAcquire() bool {
	if s == nil {
		return true
	}
	select {
	case s.ch <- struct{}{}:
		return true
	default:
		return false
	}
}

// Acquire takes a slot, waiting while none is free; it returns false when
// done is closed first.
func (s *Slots) Acquire(done <-chan struct{}) bool {
	if s == nil {
		return true
	}
	select {
	case s.ch <- struct{}{}:
		return true
	case <-done:
		return false
	}
}

// Release gives a slot back.
func (s *Slots) Release() {
	if s != nil {
		<-s.ch
	}
}

// Inside Hold (of the connections an Acceptor accepts, on Linux), Read
// returns one of these rather than wait; the step returns false to wait
// for more.
var (
	// ErrWouldBlock: the socket is empty (a read found nothing), so any
	// byte or close that comes from here ends the wait.
	ErrWouldBlock = errors.New("netx: read would block (held connection)")
	// ErrDrained: the last read took all the bytes the socket held, but a
	// close (or reset) that came with them may still be pending, and the
	// wait would not see it: wait only briefly, then read.
	ErrDrained = errors.New("netx: socket drained (held connection)")
)
