package balance

import (
	"sync/atomic"

	"github.com/lblab/lblab/lb/internal/pool"
)

var _ Balancer = (*LeastConnections)(nil)

// LeastConnections picks the candidate with the fewest requests in flight per
// unit of effective weight. Candidates that tie (for instance all idle) are
// taken in turn, so equal idle backends share the load. It is lock-free and
// safe for concurrent use; it must not be copied after first use.
type LeastConnections struct {
	next atomic.Uint64 // rotation among tied candidates
}

// NewLeastConnections returns a weighted least connections balancer.
func NewLeastConnections() *LeastConnections { return &LeastConnections{} }

// Pick returns a candidate with minimal InFlight()/EffectiveWeight().
func (l *LeastConnections) Pick(cands []*pool.Backend, _ string) *pool.Backend {
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands[0]
	}
	best := 0
	bestIn, bestW := cands[0].InFlight(), weightOf(cands[0])
	ties := 1
	for i := 1; i < len(cands); i++ {
		in, w := cands[i].InFlight(), weightOf(cands[i])
		switch {
		case lessLoaded(in, w, bestIn, bestW):
			best, bestIn, bestW, ties = i, in, w, 1
		case !lessLoaded(bestIn, bestW, in, w):
			ties++
		}
	}
	if ties == 1 {
		return cands[best]
	}
	// Take the k-th of the tied candidates. Counts may have moved since the
	// first pass; if fewer ties remain, the first pass's best still stands.
	k := int((l.next.Add(1) - 1) % uint64(ties))
	for i := best; i < len(cands); i++ {
		in, w := cands[i].InFlight(), weightOf(cands[i])
		if in*bestW == bestIn*w {
			if k == 0 {
				return cands[i]
			}
			k--
		}
	}
	return cands[best]
}
