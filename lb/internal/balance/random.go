package balance

import "github.com/lblab/lblab/lb/internal/pool"

var _ Balancer = (*Random)(nil)

// Random picks a candidate at random with probability proportional to its
// effective weight. It is safe for concurrent use when its Rand is.
type Random struct {
	rand func(n uint64) uint64
}

// NewRandom returns a weighted random balancer drawing from opts.Rand.
func NewRandom(opts Options) *Random { return &Random{rand: randFunc(opts)} }

// Pick returns a weighted random candidate.
func (r *Random) Pick(cands []*pool.Backend, _ string) *pool.Backend {
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands[0]
	}
	return cands[weightedIndex(cands, totalWeight(cands), -1, r.rand)]
}
