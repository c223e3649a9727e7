// Package report turns runs into results: the JSON result file, the tables
// printed at the end of a run, the self-contained HTML report, the figures
// derived from failover events, and the comparison of result files.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lblab/lblab/loadtest/internal/attack"
	"github.com/lblab/lblab/loadtest/internal/scenario"
)

// Schema is the version of the result file format. Version 2 dropped the
// runs' "start" (the same as their "started") and rounds every figure to
// what was measured; Load reads versions 1 and 2.
const Schema = 2

// MinSchema is the oldest result file format Load reads.
const MinSchema = 1

// Result is one result file: a scenario's runs (one, or one per algorithm).
type Result struct {
	Schema      int               `json:"schema"`
	Scenario    ScenarioInfo      `json:"scenario"`
	Settings    Settings          `json:"settings"`
	Versions    map[string]string `json:"versions"`
	Environment Environment       `json:"environment"`
	Started     time.Time         `json:"started"`
	Finished    time.Time         `json:"finished"`
	// Partial marks a run cut short (Ctrl-C): figures cover what ran.
	Partial bool `json:"partial"`
	// Passed is true when every expectation of every run held.
	Passed bool  `json:"passed"`
	Runs   []Run `json:"runs"`
	// Lab is the shape of the lab at the start: running containers per
	// service and the backends' settings (what could be measured).
	Lab *LabShape `json:"lab,omitempty"`
	// Calibration is the supermarket's measurement of the service time;
	// absent for other scenarios.
	Calibration *Calibration `json:"calibration,omitempty"`
	// Errors lists problems outside the runs (e.g. restoring the lab).
	Errors []string `json:"errors,omitempty"`
}

// ScenarioInfo names the scenario and keeps its full definition.
type ScenarioInfo struct {
	Name        string             `json:"name"`
	File        string             `json:"file,omitempty"`
	Description string             `json:"description,omitempty"`
	Definition  *scenario.Scenario `json:"definition,omitempty"`
}

// Settings are the load settings in effect.
type Settings struct {
	Target string `json:"target"`
	Method string `json:"method"`
	// BodyBytes is the size of every request's body (loadtest attack --body).
	BodyBytes int    `json:"body_bytes,omitempty"`
	Model     string `json:"model"` // "open" (rate) or "closed" (concurrency)
	Rate      int    `json:"rate,omitempty"`
	// Arrivals is the open model's arrival process: "constant" or "poisson"
	// (empty in files written before the field existed: constant).
	Arrivals    string  `json:"arrivals,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
	Requests    int     `json:"requests,omitempty"`
	DurationS   float64 `json:"duration_s,omitempty"`
	WarmupS     float64 `json:"warmup_s,omitempty"`
	TimeoutS    float64 `json:"timeout_s"`
	// KeepAlive is false when every request opened its own connection (nil
	// in files written before the field existed: connections were reused).
	KeepAlive  *bool    `json:"keepalive,omitempty"`
	Algorithms []string `json:"algorithms,omitempty"`
	Project    string   `json:"project,omitempty"`
	Service    string   `json:"service,omitempty"`
	Admin      string   `json:"admin,omitempty"`
}

// Environment describes where the run happened.
type Environment struct {
	Hostname string `json:"hostname"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	CPUs     int    `json:"cpus"`
	Docker   string `json:"docker,omitempty"`
}

// Run is one attack with its timeline.
type Run struct {
	// Label names the run: the algorithm, or the scenario name.
	Label     string    `json:"label"`
	Algorithm string    `json:"algorithm,omitempty"`
	Started   time.Time `json:"started"`
	Partial   bool      `json:"partial"`
	Passed    bool      `json:"passed"`
	attack.Summary
	// Containers maps X-Backend values to container names.
	Containers map[string]string `json:"containers,omitempty"`
	Actions    []Action          `json:"actions"`
	// Balancer lists the backends' state changes seen in the balancer's
	// status during the run (empty without the admin API).
	Balancer     []BalancerEvent `json:"balancer_events"`
	Derived      []Derived       `json:"derived"`
	Expectations []Outcome       `json:"expectations"`
	// Replacements lists the tasks the orchestrator (Swarm) replaced after
	// the run took them down; absent for a Compose lab.
	Replacements []Replacement `json:"replacements,omitempty"`
	// Workers describes the workers of a distributed run; absent when this
	// process sent the load itself.
	Workers *Workers `json:"workers,omitempty"`
	// Gray holds what the balancer counted during the run (retries,
	// try_timeouts, hedges, hedge_wins, budget_refused_retries,
	// budget_refused_hedges, ejections): the difference of its
	// gray_failures counters from before to after the run. Absent when the
	// balancer does not report them.
	Gray map[string]float64 `json:"gray,omitempty"`
	// GraySeconds holds, per second of the run, what those counters grew
	// by (from the balancer's status, polled every 250 ms).
	GraySeconds []GraySecond `json:"gray_seconds,omitempty"`
	// Queue holds the supermarket figures of the run; absent for other
	// scenarios.
	Queue *Queue `json:"queue,omitempty"`
}

// UnmarshalJSON reads a run, taking its start time from "start" in files
// of schema 1 that lack "started".
func (r *Run) UnmarshalJSON(data []byte) error {
	type plain Run // without this method
	aux := struct {
		*plain
		Start time.Time `json:"start"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	if r.Started.IsZero() {
		r.Started = aux.Start
	}
	r.Summary.Start = r.Started
	return nil
}

// GraySecond is one second of the balancer's gray-failure counters.
type GraySecond struct {
	Retries     float64 `json:"retries"`
	Hedges      float64 `json:"hedges"`
	TryTimeouts float64 `json:"try_timeouts"`
	Ejections   float64 `json:"ejections"`
}

// Action records one timeline action as it ran.
type Action struct {
	// PlannedMs is when the scenario asked for it, AtMs when it started and
	// TookMs how long it took, in ms since the run started.
	PlannedMs float64 `json:"planned_ms"`
	AtMs      float64 `json:"at_ms"`
	TookMs    float64 `json:"took_ms"`
	Action    string  `json:"action"`
	Target    string  `json:"target,omitempty"`
	// Container and Backend are the container acted on and its X-Backend name.
	Container string `json:"container,omitempty"`
	Backend   string `json:"backend,omitempty"`
	Phase     string `json:"phase,omitempty"`
	Note      string `json:"note,omitempty"`
	// Detail says what happened, e.g. the replicas a scale added.
	Detail string `json:"detail,omitempty"`
	// Added and Removed list the X-Backend names of replicas a scale changed,
	// with their container names in AddedNames and RemovedNames.
	Added        []string `json:"added,omitempty"`
	AddedNames   []string `json:"added_names,omitempty"`
	Removed      []string `json:"removed,omitempty"`
	RemovedNames []string `json:"removed_names,omitempty"`
	Error        string   `json:"error,omitempty"`
}

// Label formats the action for people, e.g. "kill backend:2".
func (a Action) Label() string {
	s := a.Action
	if a.Target != "" {
		s += " " + a.Target
	}
	if a.Detail != "" {
		s += " (" + a.Detail + ")"
	}
	return s
}

// Outcome is the verdict on one expectation.
type Outcome struct {
	Check  string `json:"check"`
	Scope  string `json:"scope"`
	Limit  string `json:"limit"`
	Actual string `json:"actual"`
	Passed bool   `json:"passed"`
}

// FileName returns "<scenario>-<yyyymmdd-hhmmss>.json".
func FileName(name string, t time.Time) string {
	return fmt.Sprintf("%s-%s.json", name, t.Format("20060102-150405"))
}

// WriteJSON writes r to path, indented, creating the directory.
func WriteJSON(path string, r *Result) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// Load reads a result file.
func Load(path string) (*Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read result %s: %w", path, err)
	}
	if r.Schema < MinSchema || r.Schema > Schema || len(r.Runs) == 0 {
		return nil, fmt.Errorf("read result %s: not a loadtest result file (schema %d, %d runs)", path, r.Schema, len(r.Runs))
	}
	return &r, nil
}

// BackendLabel names a backend for people: its container name without the
// "<project>_" prefix, else the X-Backend value; "(none)" for NoBackend.
func (r *Run) BackendLabel(x string) string {
	if x == attack.NoBackend {
		return "(none)"
	}
	if n := r.Containers[x]; n != "" {
		return ShortName(n)
	}
	return x
}

// ShortName drops the Compose project prefix of a container name
// ("lblab_backend_1" -> "backend_1", "lblab-backend-1" -> "backend-1"), and
// shortens a Swarm task's ("lbswarm_backend.2.<task id>" -> "backend.2.<6
// characters of the task id>").
func ShortName(name string) string {
	if s, ok := swarmTaskName(name); ok {
		return s
	}
	for _, sep := range []string{"_", "-"} {
		if i := strings.Index(name, sep); i > 0 && strings.Count(name, sep) >= 2 {
			return name[i+1:]
		}
	}
	return name
}
