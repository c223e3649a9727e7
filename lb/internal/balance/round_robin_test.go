package balance

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/lblab/lblab/lb/internal/pool"
)

func TestRoundRobinSequence(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		picks   int
		want    string
	}{
		{"two", []int{1, 1}, 6, "ababab"},
		{"three", []int{1, 1, 1}, 7, "abcabca"},
		{"weights ignored", []int{5, 1, 1}, 6, "abcabc"},
		{"four", []int{1, 2, 3, 4}, 8, "abcdabcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, names(NewRoundRobin(), newBackends(tt.weights...), tt.picks))
		})
	}
}

func TestRoundRobinCandidatesChange(t *testing.T) {
	rr := NewRoundRobin()
	bs := equalBackends(3)
	assert.Equal(t, "ab", names(rr, bs, 2))
	// b is being retried elsewhere: the rotation goes on over what is left.
	assert.Equal(t, "ac", names(rr, []*pool.Backend{bs[0], bs[2]}, 2))
}
