package main

import (
	"fmt"
	"slices"
	"time"

	"gonum.org/v1/gonum/stat"
)

// crowdSecond is one second of a crowd window: the requests sent in it and
// their latencies.
type crowdSecond struct {
	N     int     `json:"n"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
}

// crowdSlowMs: a second of the crowd whose median latency is above this has
// fallen behind (a proxy keeping up answers in a few milliseconds).
const crowdSlowMs = 100

// secondBins collects latencies by the second of the window they were sent
// in, so that a round that fell behind shows when, and for how long.
type secondBins struct {
	start time.Time
	lat   [][]float64 // ms, by second
}

// newSecondBins returns bins for a window of d (whole seconds, at least one)
// from start.
func newSecondBins(start time.Time, d time.Duration) *secondBins {
	n := max(1, int((d+time.Second-1)/time.Second))
	return &secondBins{start: start, lat: make([][]float64, n)}
}

// add records a request sent at sent that took latency. Requests sent
// before the window count in its first second, after it in its last.
func (b *secondBins) add(sent time.Time, latency time.Duration) {
	i := min(max(0, int(sent.Sub(b.start)/time.Second)), len(b.lat)-1)
	b.lat[i] = append(b.lat[i], ms(latency))
}

// seconds returns each second's count, p50 and p99 (nearest rank).
func (b *secondBins) seconds() []crowdSecond {
	out := make([]crowdSecond, len(b.lat))
	for i, l := range b.lat {
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		out[i] = crowdSecond{N: len(l), P50Ms: stat.Quantile(0.50, stat.Empirical, l, nil), P99Ms: stat.Quantile(0.99, stat.Empirical, l, nil)}
	}
	return out
}

// slowSeconds summarizes the seconds whose p50 is above crowdSlowMs: how
// many, the first, and the worst p50 and its second (0-based).
type slowSeconds struct {
	Count, First, Worst int
	WorstP50Ms          float64
}

// findSlow returns the slow seconds of secs; Count 0 when none.
func findSlow(secs []crowdSecond) slowSeconds {
	s := slowSeconds{First: -1, Worst: -1}
	for i, c := range secs {
		if c.N == 0 || c.P50Ms <= crowdSlowMs {
			continue
		}
		s.Count++
		if s.First < 0 {
			s.First = i
		}
		if c.P50Ms > s.WorstP50Ms {
			s.Worst, s.WorstP50Ms = i, c.P50Ms
		}
	}
	return s
}

// slowLine describes a round's slow seconds, or "" when it had none.
func slowLine(m measurement) string {
	if m.Crowd == nil {
		return ""
	}
	s := findSlow(m.Crowd.Seconds)
	if s.Count == 0 {
		return ""
	}
	return fmt.Sprintf("behind: round %d crowd/%s: %d of %d seconds with a p50 over %d ms, from second %d; the worst, second %d, %s ms",
		m.Round, m.Target, s.Count, len(m.Crowd.Seconds), crowdSlowMs, s.First+1, s.Worst+1, fmtMs(s.WorstP50Ms))
}
