package report

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/lblab/lblab/loadtest/internal/attack"
)

// textColumns are left-aligned; the others hold figures and align right.
var textColumns = map[string]bool{
	"phase": true, "share by backend": true, "backend": true, "X-Backend": true, "action": true,
	"container": true, "event": true, "recovered by": true, "state": true, "result": true, "check": true,
	"scope": true, "run": true, "error": true, "figure": true, "note": true, "code": true,
}

// newTable returns a table that keeps headers as written ("p99", not "P99"),
// with text columns aligned left and figures right.
func newTable(w io.Writer, header ...any) *tablewriter.Table {
	align := make([]tw.Align, len(header))
	for i, h := range header {
		align[i] = tw.AlignRight
		if s, ok := h.(string); ok && textColumns[s] {
			align[i] = tw.AlignLeft
		}
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignCenter),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}),
		tablewriter.WithFooterAlignmentConfig(tw.CellAlignment{PerColumn: align}),
	)
	t.Header(header...)
	return t
}

// WriteTables prints the end-of-run tables: for one run, its phases,
// backends, actions, failover figures and expectations; for several (one per
// algorithm), one row per run, then the expectations.
func WriteTables(w io.Writer, r *Result) error {
	title := fmt.Sprintf("Scenario %s: %s", r.Scenario.Name, loadLine(r.Settings))
	if r.Partial {
		title += "  [PARTIAL: " + partialWhy(r) + "]"
	}
	fmt.Fprintln(w, title)
	if len(r.Runs) > 1 {
		if err := RunsTable(w, r.Runs); err != nil {
			return err
		}
	}
	if err := GrayTable(w, r.Runs); err != nil {
		return err
	}
	for i := range r.Runs {
		run := &r.Runs[i]
		tables := []func(io.Writer, *Run) error{PhasesTable, BackendsTable, ActionsTable, DerivedTable, ReplacementsTable, WorkersTable}
		if len(r.Runs) > 1 {
			// One row each above; the details only where a timeline ran.
			if len(run.Actions) == 0 {
				continue
			}
			fmt.Fprintf(w, "\nRun %s\n", run.Label)
			tables = []func(io.Writer, *Run) error{PhasesTable, ActionsTable, DerivedTable, ReplacementsTable, WorkersTable}
		}
		for _, f := range tables {
			if err := f(w, run); err != nil {
				return err
			}
		}
	}
	if err := SupermarketTable(w, r); err != nil {
		return err
	}
	if err := ExpectationsTable(w, r.Runs); err != nil {
		return err
	}
	for _, e := range r.Errors {
		fmt.Fprintln(w, "error:", e)
	}
	return nil
}

func loadLine(s Settings) string {
	var b strings.Builder
	b.WriteString(s.Method + " " + s.Target)
	if s.Rate > 0 {
		fmt.Fprintf(&b, ", %d req/s", s.Rate)
	}
	if s.Concurrency > 0 {
		fmt.Fprintf(&b, ", %d workers", s.Concurrency)
	}
	if s.Requests > 0 {
		fmt.Fprintf(&b, ", %d requests", s.Requests)
	}
	if s.DurationS > 0 {
		fmt.Fprintf(&b, ", %gs", s.DurationS)
	}
	if s.WarmupS > 0 {
		fmt.Fprintf(&b, " (%gs warm-up)", s.WarmupS)
	}
	if s.KeepAlive != nil && !*s.KeepAlive {
		b.WriteString(", a new connection per request")
	}
	return b.String()
}

// PhasesTable prints one row per phase and the total.
func PhasesTable(w io.Writer, run *Run) error {
	fmt.Fprintln(w, "\nPhases")
	t := newTable(w, "phase", "from", "to", "requests", "rate/s", "success", "errors", "p50", "p95", "p99", "max", "share by backend")
	for _, p := range run.Phases {
		name := p.Name
		if p.Warmup {
			name += " (not counted)"
		}
		if err := t.Append(statsRow(run, name, secs(p.StartMs), secs(p.EndMs), p.Stats)); err != nil {
			return err
		}
	}
	t.Footer(statsRow(run, "total", secs(run.WarmupMs), secs(run.EndMs), run.Total))
	return t.Render()
}

func statsRow(run *Run, name, from, to string, s attack.Stats) []string {
	return []string{name, from, to, strconv.Itoa(s.Requests), num(s.Rate), pct(s.SuccessRate, s.Requests),
		strconv.Itoa(s.Errors), msStr(s.Latency.P50, s.Requests), msStr(s.Latency.P95, s.Requests),
		msStr(s.Latency.P99, s.Requests), msStr(s.Latency.Max, s.Requests), shareLine(run, s.Backends)}
}

// shareLine formats "backend_1 34% backend_2 33% ..." in name order.
func shareLine(run *Run, counts map[string]int) string {
	total := 0
	for k, n := range counts {
		if k != attack.NoBackend {
			total += n
		}
	}
	if total == 0 {
		return "-"
	}
	type kv struct {
		name string
		n    int
	}
	var rows []kv
	for k, n := range counts {
		if k != attack.NoBackend {
			rows = append(rows, kv{run.BackendLabel(k), n})
		}
	}
	slices.SortFunc(rows, func(a, b kv) int { return cmp.Compare(a.name, b.name) })
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = fmt.Sprintf("%s %.0f%%", r.name, 100*float64(r.n)/float64(total))
	}
	return strings.Join(parts, " ")
}

// afterWarmup is the title's note that a table leaves the warm-up out, when
// there was one.
func afterWarmup(warm bool) string {
	if warm {
		return " (after warm-up)"
	}
	return ""
}

// BackendsTable prints one row per backend after the warm-up.
func BackendsTable(w io.Writer, run *Run) error {
	fmt.Fprintln(w, "\nBackends"+afterWarmup(run.WarmupMs > 0))
	t := newTable(w, "backend", "X-Backend", "requests", "share", "errors", "p50", "p99", "first", "last")
	rows := slices.Clone(run.Backends)
	slices.SortStableFunc(rows, func(a, b attack.BackendStats) int {
		return cmp.Compare(run.BackendLabel(a.Name), run.BackendLabel(b.Name))
	})
	for _, b := range rows {
		share := fmt.Sprintf("%.1f%%", 100*b.Share)
		if b.Name == attack.NoBackend {
			share = "-"
		}
		if err := t.Append([]string{run.BackendLabel(b.Name), b.Name, strconv.Itoa(b.Requests), share,
			strconv.Itoa(b.Errors), msStr(b.Latency.P50, b.Requests), msStr(b.Latency.P99, b.Requests),
			secs(b.FirstMs), secs(b.LastMs)}); err != nil {
			return err
		}
	}
	return t.Render()
}

// ActionsTable prints the timeline as it ran.
func ActionsTable(w io.Writer, run *Run) error {
	if len(run.Actions) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nTimeline")
	t := newTable(w, "at", "action", "container", "took", "phase", "result")
	for _, a := range run.Actions {
		res := "ok"
		if a.Error != "" {
			res = "FAILED: " + a.Error
		}
		if err := t.Append([]string{secs(a.AtMs), a.Label(), ShortName(a.Container), fmt.Sprintf("%.0fms", a.TookMs), a.Phase, res}); err != nil {
			return err
		}
	}
	return t.Render()
}

// DerivedTable prints the failover figures, if the run had faults.
func DerivedTable(w io.Writer, run *Run) error {
	if len(run.Derived) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nFailover (time to detect: until the backend got no traffic and nothing failed or was slow; lb: as its status showed)")
	t := newTable(w, "event", "backend", "at", "failed", "slow", "time to detect", "lb saw it down", "recovered by", "time to recover", "lb saw it up")
	for _, d := range run.Derived {
		name := run.BackendLabel(d.Backend)
		if d.Container != "" {
			name = ShortName(d.Container)
		}
		at := "-"
		if d.FaultMs != nil {
			at = secs(*d.FaultMs)
		} else if d.RecoveryMs != nil {
			at = secs(*d.RecoveryMs)
		}
		recover := optMs(d.RecoverMs)
		if d.RecoveryMs != nil && d.RecoverMs == nil {
			recover = "never served again"
		}
		failed, slow := strconv.Itoa(d.FailedRequests), strconv.Itoa(d.SlowRequests)
		if d.FaultMs == nil {
			failed, slow = "-", "-"
		}
		if err := t.Append([]string{d.Event, name, at, failed, slow, optMs(d.DetectMs), optMs(d.BalancerDownMs),
			cmp.Or(d.Recovery, "-"), recover, optMs(d.BalancerUpMs)}); err != nil {
			return err
		}
	}
	return t.Render()
}

// ExpectationsTable prints every expectation's verdict.
func ExpectationsTable(w io.Writer, runs []Run) error {
	n := 0
	for _, r := range runs {
		n += len(r.Expectations)
	}
	if n == 0 {
		fmt.Fprintln(w, "\nNo expectations.")
		return nil
	}
	fmt.Fprintln(w, "\nExpectations")
	header := []any{"check", "scope", "limit", "actual", "result"}
	if len(runs) > 1 {
		header = append([]any{"run"}, header...)
	}
	t := newTable(w, header...)
	passed, failed := 0, 0
	for _, r := range runs {
		for _, o := range r.Expectations {
			res := "PASS"
			if !o.Passed {
				res = "FAIL"
				failed++
			} else {
				passed++
			}
			row := []string{o.Check, o.Scope, o.Limit, o.Actual, res}
			if len(runs) > 1 {
				row = append([]string{r.Label}, row...)
			}
			if err := t.Append(row); err != nil {
				return err
			}
		}
	}
	foot := []any{fmt.Sprintf("%d passed, %d failed", passed, failed), "", "", "", ""}
	if len(runs) > 1 {
		foot = append(foot, "")
	}
	t.Footer(foot...)
	return t.Render()
}

// RunsTable prints one row per run (the algorithms scenario), with each
// backend's share in its own column.
func RunsTable(w io.Writer, runs []Run) error {
	fmt.Fprintln(w, "\nRuns"+afterWarmup(slices.ContainsFunc(runs, func(r Run) bool { return r.WarmupMs > 0 })))
	names := map[string]bool{}
	for i := range runs {
		for k := range runs[i].Total.Backends {
			if k != attack.NoBackend {
				names[runs[i].BackendLabel(k)] = true
			}
		}
	}
	cols := slices.Sorted(maps.Keys(names))
	header := []any{"run", "requests", "rate/s", "success", "errors", "mean", "p50", "p95", "p99", "max"}
	for _, c := range cols {
		header = append(header, c)
	}
	t := newTable(w, header...)
	for i := range runs {
		r := &runs[i]
		s := r.Total
		label := r.Label
		if r.Partial {
			label += " (partial)"
		}
		row := []string{label, strconv.Itoa(s.Requests), num(s.Rate), pct(s.SuccessRate, s.Requests), strconv.Itoa(s.Errors),
			msStr(s.Latency.Mean, s.Requests), msStr(s.Latency.P50, s.Requests), msStr(s.Latency.P95, s.Requests),
			msStr(s.Latency.P99, s.Requests), msStr(s.Latency.Max, s.Requests)}
		byLabel := map[string]int{}
		total := 0
		for k, n := range s.Backends {
			if k != attack.NoBackend {
				byLabel[r.BackendLabel(k)] += n
				total += n
			}
		}
		for _, c := range cols {
			if total == 0 {
				row = append(row, "-")
				continue
			}
			row = append(row, fmt.Sprintf("%.1f%%", 100*float64(byLabel[c])/float64(total)))
		}
		if err := t.Append(row); err != nil {
			return err
		}
	}
	return t.Render()
}

// SummaryTable prints an ad-hoc attack's figures (bin/loadtest attack).
func SummaryTable(w io.Writer, r *Result) error {
	run := &r.Runs[0]
	s := run.Total
	fmt.Fprintf(w, "Attack: %s\n", loadLine(r.Settings))
	t := newTable(w, "requests", "duration", "rate/s", "throughput/s", "success", "errors", "mean", "p50", "p90", "p95", "p99", "max")
	if err := t.Append([]string{strconv.Itoa(s.Requests), fmt.Sprintf("%.2fs", s.DurationS), num(s.Rate), num(s.Throughput),
		pct(s.SuccessRate, s.Requests), strconv.Itoa(s.Errors), msStr(s.Latency.Mean, s.Requests), msStr(s.Latency.P50, s.Requests),
		msStr(s.Latency.P90, s.Requests), msStr(s.Latency.P95, s.Requests), msStr(s.Latency.P99, s.Requests),
		msStr(s.Latency.Max, s.Requests)}); err != nil {
		return err
	}
	if err := t.Render(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nStatus codes")
	ct := newTable(w, "code", "count")
	for _, code := range slices.Sorted(maps.Keys(s.StatusCodes)) {
		label := code
		if code == "0" {
			label = "0 (no response)"
		}
		if err := ct.Append([]string{label, strconv.Itoa(s.StatusCodes[code])}); err != nil {
			return err
		}
	}
	if err := ct.Render(); err != nil {
		return err
	}
	if err := BackendsTable(w, run); err != nil {
		return err
	}
	if len(s.ErrorMessages) > 0 {
		fmt.Fprintln(w, "\nErrors")
		et := newTable(w, "error", "count")
		for _, e := range s.ErrorMessages {
			if err := et.Append([]string{e.Error, strconv.Itoa(e.Count)}); err != nil {
				return err
			}
		}
		return et.Render()
	}
	return nil
}

func secs(ms float64) string { return fmt.Sprintf("%.1fs", ms/1000) }

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func pct(f float64, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*f)
}

// msStr formats milliseconds with a precision that suits their size.
func msStr(ms float64, n int) string {
	if n == 0 {
		return "-"
	}
	return FormatMs(ms)
}

// FormatMs formats milliseconds: "0.42ms", "12.3ms", "1.25s".
func FormatMs(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.2fs", ms/1000)
	case ms >= 10:
		return fmt.Sprintf("%.1fms", ms)
	default:
		return fmt.Sprintf("%.2fms", ms)
	}
}

func optMs(p *float64) string {
	if p == nil {
		return "-"
	}
	return FormatMs(*p)
}
