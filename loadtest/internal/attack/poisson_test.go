package attack

import (
	"errors"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/stat/distuv"
)

// TestScheduleGapsAreExponential is a chi-square goodness-of-fit test: the
// gaps of a seeded schedule, put in 20 bins of equal probability under the
// exponential distribution of the asked rate, must not be told apart from it
// at the 0.1% level. The seed is fixed, so the outcome is too.
func TestScheduleGapsAreExponential(t *testing.T) {
	const (
		rate = 800.0
		n    = 50_000
		bins = 20
	)
	s, err := NewSchedule(rate, 12)
	require.NoError(t, err)
	exp := distuv.Exponential{Rate: rate}
	counts := make([]int, bins)
	prev := time.Duration(0)
	for i := range uint64(n) {
		at := s.At(i)
		gap := (at - prev).Seconds()
		prev = at
		b := int(exp.CDF(gap) * bins)
		counts[min(b, bins-1)]++
	}
	var chi2 float64
	want := float64(n) / bins
	for _, c := range counts {
		chi2 += (float64(c) - want) * (float64(c) - want) / want
	}
	p := 1 - distuv.ChiSquared{K: bins - 1}.CDF(chi2)
	t.Logf("chi-square %.1f with %d degrees of freedom: p = %.3f; bins %v", chi2, bins-1, p, counts)
	assert.Greater(t, p, 0.001, "the gaps do not fit an exponential distribution of rate %v", rate)
}

// TestScheduleLongRunRate: over many hits the schedule keeps the asked rate
// (the standard error of the mean gap after 200,000 hits is 0.22%).
func TestScheduleLongRunRate(t *testing.T) {
	for _, rate := range []float64{1, 73, 1000, 25_000} {
		s, err := NewSchedule(rate, 7)
		require.NoError(t, err)
		const n = 200_000
		got := float64(n) / s.At(n-1).Seconds()
		assert.InEpsilon(t, rate, got, 0.01, "rate %v: long-run rate %v", rate, got)
	}
}

func TestScheduleIsSeeded(t *testing.T) {
	a, _ := NewSchedule(100, 42)
	b, _ := NewSchedule(100, 42)
	c, _ := NewSchedule(100, 43)
	// Read b backwards: the times do not depend on the order they are asked for.
	for i := 99; i >= 0; i-- {
		b.At(uint64(i))
	}
	same := true
	for i := range uint64(100) {
		assert.Equal(t, a.At(i), b.At(i))
		same = same && a.At(i) == c.At(i)
	}
	assert.False(t, same, "another seed gives other times")
}

func TestScheduleBadRate(t *testing.T) {
	for _, rate := range []float64{0, -5, math.NaN(), math.Inf(1)} {
		_, err := NewSchedule(rate, 1)
		assert.True(t, errors.Is(err, ErrBadRate), "rate %v: %v", rate, err)
	}
}

func TestPoissonPacer(t *testing.T) {
	s, _ := NewSchedule(10, 3)
	p := PoissonPacer{Schedule: s}
	at := s.At(4)
	// Hit 4 is due 20 ms after this call: Pace sleeps until then itself
	// (Linux) or asks vegeta to.
	start := time.Now()
	wait, stop := p.Pace(at-20*time.Millisecond, 4)
	slept := time.Since(start)
	assert.False(t, stop)
	assert.GreaterOrEqual(t, slept+wait, 20*time.Millisecond, "Pace let a hit go before it was due")
	if runtime.GOOS == "linux" {
		assert.Zero(t, wait, "on Linux Pace sleeps itself")
	} else {
		assert.Equal(t, 20*time.Millisecond, wait)
	}
	wait, _ = p.Pace(at+time.Second, 4)
	assert.Zero(t, wait, "a late sender sends at once")
	assert.Equal(t, 10.0, p.Rate(time.Hour))
}

func TestConfigArrivals(t *testing.T) {
	base := Config{URL: "http://127.0.0.1:1/", Duration: time.Second}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"poisson with a rate", func(c *Config) { c.Rate, c.Arrivals = 10, ArrivalsPoisson }, ""},
		{"constant", func(c *Config) { c.Rate, c.Arrivals = 10, ArrivalsConstant }, ""},
		{"poisson without a rate", func(c *Config) { c.Concurrency, c.Arrivals = 3, ArrivalsPoisson }, "arrivals poisson: poisson arrivals need a rate above 0"},
		{"unknown", func(c *Config) { c.Rate, c.Arrivals = 10, "bursty" }, `unknown arrivals "bursty"; known: constant, poisson`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.mod(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, tt.wantErr)
			}
		})
	}
}

// TestPoissonLatencyFromDueTime: one sender, 20 ms answers, 40 hits due in
// about 0.4 s: the sender falls behind, and the latency counts the time each
// hit waited for it. Measured from when the sender got round to it, every
// latency would be about 20 ms.
func TestPoissonLatencyFromDueTime(t *testing.T) {
	srv, n := server(t, 20*time.Millisecond)
	ch, err := Run(t.Context(), Config{
		URL: srv.URL, Rate: 100, Concurrency: 1, Requests: 40, Duration: 10 * time.Second,
		Arrivals: ArrivalsPoisson, Seed: 5,
	})
	require.NoError(t, err)
	var sum time.Duration
	var count int
	for r := range ch {
		sum += r.Latency
		count++
	}
	require.Equal(t, 40, count)
	require.EqualValues(t, 40, n.Load())
	mean := sum / time.Duration(count)
	t.Logf("mean latency from due time: %v", mean)
	// 40 answers of 20 ms one after another take 0.8 s against 0.4 s of
	// arrivals: the mean wait is in the hundreds of ms.
	assert.Greater(t, mean, 100*time.Millisecond)
}

// BenchmarkPoissonPacerLateness reports how late a sender wakes for a hit of
// a Poisson schedule (250 hits/s), in microseconds after its due time:
// vegeta's time.Sleep against PoissonPacer's own sleep. A hit's latency runs
// from its due time, so this lateness counts as time in system.
func BenchmarkPoissonPacerLateness(b *testing.B) {
	for _, bc := range []struct {
		name  string
		sleep func(time.Duration) time.Duration
	}{
		{"time.Sleep", func(d time.Duration) time.Duration { return d }},
		{"Pace", sleepFine},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := NewSchedule(250, 1)
			require.NoError(b, err)
			var late time.Duration
			start := time.Now()
			for n := range uint64(b.N) {
				if w := s.At(n) - time.Since(start); w > 0 {
					time.Sleep(bc.sleep(w))
				}
				late += time.Since(start) - s.At(n)
			}
			b.ReportMetric(float64(late.Microseconds())/float64(b.N), "late-µs/hit")
		})
	}
}
