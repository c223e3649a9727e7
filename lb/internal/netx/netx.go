// Package netx holds the socket-level pieces the HTTP front end
// (lb/internal/proxy) and TCP mode (lb/internal/l4) share: which accept
// errors to retry, the bound on open connections, and on Linux the plain
// system calls both use to read and write sockets outside Go's poller.
package netx

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"
)

// TemporaryAcceptError reports whether an Accept error is worth retrying
// after a pause: a timeout, running out of file descriptors or buffers, or a
// connection aborted or interrupted before it was accepted.
func TemporaryAcceptError(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return OutOfDescriptors(err) || errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EINTR)
}

// OutOfDescriptors reports whether err is the process's (EMFILE) or the
// system's (ENFILE) file table being full.
func OutOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// ShortWaitMax bounds one wait of RetryShort between two tries.
const ShortWaitMax = 50 * time.Millisecond

// RetryShort calls try again after an attempt failed for want of a file
// descriptor (err, as OutOfDescriptors says): the proxy's own shortage, not
// a peer's failure. reclaim, when not nil, first closes idle connections;
// when it closes none, RetryShort waits for a descriptor to be freed as the
// requests and connections in flight end (1 ms, then twice as long each
// time up to ShortWaitMax), for at most limit (5 s when not positive) or
// until ctx ends. It returns nil once try succeeds, the last error when
// the time is up, and any other error of try at once. With thousands of
// clients at an open-file limit that cannot hold them all, a connection
// waits its turn instead of failing (HAProxy queues it likewise, having
// sized its maxconn to the limit).
func RetryShort(ctx context.Context, err error, limit time.Duration, reclaim func() int, try func() error) error {
	if limit <= 0 {
		limit = 5 * time.Second
	}
	deadline := time.Now().Add(limit)
	wait := time.Millisecond
	for OutOfDescriptors(err) {
		if reclaim == nil || reclaim() == 0 {
			if time.Until(deadline) < wait {
				return err
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return err
			case <-t.C:
			}
			wait = min(2*wait, ShortWaitMax)
		}
		err = try()
	}
	return err
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
