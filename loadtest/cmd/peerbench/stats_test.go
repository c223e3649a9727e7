package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		xs   []float64
		want float64
		ok   bool
	}{
		{nil, 0, false},
		{[]float64{7}, 7, true},
		{[]float64{3, 1, 2}, 2, true},
		{[]float64{4, 1, 3, 2}, 2.5, true},
		{[]float64{10, 10, 1000}, 10, true},
	}
	for _, tc := range tests {
		got, ok := median(tc.xs)
		assert.Equal(t, tc.ok, ok, "%v", tc.xs)
		assert.InDelta(t, tc.want, got, 1e-12, "%v", tc.xs)
	}
	xs := []float64{3, 1, 2}
	median(xs)
	assert.Equal(t, []float64{3, 1, 2}, xs, "median must not sort its input")
}

func TestSpread(t *testing.T) {
	tests := []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{100}, 0},
		{[]float64{100, 100, 100}, 0},
		{[]float64{90, 100, 110}, 0.2},
		{[]float64{100, 123, 100}, 0.23},
		{[]float64{0, 0, 5}, 0}, // zero median
	}
	for _, tc := range tests {
		assert.InDelta(t, tc.want, spread(tc.xs), 1e-9, "%v", tc.xs)
	}
}

func TestSummarizeNoise(t *testing.T) {
	cells := []noiseCell{
		{Case: "c64", Target: "lb", Spread: 0.06},
		{Case: "c512", Target: "nginx", Spread: 0.23},
		{Case: "c64", Target: "haproxy", Spread: 0.02},
		{Case: "close", Target: "lb", Spread: 0.10},
		{Case: "tcp", Target: "lb", Spread: 0.05},
	}
	s := summarizeNoise(cells, 3, 2)
	assert.InDelta(t, 0.06, s.MedianSpread, 1e-12)
	assert.Equal(t, "c512", s.Worst.Case)
	assert.Equal(t, []noiseCell{cells[1], cells[3]}, s.Noisiest)
	assert.Equal(t, "noise: median spread 6%, worst 23% (c512/nginx)", s.line())

	assert.Equal(t, "noise: not measured (1 round; pass --rounds 3 for spreads)", summarizeNoise(nil, 1, 5).line())
	assert.Equal(t, "noise: no cells", summarizeNoise(nil, 3, 5).line())
}

func TestNoisyLines(t *testing.T) {
	n := summarizeNoise([]noiseCell{
		{Case: "c64", Target: "lb", Figure: "req/s", Spread: 0.04},
		{Case: "rate5000", Target: "nginx", Figure: "p99", Spread: 0.5},
		{Case: "c512", Target: "nginx", Figure: "req/s", Spread: 0.10},
	}, 3, 5)
	assert.Equal(t, []string{"noisy: rate5000/nginx p99 spread 50%", "noisy: c512/nginx req/s spread 10%"}, noisyLines(n))
}
