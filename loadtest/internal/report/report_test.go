package report

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/loadtest/internal/attack"
)

// failoverSeconds builds 12 seconds of 100 req/s over backends a, b, c: b is
// killed at 3.0s, the balancer keeps sending it requests (which fail) until
// 4.5s, b is started at 7.0s and serves again from 8.2s.
func failoverSeconds() []attack.Second {
	var out []attack.Second
	for t := range 12 {
		s := attack.Second{T: t, Backends: map[string]attack.BackendSecond{}, P50: 2, P95: 5, P99: 9}
		for i := range 100 {
			ms := float64(t*1000 + i*10)
			name := []string{"a", "b", "c"}[i%3]
			bs := s.Backends[name]
			s.Requests++
			switch {
			case name == "b" && ms >= 3000 && ms < 4500:
				// Sent to the dead backend: fails without X-Backend.
				name = attack.NoBackend
				bs = s.Backends[name]
				bs.Errors++
				s.Errors++
				if s.FirstErrorMs == 0 {
					s.FirstErrorMs = ms
				}
				s.LastErrorMs = ms
			case name == "b" && ms >= 4500 && ms < 8200:
				name = "a" // rerouted
				bs = s.Backends[name]
				s.Success++
			default:
				s.Success++
			}
			if bs.Requests == 0 {
				bs.FirstMs = ms
			}
			bs.LastMs = ms
			bs.Requests++
			s.Backends[name] = bs
		}
		out = append(out, s)
	}
	return out
}

func TestDerive(t *testing.T) {
	seconds := failoverSeconds()
	actions := []Action{
		{AtMs: 1000, Action: "mark", Phase: "x"},
		{AtMs: 3000, Action: "kill", Target: "2", Backend: "b", Container: "lblab_backend_2"},
		{AtMs: 7000, Action: "start", Target: "2", Backend: "b", Container: "lblab_backend_2"},
		{AtMs: 9000, Action: "pause", Target: "3", Backend: "c", Error: "boom"}, // failed actions are skipped
		{AtMs: 10000, Action: "scale", Detail: "backend to 4", Added: []string{"d"}, AddedNames: []string{"lblab_backend_4"}},
	}
	got := Derive(seconds, actions, nil, 12000)
	require.Len(t, got, 2)

	d := got[0]
	assert.Equal(t, "kill 2", d.Event)
	assert.Equal(t, "b", d.Backend)
	assert.InDelta(t, 3000, *d.FaultMs, 1e-9)
	require.NotNil(t, d.LastFailedMs)
	assert.InDelta(t, 4490, *d.LastFailedMs, 1e-9)
	assert.Nil(t, d.LastServedMs, "b served nothing after the fault")
	assert.InDelta(t, 1490, *d.DetectMs, 1e-9)
	assert.Equal(t, 50, d.FailedRequests) // every third request in [3.0s, 4.5s)
	assert.Equal(t, "start 2", d.Recovery)
	require.NotNil(t, d.RecoverMs)
	assert.InDelta(t, 8220-7000, *d.RecoverMs, 1e-9) // b's first request after 8.2s
	assert.InDelta(t, 8220, *d.FirstServedMs, 1e-9)

	add := got[1]
	assert.Equal(t, "d", add.Backend)
	assert.Nil(t, add.FaultMs)
	assert.Nil(t, add.RecoverMs, "d never served")
	assert.InDelta(t, 10000, *add.RecoveryMs, 1e-9)
}

func TestDeriveServedAfterFault(t *testing.T) {
	// The backend keeps serving for 800 ms after a stop (graceful drain):
	// detection is the last request it served.
	s := attack.Second{T: 5, Requests: 10, Success: 10, Backends: map[string]attack.BackendSecond{
		"b": {Requests: 5, FirstMs: 5000, LastMs: 5800},
	}}
	got := Derive([]attack.Second{s}, []Action{{AtMs: 5000, Action: "stop", Target: "2", Backend: "b"}}, nil, 6000)
	require.Len(t, got, 1)
	assert.InDelta(t, 800, *got[0].DetectMs, 1e-9)
	assert.Empty(t, got[0].Recovery)
	assert.Nil(t, got[0].RecoverMs)
}

// sampleResult makes a one-run result with per-second p99 around p99 and
// the given rate, and noise from seed.
func sampleResult(name string, p99 float64, seed uint64) *Result {
	rng := rand.New(rand.NewPCG(seed, 1))
	run := Run{Label: name, Containers: map[string]string{"a": "lblab_backend_1", "b": "lblab_backend_2"}}
	run.WarmupMs, run.EndMs = 1000, 21000
	for t := range 21 {
		v := p99 + rng.NormFloat64()
		run.Seconds = append(run.Seconds, attack.Second{T: t, Requests: 100, Success: 100, P50: v / 3, P95: v * 0.9, P99: v,
			Backends: map[string]attack.BackendSecond{"a": {Requests: 50}, "b": {Requests: 50}}})
	}
	run.Total = attack.Stats{Requests: 2000, Success: 2000, SuccessRate: 1, Rate: 100, DurationS: 20,
		Latency: attack.Latency{P50: p99 / 3, P95: p99 * 0.9, P99: p99, Max: p99 * 2}, Backends: map[string]int{"a": 1000, "b": 1000}}
	run.Phases = []attack.PhaseStats{{Name: "warm-up", Warmup: true, EndMs: 1000}, {Name: "steady", StartMs: 1000, EndMs: 21000, Stats: run.Total}}
	run.Backends = []attack.BackendStats{{Name: "a", Requests: 1000, Share: 0.5}, {Name: "b", Requests: 1000, Share: 0.5}}
	run.Passed = true
	return &Result{Schema: Schema, Scenario: ScenarioInfo{Name: name}, Settings: Settings{Method: "GET", Target: "http://127.0.0.1:8080/", Rate: 100, DurationS: 21, WarmupS: 1},
		Passed: true, Runs: []Run{run}, Versions: map[string]string{"loadtest": "test"}}
}

func TestCompare(t *testing.T) {
	dir := t.TempDir()
	a, b, c := sampleResult("a", 20, 1), sampleResult("b", 20.2, 2), sampleResult("c", 40, 3)
	paths := make([]string, 3)
	for i, r := range []*Result{a, b, c} {
		paths[i] = filepath.Join(dir, r.Scenario.Name+".json")
		require.NoError(t, WriteJSON(paths[i], r))
	}
	var loaded []*Result
	for _, p := range paths {
		r, err := Load(p)
		require.NoError(t, err)
		loaded = append(loaded, r)
	}

	t.Run("same speed is noise", func(t *testing.T) {
		var buf bytes.Buffer
		require.NoError(t, Compare(&buf, paths[:2], loaded[:2]))
		out := buf.String()
		line := findLine(t, out, "p99 ")
		assert.Contains(t, line, "20.0ms")
		assert.Contains(t, line, "+1.0%")
		assert.Contains(t, line, "within noise")
	})
	t.Run("twice as slow is real", func(t *testing.T) {
		var buf bytes.Buffer
		require.NoError(t, Compare(&buf, []string{paths[0], paths[2]}, []*Result{loaded[0], loaded[2]}))
		line := findLine(t, buf.String(), "p99 ")
		assert.Contains(t, line, "+100.0%")
		assert.Contains(t, line, "real difference")
	})
	t.Run("three files", func(t *testing.T) {
		var buf bytes.Buffer
		require.NoError(t, Compare(&buf, paths, loaded))
		line := findLine(t, buf.String(), "p99 ")
		assert.Contains(t, line, "B: within noise")
		assert.Contains(t, line, "C: real difference")
		assert.Contains(t, buf.String(), "C = "+paths[2])
	})
	t.Run("one file", func(t *testing.T) {
		require.Error(t, Compare(&bytes.Buffer{}, paths[:1], loaded[:1]))
	})
	t.Run("not a result", func(t *testing.T) {
		p := filepath.Join(dir, "x.json")
		require.NoError(t, WriteJSON(p, &Result{}))
		_, err := Load(p)
		require.ErrorContains(t, err, "not a loadtest result")
	})
}

func findLine(t *testing.T, out, prefix string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "│ "+prefix) || strings.HasPrefix(strings.TrimLeft(l, "│ |"), prefix) {
			return l
		}
	}
	t.Fatalf("no line %q in:\n%s", prefix, out)
	return ""
}

func TestWelch(t *testing.T) {
	p, ok := Welch([]float64{1, 2, 3, 4, 5}, []float64{1, 2, 3, 4, 5})
	require.True(t, ok)
	assert.InDelta(t, 1, p, 1e-9)
	p, ok = Welch([]float64{1, 1.1, 0.9, 1, 1.05}, []float64{5, 5.1, 4.9, 5, 5.05})
	require.True(t, ok)
	assert.Less(t, p, 1e-6)
	_, ok = Welch([]float64{1}, []float64{1, 2})
	assert.False(t, ok)
	p, ok = Welch([]float64{3, 3}, []float64{4, 4})
	require.True(t, ok)
	assert.Zero(t, p)
}

func TestTables(t *testing.T) {
	r := sampleResult("failover", 20, 1)
	run := &r.Runs[0]
	run.Seconds = failoverSeconds()
	run.Actions = []Action{
		{AtMs: 3000, TookMs: 120, Action: "kill", Target: "2", Backend: "b", Container: "lblab_backend_2", Phase: "down"},
		{AtMs: 7000, TookMs: 300, Action: "start", Target: "2", Backend: "b", Container: "lblab_backend_2", Phase: "recovering"},
	}
	run.Derived = Derive(run.Seconds, run.Actions, nil, 12000)
	run.Expectations = []Outcome{
		{Check: "max_p99", Scope: "total", Limit: "50ms", Actual: "20.0ms", Passed: true},
		{Check: "max_errors", Scope: "phase recovering", Limit: "0", Actual: "3", Passed: false},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteTables(&buf, r))
	out := buf.String()
	for _, want := range []string{
		"Scenario failover: GET http://127.0.0.1:8080/, 100 req/s, 21s (1s warm-up)",
		"Phases", "warm-up (not counted)", "steady", "total", "backend_1 50% backend_2 50%",
		"p99", // headers kept as written
		"Backends (after warm-up)", "X-Backend",
		"Timeline", "kill 2", "backend_2",
		"Failover", "time to detect", "1.49s", "start 2", "1.22s",
		"Expectations", "FAIL", "1 passed, 1 failed",
	} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "P99")

	// Several runs: one row each.
	r.Runs = append(r.Runs, r.Runs[0])
	r.Runs[0].Label, r.Runs[1].Label = "round_robin", "least_latency"
	r.Runs[0].Actions, r.Runs[1].Actions = nil, nil
	buf.Reset()
	require.NoError(t, WriteTables(&buf, r))
	assert.Contains(t, buf.String(), "Runs (after warm-up)")
	assert.Regexp(t, regexp.MustCompile(`round_robin\s+│\s+2000`), buf.String())
	assert.NotContains(t, buf.String(), "Run least_latency", "no details without a timeline")
	r.Runs[1].Actions = []Action{{AtMs: 1000, Action: "mark", Phase: "x"}}
	buf.Reset()
	require.NoError(t, WriteTables(&buf, r))
	assert.Contains(t, buf.String(), "Run least_latency")
}

func TestSummaryTable(t *testing.T) {
	r := sampleResult("attack", 20, 1)
	r.Runs[0].Total.StatusCodes = map[string]int{"200": 1990, "0": 10}
	r.Runs[0].Total.ErrorMessages = []attack.ErrorCount{{Error: "connection refused", Count: 10}}
	var buf bytes.Buffer
	require.NoError(t, SummaryTable(&buf, r))
	for _, want := range []string{"Attack: GET", "throughput/s", "0 (no response)", "connection refused", "backend_1"} {
		assert.Contains(t, buf.String(), want)
	}
}

func TestHTML(t *testing.T) {
	r := sampleResult("failover", 20, 1)
	run := &r.Runs[0]
	run.Seconds = failoverSeconds()
	run.EndMs = 12000
	run.Actions = []Action{{AtMs: 3000, Action: "kill", Target: "2", Backend: "b", Container: "lblab_backend_2"},
		{AtMs: 4000, Action: "mark", Note: `<script>alert(1)</script>`, Target: `<b>`}}
	run.Derived = Derive(run.Seconds, run.Actions, nil, 12000)
	r.Started = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	var buf bytes.Buffer
	require.NoError(t, WriteHTML(&buf, r))
	out := buf.String()
	assert.Equal(t, 4, strings.Count(out, "<svg "), "rate, latency, errors, share")
	assert.Contains(t, out, "kill 2")
	assert.Contains(t, out, "Share of requests by backend")
	assert.Contains(t, out, "backend_1")
	assert.NotContains(t, out, "<b>", "text is escaped")
	assert.NotContains(t, out, "<script")
	// Self-contained: nothing to fetch.
	assert.NotRegexp(t, `(?i)(src|href)\s*=`, out)
	assert.NotContains(t, out, "http://www")
	assert.NotContains(t, out, "https://")
}

func TestShortName(t *testing.T) {
	for in, want := range map[string]string{
		"lblab_backend_1":      "backend_1",
		"lblab-backend-2":      "backend-2",
		"lblab_backend-slow_1": "backend-slow_1",
		"custom":               "custom",
		"":                     "",
	} {
		assert.Equal(t, want, ShortName(in), in)
	}
}

func TestDeriveSlowAndBalancer(t *testing.T) {
	// A paused backend: the balancer's retries hide it from the client, but
	// requests caught by the hang succeed slowly until 22.4s; the balancer's
	// status shows it down at 22.5s and up again at 41.2s.
	var seconds []attack.Second
	for t := 18; t < 45; t++ {
		s := attack.Second{T: t, Requests: 100, Success: 100, Backends: map[string]attack.BackendSecond{
			"a": {Requests: 50, FirstMs: float64(t * 1000), LastMs: float64(t*1000 + 990)},
		}}
		if t < 20 || t >= 41 {
			s.Backends["b"] = attack.BackendSecond{Requests: 50, FirstMs: float64(t*1000 + 5), LastMs: float64(t*1000 + 995)}
		}
		if t == 20 || t == 21 || t == 22 {
			s.Slow, s.LastSlowMs = 10, float64(t*1000+400)
		}
		seconds = append(seconds, s)
	}
	events := []BalancerEvent{
		{AtMs: 100, Name: "b", Backend: "b", State: "up"},
		{AtMs: 22500, Name: "b", Backend: "b", State: "down"},
		{AtMs: 41200, Name: "b", Backend: "b", State: "up"},
	}
	actions := []Action{
		{AtMs: 20000, Action: "pause", Target: "backend:2", Backend: "b"},
		{AtMs: 40000, Action: "unpause", Target: "backend:2", Backend: "b"},
	}
	got := Derive(seconds, actions, events, 45000)
	require.Len(t, got, 1)
	d := got[0]
	assert.Equal(t, 0, d.FailedRequests)
	assert.Equal(t, 30, d.SlowRequests)
	assert.InDelta(t, 2400, *d.DetectMs, 1e-9, "the last slow request marks detection")
	assert.InDelta(t, 2500, *d.BalancerDownMs, 1e-9)
	assert.InDelta(t, 1200, *d.BalancerUpMs, 1e-9)
	assert.InDelta(t, 1005, *d.RecoverMs, 1e-9)

	var buf bytes.Buffer
	run := &Run{Derived: got}
	require.NoError(t, DerivedTable(&buf, run))
	assert.Contains(t, buf.String(), "lb saw it down")
	assert.Contains(t, buf.String(), "2.50s")
}

// TestDeriveSlowAfterBalancerDown: a request sent after the balancer showed
// the backend down never met it, so its slowness (every backend stalled) is
// not the fault's, neither in the time to detect nor in the slow count.
func TestDeriveSlowAfterBalancerDown(t *testing.T) {
	type slow struct {
		t           int
		first, last float64
	}
	for _, tc := range []struct {
		name      string
		downAt    float64 // 0: no balancer status
		slow      []slow
		detectMs  float64
		slowCount int
	}{
		{
			name:   "a stall after the balancer saw it down",
			downAt: 21500,
			slow:   []slow{{20, 20100, 20400}, {21, 21100, 21400}, {26, 26100, 26800}},
			// The last slow request before 21.5 s; seconds 20 and 21.
			detectMs: 1400, slowCount: 20,
		},
		{
			name:   "the second the balancer saw it down in",
			downAt: 21500,
			slow:   []slow{{20, 20100, 20400}, {21, 21200, 21800}},
			// 21.8 s was sent after 21.5 s: the first of that second is
			// the last known before; the second counts whole.
			detectMs: 1200, slowCount: 20,
		},
		{
			name:     "no balancer status: every slow request counts",
			slow:     []slow{{20, 20100, 20400}, {21, 21100, 21400}, {26, 26100, 26800}},
			detectMs: 6800, slowCount: 30,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seconds []attack.Second
			for s := 18; s < 30; s++ {
				sec := attack.Second{T: s, Requests: 100, Success: 100, Backends: map[string]attack.BackendSecond{
					"a": {Requests: 50, FirstMs: float64(s * 1000), LastMs: float64(s*1000 + 990)},
				}}
				if s < 20 {
					sec.Backends["b"] = attack.BackendSecond{Requests: 50, FirstMs: float64(s*1000 + 5), LastMs: float64(s*1000 + 995)}
				}
				for _, x := range tc.slow {
					if x.t == s {
						sec.Slow, sec.FirstSlowMs, sec.LastSlowMs = 10, x.first, x.last
					}
				}
				seconds = append(seconds, sec)
			}
			var events []BalancerEvent
			if tc.downAt > 0 {
				events = []BalancerEvent{
					{AtMs: 100, Name: "b", Backend: "b", State: "up"},
					{AtMs: tc.downAt, Name: "b", Backend: "b", State: "down"},
				}
			}
			got := Derive(seconds, []Action{{AtMs: 20000, Action: "pause", Target: "backend:2", Backend: "b"}}, events, 30000)
			require.Len(t, got, 1)
			d := got[0]
			assert.InDelta(t, tc.detectMs, *d.DetectMs, 1e-9, "time to detect")
			assert.Equal(t, tc.slowCount, d.SlowRequests, "slow requests")
		})
	}
}
