package balance

import "github.com/lblab/lblab/lb/internal/pool"

var _ Balancer = (*LeastLatency)(nil)

// LeastLatency draws two distinct weighted random candidates, as PowerOfTwo
// does, and picks the one with the lower cost Latency() * (InFlight()+1) /
// effective weight, where Latency is the backend's peak-EWMA response time.
// A backend with no observation yet costs zero, so it is probed as soon as it
// is drawn. Ties go to the first drawn. It is safe for concurrent use when its
// Rand is.
type LeastLatency struct {
	rand func(n uint64) uint64
}

// NewLeastLatency returns a least latency balancer drawing from opts.Rand.
func NewLeastLatency(opts Options) *LeastLatency { return &LeastLatency{rand: randFunc(opts)} }

// Pick returns the cheaper of two weighted random candidates.
func (l *LeastLatency) Pick(cands []*pool.Backend, _ string) *pool.Backend {
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands[0]
	}
	a, b := twoChoices(cands, l.rand)
	if latencyCost(b) < latencyCost(a) {
		return b
	}
	return a
}

// latencyCost is Latency() * (InFlight()+1) / EffectiveWeight(), in
// nanoseconds per unit of weight; 0 for a backend never observed.
func latencyCost(b *pool.Backend) float64 {
	return float64(b.Latency()) * float64(b.InFlight()+1) / float64(weightOf(b))
}
