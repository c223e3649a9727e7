package balance

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSwitch(t *testing.T) {
	var logs bytes.Buffer
	s, err := NewSwitch("round_robin", slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	assert.Equal(t, "round_robin", s.Algorithm())
	before := s.Current()

	tests := []struct {
		name, to, wantErr, want string
	}{
		{"unknown name keeps the algorithm", "fastest", `unknown algorithm "fastest"`, "round_robin"},
		{"switch", "ip_hash", "", "ip_hash"},
		{"same name again", "ip_hash", "", "ip_hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.SetAlgorithm(tt.to)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.want, s.Algorithm())
			assert.Equal(t, tt.want, s.Current().Name)
		})
	}
	assert.Equal(t, "round_robin", before.Name, "a request keeps the algorithm it loaded")
	assert.Equal(t, 1, bytes.Count(logs.Bytes(), []byte("algorithm changed")), "one line per actual change")
}

func TestNewSwitchRejectsUnknown(t *testing.T) {
	_, err := NewSwitch("nope", nil)
	require.Error(t, err)
}
