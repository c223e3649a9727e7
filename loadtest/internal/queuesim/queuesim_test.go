package queuesim

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRandomIsMM1: with random dispatch each server is an M/M/1 queue; the
// simulated mean and p99 time in system match the closed form within 3%
// (long run, fixed seed).
func TestRandomIsMM1(t *testing.T) {
	for _, rho := range []float64{0.5, 0.8} {
		res, err := Run(Config{Servers: 10, Rho: rho, Policy: Random, Arrivals: 3_000_000, Seed: 3})
		require.NoError(t, err)
		mean, _, p99, err := MM1(rho)
		require.NoError(t, err)
		t.Logf("rho %.1f: simulated mean %.3f p99 %.3f; M/M/1 mean %.3f p99 %.3f", rho, res.Mean, res.P99, mean, p99)
		assert.InEpsilon(t, mean, res.Mean, 0.03, "rho %v mean", rho)
		assert.InEpsilon(t, p99, res.P99, 0.03, "rho %v p99", rho)
	}
}

// TestKnownOrder: at the same load, random > round_robin > power_of_two >
// least_connections in mean time in system; and one server, whatever the
// policy, is the M/M/1 queue.
func TestKnownOrder(t *testing.T) {
	var prev float64
	for i, p := range Policies {
		res, err := Run(Config{Servers: 10, Rho: 0.8, Policy: p, Arrivals: 300_000, Seed: 1})
		require.NoError(t, err)
		t.Logf("%s: mean %.3f p99 %.3f", p, res.Mean, res.P99)
		if i > 0 {
			assert.Less(t, res.Mean, prev, "%s after %s", p, Policies[i-1])
		}
		prev = res.Mean
		assert.Greater(t, res.Mean, 1.0, "no one spends less than a service time on average")
	}
	for _, p := range Policies {
		res, err := Run(Config{Servers: 1, Rho: 0.5, Policy: p, Arrivals: 1_000_000, Seed: 2})
		require.NoError(t, err)
		assert.InEpsilon(t, 2.0, res.Mean, 0.03, p)
	}
}

func TestDeterministic(t *testing.T) {
	c := Config{Servers: 4, Rho: 0.7, Policy: PowerOfTwo, Arrivals: 20_000, Seed: 9}
	a, _ := Run(c)
	b, _ := Run(c)
	assert.Equal(t, a, b)
	c.Seed = 10
	d, _ := Run(c)
	assert.NotEqual(t, a.Mean, d.Mean)
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want string
	}{
		{"rho 1", Config{Servers: 10, Rho: 1, Policy: Random}, "rho 1: want 0 < rho < 1"},
		{"rho 0", Config{Servers: 10, Rho: 0, Policy: Random}, "rho 0: want 0 < rho < 1"},
		{"no servers", Config{Servers: 0, Rho: 0.5, Policy: Random}, "servers 0: want at least 1"},
		{"unknown policy", Config{Servers: 2, Rho: 0.5, Policy: "ip_hash"}, `unknown policy "ip_hash"; known: random, round_robin, power_of_two, least_connections`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(tt.c)
			assert.ErrorContains(t, err, tt.want)
		})
	}
	_, _, _, err := MM1(1.2)
	assert.ErrorContains(t, err, "rho 1.2")
}
