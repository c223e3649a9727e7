package scenario

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

const good = `# a comment
name: failover
description: kill one backend
target: http://127.0.0.1:8080/info
rate: 100
duration: 20s
warmup: 2   # seconds
timeline:
  - at: 5s
    action: kill
    target: 2
    phase: down
  - at: 8s
    action: mark
    phase: detected
  - at: 12s
    action: start
    target: backend:2
    phase: recovering
  - at: 15s
    action: set_algorithm
    algorithm: least_latency
  - at: 16s
    action: scale
    replicas: 5
expect:
  max_error_rate: 2%
  max_p99: 500ms
  min_success_rate: 98.5
  max_time_to_detect: 5s
  phases:
    detected:
      max_errors: 0
      no_traffic_to: [2]
    recovering:
      traffic_to: ["backend:2"]
`

func TestParseGood(t *testing.T) {
	s, err := Parse("failover.yaml", []byte(good))
	require.NoError(t, err)
	assert.Equal(t, "failover", s.Name)
	assert.Equal(t, 100, s.Rate)
	assert.Equal(t, 20*time.Second, s.Duration.D())
	assert.Equal(t, 2*time.Second, s.Warmup.D())
	assert.Equal(t, DefaultTimeout, s.Timeout.D())
	assert.Equal(t, "GET", s.Method)
	assert.Equal(t, "backend", s.Lab.Service)
	require.Len(t, s.Timeline, 5)
	assert.Equal(t, "2", s.Timeline[0].Target)
	assert.Equal(t, 5, *s.Timeline[4].Replicas)
	assert.InDelta(t, 0.02, float64(*s.Expect.MaxErrorRate), 1e-9)
	assert.InDelta(t, 0.985, float64(*s.Expect.MinSuccessRate), 1e-9)
	assert.Equal(t, 500*time.Millisecond, s.Expect.MaxP99.D())
	assert.Equal(t, []string{"steady", "down", "detected", "recovering"}, s.Phases())
	assert.Equal(t, 0, *s.Expect.Phases["detected"].MaxErrors)
	assert.True(t, s.UsesDocker())
	assert.True(t, s.UsesAdmin())
}

func TestParseErrors(t *testing.T) {
	base := "target: http://127.0.0.1:8080/\nrate: 10\nduration: 10s\n"
	sm := "target: http://127.0.0.1:8080/\nduration: 10s\nalgorithms: [random]\nsupermarket:\n  servers: 10\n"
	tests := []struct {
		name string
		doc  string
		want []string // substrings of the error
	}{
		{"unknown action", base + "timeline:\n  - at: 1s\n    action: explode\n", []string{"x.yaml:6: timeline[0].action: unknown action \"explode\""}},
		{"past duration", base + "timeline:\n  - at: 11s\n    action: kill\n    target: 1\n", []string{"x.yaml:5: timeline[0].at: at 11s is past the duration 10s"}},
		{"missing target", "rate: 10\nduration: 10s\n", []string{"target is required"}},
		{"bad duration", "target: http://h/\nrate: 10\nduration: 10 parsecs\n", []string{"x.yaml:3: duration: bad duration \"10 parsecs\""}},
		{"unknown field", base + "ratee: 5\n", []string{`x.yaml:4: ratee: unknown key (did you mean "rate"?)`}},
		{"unknown field in action", base + "timeline:\n  - at: 1s\n    action: kill\n    targt: 1\n", []string{`x.yaml:7: timeline[0].targt: unknown key (did you mean "target"?)`}},
		{"no rate", "target: http://h/\nduration: 10s\n", []string{"set rate"}},
		{"no duration", "target: http://h/\nrate: 5\n", []string{"duration is required"}},
		{"kill without target", base + "timeline:\n  - at: 1s\n    action: kill\n", []string{"x.yaml:5: timeline[0]: kill needs a target"}},
		{"bad target", base + "timeline:\n  - at: 1s\n    action: kill\n    target: 'a b'\n", []string{"x.yaml:7: timeline[0].target"}},
		{"out of order", base + "timeline:\n  - at: 5s\n    action: mark\n    phase: a\n  - at: 2s\n    action: mark\n    phase: b\n", []string{"x.yaml:8: timeline[1].at: at 2s comes before"}},
		{"unknown algorithm", base + "algorithms: [round_robin, fastest]\n", []string{"x.yaml:4: algorithms[1]: unknown algorithm \"fastest\""}},
		{"set_algorithm needs algorithm", base + "timeline:\n  - at: 1s\n    action: set_algorithm\n", []string{"timeline[0].algorithm: set_algorithm needs algorithm"}},
		{"scale needs replicas", base + "timeline:\n  - at: 1s\n    action: scale\n", []string{"scale needs replicas"}},
		{"unknown phase in expect", base + "expect:\n  phases:\n    nope:\n      max_errors: 0\n", []string{"x.yaml:6: expect.phases.nope: no phase \"nope\""}},
		{"bad percent", base + "expect:\n  max_error_rate: lots\n", []string{"x.yaml:5: expect.max_error_rate: bad percentage"}},
		{"warmup too long", base + "warmup: 10s\n", []string{"warmup 10s leaves nothing"}},
		{"bad target url", "target: localhost:8080\nrate: 1\nduration: 1s\n", []string{"x.yaml:1: target: target \"localhost:8080\" is not an http(s) URL"}},
		{"not a mapping", "- a\n- b\n", []string{"x.yaml:1: a scenario is a mapping"}},
		{"empty", "", []string{"empty scenario file"}},
		{"syntax", "name: [\n", []string{"x.yaml:1: did not find expected node content"}},
		{"duplicate phase", base + "timeline:\n  - at: 1s\n    action: mark\n    phase: steady\n", []string{"phase \"steady\" is used twice"}},
		{"bad keepalive", base + "keepalive: maybe\n", []string{"x.yaml:4: keepalive: bad boolean \"maybe\": want true or false"}},
		{"keepalive yes is not a boolean here", base + "keepalive: yes\n", []string{"x.yaml:4: keepalive: bad boolean \"yes\""}},
		{"keepalive list", base + "keepalive: [false]\n", []string{"x.yaml:4: keepalive: bad boolean"}},
		{"configure unknown setting", base + "timeline:\n  - at: 1s\n    action: configure\n    target: 2\n    settings: {latancy: 200ms}\n", []string{`x.yaml:8: timeline[0].settings: settings.latancy: unknown setting (did you mean "latency"?); known: latency, error_rate`}},
		{"configure bad latency", base + "timeline:\n  - at: 1s\n    action: configure\n    target: 2\n    settings: {latency: slow}\n", []string{`settings.latency: slow: "slow" is not a duration`}},
		{"configure bad error rate", base + "timeline:\n  - at: 1s\n    action: configure\n    target: 2\n    settings: {error_rate: 130%}\n", []string{"settings.error_rate: 130%: must be between 0 and 1"}},
		{"configure bad status", base + "timeline:\n  - at: 1s\n    action: configure\n    target: 2\n    settings: {error_status: 200}\n", []string{"settings.error_status: 200: must be an HTTP error status"}},
		{"configure bad healthy", base + "timeline:\n  - at: 1s\n    action: configure\n    target: 2\n    settings: {healthy: perhaps}\n", []string{"settings.healthy: perhaps: must be true or false"}},
		{"configure without settings", base + "timeline:\n  - at: 1s\n    action: configure\n    target: 2\n", []string{"timeline[0]: configure needs settings"}},
		{"configure without target", base + "timeline:\n  - at: 1s\n    action: configure\n    settings: {capacity: 2}\n", []string{"configure needs a target"}},
		{"settings on kill", base + "timeline:\n  - at: 1s\n    action: kill\n    target: 2\n    settings: {capacity: 2}\n", []string{"kill takes no settings"}},
		{"variant twice", base + "variants:\n  - name: a\n  - name: a\n", []string{"variants[1].name: variant \"a\" is listed twice"}},
		{"variant bad target", base + "variants:\n  - name: a\n    target: localhost:1\n", []string{"variants[0].target: target \"localhost:1\" is not an http(s) URL"}},
		{"poisson without a rate", "target: http://h/\nconcurrency: 4\nduration: 10s\narrivals: poisson\n", []string{"x.yaml:4: arrivals: arrivals poisson needs a rate above 0"}},
		{"poisson at rate 0", "target: http://h/\nrate: 0\nduration: 10s\narrivals: poisson\n", []string{"x.yaml:4: arrivals: arrivals poisson needs a rate above 0 requests per second (got 0)"}},
		{"unknown arrivals", base + "arrivals: bursty\n", []string{"x.yaml:4: arrivals: unknown arrivals \"bursty\"; known: constant, poisson"}},
		{"supermarket rho 1", sm + "  rho: [0.5, 1]\n", []string{"x.yaml:6: supermarket.rho[1]: rho 1: want 0 < rho < 1 (at 1 or more the queues grow without bound)"}},
		{"supermarket rho 0", sm + "  rho: [0]\n", []string{"supermarket.rho[0]: rho 0: want 0 < rho < 1"}},
		{"supermarket with a rate", "rate: 100\n" + sm + "  rho: [0.5]\n", []string{"rate: the supermarket works out the rate from rho"}},
		{"supermarket constant arrivals", "arrivals: constant\n" + sm + "  rho: [0.5]\n", []string{"the supermarket model has Poisson arrivals"}},
		{"supermarket no servers", strings.Replace(sm, "servers: 10", "servers: 0", 1) + "  rho: [0.5]\n", []string{"supermarket.servers: servers 0"}},
		{"supermarket without theory", strings.Replace(sm, "[random]", "[random, ip_hash]", 1) + "  rho: [0.5]\n", []string{`algorithms[1]: algorithm "ip_hash" has no theory in the supermarket model`}},
		{"shape with too many replicas", base + "lab:\n  shape:\n    services: {backend: 60}\n", []string{"x.yaml:6: lab.shape.services.backend: service backend: 60 replicas is out of range 0..50"}},
		{"shape with a bad service name", base + "lab:\n  shape:\n    services: {'a b': 1}\n", []string{`service name "a b" is not a Compose service name`}},
		{"empty shape", base + "lab:\n  shape: {}\n", []string{"lab.shape: shape needs services"}},
		{"shape with a negative capacity", base + "lab:\n  shape:\n    backend: {capacity: -1}\n", []string{"lab.shape.backend.capacity: capacity -1 is negative"}},
		{"several errors at once", "rate: -1\nduration: -5s\n", []string{"target is required", "rate -1 is negative", "duration -5s is negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tt.doc))
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestConfigurePatch(t *testing.T) {
	patch, errs := ConfigurePatch(map[string]any{"latency": "normal:20ms,5ms", "error_rate": "30%", "error_status": 503,
		"capacity": 2, "overflow": "reject", "healthy": false})
	require.Empty(t, errs)
	assert.Equal(t, map[string]any{"latency": "normal:20ms,5ms", "error_rate": 0.3, "error_status": 503,
		"capacity": 2, "overflow": "reject", "healthy": false}, patch)
	patch, errs = ConfigurePatch(map[string]any{"latency": "200ms", "error_rate": 0.25})
	require.Empty(t, errs)
	assert.Equal(t, map[string]any{"latency": "200ms", "error_rate": 0.25}, patch)
	_, errs = ConfigurePatch(map[string]any{"latency": "uniform:10ms", "capacity": -1})
	assert.Len(t, errs, 2)
}

func TestVariantsExpandEnv(t *testing.T) {
	t.Setenv("LB_GRAY_PORT", "22082")
	t.Setenv("ADMIN_GRAY_PORT", "")
	s, err := Parse("x.yaml", []byte("target: http://127.0.0.1:8080/\nrate: 10\nduration: 10s\nvariants:\n"+
		"  - name: defaults\n  - name: knobs\n    target: http://127.0.0.1:${LB_GRAY_PORT:-8082}/info\n    admin: http://127.0.0.1:${ADMIN_GRAY_PORT:-9092}\n"))
	require.NoError(t, err)
	require.Len(t, s.Variants, 2)
	assert.Equal(t, "http://127.0.0.1:22082/info", s.Variants[1].Target)
	assert.Equal(t, "http://127.0.0.1:9092", s.Variants[1].Admin)
}

func TestKeepAlive(t *testing.T) {
	base := "target: http://127.0.0.1:8081/\nrate: 10\nduration: 10s\n"
	tests := []struct {
		name string
		doc  string
		want bool
	}{
		{"default", base, true},
		{"true", base + "keepalive: true\n", true},
		{"false", base + "keepalive: false\n", false},
		{"False", base + "keepalive: False\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("x.yaml", []byte(tt.doc))
			require.NoError(t, err)
			assert.Equal(t, tt.want, s.KeepsAlive())
		})
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in      string
		want    Target
		wantErr bool
	}{
		{"2", Target{Service: "backend", Number: 2}, false},
		{"backend-slow:1", Target{Service: "backend-slow", Number: 1}, false},
		{"lblab_backend_3", Target{Name: "lblab_backend_3"}, false},
		{"/lblab-backend-3", Target{Name: "lblab-backend-3"}, false},
		{"0", Target{}, true},
		{"svc:x", Target{}, true},
		{"a b", Target{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTarget(tt.in, "backend")
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestShippedScenarios loads every file in scenarios/ at the repository root.
func TestShippedScenarios(t *testing.T) {
	files, err := filepath.Glob("../../../scenarios/*.yaml")
	require.NoError(t, err)
	examples, err := filepath.Glob("../../../results/examples/*.yaml")
	files = append(files, examples...)
	require.NoError(t, err)
	if len(files) == 0 {
		t.Skip("no scenarios/ directory")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(f)
			require.NoError(t, err)
			assert.NotEmpty(t, s.Description)
			// The field-by-field decoder reads what yaml.v3's own does.
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			want := Scenario{File: f}
			dec := yaml.NewDecoder(bytes.NewReader(data))
			dec.KnownFields(true)
			require.NoError(t, dec.Decode(&want))
			want.SetDefaults()
			s.root = nil
			assert.Equal(t, &want, s)
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("target: http://h/\nrate: 1\nduration: 1s\n"))
	f.Add([]byte("timeline:\n  - at: 1s\n    action: kill\n"))
	f.Add([]byte("{\"target\": \"http://h/\", \"rate\": 5, \"duration\": 3}"))
	f.Add([]byte("target: http://h/\nrate: 1\nduration: 1s\ntimeline:\n  - at: 1s\n    action: kill\n   target: 2\n"))
	f.Add([]byte("base: &b {rate: 5}\n<<: *b\ntarget: http://h/\nratee: 1\nduration: [1s]\nexpect: {phases: {x: {max_p999: 1}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		// A scenario that parses is valid and keeps its invariants.
		require.NoError(t, s.Validate())
		require.NotEmpty(t, s.Target)
		require.True(t, s.Rate > 0 || s.Concurrency > 0)
		for _, a := range s.Timeline {
			require.Contains(t, Actions, a.Action)
			if s.Duration > 0 {
				require.LessOrEqual(t, a.At, s.Duration)
			}
		}
	})
}
