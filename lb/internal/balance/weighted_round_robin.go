package balance

import (
	"sync"

	"github.com/lblab/lblab/lb/internal/pool"
)

var _ Balancer = (*WeightedRoundRobin)(nil)

// wrrSweepEvery is how many picks pass between sweeps of the current-weight
// map; an entry not among the candidates for that long is dropped.
const wrrSweepEvery = 1024

// wrrEntry is one backend's smooth round robin state.
type wrrEntry struct {
	current int64  // nginx's current_weight
	seen    uint64 // pick number at which the backend was last a candidate
}

// WeightedRoundRobin is nginx's smooth weighted round robin over
// EffectiveWeight: on each pick every candidate's current weight grows by its
// effective weight, the candidate with the largest current weight wins (the
// first one on a tie) and loses the total of the effective weights. Weights
// 5, 1, 1 give the order a a b a c a a. It is safe for concurrent use.
type WeightedRoundRobin struct {
	mu    sync.Mutex                  // guards state and picks
	state map[*pool.Backend]*wrrEntry // current weight per backend
	picks uint64                      // number of picks so far
}

// NewWeightedRoundRobin returns a smooth weighted round robin balancer.
func NewWeightedRoundRobin() *WeightedRoundRobin {
	return &WeightedRoundRobin{state: make(map[*pool.Backend]*wrrEntry)}
}

// Pick returns the candidate with the largest current weight. Backends that
// have not been candidates for a while (down, removed) are forgotten and start
// again from a current weight of zero.
func (w *WeightedRoundRobin) Pick(cands []*pool.Backend, _ string) *pool.Backend {
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands[0]
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.picks++
	var (
		total int64
		best  *wrrEntry
		pick  *pool.Backend
	)
	for _, b := range cands {
		e := w.state[b]
		if e == nil {
			e = &wrrEntry{}
			w.state[b] = e
		}
		e.seen = w.picks
		ew := weightOf(b)
		e.current += ew
		total += ew
		if best == nil || e.current > best.current {
			best, pick = e, b
		}
	}
	best.current -= total
	if w.picks%wrrSweepEvery == 0 && len(w.state) > len(cands) {
		for b, e := range w.state {
			if w.picks-e.seen >= wrrSweepEvery {
				delete(w.state, b)
			}
		}
	}
	return pick
}
