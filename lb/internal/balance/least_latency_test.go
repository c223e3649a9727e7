package balance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/lblab/lblab/lb/internal/pool"
)

func TestLeastLatencySteersAwayFromSlow(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		window  int // requests held open at once
	}{
		{"sequential", []int{1, 1, 1}, 1},
		{"20 in flight", []int{1, 1, 1}, 20},
		{"slow one heavy", []int{1, 1, 4}, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Now()
			bs := newBackends(tt.weights...)
			slow := bs[len(bs)-1]
			for _, b := range bs {
				b.ObserveLatency(time.Millisecond, now)
			}
			slow.ObserveLatency(50*time.Millisecond, now)
			ll := NewLeastLatency(Options{Rand: seeded(11)})
			var open []*pool.Backend
			counts := map[*pool.Backend]int{}
			const picks = 10000
			for range picks {
				b := ll.Pick(bs, "")
				counts[b]++
				b.Acquire()
				open = append(open, b)
				if len(open) >= tt.window {
					open[0].Release()
					open = open[1:]
				}
			}
			assert.Less(t, float64(counts[slow])/picks, 0.05)
		})
	}
}

func TestLeastLatencyProbesUnobserved(t *testing.T) {
	now := time.Now()
	bs := newBackends(1, 1, 1)
	bs[0].ObserveLatency(time.Millisecond, now)
	bs[1].ObserveLatency(time.Millisecond, now)
	fresh := bs[2]
	got := shares(NewLeastLatency(Options{Rand: seeded(13)}), bs, 3000, noKey)
	// fresh wins every draw it is part of: two thirds of them.
	assert.InDelta(t, 2.0/3, got[fresh.Name], 0.03)

	two := bs[1:]
	for range 100 {
		assert.Same(t, fresh, NewLeastLatency(Options{Rand: seeded(17)}).Pick(two, ""))
	}
}
