package balance

import (
	"math/rand/v2"

	"github.com/lblab/lblab/lb/internal/pool"
)

// weightOf returns b's effective weight (pool.WeightScale per configured unit,
// ramped during slow start), never below 1 so that every candidate can be
// picked and no total is ever zero.
func weightOf(b *pool.Backend) int64 {
	return max(int64(b.EffectiveWeight()), 1)
}

// randFunc returns opts.Rand, or math/rand/v2's global generator when it is nil.
func randFunc(opts Options) func(n uint64) uint64 {
	if opts.Rand == nil {
		return rand.Uint64N
	}
	return opts.Rand
}

// weightedIndex returns an index into cands other than skip (skip < 0
// excludes nothing), chosen with probability proportional to weightOf. total
// must be the sum of the weights of the candidates other than skip.
// Weights may change while it runs (slow start); it then falls back to the last
// candidate that is not skip.
func weightedIndex(cands []*pool.Backend, total int64, skip int, rnd func(uint64) uint64) int {
	r := int64(rnd(uint64(total)))
	last := -1
	for i, b := range cands {
		if i == skip {
			continue
		}
		last = i
		r -= weightOf(b)
		if r < 0 {
			return i
		}
	}
	return last
}

// totalWeight returns the sum of weightOf over cands.
func totalWeight(cands []*pool.Backend) int64 {
	var total int64
	for _, b := range cands {
		total += weightOf(b)
	}
	return total
}

// lessLoaded reports whether a has fewer requests in flight per unit of weight
// than b: a.InFlight/wa < b.InFlight/wb, compared by cross-multiplication.
func lessLoaded(inA, wa, inB, wb int64) bool {
	return inA*wb < inB*wa
}
