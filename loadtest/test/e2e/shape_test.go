package e2e

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/loadtest/internal/runner"
)

// shapeYAML needs the default lab: lb and three backends with no capacity
// limit and no latency.
const shapeYAML = `
name: e2e-shape
target: http://127.0.0.1:%[1]d/
rate: 20
duration: 1s
admin: {url: "http://127.0.0.1:%[2]d"}
lab:
  shape:
    services: {lb: 1, backend: 3}
    backend: {capacity: 0, latency: 0s}
`

// testShape: with backend-slow left running (as the algorithms scenario
// leaves it), the next scenario refuses before sending anything and names
// the service; once it is gone, the run goes ahead and records the shape.
func testShape(t *testing.T, ctx context.Context, e *env) {
	s := e.scenarioDoc(t, "e2e-shape", shapeYAML)
	e.lab.ComposeRun(ctx, "--profile", "slow", "up", "-d", "--no-recreate", "backend-slow")
	t.Cleanup(func() {
		e.lab.ComposeRun(context.WithoutCancel(ctx), "--profile", "slow", "rm", "-s", "-f", "backend-slow")
	})
	var out bytes.Buffer
	_, err := runner.Run(ctx, s, runner.Options{Out: &out, Lab: e.ctl, Balancer: e.bal})
	require.ErrorIs(t, err, runner.ErrPreflight)
	require.ErrorIs(t, err, runner.ErrShape)
	assert.ErrorContains(t, err, "service backend-slow has 1 running, the scenario wants none")
	assert.NotContains(t, out.String(), "answered", "no load was sent")
	t.Log(err)

	// Gone again (once the balancer re-resolved its backends), the lab is
	// accepted and its shape recorded.
	e.lab.ComposeRun(ctx, "--profile", "slow", "rm", "-s", "-f", "backend-slow")
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := e.bal.Status(ctx)
		require.NoError(t, err)
		if len(st.Backends) == 3 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the balancer still lists %d backends", len(st.Backends))
		time.Sleep(200 * time.Millisecond)
	}
	o := e.run(t, ctx, s, "")
	require.NotNil(t, o.Result.Lab)
	assert.Equal(t, map[string]int{"lb": 1, "backend": 3}, o.Result.Lab.Services)
	assert.Len(t, o.Result.Lab.Backends, 3)
}
