package main

// cell is the figures of one (case, target): medians over the rounds that
// produced figures, plus same-round comparisons against HAProxy and direct.
type cell struct {
	Case   string `json:"case"`
	Target string `json:"target"`
	Rounds int    `json:"rounds"` // rounds with figures
	Rate   bool   `json:"rate"`   // a constant-rate case: p99 is the figure, not req/s

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
	// round, or for rate cases of p99 − HAProxy's p99 (ms).
	VsHAProxy *float64 `json:"vs_haproxy,omitempty"`
	// CPUVsHAProxy: median of CPU per request ÷ HAProxy's, same round.
	CPUVsHAProxy *float64 `json:"cpu_vs_haproxy,omitempty"`
	// P99OverDirectMs (rate cases): median of p99 − direct's p99, same round.
	P99OverDirectMs *float64 `json:"p99_over_direct_ms,omitempty"`
	// Spread: (max−min)/median across rounds of req/s (p99 for rate cases).
	Spread float64 `json:"spread"`
	// Errs are the errors of rounds without figures.
	Errs []string `json:"errors,omitempty"`
}

// measurementKey finds a measurement by round, case and target.
type measurementKey struct {
	round          int
	caseID, target string
}

// computeCells turns the measurements of every round into one cell per
// (case, target) that takes part, in case then target order.
func computeCells(cases []benchCase, targets []string, ms []measurement) []cell {
	byKey := map[measurementKey]measurement{}
	rounds := 0
	for _, m := range ms {
		byKey[measurementKey{m.Round, m.Case, m.Target}] = m
		rounds = max(rounds, m.Round)
	}
	get := func(r int, c, t string) (measurement, bool) {
		m, ok := byKey[measurementKey{r, c, t}]
		return m, ok && m.Err == ""
	}
	var cells []cell
	for _, c := range cases {
		rate := c.Kind == constantRate
		for _, t := range caseTargets(c, targets) {
			out := cell{Case: c.ID, Target: t, Rate: rate}
			var rps, p50, p99, maxMs, cpu, vsH, cpuVsH, overDirect []float64
			for r := 1; r <= rounds; r++ {
				if m, ok := byKey[measurementKey{r, c.ID, t}]; ok && m.Err != "" {
					out.Errs = append(out.Errs, m.Err)
				}
				m, ok := get(r, c.ID, t)
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
				if h, ok := get(r, c.ID, targetHAProxy); ok {
					if rate {
						vsH = append(vsH, m.P99Ms-h.P99Ms)
					} else if h.ReqPerSec > 0 {
						vsH = append(vsH, m.ReqPerSec/h.ReqPerSec)
					}
					if m.CPUPer100k != nil && h.CPUPer100k != nil && *h.CPUPer100k > 0 {
						cpuVsH = append(cpuVsH, *m.CPUPer100k / *h.CPUPer100k)
					}
				}
				if d, ok := get(r, c.ID, targetDirect); ok && rate && t != targetDirect {
					overDirect = append(overDirect, m.P99Ms-d.P99Ms)
				}
			}
			out.ReqPerSec, _ = median(rps)
			out.P50Ms, _ = median(p50)
			out.P99Ms, _ = median(p99)
			out.MaxMs, _ = median(maxMs)
			out.CPUPer100k = medianPtr(cpu)
			out.VsHAProxy = medianPtr(vsH)
			out.CPUVsHAProxy = medianPtr(cpuVsH)
			out.P99OverDirectMs = medianPtr(overDirect)
			if rate {
				out.Spread = spread(p99)
			} else {
				out.Spread = spread(rps)
			}
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
func noise(cells []cell, rounds int) noiseSummary {
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
	return summarizeNoise(ns, rounds, 5)
}
