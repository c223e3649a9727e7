// Package pool holds the balancer's shared state: the backends, their state
// (up, down, draining, disabled), in-flight counts, counters and latency estimate.
// Every other package reads and writes backend state through this one.
package pool

import (
	"math"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// State is a backend's administrative and health state.
type State int32

// Backend states. Only StateUp backends receive new requests.
const (
	StateUp State = iota
	StateDown
	StateDraining
	StateDisabled
)

var stateNames = [...]string{"up", "down", "draining", "disabled"}

// String returns "up", "down", "draining" or "disabled".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// WeightScale is the factor EffectiveWeight applies to configured weights, so
// that slow start can ramp a backend of weight 1 smoothly.
const WeightScale = 100

// latencyDecay is the time constant of the peak-EWMA latency estimate.
const latencyDecay = 10 * time.Second

// Backend is one upstream server. It must not be copied; all methods are safe
// for concurrent use. Hot counters are atomics; the health bookkeeping is
// guarded by mu.
type Backend struct {
	// Name is the display name (default: the address).
	Name string
	// Addr is host:port.
	Addr string
	// URL is http://Addr, the target of the HTTP proxy.
	URL *url.URL
	// Weight is the configured weight (1..1000).
	Weight int
	// Source names the backend_servers entry this backend came from, e.g.
	// "backend:8000" for one of several addresses of a DNS name.
	Source string

	state   atomic.Int32
	ejected atomic.Bool // taken out of rotation as an outlier (lb/internal/outlier)
	// passiveHeld: kept up by Options.PassiveMinAvailable since its last
	// state change (logged once).
	passiveHeld atomic.Bool
	inflight    atomic.Int64
	requests    atomic.Uint64
	errors      atomic.Uint64
	rampStart   atomic.Int64 // unix nanos when a slow start began; 0 = none
	rampLen     time.Duration

	ewmaBits  atomic.Uint64 // float64 nanoseconds, peak-EWMA of response time
	ewmaStamp atomic.Int64  // unix nanos of the last observation

	mu     sync.Mutex // guards health below
	health HealthInfo
	fails  []time.Time // passive failure times within the fail window
}

// HealthInfo is a snapshot of a backend's health-check bookkeeping.
type HealthInfo struct {
	ConsecutiveSuccesses int       `json:"consecutive_successes"`
	ConsecutiveFailures  int       `json:"consecutive_failures"`
	LastCheck            time.Time `json:"last_check,omitzero"`
	LastResult           string    `json:"last_result,omitempty"`
	LastChange           time.Time `json:"last_change,omitzero"`
	LastReason           string    `json:"last_reason,omitempty"`
}

// NewBackend returns an up backend for addr (host:port) with the given weight.
func NewBackend(name, addr string, weight int) *Backend {
	if name == "" {
		name = addr
	}
	if weight < 1 {
		weight = 1
	}
	return &Backend{Name: name, Addr: addr, Weight: weight, URL: &url.URL{Scheme: "http", Host: addr}}
}

// State returns the current state.
func (b *Backend) State() State { return State(b.state.Load()) }

// Available reports whether the backend takes new requests: it is up and
// not ejected as an outlier.
func (b *Backend) Available() bool { return b.State() == StateUp && !b.ejected.Load() }

// Ejected reports whether the backend is ejected as an outlier.
func (b *Backend) Ejected() bool { return b.ejected.Load() }

// InFlight returns the number of requests (or connections) now being served.
func (b *Backend) InFlight() int64 { return b.inflight.Load() }

// Acquire counts a request (or connection) starting on b.
func (b *Backend) Acquire() {
	b.inflight.Add(1)
	b.requests.Add(1)
}

// Release counts a request (or connection) ending on b.
func (b *Backend) Release() { b.inflight.Add(-1) }

// CountError counts a failed request on b.
func (b *Backend) CountError() { b.errors.Add(1) }

// Requests returns the number of requests (or connections) sent to b.
func (b *Backend) Requests() uint64 { return b.requests.Load() }

// Errors returns the number of failed requests on b.
func (b *Backend) Errors() uint64 { return b.errors.Load() }

// EffectiveWeight is Weight*WeightScale, ramped up linearly during a slow start
// (never below 1).
func (b *Backend) EffectiveWeight() int {
	w := b.Weight * WeightScale
	start := b.rampStart.Load()
	if start == 0 {
		return w
	}
	elapsed := time.Duration(time.Now().UnixNano() - start)
	if elapsed >= b.rampLen {
		b.rampStart.CompareAndSwap(start, 0)
		return w
	}
	return max(1, int(float64(w)*float64(elapsed)/float64(b.rampLen)))
}

// ObserveLatency feeds a response time into the peak-EWMA estimate used by
// least_latency: a slower sample replaces the estimate at once, faster samples
// pull it down with a decay of ten seconds.
func (b *Backend) ObserveLatency(d time.Duration, now time.Time) {
	rtt := float64(d)
	ts := now.UnixNano()
	for {
		oldBits := b.ewmaBits.Load()
		old := math.Float64frombits(oldBits)
		next := rtt
		if rtt < old {
			dt := float64(ts - b.ewmaStamp.Load())
			w := math.Exp(-max(dt, 0) / float64(latencyDecay))
			next = old*w + rtt*(1-w)
		}
		if b.ewmaBits.CompareAndSwap(oldBits, math.Float64bits(next)) {
			b.ewmaStamp.Store(ts)
			return
		}
	}
}

// Latency returns the current peak-EWMA response time estimate (0 before any
// observation).
func (b *Backend) Latency() time.Duration {
	return time.Duration(math.Float64frombits(b.ewmaBits.Load()))
}

// Health returns a copy of the health-check bookkeeping.
func (b *Backend) Health() HealthInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.health
}

// RecordCheck records one active check result and returns the consecutive
// success and failure counts after it.
func (b *Backend) RecordCheck(now time.Time, err error) (successes, failures int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := &b.health
	h.LastCheck = now
	if err == nil {
		h.ConsecutiveSuccesses++
		h.ConsecutiveFailures = 0
		h.LastResult = "ok"
	} else {
		h.ConsecutiveFailures++
		h.ConsecutiveSuccesses = 0
		h.LastResult = err.Error()
	}
	return h.ConsecutiveSuccesses, h.ConsecutiveFailures
}

// RecordFailure records a passive failure (a request that failed on b) at now
// and reports whether b has now failed maxFails times within window.
func (b *Backend) RecordFailure(now time.Time, maxFails int, window time.Duration) bool {
	if maxFails <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	cut := now.Add(-window)
	kept := b.fails[:0]
	for _, t := range b.fails {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	b.fails = append(kept, now)
	return len(b.fails) >= maxFails
}

func (b *Backend) noteChange(now time.Time, reason string, resetCounts bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.health.LastChange = now
	b.health.LastReason = reason
	b.fails = b.fails[:0]
	b.passiveHeld.Store(false)
	if resetCounts {
		b.health.ConsecutiveFailures = 0
		b.health.ConsecutiveSuccesses = 0
	}
}
