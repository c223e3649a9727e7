package balance

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/pool"
)

func clientKey(i int) string { return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255) }

func TestIPHashStable(t *testing.T) {
	bs := equalBackends(5)
	h1 := NewIPHash()
	h2, err := New("ip_hash", Options{Rand: seeded(1)})
	require.NoError(t, err)
	reversed := slices.Clone(bs)
	slices.Reverse(reversed)
	for i := range 2000 {
		key := clientKey(i)
		want := h1.Pick(bs, key)
		require.Same(t, want, h1.Pick(bs, key), key)
		require.Same(t, want, h2.Pick(bs, key), "another instance: %s", key)
		require.Same(t, want, h1.Pick(reversed, key), "candidate order: %s", key)
	}
}

// TestIPHashGolden pins the mapping so that it is the same in every process
// and every build (FNV-1a, no random seed).
func TestIPHashGolden(t *testing.T) {
	bs := equalBackends(5)
	tests := []struct{ key, want string }{
		{"10.0.0.1", "b"},
		{"10.0.0.2", "e"},
		{"10.0.0.3", "e"},
		{"172.16.5.4", "d"},
		{"192.168.1.20", "e"},
		{"2001:db8::1", "e"},
		{"::1", "b"},
		{"", "d"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			assert.Equal(t, tt.want, NewIPHash().Pick(bs, tt.key).Name)
		})
	}
}

func TestIPHashMinimalDisruption(t *testing.T) {
	const keys = 10000
	bs := equalBackends(5)
	h := NewIPHash()
	before := make([]*pool.Backend, keys)
	for i := range keys {
		before[i] = h.Pick(bs, clientKey(i))
	}
	for r, removed := range bs {
		t.Run("remove "+removed.Name, func(t *testing.T) {
			rest := slices.Delete(slices.Clone(bs), r, r+1)
			moved := map[*pool.Backend]int{}
			var onRemoved int
			for i := range keys {
				after := h.Pick(rest, clientKey(i))
				if before[i] != removed {
					require.Same(t, before[i], after, "key %s moved off a backend that stayed", clientKey(i))
					continue
				}
				onRemoved++
				moved[after]++
			}
			assert.InDelta(t, 0.2, float64(onRemoved)/keys, 0.02, "keys on %s", removed.Name)
			for _, b := range rest {
				assert.InDelta(t, 0.25, float64(moved[b])/float64(onRemoved), 0.06,
					"share of %s's keys moved to %s", removed.Name, b.Name)
			}
		})
	}
	t.Run("add", func(t *testing.T) {
		added := pool.NewBackend("f", "10.0.0.6:8000", 1)
		more := append(slices.Clone(bs), added)
		var gained int
		for i := range keys {
			after := h.Pick(more, clientKey(i))
			if after == added {
				gained++
				continue
			}
			require.Same(t, before[i], after, "key %s moved between old backends", clientKey(i))
		}
		assert.InDelta(t, 1.0/6, float64(gained)/keys, 0.02)
	})
}

func TestIPHashWeights(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		want    []float64
	}{
		{"equal", []int{1, 1, 1, 1}, []float64{0.25, 0.25, 0.25, 0.25}},
		{"3 1", []int{3, 1}, []float64{0.75, 0.25}},
		{"1 2 5", []int{1, 2, 5}, []float64{0.125, 0.25, 0.625}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := newBackends(tt.weights...)
			got := shares(NewIPHash(), bs, 20000, clientKey)
			for i, b := range bs {
				assert.InDelta(t, tt.want[i], got[b.Name], 0.02, b.Name)
			}
		})
	}
}

// TestIPHashMatchesScores checks Pick's shortcut for equal weights against the
// plain definition: the candidate with the highest -w / ln(u) wins.
func TestIPHashMatchesScores(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
	}{
		{"equal", []int{1, 1, 1, 1, 1}},
		{"mixed", []int{1, 2, 1, 3, 2, 1}},
		{"runs", []int{5, 5, 1, 1, 5, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := newBackends(tt.weights...)
			h := NewIPHash()
			for i := range 5000 {
				key := clientKey(i)
				var want *pool.Backend
				var best float64
				for _, b := range bs {
					s := rendezvousScore(unitHash(hashString(key), hashString(b.Addr)), weightOf(b))
					if want == nil || s > best {
						want, best = b, s
					}
				}
				require.Same(t, want, h.Pick(bs, key), key)
			}
		})
	}
}
