package report

import (
	"cmp"
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/lblab/lblab/loadtest/internal/attack"
)

// WriteHTML writes a self-contained HTML report of r: charts as inline SVG
// (rate, latency percentiles, errors, share per backend, over time, with the
// actions marked) and the tables. It fetches nothing from the network.
func WriteHTML(w io.Writer, r *Result) error {
	type runView struct {
		*Run
		Charts []template.HTML
	}
	views := make([]runView, len(r.Runs))
	for i := range r.Runs {
		run := &r.Runs[i]
		views[i] = runView{Run: run, Charts: runCharts(run)}
	}
	return page.Execute(w, map[string]any{"R": r, "Runs": views, "Load": loadLine(r.Settings), "Compare": comparisonHTML(r)})
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":      FormatMs,
	"secs":    secs,
	"pct":     func(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) },
	"share":   func(run *Run, counts map[string]int) string { return shareLine(run, counts) },
	"opt":     optMs,
	"label":   func(run *Run, x string) string { return run.BackendLabel(x) },
	"short":   ShortName,
	"diffPct": func(m, t float64) string { return signedPct(diff(m, t)) },
	"extra":   func(run *Run) template.HTML { return replacementsHTML(run) + workersHTML(run) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.R.Scenario.Name}} - lblab load test</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{margin:0 0 4px}h2{margin-top:36px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}
.pass{color:#080;font-weight:bold}.fail{color:#b00;font-weight:bold}.muted{color:#777}
svg{display:block;margin:4px 0 12px;background:#fff}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{color:#555}dd{margin:0}
</style></head><body>
<h1>{{.R.Scenario.Name}} {{if .R.Partial}}<span class="fail">PARTIAL</span>{{end}}
{{if .R.Passed}}<span class="pass">PASS</span>{{else}}<span class="fail">FAIL</span>{{end}}</h1>
<p>{{.R.Scenario.Description}}</p>
<dl>
<dt>load</dt><dd>{{.Load}}</dd>
<dt>started</dt><dd>{{.R.Started.Format "2006-01-02 15:04:05 MST"}}</dd>
<dt>file</dt><dd>{{.R.Scenario.File}}</dd>
{{range $k, $v := .R.Versions}}<dt>{{$k}}</dt><dd>{{$v}}</dd>{{end}}
<dt>host</dt><dd>{{.R.Environment.Hostname}} ({{.R.Environment.OS}}/{{.R.Environment.Arch}}, {{.R.Environment.CPUs}} CPUs)</dd>
</dl>
{{range .R.Errors}}<p class="fail">{{.}}</p>{{end}}
{{if .Compare}}<h2>Comparison</h2>
{{.Compare}}
<p class="muted">One row per run{{if .R.Settings.WarmupS}}, after its warm-up{{end}}. A backend has the same colour in every run and report. The sections of each run follow.</p>{{end}}
{{with .R.Calibration}}<h2>Supermarket: time in system against queueing theory</h2>
<p>Backends set to {{.LatencySetting}}; calibration at {{.Rate}} req/s: mean service time S = {{printf "%.3f" .ServiceMs}} ms (latency slept {{printf "%.3f" .LatencyMs}} ms for {{printf "%.3f" .LatencyAskedMs}} ms drawn).
Times in units of S; theory at the rho each run measured; "at backends": queue wait + service as the backends measured them.</p>
<table><tr><th>algorithm</th><th>rho aim</th><th>rho</th><th>util</th><th>S ms</th><th>errors</th><th>mean</th><th>theory</th><th>diff</th><th>at backends</th><th>p99</th><th>theory</th><th>diff</th><th>theory from</th></tr>
{{range $.R.Runs}}{{if .Queue}}{{$q := .Queue}}<tr><td>{{.Algorithm}}</td><td>{{printf "%.2f" $q.RhoTarget}}</td><td>{{printf "%.3f" $q.Rho}}</td><td>{{printf "%.3f" $q.Utilization}}</td><td>{{printf "%.2f" $q.ServiceMs}}</td><td>{{.Total.Errors}}</td><td>{{printf "%.2f" $q.Mean}}</td><td>{{printf "%.2f" $q.TheoryMean}}</td><td>{{diffPct $q.Mean $q.TheoryMean}}</td><td>{{printf "%.2f" $q.AtBackends}}</td><td>{{printf "%.2f" $q.P99}}</td><td>{{printf "%.2f" $q.TheoryP99}}</td><td>{{diffPct $q.P99 $q.TheoryP99}}</td><td>{{$q.Theory}}</td></tr>
{{end}}{{end}}</table>{{end}}
{{range .Runs}}{{$run := .Run}}
<h2>Run {{.Label}} {{if .Partial}}<span class="fail">partial</span>{{end}}
{{if .Passed}}<span class="pass">PASS</span>{{else}}<span class="fail">FAIL</span>{{end}}</h2>
{{range .Charts}}{{.}}{{end}}
<h3>Phases</h3>
<table><tr><th>phase</th><th>from</th><th>to</th><th>requests</th><th>rate/s</th><th>success</th><th>errors</th><th>p50</th><th>p95</th><th>p99</th><th>max</th><th>share by backend</th></tr>
{{range .Phases}}<tr{{if .Warmup}} class="muted"{{end}}><td>{{.Name}}{{if .Warmup}} (not counted){{end}}</td><td>{{secs .StartMs}}</td><td>{{secs .EndMs}}</td><td>{{.Requests}}</td><td>{{printf "%.1f" .Rate}}</td><td>{{pct .SuccessRate}}</td><td>{{.Errors}}</td><td>{{ms .Latency.P50}}</td><td>{{ms .Latency.P95}}</td><td>{{ms .Latency.P99}}</td><td>{{ms .Latency.Max}}</td><td>{{share $run .Backends}}</td></tr>
{{end}}<tr><th>total</th><th>{{secs .WarmupMs}}</th><th>{{secs .EndMs}}</th><th>{{.Total.Requests}}</th><th>{{printf "%.1f" .Total.Rate}}</th><th>{{pct .Total.SuccessRate}}</th><th>{{.Total.Errors}}</th><th>{{ms .Total.Latency.P50}}</th><th>{{ms .Total.Latency.P95}}</th><th>{{ms .Total.Latency.P99}}</th><th>{{ms .Total.Latency.Max}}</th><th>{{share $run .Total.Backends}}</th></tr>
</table>
<h3>Backends</h3>
<table><tr><th>backend</th><th>X-Backend</th><th>requests</th><th>share</th><th>errors</th><th>p50</th><th>p99</th><th>first</th><th>last</th></tr>
{{range .Backends}}<tr><td>{{label $run .Name}}</td><td>{{.Name}}</td><td>{{.Requests}}</td><td>{{pct .Share}}</td><td>{{.Errors}}</td><td>{{ms .Latency.P50}}</td><td>{{ms .Latency.P99}}</td><td>{{secs .FirstMs}}</td><td>{{secs .LastMs}}</td></tr>
{{end}}</table>
{{if .Actions}}<h3>Timeline</h3>
<table><tr><th>at</th><th>action</th><th>container</th><th>took</th><th>phase</th><th>result</th></tr>
{{range .Actions}}<tr><td>{{secs .AtMs}}</td><td>{{.Label}}</td><td>{{short .Container}}</td><td>{{printf "%.0fms" .TookMs}}</td><td>{{.Phase}}</td><td>{{if .Error}}<span class="fail">{{.Error}}</span>{{else}}ok{{end}}</td></tr>
{{end}}</table>{{end}}
{{if .Derived}}<h3>Failover</h3>
<table><tr><th>event</th><th>backend</th><th>failed</th><th>slow</th><th>time to detect</th><th>lb saw it down</th><th>recovered by</th><th>time to recover</th><th>lb saw it up</th></tr>
{{range .Derived}}<tr><td>{{.Event}}</td><td>{{if .Container}}{{short .Container}}{{else}}{{label $run .Backend}}{{end}}</td><td>{{.FailedRequests}}</td><td>{{.SlowRequests}}</td><td>{{opt .DetectMs}}</td><td>{{opt .BalancerDownMs}}</td><td>{{.Recovery}}</td><td>{{opt .RecoverMs}}</td><td>{{opt .BalancerUpMs}}</td></tr>
{{end}}</table>
<p class="muted">Time to detect: from the fault until the backend got no more traffic and no request failed or was slow. The lb columns: when the balancer's status showed the change (polled every 250 ms).</p>{{end}}
{{extra $run}}
{{if .Balancer}}<h3>Balancer state changes</h3>
<table><tr><th>at</th><th>backend</th><th>address</th><th>state</th></tr>
{{range .Balancer}}<tr><td>{{secs .AtMs}}</td><td>{{if .Backend}}{{label $run .Backend}}{{else}}{{.Name}}{{end}}</td><td>{{.Address}}</td><td>{{.State}}</td></tr>
{{end}}</table>{{end}}
{{if .Expectations}}<h3>Expectations</h3>
<table><tr><th>check</th><th>scope</th><th>limit</th><th>actual</th><th>result</th></tr>
{{range .Expectations}}<tr><td>{{.Check}}</td><td>{{.Scope}}</td><td>{{.Limit}}</td><td>{{.Actual}}</td><td>{{if .Passed}}<span class="pass">PASS</span>{{else}}<span class="fail">FAIL</span>{{end}}</td></tr>
{{end}}</table>{{end}}
{{end}}
<p class="muted">Written by lblab loadtest. Times are when requests were sent, from the start of each run.</p>
</body></html>
`))

// palette colours backends and series.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

type series struct {
	name  string
	color string
	y     []float64
}

type chart struct {
	title   string
	unit    string
	seconds int
	warmup  float64 // seconds
	series  []series
	bars    bool // draw the first series as bars
	stacked bool // stack the series (values are fractions 0..1)
	log     bool // logarithmic y axis (values in ms)
	marks   []Action
	// styles holds extra SVG attributes per line series (default: a 1.5 px
	// line), so that lines that coincide stay told apart.
	styles []string
}

const (
	chartW, chartH = 1000, 200
	padL, padR     = 60, 20
	padT, padB     = 26, 28
)

// runCharts draws the four charts of a run.
func runCharts(run *Run) []template.HTML {
	n := len(run.Seconds)
	if n == 0 {
		return []template.HTML{`<p class="muted">No requests.</p>`}
	}
	mk := func(title, unit string) chart {
		return chart{title: title, unit: unit, seconds: n, warmup: run.WarmupMs / 1000, marks: run.Actions}
	}
	col := func(f func(s attack.Second) float64) []float64 {
		out := make([]float64, n)
		for i, s := range run.Seconds {
			out[i] = f(s)
		}
		return out
	}
	rate := mk("Requests per second (sent: wide pale line; answered successfully: thin dashed line on top)", "req/s")
	rate.styles = []string{`stroke-width="5" stroke-opacity="0.35"`, `stroke-width="1.5" stroke-dasharray="5 3"`}
	rate.series = []series{
		{"sent", palette[0], col(func(s attack.Second) float64 { return float64(s.Requests) })},
		{"success", palette[2], col(func(s attack.Second) float64 { return float64(s.Success) })},
	}
	lat := mk("Latency percentiles per second (log scale)", "ms")
	lat.log = true
	lat.series = []series{
		{"p50", palette[2], col(func(s attack.Second) float64 { return s.P50 })},
		{"p95", palette[1], col(func(s attack.Second) float64 { return s.P95 })},
		{"p99", palette[3], col(func(s attack.Second) float64 { return s.P99 })},
	}
	errs := mk("Failed requests per second", "errors/s")
	errs.bars = true
	errs.series = []series{{"errors", palette[3], col(func(s attack.Second) float64 { return float64(s.Errors) })}}

	share := mk("Share of requests by backend", "%")
	share.stacked = true
	var names []string
	for _, s := range run.Seconds {
		for k := range s.Backends {
			if k != attack.NoBackend && !slices.Contains(names, k) {
				names = append(names, k)
			}
		}
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(run.BackendLabel(a), run.BackendLabel(b)) })
	for _, k := range names {
		share.series = append(share.series, series{run.BackendLabel(k), BackendColor(run.BackendLabel(k)), col(func(s attack.Second) float64 {
			return s.Share()[k]
		})})
	}
	charts := []template.HTML{rate.svg(), lat.svg(), errs.svg(), share.svg()}
	if len(run.GraySeconds) > 0 {
		g := mk("Balancer: retries, hedges, per-try timeouts and ejections per second", "per s")
		gcol := func(f func(GraySecond) float64) []float64 {
			out := make([]float64, n)
			for i := range min(n, len(run.GraySeconds)) {
				out[i] = f(run.GraySeconds[i])
			}
			return out
		}
		g.series = []series{
			{"retries", palette[0], gcol(func(s GraySecond) float64 { return s.Retries })},
			{"hedges", palette[2], gcol(func(s GraySecond) float64 { return s.Hedges })},
			{"try timeouts", palette[1], gcol(func(s GraySecond) float64 { return s.TryTimeouts })},
			{"ejections", palette[3], gcol(func(s GraySecond) float64 { return s.Ejections })},
		}
		charts = append(charts, g.svg())
	}
	return charts
}

// svg renders the chart; all text is escaped.
func (c chart) svg() template.HTML {
	var b strings.Builder
	plotW, plotH := float64(chartW-padL-padR), float64(chartH-padT-padB)
	maxY := 0.0
	if c.stacked {
		maxY = 1
	} else {
		for _, s := range c.series {
			for _, v := range s.y {
				maxY = math.Max(maxY, v)
			}
		}
	}
	maxY = niceCeil(maxY)
	x := func(t float64) float64 { return padL + plotW*t/float64(c.seconds) }
	y := func(v float64) float64 { return padT + plotH*(1-v/maxY) }
	type tick struct {
		v     float64
		label string
	}
	var ticks []tick
	if c.log {
		lo, hi := math.Inf(1), 0.0
		for _, s := range c.series {
			for _, v := range s.y {
				if v > 0 {
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
		}
		if hi == 0 {
			lo, hi = 1, 10
		}
		lo, hi = math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
		if hi <= lo {
			hi = lo * 10
		}
		y = func(v float64) float64 {
			v = math.Max(v, lo)
			return padT + plotH*(1-(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo)))
		}
		for v := lo; v <= hi*1.0001; v *= 10 {
			label := fmt.Sprintf("%gms", v)
			if v >= 1000 {
				label = fmt.Sprintf("%gs", v/1000)
			}
			ticks = append(ticks, tick{v, label})
		}
	} else {
		for i := 0; i <= 4; i++ {
			v := maxY * float64(i) / 4
			label := trimFloat(v)
			if c.stacked {
				label = fmt.Sprintf("%.0f%%", v*100)
			}
			ticks = append(ticks, tick{v, label})
		}
	}

	fmt.Fprintf(&b, `<svg width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, html.EscapeString(c.title))
	fmt.Fprintf(&b, `<text x="%d" y="16" font-size="13" font-weight="bold">%s</text>`, padL, html.EscapeString(c.title))
	// Grid and axes.
	for _, tk := range ticks {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e5e5e5"/>`, padL, chartW-padR, y(tk.v), y(tk.v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="10" text-anchor="end" fill="#555">%s</text>`, padL-4, y(tk.v)+3, tk.label)
	}
	step := max(1, niceStep(c.seconds))
	for t := 0; t <= c.seconds; t += step {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" text-anchor="middle" fill="#555">%ds</text>`, x(float64(t)), chartH-padB+14, t)
	}
	fmt.Fprintf(&b, `<text x="12" y="%.1f" font-size="10" fill="#555" transform="rotate(-90 12 %.1f)" text-anchor="middle">%s</text>`,
		float64(padT)+plotH/2, float64(padT)+plotH/2, html.EscapeString(c.unit))

	switch {
	case c.stacked:
		base := make([]float64, c.seconds)
		for _, s := range c.series {
			var pts []string
			for i, v := range s.y {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(i)), y(base[i]+v)), fmt.Sprintf("%.1f,%.1f", x(float64(i+1)), y(base[i]+v)))
			}
			for i := len(s.y) - 1; i >= 0; i-- {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(i+1)), y(base[i])), fmt.Sprintf("%.1f,%.1f", x(float64(i)), y(base[i])))
				base[i] += s.y[i]
			}
			fmt.Fprintf(&b, `<polygon points="%s" fill="%s" fill-opacity="0.8"><title>%s</title></polygon>`, strings.Join(pts, " "), s.color, html.EscapeString(s.name))
		}
	case c.bars:
		s := c.series[0]
		for i, v := range s.y {
			if v > 0 {
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%ds: %s</title></rect>`,
					x(float64(i))+0.5, y(v), math.Max(1, x(1)-x(0)-1), y(0)-y(v), s.color, i, trimFloat(v))
			}
		}
	default:
		for si, s := range c.series {
			var pts []string
			for i, v := range s.y {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(i)+0.5), y(v)))
			}
			style := `stroke-width="1.5"`
			if si < len(c.styles) {
				style = c.styles[si]
			}
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" %s><title>%s</title></polyline>`, strings.Join(pts, " "), s.color, style, html.EscapeString(s.name))
		}
	}
	if c.warmup > 0 {
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%.1f" fill="#888" fill-opacity="0.18"/>`, x(0), padT, x(c.warmup)-x(0), plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" fill="#333">warm-up</text>`, x(0)+3, float64(padT)+plotH-4)
	}
	// Actions, their labels in up to four rows so that none overlaps.
	var axs []float64
	var texts []string
	for _, a := range c.marks {
		label := a.Action + " " + a.Target
		if a.Action == "mark" {
			label = a.Phase
		}
		axs, texts = append(axs, x(a.AtMs/1000)+3), append(texts, label)
	}
	rows := labelRows(axs, texts, 4)
	for i, a := range c.marks {
		ax := axs[i] - 3
		color := "#444"
		if a.Error != "" {
			color = "#b00"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="%s" stroke-dasharray="4 3"/>`, ax, ax, padT, float64(padT)+plotH, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" fill="%s">%s</text>`, ax+3, padT+10+11*rows[i], color, html.EscapeString(texts[i]))
	}
	// Legend.
	lx := float64(chartW - padR)
	for i := len(c.series) - 1; i >= 0; i-- {
		s := c.series[i]
		lx -= float64(len(s.name))*6.5 + 22
		fmt.Fprintf(&b, `<rect x="%.1f" y="8" width="10" height="10" fill="%s"/><text x="%.1f" y="17" font-size="11">%s</text>`, lx, s.color, lx+13, html.EscapeString(s.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every piece of text above is escaped
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// niceStep picks a tick step for an axis of n seconds.
func niceStep(n int) int {
	for _, s := range []int{1, 2, 5, 10, 15, 30, 60, 120, 300, 600} {
		if n/s <= 12 {
			return s
		}
	}
	return 1200
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}
