package server

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLimiter(t *testing.T) {
	var capacity atomic.Int64
	capacity.Store(1)
	l := newLimiter(func() int { return int(capacity.Load()) })
	ctx := t.Context()

	require.NoError(t, l.acquire(ctx, false))
	assert.ErrorIs(t, l.acquire(ctx, true), errOverCapacity)

	// A waiter that gives up leaves the queue.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, l.acquire(gone, false), context.Canceled)
	active, queued := l.counts()
	assert.Equal(t, [2]int{1, 0}, [2]int{active, queued})

	// Waiters are admitted in FIFO order as slots free.
	order := make(chan int, 2)
	for i := range 2 {
		go func() {
			if l.acquire(ctx, false) == nil {
				order <- i
			}
		}()
		waitFor(t, "queued", func() bool { _, q := l.counts(); return q == i+1 })
	}
	l.release()
	assert.Equal(t, 0, <-order)
	l.release()
	assert.Equal(t, 1, <-order)

	// Raising the capacity and waking admits without a release.
	go func() {
		if l.acquire(ctx, false) == nil {
			order <- 2
		}
	}()
	waitFor(t, "queued", func() bool { _, q := l.counts(); return q == 1 })
	capacity.Store(0)
	l.wake()
	select {
	case i := <-order:
		assert.Equal(t, 2, i)
	case <-time.After(2 * time.Second):
		t.Fatal("wake did not admit the waiter")
	}
}
