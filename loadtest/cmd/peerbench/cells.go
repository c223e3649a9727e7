package main

import "slices"

// cell is the figures of one (case, target): medians over the rounds that
// produced figures, plus same-round comparisons against HAProxy (one
// thread), the best peer (the better of haproxy-mt and nginx), lb-base and
// direct.
type cell struct {
	Case   string `json:"case"`
	Target string `json:"target"`
	Rounds int    `json:"rounds"` // rounds with figures
	Rate   bool   `json:"rate"`   // a paced case (rate, crowd): p99 is the figure, not req/s

	ReqPerSec  float64  `json:"req_per_s"`
	P50Ms      float64  `json:"p50_ms"`
	P99Ms      float64  `json:"p99_ms"`
	MaxMs      float64  `json:"max_ms"`
	CPUPer100k *float64 `json:"cpu_s_per_100k,omitempty"`
	// Failed is the total over all rounds (a median would hide rare ones);
	// Requests likewise.
	Failed   int64 `json:"failed"`
	Requests int64 `json:"requests"`

	// VsHAProxy: median over rounds of req/s ÷ HAProxy's req/s in the same
	// round, or for paced cases of p99 − HAProxy's p99 (ms).
	VsHAProxy *float64 `json:"vs_haproxy,omitempty"`
	// CPUVsHAProxy: median of CPU per request ÷ HAProxy's, same round.
	CPUVsHAProxy *float64 `json:"cpu_vs_haproxy,omitempty"`
	// VsBestPeer: as VsHAProxy, against the best of haproxy-mt and nginx
	// in each round (the higher req/s; paced cases: the lower p99).
	VsBestPeer *float64 `json:"vs_best_peer,omitempty"`
	// CPUVsBestPeer: CPU per request ÷ the lower of haproxy-mt's and
	// nginx's in the same round.
	CPUVsBestPeer *float64 `json:"cpu_vs_best_peer,omitempty"`
	// BestPeerRounds: VsBestPeer round by round, for a median that hides
	// how far apart the rounds were.
	BestPeerRounds *roundSpan `json:"best_peer_by_round,omitempty"`
	// VsLBBase and CPUVsLBBase: as VsHAProxy, against lb-base.
	VsLBBase    *float64 `json:"vs_lb_base,omitempty"`
	CPUVsLBBase *float64 `json:"cpu_vs_lb_base,omitempty"`
	// LBBaseRounds: VsLBBase round by round.
	LBBaseRounds *roundSpan `json:"lb_base_by_round,omitempty"`
	// P99OverDirectMs (paced cases): median of p99 − direct's p99, same round.
	P99OverDirectMs *float64 `json:"p99_over_direct_ms,omitempty"`
	// Spread: (max−min)/median across rounds of req/s (p99 for paced cases).
	Spread float64 `json:"spread"`
	// Short: crowd rounds in which the generator achieved less than
	// crowdShortfall of the intended rate.
	Short int `json:"short_rounds,omitempty"`
	// Errs are the errors of rounds without figures.
	Errs []string `json:"errors,omitempty"`
}

// roundSpan is how one comparison went round by round: its lowest and
// highest same-round figure, and in how many of the Of rounds compared the
// target was level or ahead (a req/s ratio of at least 1; paced cases, a p99
// difference of at most 0).
type roundSpan struct {
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Level int     `json:"level_or_ahead"`
	Of    int     `json:"rounds"`
}

// spanOf returns the round-by-round span of a comparison's figures; nil for
// none.
func spanOf(figs []float64, paced bool) *roundSpan {
	if len(figs) == 0 {
		return nil
	}
	s := &roundSpan{Min: slices.Min(figs), Max: slices.Max(figs), Of: len(figs)}
	for _, v := range figs {
		if (paced && v <= 0) || (!paced && v >= 1) {
			s.Level++
		}
	}
	return s
}

// measurementKey finds a measurement by round, case and target.
type measurementKey struct {
	round          int
	caseID, target string
}

// roundIndex finds the measurements with figures by round, case and target.
type roundIndex struct {
	byKey  map[measurementKey]measurement
	rounds int
}

func indexMeasurements(ms []measurement) roundIndex {
	ix := roundIndex{byKey: map[measurementKey]measurement{}}
	for _, m := range ms {
		ix.byKey[measurementKey{m.Round, m.Case, m.Target}] = m
		ix.rounds = max(ix.rounds, m.Round)
	}
	return ix
}

// get returns the measurement of (r, c, t) when it has figures.
func (ix roundIndex) get(r int, c, t string) (measurement, bool) {
	m, ok := ix.byKey[measurementKey{r, c, t}]
	return m, ok && m.Err == ""
}

// errOf returns the error of the measurement of (r, c, t), if it failed.
func (ix roundIndex) errOf(r int, c, t string) string {
	return ix.byKey[measurementKey{r, c, t}].Err
}

// reference is what a figure is compared with in each round: one target, or
// the best of several.
type reference []string

var (
	refHAProxy  = reference{targetHAProxy}
	refBestPeer = reference(bestPeers)
	refLBBase   = reference{targetLBBase}
)

// best returns the best value of figure among the reference's targets
// measured in round r of case c: the highest when higherBetter, else the
// lowest. Targets without the figure (fig returns false) do not count.
func (ref reference) best(ix roundIndex, r int, c string, fig func(measurement) (float64, bool), higherBetter bool) (float64, bool) {
	var xs []float64
	for _, t := range ref {
		if m, ok := ix.get(r, c, t); ok {
			if v, ok := fig(m); ok {
				xs = append(xs, v)
			}
		}
	}
	return bestOf(xs, higherBetter)
}

// bestOf returns the highest of xs when higherBetter, else the lowest;
// false for none.
func bestOf(xs []float64, higherBetter bool) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	if higherBetter {
		return slices.Max(xs), true
	}
	return slices.Min(xs), true
}

// ratio returns a ÷ b, false when b is not positive.
func ratio(a, b float64) (float64, bool) {
	if b <= 0 {
		return 0, false
	}
	return a / b, true
}

func rpsOf(m measurement) (float64, bool) { return m.ReqPerSec, true }
func p99Of(m measurement) (float64, bool) { return m.P99Ms, true }
func cpuOf(m measurement) (float64, bool) {
	if m.CPUPer100k == nil {
		return 0, false
	}
	return *m.CPUPer100k, true
}

// comparison gathers, over the rounds, a cell's figures against one
// reference: the throughput figure (req/s ratio, or p99 difference for
// paced cases) and CPU per request.
type comparison struct {
	ref       reference
	fig, cpus []float64
}

// add compares m, of round r and case c, with the reference.
func (cmp *comparison) add(ix roundIndex, r int, c string, m measurement, paced bool) {
	if paced {
		if best, ok := cmp.ref.best(ix, r, c, p99Of, false); ok {
			cmp.fig = append(cmp.fig, m.P99Ms-best)
		}
	} else if best, ok := cmp.ref.best(ix, r, c, rpsOf, true); ok {
		if v, ok := ratio(m.ReqPerSec, best); ok {
			cmp.fig = append(cmp.fig, v)
		}
	}
	if mine, ok := cpuOf(m); ok {
		if best, ok := cmp.ref.best(ix, r, c, cpuOf, false); ok {
			if v, ok := ratio(mine, best); ok {
				cmp.cpus = append(cmp.cpus, v)
			}
		}
	}
}

// medians returns the medians of the figure and of the CPU ratios.
func (cmp *comparison) medians() (*float64, *float64) {
	return medianPtr(cmp.fig), medianPtr(cmp.cpus)
}

// computeCells turns the measurements of every round into one cell per
// (case, target) that takes part, in case then target order; idle cases
// are left to computeIdleCells.
func computeCells(cases []benchCase, targets []string, ms []measurement) []cell {
	ix := indexMeasurements(ms)
	var cells []cell
	for _, c := range cases {
		if c.Kind == idleConns {
			continue
		}
		paced := c.Kind.rateLike()
		for _, t := range caseTargets(c, targets) {
			out := cell{Case: c.ID, Target: t, Rate: paced}
			var rps, p50, p99, maxMs, cpu, overDirect []float64
			vsH, vsBest, vsBase := comparison{ref: refHAProxy}, comparison{ref: refBestPeer}, comparison{ref: refLBBase}
			for r := 1; r <= ix.rounds; r++ {
				if e := ix.errOf(r, c.ID, t); e != "" {
					out.Errs = append(out.Errs, e)
				}
				m, ok := ix.get(r, c.ID, t)
				if !ok {
					continue
				}
				out.Rounds++
				out.Failed += m.Failed
				out.Requests += m.Requests
				rps, p50, p99, maxMs = append(rps, m.ReqPerSec), append(p50, m.P50Ms), append(p99, m.P99Ms), append(maxMs, m.MaxMs)
				if m.CPUPer100k != nil {
					cpu = append(cpu, *m.CPUPer100k)
				}
				if m.Crowd != nil && m.Crowd.Short {
					out.Short++
				}
				vsH.add(ix, r, c.ID, m, paced)
				vsBest.add(ix, r, c.ID, m, paced)
				vsBase.add(ix, r, c.ID, m, paced)
				if d, ok := ix.get(r, c.ID, targetDirect); ok && paced && t != targetDirect {
					overDirect = append(overDirect, m.P99Ms-d.P99Ms)
				}
			}
			out.ReqPerSec, _ = median(rps)
			out.P50Ms, _ = median(p50)
			out.P99Ms, _ = median(p99)
			out.MaxMs, _ = median(maxMs)
			out.CPUPer100k = medianPtr(cpu)
			out.VsHAProxy, out.CPUVsHAProxy = vsH.medians()
			out.VsBestPeer, out.CPUVsBestPeer = vsBest.medians()
			out.VsLBBase, out.CPUVsLBBase = vsBase.medians()
			out.BestPeerRounds, out.LBBaseRounds = spanOf(vsBest.fig, paced), spanOf(vsBase.fig, paced)
			out.P99OverDirectMs = medianPtr(overDirect)
			if paced {
				out.Spread = spread(p99)
			} else {
				out.Spread = spread(rps)
			}
			cells = append(cells, out)
		}
	}
	return cells
}

// idleCell is the figures of one idle case and target: medians over the
// rounds, and KiB per connection compared with HAProxy, the best peer (the
// lower of haproxy-mt and nginx) and lb-base in the same round.
type idleCell struct {
	Case   string `json:"case"`
	Target string `json:"target"`
	Rounds int    `json:"rounds"` // rounds with figures
	// Conns: connections that opened and idled (median).
	Conns        float64 `json:"conns"`
	RSSBeforeKiB float64 `json:"rss_before_kib"`
	RSSIdleKiB   float64 `json:"rss_idle_kib"`
	RSSAfterKiB  float64 `json:"rss_after_kib"`
	KiBPerConn   float64 `json:"kib_per_conn"`
	// VsHAProxy, VsBestPeer, VsLBBase: medians of KiB per connection ÷
	// the reference's in the same round.
	VsHAProxy  *float64 `json:"vs_haproxy,omitempty"`
	VsBestPeer *float64 `json:"vs_best_peer,omitempty"`
	VsLBBase   *float64 `json:"vs_lb_base,omitempty"`
	// Released: median share of the growth given back after the close.
	Released float64 `json:"released"`
	// BackS: median time to give back backShare of the growth, over the
	// BackRounds rounds that did within the window.
	BackS      *float64 `json:"back_s,omitempty"`
	BackRounds int      `json:"back_rounds"`
	// WindowS: the longest time RSS was watched after a close.
	WindowS float64 `json:"window_s"`
	// Failed: connections that did not open; DroppedIdle: closed by the
	// proxy while idle. Totals over the rounds.
	Failed      int64 `json:"failed"`
	DroppedIdle int64 `json:"dropped_idle"`
	// Spread: (max−min)/median across rounds of KiB per connection.
	Spread float64  `json:"spread"`
	Errs   []string `json:"errors,omitempty"`
}

// computeIdleCells turns the measurements of the idle cases into one cell
// per (case, target), in case then target order.
func computeIdleCells(cases []benchCase, targets []string, ms []measurement) []idleCell {
	ix := indexMeasurements(ms)
	kibOf := func(m measurement) (float64, bool) {
		if m.Idle == nil {
			return 0, false
		}
		return m.Idle.KiBPerConn, true
	}
	var cells []idleCell
	for _, c := range cases {
		if c.Kind != idleConns {
			continue
		}
		for _, t := range caseTargets(c, targets) {
			out := idleCell{Case: c.ID, Target: t}
			var conns, before, idle, after, kib, rel, back, vsH, vsBest, vsBase []float64
			for r := 1; r <= ix.rounds; r++ {
				if e := ix.errOf(r, c.ID, t); e != "" {
					out.Errs = append(out.Errs, e)
				}
				m, ok := ix.get(r, c.ID, t)
				if !ok || m.Idle == nil {
					continue
				}
				d := m.Idle
				out.Rounds++
				out.Failed += m.Failed
				out.DroppedIdle += int64(d.DroppedIdle)
				conns = append(conns, float64(d.Opened))
				before, idle, after = append(before, float64(d.RSSBeforeKiB)), append(idle, float64(d.RSSIdleKiB)), append(after, float64(d.RSSAfterKiB))
				kib, rel = append(kib, d.KiBPerConn), append(rel, d.Released)
				if d.BackS != nil {
					back = append(back, *d.BackS)
				}
				if n := len(d.AfterClose); n > 0 {
					out.WindowS = max(out.WindowS, d.AfterClose[n-1].AfterS)
				}
				for _, v := range []struct {
					ref reference
					xs  *[]float64
				}{{refHAProxy, &vsH}, {refBestPeer, &vsBest}, {refLBBase, &vsBase}} {
					if best, ok := v.ref.best(ix, r, c.ID, kibOf, false); ok {
						if q, ok := ratio(d.KiBPerConn, best); ok {
							*v.xs = append(*v.xs, q)
						}
					}
				}
			}
			out.Conns, _ = median(conns)
			out.RSSBeforeKiB, _ = median(before)
			out.RSSIdleKiB, _ = median(idle)
			out.RSSAfterKiB, _ = median(after)
			out.KiBPerConn, _ = median(kib)
			out.Released, _ = median(rel)
			out.BackS, out.BackRounds = medianPtr(back), len(back)
			out.VsHAProxy, out.VsBestPeer, out.VsLBBase = medianPtr(vsH), medianPtr(vsBest), medianPtr(vsBase)
			out.Spread = spread(kib)
			cells = append(cells, out)
		}
	}
	return cells
}

// medianPtr returns the median of xs, nil for none.
func medianPtr(xs []float64) *float64 {
	m, ok := median(xs)
	if !ok {
		return nil
	}
	return &m
}

// noise summarizes the spreads of the cells that have at least two rounds.
func noise(cells []cell, idle []idleCell, rounds int) noiseSummary {
	var ns []noiseCell
	for _, c := range cells {
		if c.Rounds < 2 {
			continue
		}
		fig := "req/s"
		if c.Rate {
			fig = "p99"
		}
		ns = append(ns, noiseCell{Case: c.Case, Target: c.Target, Figure: fig, Spread: c.Spread})
	}
	for _, c := range idle {
		if c.Rounds >= 2 {
			ns = append(ns, noiseCell{Case: c.Case, Target: c.Target, Figure: "KiB/conn", Spread: c.Spread})
		}
	}
	return summarizeNoise(ns, rounds, 5)
}
