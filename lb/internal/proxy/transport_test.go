package proxy

import (
	"math"
	"testing"
	"time"

	"github.com/lblab/lblab/lb/internal/upstream"
	"github.com/stretchr/testify/assert"
)

// TestNewTransportIdlePool: the pool's MaxIdle as the Transport reads it:
// 0 keeps none (the Transport's own 0 would keep 2), a negative number
// keeps them all.
func TestNewTransportIdlePool(t *testing.T) {
	for _, tc := range []struct{ maxIdle, perHost int }{
		{0, -1},
		{-1, math.MaxInt},
		{5, 5},
	} {
		tr := NewTransport(upstream.Config{DialTimeout: time.Second, MaxIdle: tc.maxIdle})
		assert.Equal(t, tc.perHost, tr.MaxIdleConnsPerHost, "MaxIdle %d", tc.maxIdle)
	}
}
