package balance

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/pool"
)

// algorithms lists every name New accepts.
var algorithms = []string{
	"round_robin", "weighted_round_robin", "least_connections", "ip_hash",
	"random", "power_of_two", "least_latency",
}

// newBackends returns backends named a, b, c, ... with the given weights, at
// addresses 10.0.0.1:8000, 10.0.0.2:8000, ...
func newBackends(weights ...int) []*pool.Backend {
	bs := make([]*pool.Backend, len(weights))
	for i, w := range weights {
		bs[i] = pool.NewBackend(string(rune('a'+i)), fmt.Sprintf("10.0.0.%d:8000", i+1), w)
	}
	return bs
}

// equalBackends returns n backends of weight 1.
func equalBackends(n int) []*pool.Backend {
	ws := make([]int, n)
	for i := range ws {
		ws[i] = 1
	}
	return newBackends(ws...)
}

// seeded returns a deterministic Options.Rand; it is not safe for concurrent use.
func seeded(seed uint64) func(uint64) uint64 {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)).Uint64N
}

// setInFlight makes b.InFlight() equal n.
func setInFlight(b *pool.Backend, n int64) {
	for b.InFlight() < n {
		b.Acquire()
	}
	for b.InFlight() > n {
		b.Release()
	}
}

// names returns the names of a sequence of picks, concatenated.
func names(bal Balancer, cands []*pool.Backend, n int) string {
	var s []byte
	for range n {
		s = append(s, bal.Pick(cands, "").Name...)
	}
	return string(s)
}

// shares returns the fraction of n picks that went to each candidate.
func shares(bal Balancer, cands []*pool.Backend, n int, key func(i int) string) map[string]float64 {
	counts := make(map[string]int)
	for i := range n {
		counts[bal.Pick(cands, key(i)).Name]++
	}
	out := make(map[string]float64, len(counts))
	for k, c := range counts {
		out[k] = float64(c) / float64(n)
	}
	return out
}

func noKey(int) string { return "" }

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		want Balancer
	}{
		{"round_robin", (*RoundRobin)(nil)},
		{"weighted_round_robin", (*WeightedRoundRobin)(nil)},
		{"least_connections", (*LeastConnections)(nil)},
		{"ip_hash", (*IPHash)(nil)},
		{"random", (*Random)(nil)},
		{"power_of_two", (*PowerOfTwo)(nil)},
		{"least_latency", (*LeastLatency)(nil)},
	}
	require.Len(t, tests, len(algorithms))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := New(tt.name, Options{})
			require.NoError(t, err)
			require.NotNil(t, b)
			assert.IsType(t, tt.want, b)
		})
	}
	t.Run("unknown", func(t *testing.T) {
		b, err := New("fastest_first", Options{})
		require.Error(t, err)
		assert.Nil(t, b)
		assert.Contains(t, err.Error(), `"fastest_first"`)
	})
}

func TestPickEmptyAndSingle(t *testing.T) {
	for _, name := range algorithms {
		t.Run(name, func(t *testing.T) {
			bal, err := New(name, Options{Rand: seeded(1)})
			require.NoError(t, err)
			assert.Nil(t, bal.Pick(nil, "10.1.1.1"))
			assert.Nil(t, bal.Pick([]*pool.Backend{}, "10.1.1.1"))
			one := newBackends(7)
			for range 5 {
				assert.Same(t, one[0], bal.Pick(one, "10.1.1.1"))
			}
		})
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, name := range algorithms {
		for _, n := range []int{2, 3, 16} {
			t.Run(fmt.Sprintf("%s/%d", name, n), func(t *testing.T) {
				bal, err := New(name, Options{})
				require.NoError(t, err)
				cands := equalBackends(n)
				for i, b := range cands {
					b.ObserveLatency(time.Duration(i+1)*time.Millisecond, time.Now())
				}
				key := "2001:db8:85a3::8a2e:370:7334:ffff:ffff" // longer than hashString's buffer
				for range 10 {                                  // warm-up: weighted_round_robin fills its map
					bal.Pick(cands, key)
				}
				allocs := testing.AllocsPerRun(1000, func() {
					if bal.Pick(cands, key) == nil {
						panic("nil pick")
					}
				})
				assert.Zero(t, allocs)
			})
		}
	}
}

// TestConcurrentPick is meant for -race: many goroutines pick, acquire and
// release and observe latencies, some of them over a subset of the candidates.
func TestConcurrentPick(t *testing.T) {
	const (
		goroutines = 8
		picks      = 2000
	)
	for _, name := range algorithms {
		t.Run(name, func(t *testing.T) {
			bal, err := New(name, Options{})
			require.NoError(t, err)
			cands := newBackends(3, 1, 2, 1, 5)
			var wg sync.WaitGroup
			errs := make(chan string, goroutines)
			for g := range goroutines {
				wg.Go(func() {
					set := cands
					if g%2 == 1 {
						set = cands[:3+g%3]
					}
					for i := range picks {
						b := bal.Pick(set, fmt.Sprintf("10.2.%d.%d", g, i%256))
						if b == nil {
							errs <- "nil pick"
							return
						}
						b.Acquire()
						b.ObserveLatency(time.Duration(1+i%7)*time.Millisecond, time.Now())
						b.Release()
					}
				})
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
			var total uint64
			for _, b := range cands {
				total += b.Requests()
				assert.Zero(t, b.InFlight())
			}
			assert.Equal(t, uint64(goroutines*picks), total)
		})
	}
}
