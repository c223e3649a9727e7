package report

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
