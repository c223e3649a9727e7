package scenario

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDrainValidation(t *testing.T) {
	base := "target: http://127.0.0.1:8080/\nrate: 10\nduration: 10s\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"drain without node", base + "timeline:\n  - at: 1s\n    action: drain\n", "x.yaml:5: timeline[0]: drain needs node"},
		{"node on another action", base + "timeline:\n  - at: 1s\n    action: kill\n    target: 2\n    node: n1\n", "x.yaml:8: timeline[0].node: kill takes no node"},
		{"drain takes no target", base + "timeline:\n  - at: 1s\n    action: drain\n    node: n1\n    target: 2\n", "timeline[0].target: drain takes no target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	s, err := Parse("x.yaml", []byte(base+"timeline:\n  - at: 1s\n    action: drain\n    node: worker-2\n"))
	require.NoError(t, err)
	assert.True(t, s.UsesDocker())
}

func TestCheckLab(t *testing.T) {
	doc := `target: http://127.0.0.1:8080/
rate: 10
duration: 10s
timeline:
  - at: 1s
    action: kill
    target: 2
  - at: 2s
    action: restart
    target: 2
  - at: 3s
    action: drain
    node: worker-2
`
	s, err := Parse("x.yaml", []byte(doc))
	require.NoError(t, err, "a valid scenario until the lab is known")

	err = s.CheckLab(LabSwarm)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "x.yaml:9: timeline[1].action: restart against a swarm lab: Swarm cannot restart a task in place")
	assert.NotContains(t, err.Error(), "drain")

	err = s.CheckLab(LabCompose)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "x.yaml:12: timeline[2].action: drain against a compose lab")
	assert.NotContains(t, err.Error(), "restart")

	assert.ErrorContains(t, s.CheckLab("k8s"), `unknown lab kind "k8s"`)
	assert.True(t, ValidLab(LabSwarm))
	assert.False(t, ValidLab("k8s"))
}

// The shipped scenarios run against both kinds of lab.
func TestShippedScenariosRunOnEitherLab(t *testing.T) {
	files, err := filepath.Glob("../../../scenarios/*.yaml")
	require.NoError(t, err)
	for _, f := range files {
		s, err := Load(f)
		require.NoError(t, err)
		for _, kind := range LabKinds {
			assert.NoError(t, s.CheckLab(kind), "%s against %s", filepath.Base(f), kind)
		}
	}
}
