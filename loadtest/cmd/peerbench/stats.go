package main

import (
	"fmt"
	"math"
	"slices"
)

// median returns the median of xs (the mean of the middle two for an even
// count) and false for none.
func median(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

// spread returns (max-min)/median of xs: how far apart the rounds are,
// relative to the quoted figure (its magnitude). Zero for fewer than two values or a zero
// median.
func spread(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	m, _ := median(xs)
	if m == 0 {
		return 0
	}
	return (slices.Max(xs) - slices.Min(xs)) / math.Abs(m)
}

// noiseCell is the spread across rounds of one (case, target).
type noiseCell struct {
	Case   string  `json:"case"`
	Target string  `json:"target"`
	Figure string  `json:"figure"` // "req/s" or "p99"
	Spread float64 `json:"spread"`
}

// noiseSummary condenses the spreads of every cell.
type noiseSummary struct {
	Rounds       int         `json:"rounds"`
	MedianSpread float64     `json:"median_spread"`
	Worst        noiseCell   `json:"worst"`
	Noisiest     []noiseCell `json:"noisiest"` // the worst few, worst first
}

// summarizeNoise returns the median spread, the worst cell and the k
// noisiest cells (worst first; ties in input order).
func summarizeNoise(cells []noiseCell, rounds, k int) noiseSummary {
	s := noiseSummary{Rounds: rounds}
	if len(cells) == 0 {
		return s
	}
	xs := make([]float64, len(cells))
	for i, c := range cells {
		xs[i] = c.Spread
	}
	s.MedianSpread, _ = median(xs)
	sorted := slices.Clone(cells)
	slices.SortStableFunc(sorted, func(a, b noiseCell) int {
		switch {
		case a.Spread > b.Spread:
			return -1
		case a.Spread < b.Spread:
			return 1
		}
		return 0
	})
	s.Worst = sorted[0]
	s.Noisiest = sorted[:min(k, len(sorted))]
	return s
}

// line renders the summary as "noise: median spread 6%, worst 23% (c512/nginx)".
func (s noiseSummary) line() string {
	if s.Rounds < 2 {
		return fmt.Sprintf("noise: not measured (%d round; pass --rounds 3 for spreads)", s.Rounds)
	}
	if len(s.Noisiest) == 0 {
		return "noise: no cells"
	}
	return fmt.Sprintf("noise: median spread %.0f%%, worst %.0f%% (%s/%s)",
		100*s.MedianSpread, 100*s.Worst.Spread, s.Worst.Case, s.Worst.Target)
}
