package runner

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/lblab/lblab/loadtest/internal/attack"
	"github.com/lblab/lblab/loadtest/internal/report"
)

// After a kill on Swarm, a slot's new task is another backend: an
// expectation on the target means the backend the target named when the
// phase began (the killed one while it is down, the new one after start).
func TestExpectationsFollowAReplacedTask(t *testing.T) {
	s := load(t, `target: http://127.0.0.1:1/
rate: 10
duration: 60s
timeline:
  - {at: 20s, action: kill, target: 2, phase: down}
  - {at: 24s, action: mark, phase: detected}
  - {at: 40s, action: start, target: 2, phase: recovering}
  - {at: 50s, action: mark, phase: recovered}
expect:
  phases:
    detected: {no_traffic_to: [2]}
    recovering: {traffic_to: [2]}
    recovered: {traffic_to: [2]}
`)
	r := &runner{s: s}
	run := &report.Run{
		Actions: []report.Action{
			{AtMs: 20000, Action: "kill", Target: "backend:2", Backend: "old", Phase: "down"},
			{AtMs: 24000, Action: "mark", Phase: "detected"},
			{AtMs: 40000.2, Action: "start", Target: "backend:2", Backend: "new", Phase: "recovering"},
			{AtMs: 50000, Action: "mark", Phase: "recovered"},
		},
		Summary: attack.Summary{Phases: []attack.PhaseStats{
			{Name: "steady", StartMs: 0, Stats: attack.Stats{Backends: map[string]int{"old": 10, "x": 10}}},
			{Name: "down", StartMs: 20000, Stats: attack.Stats{Backends: map[string]int{"old": 2, "x": 10}}},
			// Swarm's new task serves from 26 s on, in the phase "detected".
			{Name: "detected", StartMs: 24000, Stats: attack.Stats{Backends: map[string]int{"new": 40, "x": 60}}},
			{Name: "recovering", StartMs: 40000, Stats: attack.Stats{Backends: map[string]int{"new": 30, "x": 30}}},
			{Name: "recovered", StartMs: 50000, Stats: attack.Stats{Backends: map[string]int{"new": 30, "x": 30}}},
		}},
	}
	out := r.evaluate(t.Context(), run)
	got := map[string]string{}
	for _, o := range out {
		if o.Check == "no_traffic_to" || o.Check == "traffic_to" {
			got[o.Scope] = o.Actual
			assert.True(t, o.Passed, "%s %s: %s", o.Check, o.Scope, o.Actual)
		}
	}
	assert.Equal(t, map[string]string{
		"phase detected": "old served 0", "phase recovering": "new served 30", "phase recovered": "new served 30",
	}, got)
}
