package balance

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/pool"
)

const sharePicks = 30000

func TestWeightedShares(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		want    []float64
	}{
		{"3 1", []int{3, 1}, []float64{0.75, 0.25}},
		{"equal", []int{1, 1, 1}, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}},
		{"1 2 5", []int{1, 2, 5}, []float64{0.125, 0.25, 0.625}},
	}
	balancers := []struct {
		name string
		new  func(Options) Balancer
	}{
		{"random", func(o Options) Balancer { return NewRandom(o) }},
		// Nothing is in flight, so every pick is a tie that goes to the first
		// of the two draws, which is weighted random.
		{"power_of_two", func(o Options) Balancer { return NewPowerOfTwo(o) }},
		{"least_latency", func(o Options) Balancer { return NewLeastLatency(o) }},
	}
	for _, bal := range balancers {
		for _, tt := range tests {
			t.Run(bal.name+"/"+tt.name, func(t *testing.T) {
				bs := newBackends(tt.weights...)
				got := shares(bal.new(Options{Rand: seeded(42)}), bs, sharePicks, noKey)
				for i, b := range bs {
					assert.InDelta(t, tt.want[i], got[b.Name], 0.015, b.Name)
				}
			})
		}
	}
}

func TestTwoChoicesDistinct(t *testing.T) {
	rnd := seeded(3)
	for _, bs := range [][]*pool.Backend{newBackends(1, 1), newBackends(1000, 1), newBackends(3, 1, 2, 5)} {
		for range 2000 {
			a, b := twoChoices(bs, rnd)
			require.NotSame(t, a, b)
		}
	}
}

func TestPowerOfTwoAvoidsBusy(t *testing.T) {
	tests := []struct {
		name     string
		weights  []int
		inflight []int64
		never    string
	}{
		{"two: the busy one never", []int{1, 1}, []int64{5, 0}, "a"},
		{"three: the busiest is always paired with a less busy one", []int{1, 1, 1}, []int64{0, 9, 1}, "b"},
		{"weighted: 4 on weight 1 is busier than 6 on weight 2", []int{1, 2}, []int64{4, 6}, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := newBackends(tt.weights...)
			for i, n := range tt.inflight {
				setInFlight(bs[i], n)
			}
			got := shares(NewPowerOfTwo(Options{Rand: seeded(5)}), bs, 3000, noKey)
			assert.Zero(t, got[tt.never])
		})
	}
}
