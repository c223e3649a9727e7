package report

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"html"
	"html/template"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lblab/lblab/loadtest/internal/attack"
)

// replicaRe splits a backend label into its service and replica number:
// "backend_2", "backend-slow-1", "backend.3.ab12cd" (a Swarm task).
var replicaRe = regexp.MustCompile(`^(.*?)[_.-](\d+)(?:\.[0-9a-z]+)?$`)

// BackendColor returns the colour of a backend label, the same in every run
// and report: replica N of service "backend" takes palette colour N (so
// backend_1 is always blue, backend_2 orange), another service's replicas
// start from a place given by its name, and any other label is placed by
// its hash.
func BackendColor(label string) string {
	n := len(palette)
	if m := replicaRe.FindStringSubmatch(label); m != nil {
		num, _ := strconv.Atoi(m[2])
		off := 0
		if m[1] != "backend" {
			off = 5 + int(hash32(m[1])%uint32(n-5))
		}
		return palette[(off+num-1+n)%n]
	}
	return palette[hash32(label)%uint32(n)]
}

// CompareBackendLabels orders backend labels as a person would: replicas
// of one service by number (backend_2 before backend_10), anything else by
// its text.
func CompareBackendLabels(a, b string) int {
	ma, mb := replicaRe.FindStringSubmatch(a), replicaRe.FindStringSubmatch(b)
	if ma != nil && mb != nil && ma[1] == mb[1] {
		na, _ := strconv.Atoi(ma[2])
		nb, _ := strconv.Atoi(mb[2])
		if c := cmp.Compare(na, nb); c != 0 {
			return c
		}
	}
	return cmp.Compare(a, b)
}

func hash32(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

// comparisonHTML draws the comparison at the head of a report with several
// runs (one per algorithm, or per algorithm and utilisation): per run, the
// mean, p50 and p99 latency as bars on one scale, the errors, and the share
// each backend got as one stacked bar. Empty for a single run.
func comparisonHTML(r *Result) template.HTML {
	if len(r.Runs) < 2 {
		return ""
	}
	const (
		labelW = 190
		latW   = 430
		errW   = 70
		shareW = 280
		rowH   = 34
		top    = 40
		gap    = 16
	)
	maxMs := 0.0
	labels := map[string]bool{}
	for i := range r.Runs {
		run := &r.Runs[i]
		maxMs = math.Max(maxMs, math.Max(run.Total.Latency.P99, run.Total.Latency.Mean))
		for k := range run.Total.Backends {
			if k != attack.NoBackend {
				labels[run.BackendLabel(k)] = true
			}
		}
	}
	maxMs = niceCeil(maxMs)
	width := labelW + latW + gap + errW + gap + shareW
	xs := float64(labelW + latW + gap + errW + gap)
	// The backends' colours, laid out first: the picture must be tall enough
	// for every row of them (ten backends take four rows).
	type legendItem struct {
		label  string
		lx, ly float64
	}
	var items []legendItem
	lx, ly := xs, float64(top+rowH*len(r.Runs)+14)
	for _, l := range slices.SortedFunc(maps.Keys(labels), CompareBackendLabels) {
		w := float64(len(l))*6 + 20
		if lx+w > float64(width) {
			lx, ly = xs, ly+14
		}
		items = append(items, legendItem{l, lx, ly})
		lx += w
	}
	height := max(top+rowH*len(r.Runs)+40, int(ly)+6)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="comparison of the runs">`, width, height, width, height)
	x0 := float64(labelW)
	xe := x0 + latW + gap
	fmt.Fprintf(&b, `<text x="%.0f" y="14" font-size="12" font-weight="bold">latency%s: mean, p50, p99 (0 to %s)</text>`, x0,
		afterWarmup(slices.ContainsFunc(r.Runs, func(r Run) bool { return r.WarmupMs > 0 })), html.EscapeString(FormatMs(maxMs)))
	fmt.Fprintf(&b, `<text x="%.0f" y="14" font-size="12" font-weight="bold">errors</text>`, xe)
	fmt.Fprintf(&b, `<text x="%.0f" y="14" font-size="12" font-weight="bold">share sent to each backend</text>`, xs)
	legend := []struct{ name, color string }{{"mean", "#555"}, {"p50", palette[2]}, {"p99", palette[3]}}
	for i, l := range legend {
		lx := x0 + float64(i)*70
		fmt.Fprintf(&b, `<rect x="%.0f" y="22" width="10" height="10" fill="%s"/><text x="%.0f" y="31" font-size="11">%s</text>`, lx, l.color, lx+13, l.name)
	}
	scale := func(ms float64) float64 { return latW * ms / maxMs }
	for i := range r.Runs {
		run := &r.Runs[i]
		y := float64(top + rowH*i)
		t := run.Total
		fmt.Fprintf(&b, `<text x="0" y="%.0f" font-size="12">%s</text>`, y+18, html.EscapeString(run.Label))
		bars := []struct {
			name  string
			ms    float64
			color string
		}{{"mean", t.Latency.Mean, "#555"}, {"p50", t.Latency.P50, palette[2]}, {"p99", t.Latency.P99, palette[3]}}
		for j, bar := range bars {
			by := y + 3 + float64(j)*9
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="8" fill="%s"><title>%s %s</title></rect>`,
				x0, by, math.Max(1, scale(bar.ms)), bar.color, bar.name, html.EscapeString(FormatMs(bar.ms)))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="9" fill="#333">%s</text>`, x0+math.Max(1, scale(bar.ms))+3, by+7, html.EscapeString(FormatMs(bar.ms)))
		}
		errColor := "#333"
		if t.Errors > 0 {
			errColor = "#b00"
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="12" fill="%s">%d (%.2f%%)</text>`, xe, y+18, errColor, t.Errors, 100*t.ErrorRate)
		// The share: one stacked bar, backends in label order.
		byLabel := map[string]int{}
		total := 0
		for k, n := range t.Backends {
			if k != attack.NoBackend {
				byLabel[run.BackendLabel(k)] += n
				total += n
			}
		}
		sx := xs
		for _, l := range slices.SortedFunc(maps.Keys(byLabel), CompareBackendLabels) {
			if total == 0 {
				break
			}
			f := float64(byLabel[l]) / float64(total)
			w := shareW * f
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="22" fill="%s"><title>%s %.1f%%</title></rect>`,
				sx, y+3, w, BackendColor(l), html.EscapeString(l), 100*f)
			if w > 34 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="9" fill="#fff">%.0f%%</text>`, sx+3, y+18, 100*f)
			}
			sx += w
		}
	}
	for _, it := range items {
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="10" height="10" fill="%s"/><text x="%.1f" y="%.1f" font-size="10">%s</text>`,
			it.lx, it.ly-9, BackendColor(it.label), it.lx+13, it.ly, html.EscapeString(it.label))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every piece of text above is escaped
}

// labelRows places action labels on the chart without overlap: each label
// takes the first row whose last label ends before it starts (about 6 px a
// character at font size 10). It returns the row of each label.
func labelRows(xs []float64, texts []string, rows int) []int {
	ends := make([]float64, rows)
	for i := range ends {
		ends[i] = math.Inf(-1)
	}
	out := make([]int, len(xs))
	for i, x := range xs {
		w := float64(len(texts[i]))*6 + 6
		row := -1
		for r, e := range ends {
			if x >= e {
				row = r
				break
			}
		}
		if row < 0 { // no room: the row that frees first
			row = 0
			for r := range ends {
				if ends[r] < ends[row] {
					row = r
				}
			}
		}
		out[i] = row
		ends[row] = x + w
	}
	return out
}
