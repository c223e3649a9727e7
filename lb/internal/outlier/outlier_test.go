package outlier

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/pool"
)

func lab(n int) (*pool.Pool, []*pool.Backend) {
	bs := make([]*pool.Backend, n)
	for i := range bs {
		bs[i] = pool.NewBackend(fmt.Sprintf("b%d", i), fmt.Sprintf("127.0.0.1:%d", 22000+i), 1)
	}
	return pool.New(pool.Options{Logger: slog.New(slog.DiscardHandler)}, bs...), bs
}

func detector(p *pool.Pool, maxFrac float64) *Detector {
	return New(Config{Pool: p, Interval: 2 * time.Second, ErrorRate: 0.2, LatencyFactor: 5, MinRequests: 20,
		BaseEjection: 30 * time.Second, MaxEjection: 100 * time.Second, MaxEjectedFraction: maxFrac,
		Logger: slog.New(slog.DiscardHandler)})
}

// feed records n tries on b, failing a share of them, each taking lat.
func feed(d *Detector, b *pool.Backend, n int, failShare float64, lat time.Duration) {
	for i := range n {
		d.Observe(b, float64(i%100) < failShare*100, lat)
	}
}

func TestErrorRateOutlierEjectedAndBack(t *testing.T) {
	p, bs := lab(3)
	d := detector(p, 0.5)
	t0 := time.Unix(1_700_000_000, 0)
	feed(d, bs[0], 100, 0, time.Millisecond)
	feed(d, bs[1], 100, 0.3, time.Millisecond)
	feed(d, bs[2], 100, 0, time.Millisecond)
	d.Evaluate(t0)
	assert.True(t, bs[1].Ejected())
	assert.Len(t, p.Available(), 2)
	assert.NotContains(t, p.Available(), bs[1])

	// It comes back on its own after base_ejection_time.
	d.Evaluate(t0.Add(29 * time.Second))
	assert.True(t, bs[1].Ejected())
	d.Evaluate(t0.Add(30 * time.Second))
	assert.False(t, bs[1].Ejected())
	assert.Contains(t, p.Available(), bs[1])

	// Ejected again at once: twice as long this time.
	feed(d, bs[0], 100, 0, time.Millisecond)
	feed(d, bs[1], 100, 0.3, time.Millisecond)
	feed(d, bs[2], 100, 0, time.Millisecond)
	d.Evaluate(t0.Add(32 * time.Second))
	require.True(t, bs[1].Ejected())
	d.Evaluate(t0.Add(32*time.Second + 59*time.Second))
	assert.True(t, bs[1].Ejected())
	d.Evaluate(t0.Add(32*time.Second + 60*time.Second))
	assert.False(t, bs[1].Ejected())

	// A backend down by its active checks stays out after its ejection.
	feed(d, bs[0], 100, 0, time.Millisecond)
	feed(d, bs[1], 100, 0.5, time.Millisecond)
	feed(d, bs[2], 100, 0, time.Millisecond)
	d.Evaluate(t0.Add(100 * time.Second))
	require.True(t, bs[1].Ejected())
	p.Set(bs[1], pool.StateDown, "active check failed")
	d.Evaluate(t0.Add(300 * time.Second))
	assert.False(t, bs[1].Ejected())
	assert.NotContains(t, p.Available(), bs[1])
	p.Set(bs[1], pool.StateUp, "active check passed")
	assert.Contains(t, p.Available(), bs[1])
}

func TestLatencyOutlier(t *testing.T) {
	p, bs := lab(3)
	d := detector(p, 0.5)
	feed(d, bs[0], 50, 0, 2*time.Millisecond)
	feed(d, bs[1], 50, 0, 2*time.Millisecond)
	feed(d, bs[2], 50, 0, 200*time.Millisecond)
	d.Evaluate(time.Unix(1_700_000_000, 0))
	assert.Equal(t, []bool{false, false, true}, []bool{bs[0].Ejected(), bs[1].Ejected(), bs[2].Ejected()})
}

func TestNoEjectionWhenAllAlike(t *testing.T) {
	p, bs := lab(3)
	d := detector(p, 1)
	for _, b := range bs { // every backend slow and failing: nobody stands out
		feed(d, b, 100, 0.5, 300*time.Millisecond)
	}
	feed(d, bs[0], 10, 1, time.Second) // a little worse, not far above
	d.Evaluate(time.Unix(1_700_000_000, 0))
	for _, b := range bs {
		assert.False(t, b.Ejected(), b.Name)
	}
	// Too few tries: not judged.
	for i := range Steps { // a quiet interval: the figures above slide out
		d.Evaluate(time.Unix(1_700_000_000, 0).Add(time.Duration(i+1) * 500 * time.Millisecond))
	}
	feed(d, bs[0], 19, 1, time.Second)
	feed(d, bs[1], 100, 0, time.Millisecond)
	d.Evaluate(time.Unix(1_700_000_003, 0))
	assert.False(t, bs[0].Ejected())
}

func TestMaxEjectionPercent(t *testing.T) {
	tests := []struct {
		backends, bad int
		fraction      float64
		want          int
	}{
		{3, 2, 0.5, 1},   // 1.5 rounds down to 1
		{4, 3, 0.5, 2},   // half of four
		{10, 5, 0.34, 3}, // 3.4 -> 3
		{2, 1, 0.4, 0},   // 0.8 -> 0: never eject one of two
		{1, 1, 1, 0},     // nobody to compare with
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d of %d at %v", tt.bad, tt.backends, tt.fraction), func(t *testing.T) {
			p, bs := lab(tt.backends)
			d := detector(p, tt.fraction)
			t0 := time.Unix(1_700_000_000, 0)
			for round := range 5 { // the cap holds round after round
				for i, b := range bs {
					share := 0.0
					if i < tt.bad {
						share = 0.6 + 0.05*float64(i) // the worst are ejected first
					}
					feed(d, b, 100, share, time.Millisecond)
				}
				d.Evaluate(t0.Add(time.Duration(round) * 2 * time.Second))
				n := 0
				for _, b := range bs {
					if b.Ejected() {
						n++
					}
				}
				assert.Equal(t, tt.want, n, "round %d", round)
				assert.Len(t, p.Available(), tt.backends-n)
			}
			if tt.want == 1 && tt.bad > 1 {
				assert.True(t, bs[tt.bad-1].Ejected(), "the worst one goes first")
			}
		})
	}
}

// A backend that turns slow just after the backends were judged is
// ejected within a step (a quarter of the interval), judged over the
// sliding window of the last interval: judged only at the end of each
// interval, it was ejected at the end of the next one, 1.9 s after the
// fault here, with a third of the traffic going to it meanwhile.
// Virtual time (testing/synctest): the detector's own ticker, tries every
// 10 ms on each backend.
func TestEjectedWithinAStepOfTheFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, bs := lab(3)
		d := detector(p, 0.5) // interval 2 s
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		defer wg.Wait() // every goroutine of the bubble ends before it does
		defer cancel()
		wg.Go(func() { d.Run(ctx) })
		start := time.Now()
		fault := start.Add(2*time.Second + 100*time.Millisecond) // just after a judgement
		wg.Go(func() {
			for ctx.Err() == nil {
				for i, b := range bs {
					lat := 2 * time.Millisecond
					if i == 2 && !time.Now().Before(fault) {
						lat = 200 * time.Millisecond
					}
					d.Observe(b, false, lat)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
		for !bs[2].Ejected() && time.Since(start) < 10*time.Second {
			time.Sleep(10 * time.Millisecond)
		}
		took := time.Since(fault)
		t.Logf("ejected %s after the fault", took)
		require.True(t, bs[2].Ejected())
		assert.LessOrEqual(t, took, 520*time.Millisecond, "a quarter of the 2 s interval")
		assert.False(t, bs[0].Ejected() || bs[1].Ejected())
	})
}

// With hedging, a slow backend's tries are cancelled when their hedges
// answer: their times (the hedge delay and a little) say little, but the
// share of its first tries still out at the hedge delay stands out: about
// all of them, against the p95's 5% for the others.
func TestSlowShareOutlier(t *testing.T) {
	p, bs := lab(3)
	d := New(Config{Pool: p, Interval: 2 * time.Second, SlowShare: 0.2, LatencyFactor: 5, MinRequests: 20,
		BaseEjection: 30 * time.Second, MaxEjection: 100 * time.Second, MaxEjectedFraction: 0.5,
		Logger: slog.New(slog.DiscardHandler)})
	for i, b := range bs {
		for j := range 100 {
			late := j < 5 // the p95: one in twenty
			lat := 3 * time.Millisecond
			if i == 1 {
				late, lat = j < 90, 5*time.Millisecond // cancelled at the delay, 2 ms after
			}
			if late {
				d.Late(b)
			}
			d.Observe(b, false, lat)
		}
	}
	d.Evaluate(time.Unix(1_700_000_000, 0))
	assert.Equal(t, []bool{false, true, false}, []bool{bs[0].Ejected(), bs[1].Ejected(), bs[2].Ejected()},
		"5 ms against 3 ms is no latency outlier; 90% late against 5% is")
}
