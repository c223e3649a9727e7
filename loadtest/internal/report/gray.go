package report

import (
	"fmt"
	"io"
	"strconv"
)

// GrayTable prints, one row per run, the figures of a gray-failure
// scenario (docs/gray-failures.md): failed requests, p50/p99/p99.9, the
// extra requests the balancer sent (retries and hedges, as a share of the
// requests), budget refusals and ejections. Nothing when no run has the
// balancer's gray-failure counters.
func GrayTable(w io.Writer, runs []Run) error {
	any := false
	for i := range runs {
		any = any || runs[i].Gray != nil
	}
	if !any {
		return nil
	}
	fmt.Fprintln(w, "\nGray failures (after warm-up; the balancer's counters too)")
	t := newTable(w, "run", "requests", "failed", "p50", "p99", "p99.9", "extra sent", "retries", "try timeouts", "hedges (won)", "budget refused", "ejections")
	for i := range runs {
		r := &runs[i]
		s := r.Total
		label := r.Label
		if r.Partial {
			label += " (partial)"
		}
		row := []string{label, strconv.Itoa(s.Requests), fmt.Sprintf("%d (%s)", s.Errors, pct(s.ErrorRate, s.Requests)),
			msStr(s.Latency.P50, s.Requests), msStr(s.Latency.P99, s.Requests), msStr(s.Latency.P999, s.Requests)}
		if g := r.Gray; g != nil {
			extra := g["retries"] + g["hedges"]
			share := "-"
			if s.Requests > 0 {
				share = fmt.Sprintf("%.2f%%", 100*extra/float64(s.Requests))
			}
			row = append(row, fmt.Sprintf("%.0f (%s)", extra, share), count(g["retries"]), count(g["try_timeouts"]),
				fmt.Sprintf("%.0f (%.0f)", g["hedges"], g["hedge_wins"]),
				count(g["budget_refused_retries"]+g["budget_refused_hedges"]), count(g["ejections"]))
		} else {
			row = append(row, "-", "-", "-", "-", "-", "-")
		}
		if err := t.Append(row); err != nil {
			return err
		}
	}
	return t.Render()
}

func count(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) }
