package report

import (
	"fmt"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/gonum/stat"
)

// Spread summarises one figure over repeated runs.
type Spread struct {
	N              int
	Mean, SD       float64
	Min, Max       float64
	RelativeSpread float64 // SD / |Mean|; NaN when the mean is 0
}

// SpreadOf returns the spread of xs (SD with n-1; 0 for one value).
func SpreadOf(xs []float64) Spread {
	s := Spread{N: len(xs), Min: math.Inf(1), Max: math.Inf(-1), RelativeSpread: math.NaN()}
	if len(xs) == 0 {
		return s
	}
	s.Mean = stat.Mean(xs, nil)
	if len(xs) > 1 {
		s.SD = stat.StdDev(xs, nil)
	}
	for _, x := range xs {
		s.Min, s.Max = math.Min(s.Min, x), math.Max(s.Max, x)
	}
	if s.Mean != 0 {
		s.RelativeSpread = s.SD / math.Abs(s.Mean)
	}
	return s
}

// RepeatTable prints, for results of the same scenario run several times
// (run --repeat), each key figure's mean, standard deviation, range and
// relative spread, per run label (algorithm, or algorithm and rho).
func RepeatTable(w io.Writer, names []string, results []*Result) error {
	if len(results) < 2 {
		return fmt.Errorf("repeat: need at least two results, got %d", len(results))
	}
	fmt.Fprintf(w, "Repeat: %d runs of %s; each figure's mean and spread (SD with n-1; spread = SD / mean)\n", len(results), results[0].Scenario.Name)
	labels := runLabels(results)
	t := newTable(w, "figure", "runs", "mean", "SD", "min", "max", "spread")
	for _, label := range labels {
		for _, f := range figures {
			var xs []float64
			for _, r := range results {
				run := findRun(r, label, len(labels) == 1)
				if run == nil {
					continue
				}
				if v, ok := f.value(run); ok {
					xs = append(xs, v)
				}
			}
			if len(xs) == 0 {
				continue
			}
			sp := SpreadOf(xs)
			name := f.name
			if len(labels) > 1 {
				name = label + " " + f.name
			}
			spread := "-"
			if !math.IsNaN(sp.RelativeSpread) {
				spread = fmt.Sprintf("%.1f%%", 100*sp.RelativeSpread)
			}
			if err := t.Append([]string{name, strconv.Itoa(sp.N), f.format(sp.Mean), f.format(sp.SD),
				f.format(sp.Min), f.format(sp.Max), spread}); err != nil {
				return err
			}
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	fmt.Fprintln(w, "aggregated figures: "+Aggregation+".")
	for i, n := range names {
		fmt.Fprintf(w, "  run %d: %s\n", i+1, n)
	}
	return nil
}
