package report

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/loadtest/internal/attack"
)

func TestGrayTable(t *testing.T) {
	run := func(label string, errs int, gray map[string]float64) Run {
		return Run{Label: label, Gray: gray, Summary: attack.Summary{Total: attack.Stats{
			Requests: 1000, Errors: errs, ErrorRate: float64(errs) / 1000,
			Latency: attack.Latency{P50: 1.5, P99: 210, P999: 480},
		}}}
	}
	var buf bytes.Buffer
	require.NoError(t, GrayTable(&buf, []Run{
		run("defaults", 87, map[string]float64{"retries": 0}),
		run("try_timeout", 0, map[string]float64{"retries": 40, "try_timeouts": 40, "hedges": 10, "hedge_wins": 7, "ejections": 1}),
	}))
	out := buf.String()
	assert.Contains(t, out, "p99.9")
	assert.Contains(t, out, "87 (8.70%)")
	assert.Contains(t, out, "50 (5.00%)") // retries + hedges
	assert.Contains(t, out, "10 (7)")
	assert.Contains(t, out, "480.0ms")

	buf.Reset()
	require.NoError(t, GrayTable(&buf, []Run{run("plain", 0, nil)}))
	assert.Empty(t, buf.String(), "no table without the balancer's counters")
}
