package server

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// errOverCapacity is returned by acquire when the limit is reached and the
// overflow policy is reject.
var errOverCapacity = errors.New("over capacity")

// limiter admits at most capacity() concurrent requests (0 = unlimited); the
// others wait in FIFO order or are refused. The capacity is read on every
// decision, so it can change at run time; call wake after raising it.
type limiter struct {
	capacity func() int

	mu      sync.Mutex      // guards active and waiters
	active  int             // admitted, not yet released
	waiters []chan struct{} // FIFO; closed when admitted
}

func newLimiter(capacity func() int) *limiter {
	return &limiter{capacity: capacity}
}

// acquire admits the caller, queues it, or returns errOverCapacity (reject) or
// ctx.Err() (the caller gave up while queued). On nil the caller must release.
func (l *limiter) acquire(ctx context.Context, reject bool) error {
	l.mu.Lock()
	if c := l.capacity(); c <= 0 || (l.active < c && len(l.waiters) == 0) {
		l.active++
		l.mu.Unlock()
		return nil
	}
	if reject {
		l.mu.Unlock()
		return errOverCapacity
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, ch)
	l.mu.Unlock()

	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	if i := slices.Index(l.waiters, ch); i >= 0 {
		l.waiters = slices.Delete(l.waiters, i, i+1)
		l.mu.Unlock()
		return ctx.Err()
	}
	l.mu.Unlock()
	// Admitted at the same moment the caller gave up: hand the slot on.
	l.release()
	return ctx.Err()
}

// release frees a slot and admits queued callers while there is room.
func (l *limiter) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.active--
	l.admitLocked()
}

// wake admits queued callers after the capacity was raised or removed.
func (l *limiter) wake() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.admitLocked()
}

func (l *limiter) admitLocked() {
	c := l.capacity()
	for len(l.waiters) > 0 && (c <= 0 || l.active < c) {
		close(l.waiters[0])
		l.waiters = slices.Delete(l.waiters, 0, 1)
		l.active++
	}
}

// counts returns the admitted and queued request counts.
func (l *limiter) counts() (active, queued int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.active, len(l.waiters)
}
