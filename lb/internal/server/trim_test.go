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
		go trimMemory(ctx, counts, time.Second, 0, 0, func() { trims.Add(1) })
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

// startTrim runs trimMemory as the server does, on one count (served), in
// a synctest bubble; trims counts its calls of free.
func startTrim(t *testing.T) (served, trims *atomic.Int64) {
	served, trims = new(atomic.Int64), new(atomic.Int64)
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	counts := []func() int{func() int { return int(served.Load()) }}
	go trimMemory(ctx, counts, trimSample, trimGap, trimMaxGap, func() { trims.Add(1) })
	return served, trims
}

// pulse serves n connections for 300 ms, then none for rest, and waits
// until trimMemory has looked.
func pulse(served *atomic.Int64, n int64, rest time.Duration) {
	served.Store(n)
	time.Sleep(3 * trimSample)
	served.Store(0)
	time.Sleep(rest)
	synctest.Wait()
}

// TestTrimMemorySampling: a burst shorter than a second is seen at the
// server's sampling, and trims come no closer together than the gap.
func TestTrimMemorySampling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		served, trims := startTrim(t)
		pulse(served, 2000, 2*trimSample)
		assert.Equal(t, int64(1), trims.Load(), "a 300 ms burst of 2,000 served connections, then none")
		pulse(served, 2000, 2*trimSample)
		assert.Equal(t, int64(1), trims.Load(), "a second burst within the gap: no trim yet")
		time.Sleep(trimGap)
		synctest.Wait()
		assert.Equal(t, int64(2), trims.Load(), "the second burst's trim, once the gap has passed")
	})
}

// TestTrimMemoryBacksOff: a served count that keeps rising and falling (a
// crowd that falls behind and catches up) is not trimmed at every fall: the
// gap doubles with each trim, up to trimMaxGap, and is trimGap again once
// twice trimMaxGap has passed without a trim.
func TestTrimMemoryBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		served, trims := startTrim(t)
		wave := func() { pulse(served, 2000, 7*trimSample) } // one second
		for range 130 {
			wave()
		}
		// Trims after the waves of seconds 0, 2, 6, 14, 30, 62 and 126:
		// 7, where a fixed gap of 2 s trimmed 65 times.
		assert.Equal(t, int64(7), trims.Load(), "trims in 130 s of waves")

		time.Sleep(trimMaxGap) // the waves stop
		synctest.Wait()
		assert.Equal(t, int64(8), trims.Load(), "the last waves' fall, trimMaxGap after the last trim")

		time.Sleep(2 * trimMaxGap) // quiet
		synctest.Wait()
		wave()
		assert.Equal(t, int64(9), trims.Load(), "the first fall after a quiet spell")
		time.Sleep(trimGap)
		wave()
		assert.Equal(t, int64(10), trims.Load(), "and the gap is trimGap again")
	})
}

// TestTrimMemoryAfterSettledRise: connections that open in a burst and then
// idle (the open count rises by thousands and stays) are trimmed once it
// has settled, and once only; a count still climbing is not.
func TestTrimMemoryAfterSettledRise(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		open, trims := startTrim(t)
		for n := int64(500); n <= 9500; n += 500 { // climbing: 500 a sample
			open.Store(n)
			time.Sleep(trimSample)
		}
		synctest.Wait()
		assert.Zero(t, trims.Load(), "still climbing")
		time.Sleep((trimSettle + 1) * trimSample)
		synctest.Wait()
		assert.Equal(t, int64(1), trims.Load(), "9,500 opened, then a second without change")
		open.Add(trimStill) // a few come and go: still settled
		time.Sleep(10 * trimSettle * trimSample)
		synctest.Wait()
		assert.Equal(t, int64(1), trims.Load(), "no rise since the trim")
		open.Add(800)
		time.Sleep(trimGap + 2*trimSettle*trimSample)
		synctest.Wait()
		assert.Equal(t, int64(1), trims.Load(), "a rise of 800 only")
		open.Add(400) // 1,200 above the last trim
		time.Sleep((trimSettle + 1) * trimSample)
		synctest.Wait()
		assert.Equal(t, int64(2), trims.Load(), "1,200 more, settled")
	})
}

// TestTrimMemoryAfterTrimMidRise: a trim that came halfway through a burst
// (the first connections parked, so the served count fell by a thousand,
// while the rest were still opening) is followed by one once the counts
// settle, even when fewer than 1,000 opened after it; and by no more.
func TestTrimMemoryAfterTrimMidRise(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var open, served, trims atomic.Int64
		counts := []func() int{func() int { return int(open.Load()) }, func() int { return int(served.Load()) }}
		go trimMemory(t.Context(), counts, trimSample, trimGap, trimMaxGap, func() { trims.Add(1) })
		sample := func(o, s int64) {
			open.Store(o)
			served.Store(s)
			time.Sleep(trimSample)
		}
		for o := int64(600); o <= 6000; o += 600 { // opening, each served at first
			sample(o, min(o, 1200))
		}
		for o, s := int64(6600), int64(900); o <= 9000; o, s = o+600, s-200 { // the first ones park
			sample(o, s)
		}
		synctest.Wait()
		assert.Equal(t, int64(1), trims.Load(), "served down by 1,000 from its peak, halfway")
		sample(9500, 0) // the last 500 open, then all idle
		time.Sleep(trimGap)
		synctest.Wait()
		assert.Equal(t, int64(2), trims.Load(), "settled after the trim that came halfway")
		time.Sleep(4 * trimMaxGap)
		synctest.Wait()
		assert.Equal(t, int64(2), trims.Load(), "and no more while nothing moves")
	})
}
