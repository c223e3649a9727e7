package report

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/loadtest/internal/attack"
)

func TestShortNameSwarmTasks(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"lbswarm_backend.2.3izb0vr9qeqvo3r09swqhdalm", "backend.2.3izb0v"},
		{"lblab_backend_1", "backend_1"},
		{"lblab-backend-1", "backend-1"},
		{"s_backend.x.3izb0vr9qeqvo3r09swqhdalm", "s_backend.x.3izb0vr9qeqvo3r09swqhdalm"},
		{"s_backend.2.short", "s_backend.2.short"},
	} {
		assert.Equal(t, tc.want, ShortName(tc.in), tc.in)
	}
}

// A run against a stack with a distributed load: the orchestrator's
// replacement and the workers show in the tables, the JSON and the HTML; a
// dead worker makes the result partial, by name.
func TestReplacementsAndWorkers(t *testing.T) {
	run := Run{
		Label: "failover",
		Summary: attack.Summary{Seconds: []attack.Second{
			{T: 20, Requests: 10, Backends: map[string]attack.BackendSecond{"oldhost": {Requests: 3, FirstMs: 20000, LastMs: 20100}}},
			{T: 26, Requests: 10, Backends: map[string]attack.BackendSecond{"newhost": {Requests: 4, FirstMs: 26250, LastMs: 26900}}},
		}},
		Replacements: []Replacement{{
			Event: "kill backend:2", Service: "backend", Slot: 2,
			Old: "lbswarm_backend.2.3izb0vr9qeqvo3r09swqhdalm", OldBackend: "oldhost",
			New: "lbswarm_backend.2.v9lgo462voyn6rlqt8qobx1cj", NewBackend: "newhost",
			FaultMs: 20000, CreatedMs: ptr(21100), RunningMs: ptr(25000), ReplaceMs: ptr(5000),
		}},
		Workers: &Workers{Count: 2, Finished: 1, Partial: true, Workers: []Worker{
			{Name: "local-1", Host: "h", Rate: 50, Sent: 500, Merged: 500},
			{Name: "local-2", Host: "h", Rate: 50, Sent: 210, Merged: 200, Error: "connection lost after 4.2s"},
		}},
	}
	FillServed(&run)
	require.NotNil(t, run.Replacements[0].ServeMs)
	assert.InDelta(t, 6250, *run.Replacements[0].ServeMs, 0.001, "first request of the new task after the fault")

	r := &Result{Schema: Schema, Scenario: ScenarioInfo{Name: "failover"}, Partial: true, Runs: []Run{run}}
	var out bytes.Buffer
	require.NoError(t, WriteTables(&out, r))
	text := out.String()
	assert.Contains(t, text, "[PARTIAL: worker died: local-2 (connection lost after 4.2s)]")
	assert.Contains(t, text, "Orchestrator (Swarm replaced")
	assert.Contains(t, text, "backend.2.3izb0v")
	assert.Contains(t, text, "backend.2.v9lgo4")
	assert.Contains(t, text, "1.10s") // created after the fault
	assert.Contains(t, text, "5.00s") // running (healthy)
	assert.Contains(t, text, "6.25s") // served
	assert.Contains(t, text, "Workers (1 of 2 finished")
	assert.Contains(t, text, "DIED: connection lost after 4.2s")

	var html bytes.Buffer
	require.NoError(t, WriteHTML(&html, r))
	assert.Contains(t, html.String(), "<h3>Orchestrator</h3>")
	assert.Contains(t, html.String(), "died: connection lost after 4.2s")

	path := t.TempDir() + "/r.json"
	require.NoError(t, WriteJSON(path, r))
	back, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, r.Runs[0].Replacements, back.Runs[0].Replacements)
	assert.Equal(t, r.Runs[0].Workers, back.Runs[0].Workers)
}
