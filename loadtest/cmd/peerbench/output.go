package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// report is the JSON file of a run: options, environment, every round's raw
// measurements, the medians and the noise.
type report struct {
	Tool         string        `json:"tool"`
	Started      time.Time     `json:"started"`
	Finished     time.Time     `json:"finished"`
	Complete     bool          `json:"complete"` // every measurement has figures
	Options      reportOptions `json:"options"`
	Environment  environment   `json:"environment"`
	Ports        portPlan      `json:"ports"`
	Cases        []benchCase   `json:"cases"`
	Orders       [][]string    `json:"target_order_by_round"`
	Measurements []measurement `json:"measurements"`
	Cells        []cell        `json:"medians"`
	IdleCells    []idleCell    `json:"idle,omitempty"`
	Sizes        connSizes     `json:"conn_sizes"`
	Noise        noiseSummary  `json:"noise"`
	Errors       []string      `json:"errors,omitempty"`
}

// reportOptions are the options as the JSON file records them.
type reportOptions struct {
	Rounds   int      `json:"rounds"`
	Duration string   `json:"duration"`
	Cases    []string `json:"cases"`
	Targets  []string `json:"targets"`
	PortBase int      `json:"port_base"`
	BaseBin  string   `json:"base_bin,omitempty"`
	// BaseConfig: the config keys lb-base ran with on top of lb's.
	BaseConfig string `json:"base_config,omitempty"`
	// ServerMaxConn: each backend's connections bounded, with a queue
	// (--server-maxconn); 0: none.
	ServerMaxConn int `json:"server_maxconn,omitempty"`
	// ReleaseWait: how long the idle cases watch RSS after the close.
	ReleaseWait string `json:"release_wait"`
}

// table is one table of the output, on stdout and in latest.md.
type table struct {
	Title   string
	Columns []string // the first two (case, target) align left, the figures right
	Rows    [][]string
}

// throughputColumns: medians of the figures of each (case, target).
var throughputColumns = []string{
	"case", "target", "req/s", "p50 ms", "p99 ms", "max ms", "p99 over direct ms", "CPU s/100k req", "failed",
}

// ratioColumns: same-round comparisons; lb-base's only when it took part.
func ratioColumns(withBase bool) []string {
	c := []string{"case", "target", "vs haproxy", "CPU vs haproxy", "vs best peer", "CPU vs best peer", "best peer by round"}
	if withBase {
		c = append(c, "vs lb-base", "CPU vs lb-base", "lb-base by round")
	}
	return c
}

// idleColumns: the idle cases' memory figures.
func idleColumns(withBase bool) []string {
	c := []string{"case", "target", "conns", "RSS before MiB", "RSS idle MiB", "KiB/conn", "vs haproxy", "vs best peer"}
	if withBase {
		c = append(c, "vs lb-base")
	}
	return append(c, "after close MiB", "released", "90% back after", "failed", "dropped")
}

// textColumn: aligned left; the figures align right.
func textColumn(i int) bool { return i < 2 }

// throughputRow formats one cell for the throughput and latency table.
func throughputRow(c cell) []string {
	r := make([]string, len(throughputColumns))
	r[0], r[1] = c.Case, c.Target
	if c.Rounds == 0 {
		r[2] = "error"
		return r
	}
	r[2] = fmt.Sprintf("%.0f", c.ReqPerSec)
	r[3], r[4], r[5] = fmtMs(c.P50Ms), fmtMs(c.P99Ms), fmtMs(c.MaxMs)
	if c.P99OverDirectMs != nil {
		r[6] = fmt.Sprintf("%+.2f", *c.P99OverDirectMs)
	}
	if c.CPUPer100k != nil {
		r[7] = fmt.Sprintf("%.2f", *c.CPUPer100k)
	}
	r[8] = fmtFailed(c.Failed, c.Requests)
	return r
}

// ratioRow formats one cell for the comparison table: req/s ratios (paced
// cases: p99 differences) and CPU ratios.
func ratioRow(c cell, withBase bool) []string {
	fig := func(v *float64) string {
		switch {
		case v == nil:
			return ""
		case c.Rate:
			return fmt.Sprintf("%+.2f ms", *v)
		}
		return fmtRatio(v)
	}
	r := []string{c.Case, c.Target, fig(c.VsHAProxy), fmtRatio(c.CPUVsHAProxy), fig(c.VsBestPeer), fmtRatio(c.CPUVsBestPeer),
		fmtRoundSpan(c.BestPeerRounds, c.Rate)}
	if withBase {
		r = append(r, fig(c.VsLBBase), fmtRatio(c.CPUVsLBBase), fmtRoundSpan(c.LBBaseRounds, c.Rate))
	}
	if c.Rounds == 0 {
		r[2] = "error"
	}
	return r
}

// idleRow formats one idle cell.
func idleRow(c idleCell, withBase bool) []string {
	cols := len(idleColumns(withBase))
	if c.Rounds == 0 {
		r := make([]string, cols)
		r[0], r[1], r[2] = c.Case, c.Target, "error"
		return r
	}
	r := []string{c.Case, c.Target, fmt.Sprintf("%.0f", c.Conns), fmtMiB(int64(c.RSSBeforeKiB)), fmtMiB(int64(c.RSSIdleKiB)),
		fmt.Sprintf("%.1f", c.KiBPerConn), fmtRatio(c.VsHAProxy), fmtRatio(c.VsBestPeer)}
	if withBase {
		r = append(r, fmtRatio(c.VsLBBase))
	}
	back := fmt.Sprintf("not in %.0f s", c.WindowS)
	if c.BackS != nil {
		back = fmt.Sprintf("%.1f s", *c.BackS)
		if c.BackRounds < c.Rounds {
			back += fmt.Sprintf(" (%d/%d rounds)", c.BackRounds, c.Rounds)
		}
	}
	return append(r, fmtMiB(int64(c.RSSAfterKiB)), fmt.Sprintf("%.0f%%", 100*c.Released), back,
		fmt.Sprint(c.Failed), fmt.Sprint(c.DroppedIdle))
}

// fmtRoundSpan formats a comparison round by round: "0.86 to 1.15×, 1 of
// 3 ≥ 1×" (paced cases: "-5.20 to +1.30 ms, 2 of 3 ≤ 0"); nil as empty.
func fmtRoundSpan(s *roundSpan, paced bool) string {
	if s == nil {
		return ""
	}
	f, unit, level := "%.2f", "×", "≥ 1×"
	if paced {
		f, unit, level = "%+.2f", " ms", "≤ 0"
	}
	r := fmt.Sprintf(f, s.Min)
	if s.Max != s.Min {
		r += " to " + fmt.Sprintf(f, s.Max)
	}
	return fmt.Sprintf("%s%s, %d of %d %s", r, unit, s.Level, s.Of, level)
}

// fmtRatio formats a ratio as 1.23×, nil as empty.
func fmtRatio(v *float64) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%.2f×", *v)
}

// fmtMiB formats KiB as MiB with one decimal.
func fmtMiB(kib int64) string {
	return fmt.Sprintf("%.1f", float64(kib)/1024)
}

// tables returns the tables of a run: throughput and latency, the
// comparisons, and the idle cases' memory (each left out when empty).
func tables(cells []cell, idle []idleCell, withBase bool) []table {
	var out []table
	if len(cells) > 0 {
		tp := table{Title: "Throughput and latency", Columns: throughputColumns}
		rt := table{Title: "Against the peers (medians of same-round comparisons)", Columns: ratioColumns(withBase)}
		for _, c := range cells {
			tp.Rows = append(tp.Rows, throughputRow(c))
			rt.Rows = append(rt.Rows, ratioRow(c, withBase))
		}
		out = append(out, tp, rt)
	}
	if len(idle) > 0 {
		it := table{Title: "Idle connections (the proxy's RSS)", Columns: idleColumns(withBase)}
		for _, c := range idle {
			it.Rows = append(it.Rows, idleRow(c, withBase))
		}
		out = append(out, it)
	}
	return out
}

// fmtMs formats milliseconds with about three significant digits.
func fmtMs(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// fmtFailed formats a failure count, with its share of requests when nonzero.
func fmtFailed(failed, requests int64) string {
	if failed == 0 {
		return "0"
	}
	if requests <= 0 {
		return fmt.Sprint(failed)
	}
	return fmt.Sprintf("%d (%.2f%%)", failed, 100*float64(failed)/float64(requests))
}

// fmtRate formats a request rate for progress lines: 24.1k.
func fmtRate(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.1fk", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}

// writeTable prints t as a tablewriter table, under its title.
func writeTable(w io.Writer, t table) error {
	align := make([]tw.Align, len(t.Columns))
	header := make([]any, len(t.Columns))
	for i, c := range t.Columns {
		header[i] = c
		align[i] = tw.AlignRight
		if textColumn(i) {
			align[i] = tw.AlignLeft
		}
	}
	fmt.Fprintln(w, t.Title+":")
	tt := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignCenter),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}),
	)
	tt.Header(header...)
	for _, r := range t.Rows {
		if err := tt.Append(r); err != nil {
			return err
		}
	}
	return tt.Render()
}

// markdownTable renders t as a GitHub Markdown table.
func markdownTable(t table) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(t.Columns, " | ") + " |\n|")
	for i := range t.Columns {
		if textColumn(i) {
			b.WriteString("---|")
		} else {
			b.WriteString("--:|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}

// notes explains the columns, below the tables.
const notes = `req/s: completed requests per second (paced cases, rate and crowd: successful ones per second);
p50/p99/max: latency; p99 over direct: paced cases, p99 minus direct's p99 in the same round;
CPU: the proxy's user+system seconds per 100k requests (nginx: master and workers); failed: socket
errors and error statuses, total over all rounds. Comparisons are medians of same-round ones:
vs haproxy: req/s ÷ HAProxy's with one thread (paced cases: p99 − HAProxy's p99), CPU per request ÷
HAProxy's; vs best peer: req/s ÷ the higher of haproxy-mt's (nbthread = CPUs) and nginx's (paced:
p99 − the lower p99), CPU per request ÷ the lower of the two; best peer by round: the lowest and
highest of those same-round comparisons, and in how many rounds the target was level or ahead
(req/s at least 1×; paced: p99 no higher); vs lb-base and lb-base by round: likewise, against the
baseline lb (--base-bin, and/or --base-config: config keys on top of lb's). lb-rp: bin/lb with "forwarder":
"reverseproxy" (every request through httputil.ReverseProxy), otherwise lb's config; HTTP cases
only.`

// idleNotes explains the idle table.
const idleNotes = `Idle: N connections opened (each one GET and its response, then idle), the proxy's VmRSS
(nginx: master + workers) before, once settled with all idle, and after closing them all; KiB/conn:
(idle − before) ÷ N; vs: KiB/conn ÷ HAProxy's (best peer: the lower of haproxy-mt's and nginx's);
released: share of the growth given back when the watch ended; 90% back after: when 90% of it was
given back (median over the rounds that got there); failed: connections that did not open;
dropped: closed by the proxy while idle.`

// crowdLines describes what the crowd's generator did: the intended rate,
// the share of it achieved and the rounds that fell short.
func crowdLines(ms []measurement) []string {
	var crowd []measurement
	for _, m := range ms {
		if m.Crowd != nil && m.Err == "" {
			crowd = append(crowd, m)
		}
	}
	if len(crowd) == 0 {
		return nil
	}
	lo, hi, lag, gen := math.Inf(1), math.Inf(-1), 0.0, math.Inf(-1)
	idleLo, idleHi, backends := math.Inf(1), math.Inf(-1), math.Inf(-1)
	conns, period := 0, 0.0
	var short, behind []string
	for _, m := range crowd {
		c := m.Crowd
		lo, hi, lag = min(lo, c.Achieved), max(hi, c.Achieved), max(lag, c.LagP99Ms)
		conns, period = max(conns, c.Opened), max(period, c.PeriodS)
		if c.GenCPUPer100k != nil {
			gen = max(gen, *c.GenCPUPer100k)
		}
		if c.MachineIdle != nil {
			idleLo, idleHi = min(idleLo, *c.MachineIdle), max(idleHi, *c.MachineIdle)
		}
		if c.BackendsCPUPer100k != nil {
			backends = max(backends, *c.BackendsCPUPer100k)
		}
		if l := slowLine(m); l != "" {
			behind = append(behind, l)
		}
		if c.Short {
			short = append(short, fmt.Sprintf("short: round %d crowd/%s: %.0f of %.0f req/s intended (%.0f%%); %d slots came while the previous response was still awaited, %d missed; the generator's own lag p99 %s ms",
				m.Round, m.Target, c.AchievedPerS, c.IntendedPerS, 100*c.Achieved, c.Behind, c.Missed, fmtMs(c.LagP99Ms)))
		}
	}
	every := "1 GET/s"
	if period != 1 {
		every = fmt.Sprintf("1 GET every %s", time.Duration(period*float64(time.Second)))
	}
	line := fmt.Sprintf("crowd generator: %d connections × %s; achieved %.0f-%.0f%% of the intended rate, its own send lag p99 at most %s ms",
		conns, every, 100*lo, 100*hi, fmtMs(lag))
	if !math.IsInf(gen, -1) {
		line += fmt.Sprintf(", its own CPU at most %.2f s/100k req", gen)
	}
	if !math.IsInf(backends, -1) {
		line += fmt.Sprintf(", the backends' at most %.2f", backends)
	}
	if !math.IsInf(idleLo, 1) {
		line += fmt.Sprintf("; the machine's CPUs idle %.0f-%.0f%% of the window", 100*idleLo, 100*idleHi)
	}
	if len(short) == 0 {
		line += fmt.Sprintf("; no round below %.0f%%", 100*crowdShortfall)
	}
	out := append([]string{line}, short...)
	return append(out, behind...)
}

// markdown renders latest.md: what was measured, the tables, the notes and the noise.
func markdown(r *report) string {
	var b strings.Builder
	e := r.Environment
	fmt.Fprintf(&b, "## Peer comparison, %s\n\n", r.Started.Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, "`make bench` (loadtest/cmd/peerbench): loopback, each proxy in front of the same three `bin/backend`,\n")
	fmt.Fprintf(&b, "keep-alive to the backends; %d round(s) × %s per measurement, target order rotated each round,\n", r.Options.Rounds, r.Options.Duration)
	fmt.Fprintf(&b, "medians over rounds. %d CPUs (GOMAXPROCS %d), load average at start %s; ", e.NumCPU, e.GOMAXPROCS, e.LoadAvg)
	// The tools of a run: a peer or wrk the run did not need is not named.
	if e.HAProxy != "" {
		fmt.Fprintf(&b, "HAProxy %s (haproxy: nbthread 1,\nhaproxy-mt: nbthread %d; maxconn %d), ",
			shortVersion(e.HAProxy), e.HAProxyMTThreads, e.HAProxyMaxConn)
	}
	if e.Nginx != "" {
		fmt.Fprintf(&b, "nginx %s (worker_processes auto), ", shortVersion(e.Nginx))
	}
	if e.Wrk != "" {
		fmt.Fprintf(&b, "wrk %s, ", shortVersion(e.Wrk))
	}
	fmt.Fprintf(&b, "bin/%s", e.LB)
	if e.LBBase != "" {
		fmt.Fprintf(&b, ", lb-base: %s from %s", e.LBBase, r.Options.BaseBin)
		if r.Options.BaseConfig != "" {
			fmt.Fprintf(&b, " with %s on top of lb's config", r.Options.BaseConfig)
		}
	}
	fmt.Fprintf(&b, ", %s.\n", e.GoVersion)
	if n := r.Options.ServerMaxConn; n > 0 {
		fmt.Fprintf(&b, "Each backend's connections bounded at %d, with a queue beyond (`--server-maxconn`): lb's `max_conns_per_backend`, HAProxy's server `maxconn`, in HTTP mode; nginx takes no part (no queue in its open-source build).\n", n)
	}
	if r.Sizes.Note != "" {
		fmt.Fprintf(&b, "Connections: %s.\n", r.Sizes.Note)
	}
	for _, t := range tables(r.Cells, r.IdleCells, has(r.Options.Targets, targetLBBase)) {
		fmt.Fprintf(&b, "\n%s:\n\n%s", t.Title, markdownTable(t))
	}
	b.WriteString("\n" + notes + "\n")
	if len(r.IdleCells) > 0 {
		b.WriteString("\n" + idleNotes + "\n")
	}
	if ls := crowdLines(r.Measurements); len(ls) > 0 {
		b.WriteString("\n")
		for _, l := range ls {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	fmt.Fprintf(&b, "\n%s\n", r.Noise.line())
	for _, l := range noisyLines(r.Noise) {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	b.WriteString("\nCases:\n")
	for _, c := range r.Cases {
		fmt.Fprintf(&b, "- `%s`: %s\n", c.ID, c.Desc)
	}
	if len(r.Errors) > 0 {
		b.WriteString("\nErrors:\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "- %s\n", e)
		}
	}
	return b.String()
}

// versionRE finds the version number in a tool's version line.
var versionRE = regexp.MustCompile(`\d+\.\d+(\.\d+)?`)

// shortVersion returns the version number in a version line ("HAProxy
// version 2.6.12-1+deb12u4 ..." gives 2.6.12), or the line when it has none,
// or "?" when it is empty.
func shortVersion(line string) string {
	if v := versionRE.FindString(line); v != "" {
		return v
	}
	if line == "" {
		return "?"
	}
	return line
}

// noisyThreshold: cells whose spread across rounds reaches it are listed.
const noisyThreshold = 0.10

// noisyLines describes the noisiest cells at or above noisyThreshold.
func noisyLines(n noiseSummary) []string {
	var out []string
	for _, c := range n.Noisiest {
		if c.Spread >= noisyThreshold {
			out = append(out, fmt.Sprintf("noisy: %s/%s %s spread %.0f%%", c.Case, c.Target, c.Figure, 100*c.Spread))
		}
	}
	return out
}

// writeFiles writes peerbench-YYYYMMDD-HHMMSS.json and latest.md into dir
// and returns their paths.
func writeFiles(dir string, r *report) (string, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", "", err
	}
	jsonPath := filepath.Join(dir, "peerbench-"+r.Started.Format("20060102-150405")+".json")
	if err := os.WriteFile(jsonPath, append(js, '\n'), 0o644); err != nil {
		return "", "", err
	}
	mdPath := filepath.Join(dir, "latest.md")
	if err := os.WriteFile(mdPath, []byte(markdown(r)), 0o644); err != nil {
		return jsonPath, "", err
	}
	return jsonPath, mdPath, nil
}
