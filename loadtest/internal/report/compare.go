package report

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/lblab/lblab/loadtest/internal/attack"
)

// Alpha is the significance level below which a difference is reported as
// real rather than run-to-run noise.
const Alpha = 0.05

// figure is one key figure of a run, with per-second samples where the
// figure has them (for the significance test).
type figure struct {
	name    string
	format  func(float64) string
	value   func(*Run) (float64, bool)
	samples func(*Run) []float64
}

var figures = []figure{
	{"requests", intStr, func(r *Run) (float64, bool) { return float64(r.Total.Requests), true }, nil},
	{"rate/s", oneDec, func(r *Run) (float64, bool) { return r.Total.Rate, true },
		perSecond(func(s attack.Second) (float64, bool) { return float64(s.Requests), true })},
	{"success %", func(f float64) string { return fmt.Sprintf("%.2f%%", f) },
		func(r *Run) (float64, bool) { return 100 * r.Total.SuccessRate, r.Total.Requests > 0 },
		perSecond(func(s attack.Second) (float64, bool) {
			return 100 * float64(s.Success) / float64(s.Requests), s.Requests > 0
		})},
	{"errors", intStr, func(r *Run) (float64, bool) { return float64(r.Total.Errors), true },
		perSecond(func(s attack.Second) (float64, bool) { return float64(s.Errors), true })},
	{"p50", FormatMs, func(r *Run) (float64, bool) { return r.Total.Latency.P50, r.Total.Requests > 0 },
		perSecond(func(s attack.Second) (float64, bool) { return s.P50, s.Requests > 0 })},
	{"p95", FormatMs, func(r *Run) (float64, bool) { return r.Total.Latency.P95, r.Total.Requests > 0 },
		perSecond(func(s attack.Second) (float64, bool) { return s.P95, s.Requests > 0 })},
	{"p99", FormatMs, func(r *Run) (float64, bool) { return r.Total.Latency.P99, r.Total.Requests > 0 },
		perSecond(func(s attack.Second) (float64, bool) { return s.P99, s.Requests > 0 })},
	{"max", FormatMs, func(r *Run) (float64, bool) { return r.Total.Latency.Max, r.Total.Requests > 0 }, nil},
	{"failed requests (faults)", intStr, func(r *Run) (float64, bool) {
		n, any := 0, false
		for _, d := range r.Derived {
			if d.FaultMs != nil {
				n, any = n+d.FailedRequests, true
			}
		}
		return float64(n), any
	}, nil},
	{"time to detect", FormatMs, meanOf(func(d Derived) *float64 { return d.DetectMs }), derivedSamples(func(d Derived) *float64 { return d.DetectMs })},
	{"time to recover", FormatMs, meanOf(func(d Derived) *float64 { return d.RecoverMs }), derivedSamples(func(d Derived) *float64 { return d.RecoverMs })},
	{"rho (measured)", threeDec, queueValue(func(q *Queue) float64 { return q.Rho }), nil},
	{"service time", FormatMs, queueValue(func(q *Queue) float64 { return q.ServiceMs }), nil},
	{"mean time in system / S", twoDec, queueValue(func(q *Queue) float64 { return q.Mean }), nil},
	{"p99 time in system / S", twoDec, queueValue(func(q *Queue) float64 { return q.P99 }), nil},
}

// Aggregation says how the figures that sum up several events of a run
// were combined; compare and run --repeat print it under their tables.
const Aggregation = "failed requests (faults): the sum over the run's faults; time to detect and time to recover: " +
	"the mean over its faults and recoveries (a run with one kill has one of each)"

func queueValue(f func(*Queue) float64) func(*Run) (float64, bool) {
	return func(r *Run) (float64, bool) {
		if r.Queue == nil {
			return 0, false
		}
		return f(r.Queue), true
	}
}

func twoDec(f float64) string   { return fmt.Sprintf("%.2f", f) }
func threeDec(f float64) string { return fmt.Sprintf("%.3f", f) }

// Comparable reports how results differ in what they measured: another
// scenario, or another load (method, target path, model, rate, arrivals,
// concurrency, requests, duration, warm-up). Figures of such results differ
// for reasons other than the system under test; compare refuses them unless
// forced.
func Comparable(names []string, results []*Result) error {
	if len(results) < 2 {
		return nil
	}
	a := results[0]
	var diffs []string
	for i, b := range results[1:] {
		who := names[i+1]
		if a.Scenario.Name != b.Scenario.Name {
			diffs = append(diffs, fmt.Sprintf("%s is of scenario %q, %s of %q", who, b.Scenario.Name, names[0], a.Scenario.Name))
			continue
		}
		for _, d := range loadDiffs(a.Settings, b.Settings) {
			diffs = append(diffs, fmt.Sprintf("%s: %s", who, d))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("the results measured different things:\n  - %s\n(--force compares them all the same)", strings.Join(diffs, "\n  - "))
}

func loadDiffs(a, b Settings) []string {
	var out []string
	add := func(what string, x, y any) {
		if fmt.Sprint(x) != fmt.Sprint(y) {
			out = append(out, fmt.Sprintf("%s %v, not %v", what, y, x))
		}
	}
	add("method", a.Method, b.Method)
	add("target path", targetPath(a.Target), targetPath(b.Target))
	add("model", a.Model, b.Model)
	add("rate", a.Rate, b.Rate)
	add("arrivals", cmpOr(a.Arrivals, "constant", a.Model == "open"), cmpOr(b.Arrivals, "constant", b.Model == "open"))
	add("concurrency", a.Concurrency, b.Concurrency)
	add("requests", a.Requests, b.Requests)
	add("duration", a.DurationS, b.DurationS)
	add("warm-up", a.WarmupS, b.WarmupS)
	return out
}

func cmpOr(s, def string, useDef bool) string {
	if s == "" && useDef {
		return def
	}
	return s
}

// targetPath is the path and query of a target URL: the host and port differ
// between labs that run the same load.
func targetPath(target string) string {
	if i := strings.Index(target, "://"); i >= 0 {
		rest := target[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			return rest[j:]
		}
		return "/"
	}
	return target
}

// perSecond returns the samples of the complete seconds after the warm-up.
func perSecond(f func(attack.Second) (float64, bool)) func(*Run) []float64 {
	return func(r *Run) []float64 {
		var out []float64
		for _, s := range MeasuredSeconds(r) {
			if v, ok := f(s); ok {
				out = append(out, v)
			}
		}
		return out
	}
}

// MeasuredSeconds returns the run's seconds that lie wholly after the
// warm-up and before the end.
func MeasuredSeconds(r *Run) []attack.Second {
	var out []attack.Second
	for _, s := range r.Seconds {
		if float64(s.T)*1000 >= r.WarmupMs && float64(s.T+1)*1000 <= r.EndMs {
			out = append(out, s)
		}
	}
	return out
}

func meanOf(f func(Derived) *float64) func(*Run) (float64, bool) {
	return func(r *Run) (float64, bool) {
		xs := derivedSamples(f)(r)
		if len(xs) == 0 {
			return 0, false
		}
		return stat.Mean(xs, nil), true
	}
}

func derivedSamples(f func(Derived) *float64) func(*Run) []float64 {
	return func(r *Run) []float64 {
		var out []float64
		for _, d := range r.Derived {
			if v := f(d); v != nil {
				out = append(out, *v)
			}
		}
		return out
	}
}

// Compare prints a table of the key figures of results side by side (as A,
// B, C, ... in the order given), each against the first, with a note saying
// whether the difference is within run-to-run noise (Welch's t-test on the
// per-second samples, p >= Alpha). Runs are matched by label; results with a
// single run are matched as is.
func Compare(w io.Writer, names []string, results []*Result) error {
	if len(results) < 2 {
		return fmt.Errorf("compare: need at least two result files, got %d", len(results))
	}
	letters := make([]string, len(results))
	for i := range results {
		letters[i] = string(rune('A' + i%26))
		if i >= 26 {
			letters[i] += fmt.Sprint(i / 26)
		}
		partial := ""
		if results[i].Partial {
			partial = "  (partial: interrupted)"
		}
		fmt.Fprintf(w, "%s = %s%s\n", letters[i], names[i], partial)
	}
	labels := runLabels(results)
	header := []any{"figure", letters[0]}
	for _, l := range letters[1:] {
		header = append(header, l, "change")
	}
	header = append(header, "note")
	t := newTable(w, header...)
	for _, label := range labels {
		runs := make([]*Run, len(results))
		for i, r := range results {
			runs[i] = findRun(r, label, len(labels) == 1)
		}
		for _, f := range figures {
			row, ok := compareRow(f, label, len(labels) > 1, runs, letters)
			if !ok {
				continue
			}
			if err := t.Append(row); err != nil {
				return err
			}
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	fmt.Fprintf(w, "change: against A. note: Welch's t-test on the per-second samples after warm-up; p >= %.2f is within run-to-run noise\n", Alpha)
	fmt.Fprintln(w, "(per-second samples of a run with faults are not steady: read the notes of those figures with care).")
	fmt.Fprintln(w, "aggregated figures: "+Aggregation+".")
	return nil
}

func compareRow(f figure, label string, prefix bool, runs []*Run, names []string) ([]string, bool) {
	name := f.name
	if prefix {
		name = label + " " + f.name
	}
	row := []string{name}
	base, baseOK := 0.0, false
	if runs[0] != nil {
		base, baseOK = f.value(runs[0])
	}
	anyOK := baseOK
	if baseOK {
		row = append(row, f.format(base))
	} else {
		row = append(row, "-")
	}
	var notes []string
	for i, r := range runs[1:] {
		v, ok := 0.0, false
		if r != nil {
			v, ok = f.value(r)
		}
		anyOK = anyOK || ok
		if !ok {
			row = append(row, "-", "-")
			continue
		}
		row = append(row, f.format(v), change(base, v, baseOK))
		if !baseOK || f.samples == nil {
			continue
		}
		p, tested := Welch(f.samples(runs[0]), f.samples(r))
		who := ""
		if len(runs) > 2 {
			who = names[i+1] + ": "
		}
		switch {
		case !tested:
			notes = append(notes, who+"too few samples to test")
		case p >= Alpha:
			notes = append(notes, fmt.Sprintf("%swithin noise (p=%.2f)", who, p))
		default:
			notes = append(notes, fmt.Sprintf("%sreal difference (p=%.3g)", who, p))
		}
	}
	row = append(row, strings.Join(notes, "; "))
	return row, anyOK
}

// change formats the relative change from base to v.
func change(base, v float64, baseOK bool) string {
	switch {
	case !baseOK:
		return "-"
	case base == v:
		return "0%"
	case base == 0:
		return fmt.Sprintf("%+g", v)
	}
	return fmt.Sprintf("%+.1f%%", 100*(v-base)/math.Abs(base))
}

// Welch returns the two-sided p-value of Welch's t-test for equal means of
// a and b, and false when there are fewer than two samples on a side.
func Welch(a, b []float64) (float64, bool) {
	if len(a) < 2 || len(b) < 2 {
		return 0, false
	}
	na, nb := float64(len(a)), float64(len(b))
	ma, va := stat.MeanVariance(a, nil)
	mb, vb := stat.MeanVariance(b, nil)
	sa, sb := va/na, vb/nb
	se2 := sa + sb
	if se2 == 0 {
		if ma == mb {
			return 1, true
		}
		return 0, true
	}
	t := (ma - mb) / math.Sqrt(se2)
	df := se2 * se2 / (sa*sa/(na-1) + sb*sb/(nb-1))
	return 2 * distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Survival(math.Abs(t)), true
}

// runLabels lists the labels to compare: "" when every result has one run,
// else every label in order of appearance.
func runLabels(results []*Result) []string {
	single := true
	for _, r := range results {
		single = single && len(r.Runs) == 1
	}
	if single {
		return []string{""}
	}
	var out []string
	for _, r := range results {
		for _, run := range r.Runs {
			if !slices.Contains(out, run.Label) {
				out = append(out, run.Label)
			}
		}
	}
	return out
}

func findRun(r *Result, label string, single bool) *Run {
	if single {
		return &r.Runs[0]
	}
	for i := range r.Runs {
		if r.Runs[i].Label == label {
			return &r.Runs[i]
		}
	}
	return nil
}

func intStr(f float64) string { return fmt.Sprintf("%.0f", f) }

func oneDec(f float64) string { return fmt.Sprintf("%.1f", f) }
