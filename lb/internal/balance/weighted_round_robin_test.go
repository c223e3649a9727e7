package balance

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWeightedRoundRobinSequence(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		want    string // one full cycle
	}{
		{"nginx 5 1 1", []int{5, 1, 1}, "aabacaa"},
		{"2 1", []int{2, 1}, "aba"},
		{"equal", []int{1, 1, 1}, "abc"},
		{"equal large", []int{4, 4}, "ab"},
		{"1 2 3", []int{1, 2, 3}, "cbacbc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := strings.Repeat(tt.want, 3)
			assert.Equal(t, want, names(NewWeightedRoundRobin(), newBackends(tt.weights...), len(want)))
		})
	}
}

func TestWeightedRoundRobinForgetsOldBackends(t *testing.T) {
	w := NewWeightedRoundRobin()
	bs := newBackends(1, 1, 1, 1)
	w.Pick(bs, "")
	require.Len(t, w.state, 4)
	for range 2 * wrrSweepEvery {
		w.Pick(bs[:2], "")
	}
	assert.Len(t, w.state, 2)
	// Backends that come back start from zero; the cycle stays smooth.
	got := []byte(names(w, bs, 4))
	slices.Sort(got)
	assert.Equal(t, "abcd", string(got))
	assert.Len(t, w.state, 4)
}
