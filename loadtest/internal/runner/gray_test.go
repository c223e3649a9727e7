package runner

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/loadtest/internal/attack"
	"github.com/lblab/lblab/loadtest/internal/report"
)

func TestGraySeconds(t *testing.T) {
	c := func(retries, hedges, ejections float64) map[string]float64 {
		return map[string]float64{"retries": retries, "hedges": hedges, "ejections": ejections}
	}
	samples := []graySample{
		{250, c(5, 0, 0)}, {500, c(6, 1, 0)}, {1000, c(8, 1, 0)},
		{1250, c(8, 3, 1)}, {2250, c(10, 3, 1)},
	}
	got := graySeconds(samples, 4)
	assert.Equal(t, []report.GraySecond{
		{Retries: 3, Hedges: 1},   // 5 -> 8 by 1.0 s
		{Hedges: 2, Ejections: 1}, // 8 -> 8, 1 -> 3 by 2.0 s
		{Retries: 2},              // by 3.0 s: the sample at 2.25 s
		{},                        // no new sample: nothing more
	}, got)
	assert.Nil(t, graySeconds(nil, 4))

	run := report.Run{Label: "x", GraySeconds: got, Summary: attack.Summary{Seconds: make([]attack.Second, 4)}}
	var buf bytes.Buffer
	require.NoError(t, report.WriteHTML(&buf, &report.Result{Runs: []report.Run{run}}))
	assert.Contains(t, buf.String(), "retries, hedges, per-try timeouts and ejections per second")
}
