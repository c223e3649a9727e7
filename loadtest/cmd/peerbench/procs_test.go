package main

import (
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProcSetRestart(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep(1)")
	}
	s := &procSet{logDir: t.TempDir()}
	t.Cleanup(func() { s.stopAll(5 * time.Second) })
	p, err := s.start("napper", sleep, "60")
	require.NoError(t, err)
	p.Children = true
	np, err := s.restart(p, 5*time.Second)
	require.NoError(t, err)
	assert.True(t, p.exited(), "the old process was stopped")
	assert.False(t, np.exited())
	assert.NotEqual(t, p.PID, np.PID)
	assert.Equal(t, "napper", np.Name)
	assert.Equal(t, p.LogPath, np.LogPath, "same log, appended to")
	assert.True(t, np.Children, "kept")
	require.NoError(t, s.alive(), "the stopped process is no longer in the set")
	assert.Equal(t, 1, s.stopAll(5*time.Second))
	assert.True(t, np.exited())
}
