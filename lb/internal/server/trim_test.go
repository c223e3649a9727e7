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
		go trimMemory(ctx, func() int { return int(open.Load()) }, time.Second, func() { trims.Add(1) })
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
	})
}
