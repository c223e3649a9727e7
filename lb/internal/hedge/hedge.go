// Package hedge works out when to hedge a request: after a fixed delay, or
// after a percentile of the response times of the last few seconds
// (The Tail at Scale's "hedge after the 95th percentile").
package hedge

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Delay is a hedge delay: fixed, or a percentile of recent response times.
// It is safe for concurrent use.
type Delay struct {
	fixed      time.Duration
	percentile float64 // (0, 100); 0 with a fixed delay

	mu    sync.Mutex // guards the rotation of the windows
	cur   *window
	prev  *window
	since time.Time
	every time.Duration
	// minSamples: below this many recent samples, no hedge (the
	// percentile would mean little).
	minSamples int
}

// Bucket bounds: 64 µs to about 2 minutes in steps of 10%.
const (
	firstBound = 64 * time.Microsecond
	growth     = 1.1
	nBuckets   = 160
)

type window struct{ counts [nBuckets + 1]atomic.Uint64 }

// Fixed returns a delay of d.
func Fixed(d time.Duration) *Delay { return &Delay{fixed: d} }

// Percentile returns a delay of the p-th percentile (0 < p < 100) of the
// response times observed over the last one to two windows of length every;
// no hedge until minSamples have been seen.
func Percentile(p float64, every time.Duration, minSamples int, now time.Time) *Delay {
	return &Delay{percentile: p, cur: &window{}, prev: &window{}, since: now, every: every, minSamples: minSamples}
}

func bucketOf(d time.Duration) int {
	if d <= firstBound {
		return 0
	}
	i := int(math.Ceil(math.Log(float64(d)/float64(firstBound)) / math.Log(growth)))
	return min(i, nBuckets)
}

func boundOf(i int) time.Duration {
	return time.Duration(float64(firstBound) * math.Pow(growth, float64(i)))
}

// Observe records a response time (a fixed delay ignores it).
func (h *Delay) Observe(d time.Duration, now time.Time) {
	if h.percentile == 0 {
		return
	}
	h.rotate(now)
	h.mu.Lock()
	w := h.cur
	h.mu.Unlock()
	w.counts[bucketOf(d)].Add(1)
}

func (h *Delay) rotate(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if now.Sub(h.since) < h.every {
		return
	}
	if now.Sub(h.since) >= 2*h.every {
		h.prev = &window{} // nothing recent: forget
	} else {
		h.prev = h.cur
	}
	h.cur = &window{}
	h.since = now
}

// After returns how long to wait before hedging; 0 means do not hedge (too
// few recent samples for a percentile).
func (h *Delay) After(now time.Time) time.Duration {
	if h.percentile == 0 {
		return h.fixed
	}
	h.rotate(now)
	h.mu.Lock()
	cur, prev := h.cur, h.prev
	h.mu.Unlock()
	var counts [nBuckets + 1]uint64
	var total uint64
	for i := range counts {
		counts[i] = cur.counts[i].Load() + prev.counts[i].Load()
		total += counts[i]
	}
	if total < uint64(max(h.minSamples, 1)) {
		return 0
	}
	rank := uint64(math.Ceil(h.percentile / 100 * float64(total)))
	var cum uint64
	for i, n := range counts {
		cum += n
		if cum >= rank {
			return boundOf(i)
		}
	}
	return boundOf(nBuckets)
}
