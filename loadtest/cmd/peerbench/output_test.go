package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestShortVersion(t *testing.T) {
	tests := []struct{ in, want string }{
		{"HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/", "2.6.12"},
		{"nginx version: nginx/1.22.1", "1.22.1"},
		{"wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer", "4.1.0"},
		{"lb b24d69b", "lb b24d69b"},
		{"", "?"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, shortVersion(tc.in), tc.in)
	}
}

func TestFormatting(t *testing.T) {
	assert.Equal(t, "24.1k", fmtRate(24113))
	assert.Equal(t, "950", fmtRate(950.4))
	assert.Equal(t, []string{"0.77", "12.3", "168"}, []string{fmtMs(0.765), fmtMs(12.34), fmtMs(167.9)})
	assert.Equal(t, []string{"0", "7", "5 (0.50%)"}, []string{fmtFailed(0, 10), fmtFailed(7, 0), fmtFailed(5, 1000)})
}

func TestCrowdLines(t *testing.T) {
	m := func(round int, target string, achievedPerS, lag float64, gen *float64) measurement {
		c := &crowdResult{Opened: 9800, PeriodS: 1, IntendedPerS: 9800, AchievedPerS: achievedPerS, Achieved: achievedPerS / 9800,
			LagP99Ms: lag, GenCPUPer100k: gen, Missed: int64(5 * (9800 - achievedPerS)), Behind: 7}
		c.Short = c.Achieved < crowdShortfall
		return measurement{Round: round, Case: "crowd", Target: target, Crowd: c}
	}
	assert.Nil(t, crowdLines([]measurement{{Case: "c64"}}), "no crowd, no lines")
	assert.Equal(t, []string{
		"crowd generator: 9800 connections × 1 GET/s; achieved 99-100% of the intended rate, its own send lag p99 at most 2.50 ms, its own CPU at most 3.10 s/100k req; no round below 95%",
	}, crowdLines([]measurement{m(1, "lb", 9800, 1.2, fp(3.1)), m(1, "nginx", 9702, 2.5, fp(2.9)), {Case: "crowd", Target: "x", Err: "boom"}}))
	assert.Equal(t, []string{
		"crowd generator: 9800 connections × 1 GET/s; achieved 90-100% of the intended rate, its own send lag p99 at most 640 ms",
		"short: round 2 crowd/haproxy: 8820 of 9800 req/s intended (90%); 7 slots came while the previous response was still awaited, 4900 missed; the generator's own lag p99 640 ms",
	}, crowdLines([]measurement{m(1, "lb", 9800, 1.2, nil), m(2, "haproxy", 8820, 640, nil)}))

	// The machine's idle share, the backends' CPU and the rounds that fell
	// behind (a p50 over crowdSlowMs in some second).
	a, b := m(1, "lb", 9800, 1.2, fp(3.1)), m(2, "lb", 9800, 1.5, fp(3.3))
	a.Crowd.MachineIdle, b.Crowd.MachineIdle = fp(0.31), fp(0.02)
	a.Crowd.BackendsCPUPer100k, b.Crowd.BackendsCPUPer100k = fp(6.5), fp(7.25)
	a.Crowd.Seconds = []crowdSecond{{N: 9800, P50Ms: 1, P99Ms: 4}, {N: 9800, P50Ms: 2, P99Ms: 9}}
	b.Crowd.Seconds = []crowdSecond{{N: 9800, P50Ms: 1, P99Ms: 4}, {N: 9800, P50Ms: 1695.7, P99Ms: 2131}, {N: 4589, P50Ms: 120, P99Ms: 300}, {N: 9800, P50Ms: 1, P99Ms: 3}}
	assert.Equal(t, []string{
		"crowd generator: 9800 connections × 1 GET/s; achieved 100-100% of the intended rate, its own send lag p99 at most 1.50 ms, its own CPU at most 3.30 s/100k req, the backends' at most 7.25; the machine's CPUs idle 2-31% of the window; no round below 95%",
		"behind: round 2 crowd/lb: 2 of 4 seconds with a p50 over 100 ms, from second 2; the worst, second 2, 1696 ms",
	}, crowdLines([]measurement{a, b}))

	c := m(1, "lb", 4900, 1.2, nil)
	c.Crowd.PeriodS, c.Crowd.IntendedPerS, c.Crowd.Achieved, c.Crowd.Short = 2, 4900, 1, false
	assert.Equal(t, []string{
		"crowd generator: 9800 connections × 1 GET every 2s; achieved 100-100% of the intended rate, its own send lag p99 at most 1.20 ms; no round below 95%",
	}, crowdLines([]measurement{c}))
}

func TestFmtRatioAndMiB(t *testing.T) {
	assert.Equal(t, "", fmtRatio(nil))
	assert.Equal(t, "1.07×", fmtRatio(fp(1.0749)))
	assert.Equal(t, "17.6", fmtMiB(18022))
	assert.Equal(t, "0.0", fmtMiB(0))
}
