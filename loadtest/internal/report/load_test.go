package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/loadtest/internal/attack"
)

// TestLoadRunStart: a run's start time is "started"; files written before
// schema 2 had it twice ("started" and "start"), and Load reads either.
func TestLoadRunStart(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name, schema, run string
	}{
		{"schema 2: started", "2", `"started": "2026-11-30T12:00:00.123456789Z"`},
		{"schema 1: both", "1", `"started": "2026-11-30T12:00:00.123456789Z", "start": "2026-11-30T12:00:00.123456789Z"`},
		{"schema 1: start only", "1", `"start": "2026-11-30T12:00:00.123456789Z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "r.json")
			doc := `{"schema": ` + tt.schema + `, "scenario": {"name": "x"}, "runs": [{"label": "x", ` + tt.run + `, "total": {"requests": 1}}]}`
			require.NoError(t, os.WriteFile(p, []byte(doc), 0o644))
			r, err := Load(p)
			require.NoError(t, err)
			assert.True(t, r.Runs[0].Started.Equal(at), "started %v", r.Runs[0].Started)
			assert.Equal(t, 1, r.Runs[0].Total.Requests)
			assert.Equal(t, "x", r.Runs[0].Label)
		})
	}
	t.Run("schema 3 is refused", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "r.json")
		require.NoError(t, os.WriteFile(p, []byte(`{"schema": 3, "runs": [{"label": "x"}]}`), 0o644))
		_, err := Load(p)
		require.ErrorContains(t, err, "schema 3")
	})
}

// TestDeriveRounded: derived times are differences of times to the
// microsecond, and are written to the microsecond too (5800.3 - 5000.1 is
// 800.1999999999998 in floating point).
func TestDeriveRounded(t *testing.T) {
	s := attack.Second{T: 5, Requests: 10, Success: 10, Backends: map[string]attack.BackendSecond{
		"b": {Requests: 5, FirstMs: 5000.2, LastMs: 5800.3},
	}}
	events := []BalancerEvent{{AtMs: 5250.7, Name: "b", Address: "b:8000", Backend: "b", State: "down"}}
	got := Derive([]attack.Second{s}, []Action{{AtMs: 5000.1, Action: "stop", Target: "2", Backend: "b"}}, events, 6000)
	require.Len(t, got, 1)
	data, err := json.Marshal(got[0])
	require.NoError(t, err)
	assert.JSONEq(t, `{"event": "stop 2", "backend": "b", "fault_ms": 5000.1, "failed_requests": 0, "slow_requests": 0,
		"last_served_ms": 5800.3, "time_to_detect_ms": 800.2, "balancer_down_ms": 250.6}`, string(data))
}
