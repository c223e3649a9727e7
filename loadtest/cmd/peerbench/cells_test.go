package main

import (
	"math"
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
	assert.Nil(t, lb.BestPeerRounds, "no all-core peer in this run")
	assert.Nil(t, lb.LBBaseRounds, "no lb-base in this run")

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

	n := noise(cells, nil, 3)
	// direct's p99 went 1, 2, 1 ms: a spread of 100%.
	assert.Equal(t, "rate5000", n.Worst.Case)
	assert.Equal(t, "direct", n.Worst.Target)
	assert.InDelta(t, 1.0, n.Worst.Spread, 1e-12)
	assert.Equal(t, "p99", n.Worst.Figure)
}

func TestLBRPLeftOutOfTCP(t *testing.T) {
	c64, _ := caseByID("c64")
	tcp, _ := caseByID("tcp")
	idleTCP, _ := caseByID("idle-tcp")
	idleHTTP, _ := caseByID("idle-http")
	crowd, _ := caseByID("crowd")
	assert.Equal(t, allTargets, caseTargets(c64, allTargets))
	assert.Equal(t, allTargets, caseTargets(crowd, allTargets))
	assert.Equal(t, []string{"direct", "lb", "lb-base", "haproxy", "haproxy-mt", "nginx"}, caseTargets(tcp, allTargets))
	assert.Equal(t, []string{"haproxy", "haproxy-mt", "nginx", "direct", "lb", "lb-base"}, caseTargets(tcp, rotate(allTargets, 4)), "rotated order kept")
	assert.Empty(t, caseTargets(tcp, []string{"lb-rp"}))
	assert.Equal(t, []string{"lb", "lb-base", "haproxy", "haproxy-mt", "nginx"}, caseTargets(idleTCP, allTargets), "no direct, no lb-rp")
	assert.Equal(t, []string{"lb", "lb-base", "lb-rp", "haproxy", "haproxy-mt", "nginx"}, caseTargets(idleHTTP, allTargets), "no direct")
	assert.Equal(t, 7+6, cellCount([]benchCase{c64, tcp}, allTargets))
	assert.Equal(t, 0, cellCount([]benchCase{tcp}, []string{"lb-rp"}))
	assert.Equal(t, 0, cellCount([]benchCase{idleHTTP}, []string{"direct"}))

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

func TestThroughputAndRatioRows(t *testing.T) {
	tests := []struct {
		name      string
		c         cell
		withBase  bool
		want      []string
		wantRatio []string
	}{
		{"throughput", cell{Case: "c64", Target: "lb", Rounds: 3, ReqPerSec: 12345.6, P50Ms: 1.234, P99Ms: 12.34, MaxMs: 123.4,
			CPUPer100k: fp(5.5), Failed: 3, Requests: 30000, VsHAProxy: fp(0.456), CPUVsHAProxy: fp(3.21), VsBestPeer: fp(0.4), CPUVsBestPeer: fp(3.5),
			BestPeerRounds: &roundSpan{Min: 0.3, Max: 1.2, Level: 1, Of: 3}}, false,
			[]string{"c64", "lb", "12346", "1.23", "12.3", "123", "", "5.50", "3 (0.01%)"},
			[]string{"c64", "lb", "0.46×", "3.21×", "0.40×", "3.50×", "0.30 to 1.20×, 1 of 3 ≥ 1×"}},
		{"with lb-base", cell{Case: "c64", Target: "lb", Rounds: 1, ReqPerSec: 100, VsLBBase: fp(1.1), CPUVsLBBase: fp(0.9),
			LBBaseRounds: &roundSpan{Min: 1.1, Max: 1.1, Level: 1, Of: 1}}, true,
			[]string{"c64", "lb", "100", "0.00", "0.00", "0.00", "", "", "0"},
			[]string{"c64", "lb", "", "", "", "", "", "1.10×", "0.90×", "1.10×, 1 of 1 ≥ 1×"}},
		{"rate", cell{Case: "rate5000", Target: "nginx", Rounds: 1, Rate: true, ReqPerSec: 5000, P50Ms: 0.28, P99Ms: 3.25, MaxMs: 8.4,
			CPUPer100k: fp(4.2), VsHAProxy: fp(-1.5), CPUVsHAProxy: fp(0.98), VsBestPeer: fp(0.25), P99OverDirectMs: fp(0.59),
			BestPeerRounds: &roundSpan{Min: 0.25, Max: 0.25, Of: 1}}, false,
			[]string{"rate5000", "nginx", "5000", "0.28", "3.25", "8.40", "+0.59", "4.20", "0"},
			[]string{"rate5000", "nginx", "-1.50 ms", "0.98×", "+0.25 ms", "", "+0.25 ms, 0 of 1 ≤ 0"}},
		{"direct", cell{Case: "c64", Target: "direct", Rounds: 1, ReqPerSec: 40000, P50Ms: 1, P99Ms: 2, MaxMs: 3, VsHAProxy: fp(2)}, false,
			[]string{"c64", "direct", "40000", "1.00", "2.00", "3.00", "", "", "0"},
			[]string{"c64", "direct", "2.00×", "", "", "", ""}},
		{"no figures", cell{Case: "tcp", Target: "nginx"}, false,
			[]string{"tcp", "nginx", "error", "", "", "", "", "", ""},
			[]string{"tcp", "nginx", "error", "", "", "", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := throughputRow(tc.c)
			require.Len(t, got, len(throughputColumns))
			assert.Equal(t, tc.want, got)
			gotR := ratioRow(tc.c, tc.withBase)
			require.Len(t, gotR, len(ratioColumns(tc.withBase)))
			assert.Equal(t, tc.wantRatio, gotR)
		})
	}
}

// round2 rounds to two decimals, for ratios like 40/55.
func round2(v float64) float64 { return math.Round(v*100) / 100 }

func TestFmtRoundSpan(t *testing.T) {
	tests := []struct {
		name  string
		s     *roundSpan
		paced bool
		want  string
	}{
		{"none", nil, false, ""},
		{"ratios", &roundSpan{Min: 0.864, Max: 1.151, Level: 1, Of: 3}, false, "0.86 to 1.15×, 1 of 3 ≥ 1×"},
		{"one round", &roundSpan{Min: 1.02, Max: 1.02, Level: 1, Of: 1}, false, "1.02×, 1 of 1 ≥ 1×"},
		{"paced", &roundSpan{Min: -5.2, Max: 1.3, Level: 2, Of: 3}, true, "-5.20 to +1.30 ms, 2 of 3 ≤ 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, fmtRoundSpan(tc.s, tc.paced))
		})
	}
}

func TestMarkdownTable(t *testing.T) {
	tbs := tables([]cell{{Case: "c64", Target: "lb", Rounds: 1, ReqPerSec: 1000, P50Ms: 1, P99Ms: 2, MaxMs: 3, VsBestPeer: fp(0.5)}}, nil, false)
	require.Len(t, tbs, 2, "throughput and ratios; no idle table without idle cells")
	lines := strings.Split(strings.TrimSpace(markdownTable(tbs[0])), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, "| case | target | req/s | p50 ms | p99 ms | max ms | p99 over direct ms | CPU s/100k req | failed |", lines[0])
	assert.Equal(t, "|---|---|--:|--:|--:|--:|--:|--:|--:|", lines[1])
	assert.Equal(t, "| c64 | lb | 1000 | 1.00 | 2.00 | 3.00 |  |  | 0 |", lines[2])
	lines = strings.Split(strings.TrimSpace(markdownTable(tbs[1])), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, "| case | target | vs haproxy | CPU vs haproxy | vs best peer | CPU vs best peer | best peer by round |", lines[0])
	assert.Equal(t, "| c64 | lb |  |  | 0.50× |  |  |", lines[2])

	tbs = tables(nil, []idleCell{{Case: "idle-tcp", Target: "lb", Rounds: 1, Conns: 9500, KiBPerConn: 18.3}}, true)
	require.Len(t, tbs, 1, "only the idle table")
	assert.Equal(t, idleColumns(true), tbs[0].Columns)
	assert.Contains(t, tbs[0].Columns, "vs lb-base")
	assert.NotContains(t, idleColumns(false), "vs lb-base")
}

func TestBestOf(t *testing.T) {
	tests := []struct {
		name   string
		xs     []float64
		higher bool
		want   float64
		ok     bool
	}{
		{"highest req/s", []float64{30000, 42000}, true, 42000, true},
		{"lowest CPU", []float64{1.5, 1.2}, false, 1.2, true},
		{"one peer", []float64{7}, true, 7, true},
		{"none", nil, true, 0, false},
	}
	for _, tc := range tests {
		got, ok := bestOf(tc.xs, tc.higher)
		assert.Equal(t, tc.ok, ok, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
	}
}

func TestComputeCellsBestPeer(t *testing.T) {
	c64, _ := caseByID("c64")
	crowd, _ := caseByID("crowd")
	targets := []string{"lb", "lb-base", "haproxy", "haproxy-mt", "nginx"}
	m := func(round int, c, tg string, rps, p99, cpu float64) measurement {
		return measurement{Round: round, Case: c, Target: tg, Requests: 1000, ReqPerSec: rps, P99Ms: p99, CPUPer100k: fp(cpu)}
	}
	ms := []measurement{
		// Round 1: nginx has the most req/s, haproxy-mt the least CPU.
		m(1, "c64", "lb", 40000, 5, 2.0), m(1, "c64", "lb-base", 32000, 5, 2.5), m(1, "c64", "haproxy", 30000, 5, 1.6),
		m(1, "c64", "haproxy-mt", 38000, 5, 1.0), m(1, "c64", "nginx", 50000, 5, 1.25),
		// Round 2: haproxy-mt leads in both; nginx failed.
		m(2, "c64", "lb", 36000, 5, 2.2), m(2, "c64", "lb-base", 40000, 5, 2.2), m(2, "c64", "haproxy", 30000, 5, 1.6),
		m(2, "c64", "haproxy-mt", 45000, 5, 1.1), {Round: 2, Case: "c64", Target: "nginx", Err: "wrk: boom"},
		// Round 3: nginx has more req/s, but no CPU figure: haproxy-mt's CPU is the best there is.
		m(3, "c64", "lb", 44000, 5, 2.4), m(3, "c64", "lb-base", 40000, 5, 2.4), m(3, "c64", "haproxy", 40000, 5, 1.6),
		m(3, "c64", "haproxy-mt", 40000, 5, 1.2), {Round: 3, Case: "c64", Target: "nginx", ReqPerSec: 55000, Requests: 1000},
		// crowd, a paced case: p99 differences against the lower p99.
		m(1, "crowd", "lb", 9800, 12, 3), m(1, "crowd", "lb-base", 9800, 10, 3), m(1, "crowd", "haproxy", 9800, 9, 2),
		m(1, "crowd", "haproxy-mt", 9800, 8, 2.5), m(1, "crowd", "nginx", 9800, 7, 2),
	}
	ms[len(ms)-5].Crowd = &crowdResult{Short: true}
	cells := computeCells([]benchCase{c64, crowd}, targets, ms)
	byName := map[string]cell{}
	for _, c := range cells {
		byName[c.Case+"/"+c.Target] = c
	}
	lb := byName["c64/lb"]
	assert.InDelta(t, 0.8, *lb.VsBestPeer, 1e-12, "40/50, 36/45, 44/55")
	assert.InDelta(t, 2.0, *lb.CPUVsBestPeer, 1e-12, "2/1, 2.2/1.1, 2.4/1.2")
	assert.InDelta(t, 1.1, *lb.VsLBBase, 1e-12, "40/32 = 1.25, 36/40 = 0.9, 44/40 = 1.1")
	assert.InDelta(t, 1.0, *lb.CPUVsLBBase, 1e-12, "0.8, 1, 1")
	assert.InDelta(t, 1.2, *lb.VsHAProxy, 1e-12, "4/3, 1.2, 1.1")
	mt := byName["c64/haproxy-mt"]
	assert.InDelta(t, 0.76, *mt.VsBestPeer, 1e-12, "38/50, 1 (nginx failed), 40/55")
	assert.InDelta(t, 1.0, *mt.CPUVsBestPeer, 1e-12)
	// Round by round: the lowest and highest comparison, and the rounds level or ahead.
	require.NotNil(t, lb.BestPeerRounds)
	assert.Equal(t, roundSpan{Min: 0.8, Max: 0.8, Level: 0, Of: 3}, roundSpan{Min: round2(lb.BestPeerRounds.Min), Max: round2(lb.BestPeerRounds.Max), Level: lb.BestPeerRounds.Level, Of: lb.BestPeerRounds.Of})
	require.NotNil(t, lb.LBBaseRounds)
	assert.Equal(t, roundSpan{Min: 0.9, Max: 1.25, Level: 2, Of: 3}, *lb.LBBaseRounds, "1.25, 0.9, 1.1")
	require.NotNil(t, mt.BestPeerRounds)
	assert.Equal(t, roundSpan{Min: 0.73, Max: 1, Level: 1, Of: 3}, roundSpan{Min: round2(mt.BestPeerRounds.Min), Max: mt.BestPeerRounds.Max, Level: mt.BestPeerRounds.Level, Of: mt.BestPeerRounds.Of}, "0.76, level with itself, 40/55")
	assert.Equal(t, 2, byName["c64/nginx"].Rounds)

	cl := byName["crowd/lb"]
	assert.True(t, cl.Rate)
	assert.InDelta(t, 5.0, *cl.VsBestPeer, 1e-12, "p99 12 − nginx's 7")
	assert.InDelta(t, 1.5, *cl.CPUVsBestPeer, 1e-12, "3 ÷ nginx's 2")
	assert.InDelta(t, 2.0, *cl.VsLBBase, 1e-12, "p99 12 − 10")
	assert.Equal(t, &roundSpan{Min: 5, Max: 5, Level: 0, Of: 1}, cl.BestPeerRounds, "a higher p99 is behind")
	assert.Equal(t, &roundSpan{Min: -2, Max: -2, Level: 1, Of: 1}, byName["crowd/haproxy-mt"].LBBaseRounds, "a lower p99 is ahead: 8 − 10")
	assert.Equal(t, 1, cl.Short, "the generator fell short in one round")
	assert.Zero(t, byName["crowd/nginx"].Short)
}

func TestComputeIdleCells(t *testing.T) {
	idle, _ := caseByID("idle-tcp")
	c64, _ := caseByID("c64")
	m := func(round int, tg string, before, idleKiB, after int64, opened int, back *float64) measurement {
		r := &idleResult{Conns: 10, Opened: opened, RSSBeforeKiB: before, RSSIdleKiB: idleKiB, RSSAfterKiB: after,
			KiBPerConn: perConn(before, idleKiB, opened), AfterClose: []rssSample{{AfterS: 4, KiB: after}}, BackS: back}
		r.Released, _ = released(before, idleKiB, r.AfterClose)
		return measurement{Round: round, Case: "idle-tcp", Target: tg, Idle: r, Requests: int64(opened), Failed: int64(10 - opened)}
	}
	ms := []measurement{
		m(1, "lb", 1000, 1200, 1200, 10, nil), m(1, "haproxy", 500, 510, 510, 10, nil),
		m(1, "haproxy-mt", 500, 512, 505, 10, fp(0.5)), m(1, "nginx", 900, 1000, 900, 10, fp(0.5)),
		m(2, "lb", 1200, 1380, 1210, 9, fp(2)), m(2, "haproxy", 510, 520, 520, 10, nil),
		m(2, "haproxy-mt", 512, 524, 512, 10, fp(1)), {Round: 2, Case: "idle-tcp", Target: "nginx", Err: "boom"},
		// Not an idle case: left out.
		{Round: 1, Case: "c64", Target: "lb", ReqPerSec: 5, Requests: 5},
	}
	cells := computeIdleCells([]benchCase{c64, idle}, []string{"direct", "lb", "haproxy", "haproxy-mt", "nginx"}, ms)
	var names []string
	byName := map[string]idleCell{}
	for _, c := range cells {
		names = append(names, c.Target)
		byName[c.Target] = c
	}
	assert.Equal(t, []string{"lb", "haproxy", "haproxy-mt", "nginx"}, names, "no direct, no c64")
	lb := byName["lb"]
	assert.Equal(t, 2, lb.Rounds)
	assert.InDelta(t, 20.0, lb.KiBPerConn, 1e-12, "median of 20 and 20")
	assert.InDelta(t, 20.0, *lb.VsHAProxy, 1e-12, "20 ÷ 1 in both rounds")
	assert.InDelta(t, 20/1.2, *lb.VsBestPeer, 1e-9, "20 ÷ 1.2 (haproxy-mt, lower than nginx's 10), twice")
	assert.Nil(t, lb.VsLBBase, "no lb-base in the run")
	assert.InDelta(t, (0+170.0/180)/2, lb.Released, 1e-12, "none released, then 170 of 180 KiB")
	assert.Equal(t, 1, lb.BackRounds)
	assert.InDelta(t, 2.0, *lb.BackS, 1e-12)
	assert.EqualValues(t, 1, lb.Failed)
	assert.InDelta(t, 9.5, lb.Conns, 1e-12)
	assert.InDelta(t, 4.0, lb.WindowS, 1e-12)
	ng := byName["nginx"]
	assert.Equal(t, 1, ng.Rounds)
	assert.Equal(t, []string{"boom"}, ng.Errs)

	row := idleRow(lb, false)
	assert.Equal(t, []string{"idle-tcp", "lb", "10", "1.1", "1.3", "20.0", "20.00×", "16.67×", "1.2", "47%", "2.0 s (1/2 rounds)", "1", "0"}, row)
	assert.Len(t, row, len(idleColumns(false)))
	assert.Equal(t, "not in 4 s", idleRow(byName["haproxy"], false)[10])
	assert.Equal(t, []string{"idle-tcp", "x", "error", "", "", "", "", "", "", "", "", "", "", ""}, idleRow(idleCell{Case: "idle-tcp", Target: "x"}, true))
}

// TestMarkdownHeaderNamesTheToolsOfTheRun: latest.md's header names the
// peers and wrk with their versions when the run used them, and does not
// name them (as "?") when it did not.
func TestMarkdownHeaderNamesTheToolsOfTheRun(t *testing.T) {
	tests := []struct {
		name     string
		env      environment
		want     []string
		wantNone []string
	}{
		{"all", environment{HAProxy: "HAProxy version 2.6.12-1+deb12u2 2025/04/09", HAProxyMTThreads: 2, HAProxyMaxConn: 9900,
			Nginx: "nginx version: nginx/1.22.1", Wrk: "wrk 4.1.0 [epoll]", LB: "lb abc"},
			[]string{"HAProxy 2.6.12 (haproxy: nbthread 1,\nhaproxy-mt: nbthread 2; maxconn 9900)", "nginx 1.22.1 (worker_processes auto)", "wrk 4.1.0", "bin/lb abc"}, []string{"?"}},
		{"lb only (the crowd)", environment{LB: "lb abc", LBBase: "lb abc"},
			[]string{"bin/lb abc"}, []string{"HAProxy", "nginx", "wrk", "?", "bounded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &report{Environment: tt.env, Options: reportOptions{Rounds: 1, Duration: "5s"}}
			parts := strings.SplitN(markdown(r), "\n\n", 3) // the title, the header, the rest
			require.Len(t, parts, 3)
			head := parts[1]
			for _, s := range tt.want {
				assert.Contains(t, head, s)
			}
			for _, s := range tt.wantNone {
				assert.NotContains(t, head, s)
			}
		})
	}
}

// TestMarkdownHeaderNamesTheBound: a run with --server-maxconn says so in
// latest.md's header, with the settings it stands for.
func TestMarkdownHeaderNamesTheBound(t *testing.T) {
	r := &report{Environment: environment{LB: "lb abc"}, Options: reportOptions{Rounds: 1, Duration: "5s", ServerMaxConn: 128}}
	parts := strings.SplitN(markdown(r), "\n\n", 3)
	require.Len(t, parts, 3)
	assert.Contains(t, parts[1], "Each backend's connections bounded at 128, with a queue beyond (`--server-maxconn`): lb's `max_conns_per_backend`, HAProxy's server `maxconn`")
}
