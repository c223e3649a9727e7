package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// columns of the table, on stdout and in latest.md.
var columns = []string{
	"case", "target", "req/s", "p50 ms", "p99 ms", "max ms", "p99 over direct ms",
	"CPU s/100k req", "failed", "vs haproxy", "CPU vs haproxy",
}

// textColumn: aligned left; the figures align right.
func textColumn(i int) bool { return i < 2 }

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
}

// row formats one cell as the table's strings.
func row(c cell) []string {
	r := make([]string, len(columns))
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
	if c.VsHAProxy != nil {
		if c.Rate {
			r[9] = fmt.Sprintf("%+.2f ms", *c.VsHAProxy)
		} else {
			r[9] = fmt.Sprintf("%.2f×", *c.VsHAProxy)
		}
	}
	if c.CPUVsHAProxy != nil {
		r[10] = fmt.Sprintf("%.2f×", *c.CPUVsHAProxy)
	}
	return r
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

// writeTable prints the cells as a tablewriter table.
func writeTable(w io.Writer, cells []cell) error {
	align := make([]tw.Align, len(columns))
	header := make([]any, len(columns))
	for i, c := range columns {
		header[i] = c
		align[i] = tw.AlignRight
		if textColumn(i) {
			align[i] = tw.AlignLeft
		}
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignCenter),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}),
	)
	t.Header(header...)
	for _, c := range cells {
		if err := t.Append(row(c)); err != nil {
			return err
		}
	}
	return t.Render()
}

// markdownTable renders the cells as a GitHub Markdown table.
func markdownTable(cells []cell) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(columns, " | ") + " |\n|")
	for i := range columns {
		if textColumn(i) {
			b.WriteString("---|")
		} else {
			b.WriteString("--:|")
		}
	}
	b.WriteString("\n")
	for _, c := range cells {
		b.WriteString("| " + strings.Join(row(c), " | ") + " |\n")
	}
	return b.String()
}

// notes explains the columns, below the table.
const notes = `req/s: completed requests per second (rate cases: successful ones per second, the wait for the
last responses included); p50/p99/max: latency;
p99 over direct: rate cases, p99 minus direct's p99 in the same round; CPU: the proxy's user+system
seconds per 100k requests (nginx: master and workers); failed: socket errors and error statuses,
total over all rounds; vs haproxy: req/s ÷ HAProxy's (rate cases: p99 − HAProxy's p99) and CPU per
request ÷ HAProxy's, medians of same-round comparisons. lb-rp: bin/lb with "forwarder": "reverseproxy"
(every request through httputil.ReverseProxy), otherwise lb's config; HTTP cases only.`

// markdown renders latest.md: what was measured, the table, the notes and the noise.
func markdown(r *report) string {
	var b strings.Builder
	e := r.Environment
	fmt.Fprintf(&b, "## Peer comparison, %s\n\n", r.Started.Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, "`make bench` (loadtest/cmd/peerbench): loopback, each proxy in front of the same three `bin/backend`,\n")
	fmt.Fprintf(&b, "keep-alive to the backends; %d round(s) × %s per measurement, target order rotated each round,\n", r.Options.Rounds, r.Options.Duration)
	fmt.Fprintf(&b, "medians over rounds. %d CPUs (GOMAXPROCS %d), load average at start %s; HAProxy %s (nbthread 1, maxconn %d),\n",
		e.NumCPU, e.GOMAXPROCS, e.LoadAvg, shortVersion(e.HAProxy), e.HAProxyMaxConn)
	fmt.Fprintf(&b, "nginx %s (worker_processes auto), wrk %s, bin/%s, %s.\n\n", shortVersion(e.Nginx), shortVersion(e.Wrk), e.LB, e.GoVersion)
	b.WriteString(markdownTable(r.Cells))
	b.WriteString("\n" + notes + "\n\n")
	fmt.Fprintf(&b, "%s\n", r.Noise.line())
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
