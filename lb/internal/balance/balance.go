// Package balance holds the balancing algorithms. Each picks one backend from
// the candidates it is given; candidates are already filtered to available
// backends (and, on a retry, exclude those already tried), so no algorithm
// re-checks health.
package balance

import (
	"fmt"

	"github.com/lblab/lblab/lb/internal/pool"
)

// Balancer picks a backend for one request or connection.
type Balancer interface {
	// Pick returns one of cands, or nil when cands is empty. key identifies the
	// client (its IP address) for algorithms that keep clients sticky. Pick is
	// safe for concurrent use and must not modify cands.
	Pick(cands []*pool.Backend, key string) *pool.Backend
}

// Options holds what an algorithm may need injected. The zero value uses
// math/rand/v2's global generator.
type Options struct {
	// Rand returns a uniform random number in [0, n); nil means rand.Uint64N.
	// It must be safe for concurrent use.
	Rand func(n uint64) uint64
}

// New returns the balancer named by one of config.Algorithms.
func New(name string, opts Options) (Balancer, error) {
	switch name {
	case "round_robin":
		return NewRoundRobin(), nil
	case "weighted_round_robin":
		return NewWeightedRoundRobin(), nil
	case "least_connections":
		return NewLeastConnections(), nil
	case "ip_hash":
		return NewIPHash(), nil
	case "random":
		return NewRandom(opts), nil
	case "power_of_two":
		return NewPowerOfTwo(opts), nil
	case "least_latency":
		return NewLeastLatency(opts), nil
	}
	return nil, fmt.Errorf("unknown algorithm %q", name)
}
