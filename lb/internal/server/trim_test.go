package server

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestTrimMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var open atomic.Int64
		var trims atomic.Int64
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var served atomic.Int64
		counts := []func() int{func() int { return int(open.Load()) }, func() int { return int(served.Load()) }}
		go trimMemory(ctx, counts, time.Second, 0, func() { trims.Add(1) })
		step := func(n int64) {
			open.Store(n)
			time.Sleep(time.Second)
			synctest.Wait()
		}
		step(5000)
		step(4000) // down by a fifth: no trim
		assert.Zero(t, trims.Load())
		step(100) // down by more than half and 1,000: trim
		assert.Equal(t, int64(1), trims.Load())
		step(100) // no further drop
		step(800)
		step(0) // down by 800 only
		assert.Equal(t, int64(1), trims.Load())
		// A crowd served at once parks: the open count stays, the served
		// one falls.
		open.Store(3000)
		served.Store(2500)
		step(3000)
		served.Store(40)
		step(3000)
		assert.Equal(t, int64(2), trims.Load(), "served connections down by half and 1,000")
	})
}

// TestTrimMemorySampling: a burst shorter than a second is seen at the
// server's sampling, and trims come no closer together than the gap.
func TestTrimMemorySampling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var served, trims atomic.Int64
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		counts := []func() int{func() int { return int(served.Load()) }}
		go trimMemory(ctx, counts, trimSample, trimGap, func() { trims.Add(1) })
		burst := func(n int64) {
			served.Store(n)
			time.Sleep(3 * trimSample) // the burst lasts 300 ms
			served.Store(0)
			time.Sleep(2 * trimSample)
			synctest.Wait()
		}
		burst(2000)
		assert.Equal(t, int64(1), trims.Load(), "a 300 ms burst of 2,000 served connections, then none")
		burst(2000)
		assert.Equal(t, int64(1), trims.Load(), "a second burst within the gap: no trim yet")
		time.Sleep(trimGap)
		synctest.Wait()
		assert.Equal(t, int64(2), trims.Load(), "the second burst's trim, once the gap has passed")
	})
}
