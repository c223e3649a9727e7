package attack

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// res makes a synthetic result sent at off after start.
func res(start time.Time, off time.Duration, code uint16, backend string, lat time.Duration) *vegeta.Result {
	r := &vegeta.Result{Timestamp: start.Add(off), Code: code, Latency: lat}
	if backend != "" {
		r.Headers = http.Header{BackendHeader: {backend}}
	}
	if code < 200 || code >= 400 {
		r.Error = http.StatusText(int(code))
		if code == 0 {
			r.Error = "connection refused"
		}
	}
	return r
}

func TestAggregatorBuckets(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	a := NewAggregator(start, time.Second, "steady")
	// Second 0 (warm-up): 2 requests to a.
	a.Add(res(start, 100*time.Millisecond, 200, "a", 10*time.Millisecond))
	a.Add(res(start, 600*time.Millisecond, 200, "a", 10*time.Millisecond))
	// Second 1: a, b, and a 502 without backend.
	a.Add(res(start, 1100*time.Millisecond, 200, "a", 20*time.Millisecond))
	a.Add(res(start, 1200*time.Millisecond, 200, "b", 40*time.Millisecond))
	a.Add(res(start, 1500*time.Millisecond, 502, "", 5*time.Millisecond))
	// A phase starts at 2s.
	a.Mark("down", start.Add(2*time.Second))
	// Second 2: only b; and a late result of second 1 arrives now.
	a.Add(res(start, 2100*time.Millisecond, 200, "b", 30*time.Millisecond))
	a.Add(res(start, 2900*time.Millisecond, 0, "", 1*time.Millisecond))
	a.Add(res(start, 2950*time.Millisecond, 200, "a", 1500*time.Millisecond)) // slow
	a.Add(res(start, 1900*time.Millisecond, 500, "b", 900*time.Millisecond))

	live, ok := a.Live(1)
	require.True(t, ok)
	assert.Equal(t, 4, live.Requests)
	_, ok = a.Live(7)
	assert.False(t, ok)

	sum := a.Close(start.Add(3 * time.Second))
	require.Len(t, sum.Seconds, 3)
	s1 := sum.Seconds[1]
	assert.Equal(t, 1, s1.T)
	assert.Equal(t, 4, s1.Requests)
	assert.Equal(t, 2, s1.Success)
	assert.Equal(t, 2, s1.Errors)
	assert.Equal(t, map[string]int{"200": 2, "502": 1, "500": 1}, s1.Codes)
	assert.Equal(t, BackendSecond{Requests: 1, FirstMs: 1100, LastMs: 1100}, s1.Backends["a"])
	assert.Equal(t, BackendSecond{Requests: 2, Errors: 1, FirstMs: 1200, LastMs: 1900}, s1.Backends["b"])
	assert.Equal(t, 1, s1.Backends[NoBackend].Requests)
	assert.InDelta(t, 1500, s1.FirstErrorMs, 0.001)
	assert.InDelta(t, 1900, s1.LastErrorMs, 0.001)
	assert.Greater(t, s1.P99, s1.P50)
	assert.Equal(t, 0.333333, s1.Share()["a"]) // NoBackend is left out of shares; fractions to 6 decimals

	require.Len(t, sum.Phases, 3)
	assert.Equal(t, "warm-up", sum.Phases[0].Name)
	assert.True(t, sum.Phases[0].Warmup)
	assert.Equal(t, 2, sum.Phases[0].Requests)
	assert.Equal(t, "steady", sum.Phases[1].Name)
	assert.Equal(t, 4, sum.Phases[1].Requests) // the late 500 belongs here, by send time
	assert.InDelta(t, 1000, sum.Phases[1].StartMs, 0.001)
	assert.InDelta(t, 2000, sum.Phases[1].EndMs, 0.001)
	assert.Equal(t, "down", sum.Phases[2].Name)
	assert.Equal(t, 3, sum.Phases[2].Requests)
	assert.Equal(t, 1, sum.Phases[2].Slow)
	assert.Equal(t, map[string]int{"a": 1, "b": 1, NoBackend: 1}, sum.Phases[2].Backends)
	assert.Equal(t, 1, sum.Seconds[2].Slow)
	assert.InDelta(t, 2950, sum.Seconds[2].FirstSlowMs, 0.001)
	assert.InDelta(t, 2950, sum.Seconds[2].LastSlowMs, 0.001)

	// Totals leave the warm-up out.
	assert.Equal(t, 7, sum.Total.Requests)
	assert.Equal(t, 4, sum.Total.Success)
	assert.Equal(t, 1, sum.Total.Slow)
	assert.Equal(t, 3, sum.Total.Errors)
	assert.Equal(t, 0.428571, sum.Total.ErrorRate) // 3/7 to 6 decimals
	assert.InDelta(t, 2.0, sum.Total.DurationS, 1e-9)
	assert.InDelta(t, 3.5, sum.Total.Rate, 1e-9)
	assert.Len(t, sum.Total.ErrorMessages, 3)

	require.Len(t, sum.Backends, 3)
	assert.Equal(t, NoBackend, sum.Backends[0].Name)
	assert.Equal(t, "a", sum.Backends[1].Name)
	assert.Equal(t, 2, sum.Backends[1].Requests)
	assert.Equal(t, 1, sum.Backends[1].Slow)
	assert.InDelta(t, 0.4, sum.Backends[1].Share, 1e-9)
	assert.Equal(t, "b", sum.Backends[2].Name)
	assert.Equal(t, 3, sum.Backends[2].Requests)
	assert.Equal(t, 1, sum.Backends[2].Errors)
	assert.InDelta(t, 2100, sum.Backends[2].LastMs, 0.001)

	assert.Same(t, sum, a.Close(time.Now()), "Close is idempotent")
}

func TestAggregatorMarkInWarmup(t *testing.T) {
	start := time.Now()
	a := NewAggregator(start, 2*time.Second, "steady")
	a.Mark("early", start.Add(time.Second)) // moved to the end of the warm-up
	a.Add(res(start, 2500*time.Millisecond, 200, "a", time.Millisecond))
	sum := a.Close(start.Add(3 * time.Second))
	require.Len(t, sum.Phases, 3)
	assert.Equal(t, "steady", sum.Phases[1].Name)
	assert.Equal(t, 0, sum.Phases[1].Requests)
	assert.Equal(t, "early", sum.Phases[2].Name)
	assert.Equal(t, 1, sum.Phases[2].Requests)
}

func TestAggregatorEmpty(t *testing.T) {
	start := time.Now()
	sum := NewAggregator(start, 0, "steady").Close(start)
	assert.Equal(t, 0, sum.Total.Requests)
	assert.Empty(t, sum.Seconds)
	require.Len(t, sum.Phases, 1)
	assert.NotNil(t, sum.Total.StatusCodes)
}
