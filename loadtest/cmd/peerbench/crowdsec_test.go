package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSecondBins(t *testing.T) {
	start := time.Unix(1000, 0)
	b := newSecondBins(start, 3*time.Second)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	for i := 1; i <= 100; i++ { // second 0: 1..100 ms
		b.add(at(0.5), time.Duration(i)*time.Millisecond)
	}
	b.add(at(-0.1), 500*time.Millisecond) // before the window: its first second
	b.add(at(2.2), 7*time.Millisecond)
	b.add(at(9), 9*time.Millisecond) // after it: its last second
	got := b.seconds()
	assert.Equal(t, []crowdSecond{{N: 101, P50Ms: 51, P99Ms: 100}, {}, {N: 2, P50Ms: 7, P99Ms: 9}}, got)
	assert.Len(t, newSecondBins(start, 1500*time.Millisecond).lat, 2, "a part second is a second")
	assert.Len(t, newSecondBins(start, 0).lat, 1)
}

func TestFindSlow(t *testing.T) {
	tests := []struct {
		name string
		secs []crowdSecond
		want slowSeconds
	}{
		{"none", []crowdSecond{{N: 9, P50Ms: 3}, {N: 9, P50Ms: crowdSlowMs}}, slowSeconds{First: -1, Worst: -1}},
		{"empty seconds are not slow", []crowdSecond{{}, {N: 0, P50Ms: 900}}, slowSeconds{First: -1, Worst: -1}},
		{"a stall and its drain", []crowdSecond{{N: 9, P50Ms: 1}, {N: 9, P50Ms: 1200}, {N: 9, P50Ms: 1700}, {N: 9, P50Ms: 101}, {N: 9, P50Ms: 2}},
			slowSeconds{Count: 3, First: 1, Worst: 2, WorstP50Ms: 1700}},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, findSlow(tc.secs), tc.name)
	}
	assert.Empty(t, slowLine(measurement{Case: "c64"}))
}
