package balance

import (
	"sync/atomic"

	"github.com/lblab/lblab/lb/internal/pool"
)

var _ Balancer = (*RoundRobin)(nil)

// RoundRobin hands out the candidates in turn, ignoring weights (use
// WeightedRoundRobin to honour them). It is lock-free and safe for concurrent
// use; the zero value is ready to use. It must not be copied after first use.
type RoundRobin struct {
	next atomic.Uint64
}

// NewRoundRobin returns a round robin balancer that starts at the first
// candidate.
func NewRoundRobin() *RoundRobin { return &RoundRobin{} }

// Pick returns the next candidate in rotation. When the candidate list changes
// the rotation continues from the same counter, so no backend is favoured.
func (r *RoundRobin) Pick(cands []*pool.Backend, _ string) *pool.Backend {
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands[0]
	}
	n := r.next.Add(1) - 1
	return cands[n%uint64(len(cands))]
}
