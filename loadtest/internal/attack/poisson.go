package attack

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Arrival processes of the open model.
const (
	// ArrivalsConstant sends at evenly spaced times (vegeta's ConstantPacer).
	ArrivalsConstant = "constant"
	// ArrivalsPoisson sends at the times of a Poisson process: independent,
	// exponentially distributed gaps of mean 1/rate, as independent users
	// arrive at a service (the M in M/M/1).
	ArrivalsPoisson = "poisson"
)

// ArrivalKinds lists the arrival processes, the default first.
var ArrivalKinds = []string{ArrivalsConstant, ArrivalsPoisson}

// ErrBadRate is returned for a Poisson schedule whose rate is not a positive,
// finite number.
var ErrBadRate = errors.New("poisson arrivals need a rate above 0 requests per second")

// Schedule holds the send times of a Poisson process, drawn once from a seeded
// generator: hit n is sent At(n) after the attack started, whoever asks and in
// whatever order. The pacer reads it to know when to send, and Run reads it
// again to measure each request's latency from the time it was due rather
// than from the time a (possibly stalled) sender got round to it. Safe for
// concurrent use. It keeps every time drawn (8 bytes a request).
type Schedule struct {
	rate float64 // per second

	mu   sync.Mutex      // guards rng, next and at
	rng  *rand.Rand      // draws the gaps, in order
	next float64         // seconds: the time of hit len(at)
	at   []time.Duration // at[n]: when hit n is due
}

// NewSchedule returns the Poisson schedule of rate requests per second drawn
// from seed (the same seed gives the same times).
func NewSchedule(rate float64, seed uint64) (*Schedule, error) {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return nil, fmt.Errorf("%w (got %v)", ErrBadRate, rate)
	}
	s := &Schedule{rate: rate, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	s.next = s.rng.ExpFloat64() / rate
	return s, nil
}

// Rate returns the mean rate in requests per second.
func (s *Schedule) Rate() float64 { return s.rate }

// At returns when hit n (counting from 0) is due, since the attack started.
func (s *Schedule) At(n uint64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	for uint64(len(s.at)) <= n {
		s.at = append(s.at, time.Duration(s.next*float64(time.Second)))
		s.next += s.rng.ExpFloat64() / s.rate
	}
	return s.at[n]
}

// PoissonPacer is a vegeta.Pacer that sends hit n at Schedule.At(n). A sender
// that falls behind sends at once, so the number of hits sent by any time is
// the schedule's, not fewer.
//
// It waits for each hit itself, with a timer finer than the Go runtime's: a
// hit's latency runs from the time it was due, so a late wake-up counts as
// time in system. time.Sleep, which vegeta would use, woke 0.57 ms late on
// average on an idle 2-core machine (the runtime waits for timers in
// epoll_wait, whose timeout is in whole milliseconds); nanosleep(2) 0.11 ms
// (BenchmarkPoissonPacerLateness).
type PoissonPacer struct {
	Schedule *Schedule
}

var _ vegeta.Pacer = PoissonPacer{}

// Pace implements vegeta.Pacer. Before hit number hits is due it sleeps until
// then where it can (Linux) and returns no wait; elsewhere it returns the
// wait for vegeta to sleep.
func (p PoissonPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if at := p.Schedule.At(hits); at > elapsed {
		return sleepFine(at - elapsed), false
	}
	return 0, false
}

// Rate implements vegeta.Pacer: the mean rate, in hits per second.
func (p PoissonPacer) Rate(time.Duration) float64 { return p.Schedule.Rate() }

// String describes the pacer as vegeta's pacers do.
func (p PoissonPacer) String() string {
	return fmt.Sprintf("Poisson{%g hits/1s}", p.Schedule.Rate())
}

// fromSchedule rewrites r so that its Timestamp is the time it was due
// (start + At(Seq)) and its Latency runs from then to its answer: time spent
// waiting for a free sender counts, as it would for a real user who arrived
// on time. vegeta numbers hits in the order its workers take them, so two
// hits taken at the same moment may swap due times; the sum of latencies,
// and so the mean, is unchanged.
func fromSchedule(r *vegeta.Result, start time.Time, s *Schedule) {
	due := start.Add(s.At(r.Seq))
	end := r.Timestamp.Add(r.Latency)
	r.Timestamp = due
	r.Latency = max(0, end.Sub(due))
}
