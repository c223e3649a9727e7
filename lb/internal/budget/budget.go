// Package budget is the retry budget (Finagle's and Linkerd's, Envoy's
// retry_budget): retries and hedges may add at most a given share of the
// requests of a sliding window, with a small floor per second so that a
// quiet balancer can still retry. Beyond it a retry or hedge is not sent, so
// that a lab where every backend is slow sees no retry storm.
package budget

import (
	"sync"
	"time"
)

// Budget counts requests and spent retries over a sliding window of
// one-second buckets. The zero value is not usable; make one with New. It
// is safe for concurrent use; its arithmetic is exact (one mutex).
type Budget struct {
	ratio  float64
	floor  int
	window int // seconds

	mu      sync.Mutex
	buckets []bucket
}

type bucket struct {
	sec          int64 // the Unix second the bucket counts; stale when older than the window
	reqs, spends int
}

// New returns a budget allowing retries of ratio (0..1) times the requests
// of the last window (whole seconds, at least 1), and at least minPerSecond
// retries for each second of the window in any case.
func New(ratio float64, minPerSecond int, window time.Duration) *Budget {
	n := max(int(window/time.Second), 1)
	return &Budget{ratio: ratio, floor: minPerSecond * n, window: n, buckets: make([]bucket, n)}
}

// Request counts one client request (not its retries) at now.
func (b *Budget) Request(now time.Time) {
	b.mu.Lock()
	b.at(now.Unix()).reqs++
	b.mu.Unlock()
}

// Withdraw spends one retry (or hedge) at now if the budget allows it, and
// reports whether it did.
func (b *Budget) Withdraw(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	sec := now.Unix()
	reqs, spent := b.sums(sec)
	if spent+1 > b.allowed(reqs) {
		return false
	}
	b.at(sec).spends++
	return true
}

// Allows reports whether one more retry would be allowed at now, without
// spending it.
func (b *Budget) Allows(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	reqs, spent := b.sums(now.Unix())
	return spent+1 <= b.allowed(reqs)
}

// Figures returns the requests and spent retries of the window ending at
// now, and how many retries the window allows.
func (b *Budget) Figures(now time.Time) (requests, spent, allowed int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	requests, spent = b.sums(now.Unix())
	return requests, spent, b.allowed(requests)
}

func (b *Budget) allowed(reqs int) int {
	return max(b.floor, int(b.ratio*float64(reqs)+1e-9))
}

// at returns the bucket of second sec, emptied if it held an older second.
func (b *Budget) at(sec int64) *bucket {
	bk := &b.buckets[int(sec%int64(b.window)+int64(b.window))%b.window]
	if bk.sec != sec {
		*bk = bucket{sec: sec}
	}
	return bk
}

func (b *Budget) sums(sec int64) (reqs, spent int) {
	for i := range b.buckets {
		bk := &b.buckets[i]
		if bk.sec > sec-int64(b.window) && bk.sec <= sec {
			reqs += bk.reqs
			spent += bk.spends
		}
	}
	return reqs, spent
}
