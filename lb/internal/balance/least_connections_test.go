package balance

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLeastConnections(t *testing.T) {
	tests := []struct {
		name     string
		weights  []int
		inflight []int64
		want     string // the picks, in order
	}{
		{"idle share in turn", []int{1, 1, 1}, []int64{0, 0, 0}, "abcabc"},
		{"fewest wins", []int{1, 1, 1}, []int64{3, 1, 2}, "bbbb"},
		{"tie among the least", []int{1, 1, 1}, []int64{2, 1, 1}, "bcbc"},
		{"weighted: 1/2 beats 1/1", []int{2, 1}, []int64{1, 1}, "aaa"},
		{"weighted: 2/2 ties 1/1", []int{2, 1}, []int64{2, 1}, "abab"},
		{"weighted: 3/2 loses to 1/1", []int{2, 1}, []int64{3, 1}, "bbb"},
		{"weighted: idle heavy and light tie", []int{5, 1}, []int64{0, 0}, "abab"},
		{"weighted: 4/5 beats 1/1", []int{5, 1}, []int64{4, 1}, "aaa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := newBackends(tt.weights...)
			for i, n := range tt.inflight {
				setInFlight(bs[i], n)
			}
			assert.Equal(t, tt.want, names(NewLeastConnections(), bs, len(tt.want)))
		})
	}
}

// TestLeastConnectionsNeverBusier holds requests open on the picked backend
// and checks that no pick ever has more in flight per weight than another
// candidate.
func TestLeastConnectionsNeverBusier(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
	}{
		{"equal", []int{1, 1, 1, 1}},
		{"weighted", []int{5, 1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lc := NewLeastConnections()
			bs := newBackends(tt.weights...)
			rnd := seeded(7)
			for i := range 5000 {
				got := lc.Pick(bs, "")
				for _, b := range bs {
					require.Falsef(t, lessLoaded(b.InFlight(), int64(b.Weight), got.InFlight(), int64(got.Weight)),
						"pick %d: %s (%d in flight, weight %d) is busier than %s (%d, weight %d)",
						i, got.Name, got.InFlight(), got.Weight, b.Name, b.InFlight(), b.Weight)
				}
				got.Acquire()
				// Finish a random request now and then.
				if v := rnd(3); v == 0 {
					if b := bs[rnd(uint64(len(bs)))]; b.InFlight() > 0 {
						b.Release()
					}
				}
			}
			// Load ends up proportional to weight.
			var total, weights int64
			for _, b := range bs {
				total += b.InFlight()
				weights += int64(b.Weight)
			}
			for _, b := range bs {
				assert.InDelta(t, float64(b.Weight)/float64(weights), float64(b.InFlight())/float64(total), 0.01, b.Name)
			}
		})
	}
}
