package report

import (
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
)

// Workers describes a run whose load was split over several workers
// (processes on one machine, or a Swarm service's tasks on several), each
// attacking a share of the rate and streaming its results to the
// coordinator, which merged them into this run's figures.
type Workers struct {
	// Count is how many workers took part; Finished how many ran to the end.
	Count    int `json:"count"`
	Finished int `json:"finished"`
	// Partial is true when a worker died: the run's figures lack what it
	// would have sent from then on.
	Partial bool     `json:"partial"`
	Workers []Worker `json:"workers"`
}

// Worker is one worker's share and what it sent.
type Worker struct {
	Name string `json:"name"`
	Host string `json:"host,omitempty"`
	// Rate, Concurrency and Requests are its share of the scenario's.
	Rate        int `json:"rate,omitempty"`
	Concurrency int `json:"concurrency,omitempty"`
	Requests    int `json:"requests,omitempty"`
	// Sent is the number of results the worker said it produced (in its
	// last message), Merged the number the coordinator received and merged.
	Sent   int `json:"sent"`
	Merged int `json:"merged"`
	// Error says why the worker dropped out ("" when it finished).
	Error string `json:"error,omitempty"`
}

// Dead lists the names of the workers that dropped out, with why.
func (w *Workers) Dead() []string {
	var out []string
	for _, x := range w.Workers {
		if x.Error != "" {
			out = append(out, x.Name+" ("+x.Error+")")
		}
	}
	return out
}

// WorkersTable prints the workers of a distributed run, if it was one.
func WorkersTable(w io.Writer, run *Run) error {
	if run.Workers == nil {
		return nil
	}
	ws := run.Workers
	fmt.Fprintf(w, "\nWorkers (%d of %d finished; their results are merged in the tables above)\n", ws.Finished, ws.Count)
	t := newTable(w, "worker", "host", "share", "sent", "merged", "status")
	sent, merged := 0, 0
	for _, x := range ws.Workers {
		status := "finished"
		if x.Error != "" {
			status = "DIED: " + x.Error
		}
		sent += x.Sent
		merged += x.Merged
		if err := t.Append([]string{x.Name, x.Host, share(x), strconv.Itoa(x.Sent), strconv.Itoa(x.Merged), status}); err != nil {
			return err
		}
	}
	t.Footer("total", "", "", strconv.Itoa(sent), strconv.Itoa(merged), "")
	return t.Render()
}

func share(x Worker) string {
	var parts []string
	if x.Rate > 0 {
		parts = append(parts, fmt.Sprintf("%d req/s", x.Rate))
	}
	if x.Concurrency > 0 {
		parts = append(parts, fmt.Sprintf("%d workers", x.Concurrency))
	}
	if x.Requests > 0 {
		parts = append(parts, fmt.Sprintf("%d requests", x.Requests))
	}
	return strings.Join(parts, ", ")
}

// workersHTML renders the workers as an HTML section.
func workersHTML(run *Run) template.HTML {
	if run.Workers == nil {
		return ""
	}
	ws := run.Workers
	var b strings.Builder
	fmt.Fprintf(&b, `<h3>Workers</h3><p>%d of %d workers finished; their results are merged in the figures above.</p>`, ws.Finished, ws.Count)
	b.WriteString(`<table><tr><th>worker</th><th>host</th><th>share</th><th>sent</th><th>merged</th><th>status</th></tr>`)
	for _, x := range ws.Workers {
		status := "finished"
		if x.Error != "" {
			status = `<span class="fail">died: ` + template.HTMLEscapeString(x.Error) + `</span>`
		}
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%d</td><td>%d</td><td>%s</td></tr>",
			template.HTMLEscapeString(x.Name), template.HTMLEscapeString(x.Host), share(x), x.Sent, x.Merged, status)
	}
	b.WriteString(`</table>`)
	return template.HTML(b.String())
}

// partialWhy says why a result is partial: the workers that died, else an
// interruption.
func partialWhy(r *Result) string {
	var dead []string
	for i := range r.Runs {
		if ws := r.Runs[i].Workers; ws != nil {
			dead = append(dead, ws.Dead()...)
		}
	}
	if len(dead) == 0 {
		return "interrupted"
	}
	return "worker died: " + strings.Join(dead, ", ")
}
