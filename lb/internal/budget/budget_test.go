package budget

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBudgetCapsRetriesExactly(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name     string
		ratio    float64
		floor    int
		requests int
		want     int // retries granted when every request asks for one
	}{
		{"ratio wins", 0.2, 1, 1000, 200},
		{"floor wins", 0.2, 5, 100, 50},
		{"no floor", 0.1, 0, 55, 5},
		{"zero budget", 0, 0, 100, 0},
		{"all", 1, 0, 30, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.ratio, tt.floor, 10*time.Second)
			for i := range tt.requests {
				b.Request(t0.Add(time.Duration(i) * time.Millisecond))
			}
			got := 0
			for i := range tt.requests {
				if b.Withdraw(t0.Add(time.Second + time.Duration(i)*time.Millisecond)) {
					got++
				}
			}
			assert.Equal(t, tt.want, got)
			assert.False(t, b.Allows(t0.Add(2*time.Second)))
		})
	}
}

func TestBudgetWindowSlides(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	b := New(0.5, 0, 10*time.Second)
	for range 10 {
		b.Request(t0)
	}
	for range 5 {
		assert.True(t, b.Withdraw(t0))
	}
	assert.False(t, b.Withdraw(t0.Add(9*time.Second)), "still within the window")
	// Ten seconds on, the requests and the retries they paid for are gone.
	assert.False(t, b.Withdraw(t0.Add(10*time.Second)))
	reqs, spent, allowed := b.Figures(t0.Add(10 * time.Second))
	assert.Equal(t, [3]int{0, 0, 0}, [3]int{reqs, spent, allowed})
	b.Request(t0.Add(10 * time.Second))
	b.Request(t0.Add(10 * time.Second))
	assert.True(t, b.Withdraw(t0.Add(10*time.Second)))
	assert.False(t, b.Withdraw(t0.Add(10*time.Second)))
}

// Requests counted from many goroutines at once (without the mutex) are all
// counted, including across a second's boundary.
func TestRequestCountsConcurrent(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	b := New(0.5, 0, 10*time.Second)
	const goroutines, each = 8, 2000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				// Two seconds: every goroutine crosses the boundary at a
				// different point.
				b.Request(t0.Add(time.Duration(i*(g+1)%each) * time.Millisecond))
			}
		})
	}
	wg.Wait()
	requests, _, allowed := b.Figures(t0.Add(2 * time.Second))
	assert.Equal(t, goroutines*each, requests)
	assert.Equal(t, goroutines*each/2, allowed)
}

// BenchmarkRequest is the cost every request pays: counting it.
func BenchmarkRequest(b *testing.B) {
	bg := New(0.2, 1, 10*time.Second)
	now := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			bg.Request(now)
		}
	})
}
