package proxy

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/hedge"
	"github.com/lblab/lblab/lb/internal/metrics"
	"github.com/lblab/lblab/lb/internal/pool"
)

type answered struct{}

func (answered) Relay() Outcome { return Outcome{Status: 200, WroteHeader: true} }
func (answered) Drop()          {}
func (answered) Status() int    { return 200 }

// Hedging at the p95 sends about 5% more requests, not more: the delay is
// the p95 of the un-hedged latency (first tries, a cancelled first try
// counting the time it had waited), not of the answers hedging produced.
// Fed with the hedged answers' own (short) times, the percentile fell,
// more requests were hedged, and it fell further: with 10% of requests
// spread between 5 and 100 ms (p95 about 52 ms), the delay sank to the
// fast mode and more than 10% of the requests were hedged.
//
// The backends are a function of virtual time (testing/synctest): each try
// takes 2 ms, or for one in ten 5 to 100 ms, unless it is cancelled.
func TestHedgeAtP95SendsAboutFivePercentMore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bs := []*pool.Backend{pool.NewBackend("", "127.0.0.1:1", 1), pool.NewBackend("", "127.0.0.1:2", 1), pool.NewBackend("", "127.0.0.1:3", 1)}
		pl := pool.New(pool.Options{Logger: slog.New(slog.DiscardHandler)}, bs...)
		m := metrics.New(pl)
		px, err := New(Config{Pool: pl, Algorithm: "round_robin", Metrics: m, Retries: 2,
			Hedge: hedge.Percentile(95, 5*time.Second, 100, time.Now()), Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		rng := rand.New(rand.NewPCG(1, 2))
		var mu sync.Mutex // the two tries of a hedged request draw concurrently
		latency := func() time.Duration {
			mu.Lock()
			defer mu.Unlock()
			if rng.IntN(10) == 0 {
				return 5*time.Millisecond + time.Duration(rng.Int64N(int64(95*time.Millisecond)))
			}
			return 2 * time.Millisecond
		}
		send := func(ctx context.Context, b *pool.Backend, _ Try) (Leg, error) {
			select {
			case <-time.After(latency()):
				return answered{}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		const warm, n = 500, 4000
		for range warm {
			px.Hedge(px.Current(), Plan{Idempotent: true, Replayable: true}, send)
		}
		before := m.Gray().Snapshot().Hedges
		var slowest time.Duration
		for range n {
			t0 := time.Now()
			_, last, _ := px.Hedge(px.Current(), Plan{Idempotent: true, Replayable: true}, send)
			require.NoError(t, last.Err)
			slowest = max(slowest, time.Since(t0))
		}
		hedges := m.Gray().Snapshot().Hedges - before
		t.Logf("%d hedges for %d requests (%.1f%%); hedge delay now %s; slowest %s", hedges, n, 100*float64(hedges)/n, px.hedge.After(time.Now()), slowest)
		assert.LessOrEqual(t, float64(hedges)/n, 0.055, "hedging at the p95 sends about 5%% more requests")
		assert.Greater(t, float64(hedges)/n, 0.03, "and does hedge")
	})
}
