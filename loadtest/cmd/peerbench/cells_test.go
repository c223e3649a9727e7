package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fp(v float64) *float64 { return &v }

func TestComputeCells(t *testing.T) {
	c64, _ := caseByID("c64")
	rate, _ := caseByID("rate5000")
	targets := []string{"direct", "lb", "haproxy"}
	m := func(round int, c, tg string, rps, p99 float64, cpu *float64, failed int64) measurement {
		return measurement{Round: round, Case: c, Target: tg, Requests: 1000, ReqPerSec: rps, P50Ms: p99 / 4, P99Ms: p99, MaxMs: 2 * p99, CPUPer100k: cpu, Failed: failed}
	}
	ms := []measurement{
		// c64: lb is half of HAProxy in every round, though the rounds differ.
		m(1, "c64", "direct", 40000, 2, nil, 0), m(1, "c64", "lb", 10000, 8, fp(6), 1), m(1, "c64", "haproxy", 20000, 4, fp(2), 0),
		m(2, "c64", "direct", 30000, 2, nil, 0), m(2, "c64", "lb", 15000, 9, fp(6), 0), m(2, "c64", "haproxy", 30000, 5, fp(3), 0),
		m(3, "c64", "direct", 50000, 2, nil, 0), m(3, "c64", "lb", 12000, 7, fp(9), 2), m(3, "c64", "haproxy", 24000, 6, fp(3), 0),
		// rate5000: p99 differences in the same round.
		m(1, "rate5000", "direct", 5000, 1, nil, 0), m(1, "rate5000", "lb", 5000, 3, fp(4), 0), m(1, "rate5000", "haproxy", 5000, 2, fp(2), 0),
		m(2, "rate5000", "direct", 5000, 2, nil, 0), m(2, "rate5000", "lb", 5000, 6, fp(4), 0), m(2, "rate5000", "haproxy", 5000, 3, fp(2), 0),
		// round 3 of lb failed: it has no figures.
		m(3, "rate5000", "direct", 5000, 1, nil, 0), {Round: 3, Case: "rate5000", Target: "lb", Err: "wrk: boom"}, m(3, "rate5000", "haproxy", 5000, 2, fp(2), 0),
	}
	cells := computeCells([]benchCase{c64, rate}, targets, ms)
	require.Len(t, cells, 6)
	byName := map[string]cell{}
	for _, c := range cells {
		byName[c.Case+"/"+c.Target] = c
	}
	assert.Equal(t, []string{"c64/direct", "c64/lb", "c64/haproxy", "rate5000/direct", "rate5000/lb", "rate5000/haproxy"},
		func() (out []string) {
			for _, c := range cells {
				out = append(out, c.Case+"/"+c.Target)
			}
			return
		}())

	lb := byName["c64/lb"]
	assert.Equal(t, 3, lb.Rounds)
	assert.Equal(t, 12000.0, lb.ReqPerSec)
	assert.Equal(t, 8.0, lb.P99Ms)
	assert.Equal(t, 6.0, *lb.CPUPer100k)
	assert.EqualValues(t, 3, lb.Failed, "failed is the total over rounds")
	assert.EqualValues(t, 3000, lb.Requests)
	assert.InDelta(t, 0.5, *lb.VsHAProxy, 1e-12, "median of same-round ratios")
	assert.InDelta(t, 3.0, *lb.CPUVsHAProxy, 1e-12) // 3, 2, 3
	assert.Nil(t, lb.P99OverDirectMs, "only rate cases")
	assert.InDelta(t, (15000.0-10000)/12000, lb.Spread, 1e-12)

	assert.Nil(t, byName["c64/direct"].CPUPer100k)
	assert.Nil(t, byName["c64/direct"].CPUVsHAProxy)
	assert.InDelta(t, 2.0, *byName["c64/direct"].VsHAProxy, 1e-12) // 2, 1, 50/24
	assert.InDelta(t, 1.0, *byName["c64/haproxy"].VsHAProxy, 1e-12)

	rl := byName["rate5000/lb"]
	assert.Equal(t, 2, rl.Rounds)
	assert.Equal(t, []string{"wrk: boom"}, rl.Errs)
	assert.InDelta(t, 4.5, rl.P99Ms, 1e-12)
	assert.InDelta(t, 2.0, *rl.VsHAProxy, 1e-12)       // 1 and 3 ms over HAProxy
	assert.InDelta(t, 3.0, *rl.P99OverDirectMs, 1e-12) // 2 and 4 ms over direct
	assert.InDelta(t, 2.0/3, rl.Spread, 1e-12)         // p99 3 and 6 around 4.5
	assert.Nil(t, byName["rate5000/direct"].P99OverDirectMs)

	n := noise(cells, 3)
	// direct's p99 went 1, 2, 1 ms: a spread of 100%.
	assert.Equal(t, "rate5000", n.Worst.Case)
	assert.Equal(t, "direct", n.Worst.Target)
	assert.InDelta(t, 1.0, n.Worst.Spread, 1e-12)
	assert.Equal(t, "p99", n.Worst.Figure)
}

func TestLBRPLeftOutOfTCP(t *testing.T) {
	c64, _ := caseByID("c64")
	tcp, _ := caseByID("tcp")
	assert.Equal(t, allTargets, caseTargets(c64, allTargets))
	assert.Equal(t, []string{"direct", "lb", "haproxy", "nginx"}, caseTargets(tcp, allTargets))
	assert.Equal(t, []string{"haproxy", "nginx", "direct", "lb"}, caseTargets(tcp, rotate(allTargets, 3)), "rotated order kept")
	assert.Empty(t, caseTargets(tcp, []string{"lb-rp"}))
	assert.Equal(t, 5+4, cellCount([]benchCase{c64, tcp}, allTargets))
	assert.Equal(t, 0, cellCount([]benchCase{tcp}, []string{"lb-rp"}))

	cells := computeCells([]benchCase{c64, tcp}, []string{"lb", "lb-rp"}, []measurement{
		{Round: 1, Case: "c64", Target: "lb", Requests: 10, ReqPerSec: 5},
		{Round: 1, Case: "c64", Target: "lb-rp", Requests: 8, ReqPerSec: 4},
		{Round: 1, Case: "tcp", Target: "lb", Requests: 12, ReqPerSec: 6},
	})
	var names []string
	for _, c := range cells {
		names = append(names, c.Case+"/"+c.Target)
	}
	assert.Equal(t, []string{"c64/lb", "c64/lb-rp", "tcp/lb"}, names, "no tcp/lb-rp row")
}

func TestComputeCellsWithoutHAProxy(t *testing.T) {
	c64, _ := caseByID("c64")
	cells := computeCells([]benchCase{c64}, []string{"lb"}, []measurement{
		{Round: 1, Case: "c64", Target: "lb", Requests: 10, ReqPerSec: 5},
	})
	require.Len(t, cells, 1)
	assert.Nil(t, cells[0].VsHAProxy)
	assert.Equal(t, 0.0, cells[0].Spread)
}

func TestRow(t *testing.T) {
	tests := []struct {
		name string
		c    cell
		want []string
	}{
		{"throughput", cell{Case: "c64", Target: "lb", Rounds: 3, ReqPerSec: 12345.6, P50Ms: 1.234, P99Ms: 12.34, MaxMs: 123.4,
			CPUPer100k: fp(5.5), Failed: 3, Requests: 30000, VsHAProxy: fp(0.456), CPUVsHAProxy: fp(3.21)},
			[]string{"c64", "lb", "12346", "1.23", "12.3", "123", "", "5.50", "3 (0.01%)", "0.46×", "3.21×"}},
		{"rate", cell{Case: "rate5000", Target: "nginx", Rounds: 1, Rate: true, ReqPerSec: 5000, P50Ms: 0.28, P99Ms: 3.25, MaxMs: 8.4,
			CPUPer100k: fp(4.2), VsHAProxy: fp(-1.5), CPUVsHAProxy: fp(0.98), P99OverDirectMs: fp(0.59)},
			[]string{"rate5000", "nginx", "5000", "0.28", "3.25", "8.40", "+0.59", "4.20", "0", "-1.50 ms", "0.98×"}},
		{"direct", cell{Case: "c64", Target: "direct", Rounds: 1, ReqPerSec: 40000, P50Ms: 1, P99Ms: 2, MaxMs: 3, VsHAProxy: fp(2)},
			[]string{"c64", "direct", "40000", "1.00", "2.00", "3.00", "", "", "0", "2.00×", ""}},
		{"no figures", cell{Case: "tcp", Target: "nginx"},
			[]string{"tcp", "nginx", "error", "", "", "", "", "", "", "", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := row(tc.c)
			require.Len(t, got, len(columns))
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestMarkdownTable(t *testing.T) {
	md := markdownTable([]cell{{Case: "c64", Target: "lb", Rounds: 1, ReqPerSec: 1000, P50Ms: 1, P99Ms: 2, MaxMs: 3}})
	lines := strings.Split(strings.TrimSpace(md), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, "| case | target | req/s | p50 ms | p99 ms | max ms | p99 over direct ms | CPU s/100k req | failed | vs haproxy | CPU vs haproxy |", lines[0])
	assert.Equal(t, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|", lines[1])
	assert.Equal(t, "| c64 | lb | 1000 | 1.00 | 2.00 | 3.00 |  |  | 0 |  |  |", lines[2])
}
