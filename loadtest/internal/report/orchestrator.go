package report

import (
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
)

// Replacement is a task that the orchestrator (Docker Swarm) replaced after
// the run took it down (kill, stop, a cut-off task): recovery by the
// orchestrator, a figure of its own beside the balancer's failover figures.
// Times are in ms since the run started.
type Replacement struct {
	// Event is the action that took the task down, e.g. "kill backend:2".
	Event   string `json:"event"`
	Service string `json:"service"`
	Slot    int    `json:"slot"`
	// Old and New are the container names of the task taken down and of
	// its replacement, OldBackend and NewBackend their X-Backend names.
	Old        string  `json:"old"`
	OldBackend string  `json:"old_backend,omitempty"`
	New        string  `json:"new,omitempty"`
	NewBackend string  `json:"new_backend,omitempty"`
	FaultMs    float64 `json:"fault_ms"`
	// CreatedMs is when Swarm created the new task, RunningMs when it ran
	// (healthy: Swarm keeps a task with a health check "starting" until it
	// passes), ServedMs the first request the new task served through the
	// balancer. Absent when it did not happen within the run.
	CreatedMs *float64 `json:"created_ms,omitempty"`
	RunningMs *float64 `json:"running_ms,omitempty"`
	ServedMs  *float64 `json:"served_ms,omitempty"`
	// ReplaceMs is the orchestrator's replacement time: from the fault until
	// the new task ran. ServeMs is from the fault until it served.
	ReplaceMs *float64 `json:"replacement_ms,omitempty"`
	ServeMs   *float64 `json:"served_after_ms,omitempty"`
}

// FillServed sets each replacement's ServedMs and ServeMs from the run's
// per-second figures: the first request its new task served after the fault.
func FillServed(run *Run) {
	for i := range run.Replacements {
		r := &run.Replacements[i]
		if r.NewBackend == "" {
			continue
		}
		if at, ok := firstServed(run.Seconds, r.NewBackend, r.FaultMs); ok {
			r.ServedMs, r.ServeMs = ptr(at), ptr(at-r.FaultMs)
		}
	}
}

// ReplacementsTable prints the tasks the orchestrator replaced, if any.
func ReplacementsTable(w io.Writer, run *Run) error {
	if len(run.Replacements) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nOrchestrator (Swarm replaced the tasks the run took down; times from the fault)")
	t := newTable(w, "event", "task", "at", "replaced by", "new task created", "running (healthy)", "served through the lb")
	for _, r := range run.Replacements {
		created, running := "-", "never (within the run)"
		if r.CreatedMs != nil {
			created = FormatMs(*r.CreatedMs - r.FaultMs)
		}
		if r.ReplaceMs != nil {
			running = FormatMs(*r.ReplaceMs)
		}
		served := "-"
		if r.ServeMs != nil {
			served = FormatMs(*r.ServeMs)
		} else if r.New != "" {
			served = "not within the run"
		}
		if err := t.Append([]string{r.Event, ShortName(r.Old), secs(r.FaultMs), ShortName(orDash(r.New)), created, running, served}); err != nil {
			return err
		}
	}
	return t.Render()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// replacementsHTML renders the replacements as an HTML section.
func replacementsHTML(run *Run) template.HTML {
	if len(run.Replacements) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(`<h3>Orchestrator</h3><table><tr><th>event</th><th>task</th><th>at</th><th>replaced by</th><th>new task created</th><th>running (healthy)</th><th>served through the lb</th></tr>`)
	for _, r := range run.Replacements {
		cell := func(p *float64) string {
			if p == nil {
				return "-"
			}
			return FormatMs(*p)
		}
		var created *float64
		if r.CreatedMs != nil {
			created = ptr(*r.CreatedMs - r.FaultMs)
		}
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>",
			template.HTMLEscapeString(r.Event), template.HTMLEscapeString(ShortName(r.Old)), secs(r.FaultMs),
			template.HTMLEscapeString(ShortName(orDash(r.New))), cell(created), cell(r.ReplaceMs), cell(r.ServeMs))
	}
	b.WriteString(`</table><p class="muted">Swarm replaces a task that stops; these are its own recovery times, from the fault: the new task created, running (with a health check, once it passed) and serving through the balancer.</p>`)
	return template.HTML(b.String())
}

// swarmTaskName shortens a Swarm task container name for tables:
// "<stack>_<service>.<slot>.<task id>" -> "<service>.<slot>.<first 6 of the task id>".
func swarmTaskName(name string) (string, bool) {
	parts := strings.Split(name, ".")
	if len(parts) != 3 || len(parts[2]) != 25 {
		return "", false
	}
	if _, err := strconv.Atoi(parts[1]); err != nil {
		return "", false
	}
	svc := parts[0]
	if i := strings.Index(svc, "_"); i > 0 {
		svc = svc[i+1:]
	}
	return svc + "." + parts[1] + "." + parts[2][:6], true
}
