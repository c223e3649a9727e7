package hedge

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPercentileDelay(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	h := Percentile(95, 5*time.Second, 100, t0)
	for i := range 99 {
		h.Observe(time.Millisecond, t0.Add(time.Duration(i)*time.Millisecond))
	}
	assert.Zero(t, h.After(t0.Add(time.Second)), "no hedge before 100 samples")
	for i := range 901 { // 94% at 1 ms, 6% at 50 ms: p95 is 50 ms
		d := time.Millisecond
		if i%100 < 6 {
			d = 50 * time.Millisecond
		}
		h.Observe(d, t0.Add(time.Second))
	}
	got := h.After(t0.Add(2 * time.Second))
	assert.InDelta(t, float64(50*time.Millisecond), float64(got), float64(5*time.Millisecond), "p95 = %s", got)

	// A window later the samples are still counted; two later they are gone.
	assert.NotZero(t, h.After(t0.Add(6*time.Second)))
	assert.Zero(t, h.After(t0.Add(16*time.Second)))
}

func TestFixedDelay(t *testing.T) {
	h := Fixed(30 * time.Millisecond)
	h.Observe(time.Second, time.Now())
	assert.Equal(t, 30*time.Millisecond, h.After(time.Now()))
}
