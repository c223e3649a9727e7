package balance

import "github.com/lblab/lblab/lb/internal/pool"

var _ Balancer = (*PowerOfTwo)(nil)

// PowerOfTwo draws two distinct candidates at random, each with probability
// proportional to its effective weight, and picks the one with fewer requests
// in flight per unit of weight (the first drawn on a tie). It is safe for
// concurrent use when its Rand is.
type PowerOfTwo struct {
	rand func(n uint64) uint64
}

// NewPowerOfTwo returns a power of two choices balancer drawing from opts.Rand.
func NewPowerOfTwo(opts Options) *PowerOfTwo { return &PowerOfTwo{rand: randFunc(opts)} }

// Pick returns the less loaded of two weighted random candidates.
func (p *PowerOfTwo) Pick(cands []*pool.Backend, _ string) *pool.Backend {
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands[0]
	}
	a, b := twoChoices(cands, p.rand)
	wa, wb := weightOf(a), weightOf(b)
	if lessLoaded(b.InFlight(), wb, a.InFlight(), wa) {
		return b
	}
	return a
}

// twoChoices draws two distinct candidates (len(cands) >= 2), each with
// probability proportional to its effective weight; the second is drawn from
// the candidates other than the first.
func twoChoices(cands []*pool.Backend, rnd func(uint64) uint64) (first, second *pool.Backend) {
	total := totalWeight(cands)
	i := weightedIndex(cands, total, -1, rnd)
	rest := max(total-weightOf(cands[i]), 1)
	j := weightedIndex(cands, rest, i, rnd)
	return cands[i], cands[j]
}
