// Package queuesim simulates the "supermarket model" the lab's supermarket
// scenario reproduces: Poisson arrivals dispatched on arrival by a balancing
// policy to N servers, each serving one request at a time, first in first
// out, with exponentially distributed service times (M/M/1 queues behind a
// dispatcher; Mitzenmacher, "The Power of Two Choices in Randomized Load
// Balancing", 2001). It is seeded and deterministic: the same Config gives
// the same Result. Times are in units of the mean service time.
//
// For the random policy each server is an M/M/1 queue, whose figures have a
// closed form (MM1); for the others the simulation is the theory the lab's
// measurements are set against.
package queuesim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"gonum.org/v1/gonum/stat"
)

// Policies, named as the balancer's algorithms that behave so when every
// backend has the same weight and one client sends all the requests.
const (
	Random           = "random"            // a server uniformly at random
	RoundRobin       = "round_robin"       // servers in turn
	PowerOfTwo       = "power_of_two"      // two distinct random servers, the one with fewer requests wins (the first on a tie)
	LeastConnections = "least_connections" // a server with the fewest requests; ties taken in turn
)

// Policies lists the policies the simulation knows. weighted_round_robin
// with equal weights is round_robin; least_latency and ip_hash have no
// counterpart in the model (one depends on measured latency, the other sends
// one client's requests all to one server).
var Policies = []string{Random, RoundRobin, PowerOfTwo, LeastConnections}

// Defaults of Config.
const (
	DefaultArrivals = 2_000_000
	DefaultSeed     = 1
)

// Config is one simulation.
type Config struct {
	// Servers is N, at least 1.
	Servers int
	// Rho is each server's utilisation: the arrival rate is Rho x Servers
	// (service rate 1 per server). 0 < Rho < 1.
	Rho float64
	// Policy is one of Policies.
	Policy string
	// Arrivals is the number of arrivals measured; default DefaultArrivals.
	Arrivals int
	// Warmup is the number of arrivals before those, not measured (the
	// queues start empty); default Arrivals/10.
	Warmup int
	// Seed seeds arrivals, service times and random choices; default
	// DefaultSeed.
	Seed uint64
}

// Result holds the simulated time in system (queueing plus service) of the
// measured arrivals, in units of the mean service time.
type Result struct {
	Config
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
}

// Validate names what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.Servers < 1 {
		errs = append(errs, fmt.Errorf("servers %d: want at least 1", c.Servers))
	}
	if !(c.Rho > 0 && c.Rho < 1) {
		errs = append(errs, fmt.Errorf("rho %v: want 0 < rho < 1 (at 1 or more the queues grow without bound)", c.Rho))
	}
	if !slices.Contains(Policies, c.Policy) {
		errs = append(errs, fmt.Errorf("unknown policy %q; known: %s", c.Policy, strings.Join(Policies, ", ")))
	}
	if c.Arrivals < 0 || c.Warmup < 0 {
		errs = append(errs, errors.New("arrivals and warmup must not be negative"))
	}
	return errors.Join(errs...)
}

// Run simulates c.
func Run(c Config) (Result, error) {
	if err := c.Validate(); err != nil {
		return Result{}, fmt.Errorf("simulate: %w", err)
	}
	if c.Arrivals == 0 {
		c.Arrivals = DefaultArrivals
	}
	if c.Warmup == 0 {
		c.Warmup = c.Arrivals / 10
	}
	if c.Seed == 0 {
		c.Seed = DefaultSeed
	}
	rng := rand.New(rand.NewPCG(c.Seed, 0x5eed))
	n := c.Servers
	lambda := c.Rho * float64(n)
	// dep[i] holds the departure times of the requests at server i, in
	// order (FIFO): the last is when the server next falls idle, the count
	// of those after now is its number of requests.
	dep := make([][]float64, n)
	counted := needsCounts(c.Policy)
	times := make([]float64, 0, c.Arrivals)
	var now float64
	var turn int // round_robin's next server, least_connections' tie rotation
	for k := range c.Warmup + c.Arrivals {
		now += rng.ExpFloat64() / lambda
		if counted {
			for i := range dep {
				q := dep[i]
				j := 0
				for j < len(q) && q[j] <= now {
					j++
				}
				dep[i] = q[j:]
			}
		}
		var s int
		switch c.Policy {
		case Random:
			s = rng.IntN(n)
		case RoundRobin:
			s = turn % n
			turn++
		case PowerOfTwo:
			s = powerOfTwo(dep, rng)
		case LeastConnections:
			s = leastConnections(dep, &turn)
		}
		start := now
		if q := dep[s]; len(q) > 0 && q[len(q)-1] > now {
			start = q[len(q)-1]
		}
		d := start + rng.ExpFloat64()
		if counted {
			dep[s] = append(dep[s], d)
		} else {
			dep[s] = append(dep[s][:0], d) // only the last departure matters
		}
		if k >= c.Warmup {
			times = append(times, d-now)
		}
	}
	slices.Sort(times)
	var sum float64
	for _, t := range times {
		sum += t
	}
	return Result{
		Config: c,
		Mean:   sum / float64(len(times)),
		P50:    quantile(times, 0.50),
		P99:    quantile(times, 0.99),
	}, nil
}

func needsCounts(policy string) bool { return policy == PowerOfTwo || policy == LeastConnections }

func powerOfTwo(dep [][]float64, rng *rand.Rand) int {
	n := len(dep)
	if n == 1 {
		return 0
	}
	a := rng.IntN(n)
	b := rng.IntN(n - 1)
	if b >= a {
		b++
	}
	if len(dep[b]) < len(dep[a]) {
		return b
	}
	return a
}

func leastConnections(dep [][]float64, turn *int) int {
	best, ties := 0, 0
	for i, q := range dep {
		switch {
		case len(q) < len(dep[best]):
			best, ties = i, 1
		case len(q) == len(dep[best]):
			ties++
		}
	}
	if ties == 1 {
		return best
	}
	k := *turn % ties
	*turn++
	for i, q := range dep {
		if len(q) == len(dep[best]) {
			if k == 0 {
				return i
			}
			k--
		}
	}
	return best
}

// quantile returns the q-quantile of sorted (nearest rank: gonum's
// empirical quantile), NaN for none.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return stat.Quantile(q, stat.Empirical, sorted, nil)
}

// MM1 returns the time in system of an M/M/1 queue at utilisation rho, in
// units of the mean service time: it is exponential with rate 1-rho, so the
// mean is 1/(1-rho) and the q-quantile -ln(1-q)/(1-rho).
func MM1(rho float64) (mean, p50, p99 float64, err error) {
	if !(rho > 0 && rho < 1) {
		return 0, 0, 0, fmt.Errorf("rho %v: want 0 < rho < 1", rho)
	}
	r := 1 - rho
	return 1 / r, math.Ln2 / r, -math.Log(0.01) / r, nil
}
