package config

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadSeedConfig(t *testing.T) {
	c, err := Load("testdata/seed.json")
	require.NoError(t, err)
	assert.Equal(t, 8080, c.ProxyPort)
	assert.Equal(t, "0.0.0.0", c.ProxyHost)
	assert.Equal(t, "round_robin", c.Algorithm)
	assert.Equal(t, []Backend{{Host: "localhost", Port: 8001, Weight: 1}}, c.BackendServers)
	assert.Equal(t, 30*time.Second, c.HealthCheckInterval.D())
	assert.Equal(t, 5*time.Second, c.HealthCheckTimeout.D())
	assert.Equal(t, 1000, c.MaxConnections)
	assert.Equal(t, 30*time.Second, c.ConnectionTimeout.D())
	assert.Equal(t, 30*time.Second, c.RequestTimeout.D())
	assert.True(t, c.EnableLogging)
	assert.True(t, c.EnableMetrics)
	// New keys take their defaults.
	assert.Equal(t, "http", c.Mode)
	assert.Equal(t, "/health", c.HealthCheckPath)
	assert.Equal(t, 2, c.HealthyThreshold)
	assert.Equal(t, 3, c.UnhealthyThreshold)
	assert.Equal(t, 2, c.Retries)
	assert.Equal(t, 0, c.AdminPort)
	assert.Equal(t, -1, c.MaxIdleConnsPerBackend, "no cap on idle backend connections, as HAProxy's pool-max-conn")
}

func TestDurations(t *testing.T) {
	tests := []struct {
		name string
		json string
		want time.Duration
	}{
		{"integer seconds", `30`, 30 * time.Second},
		{"fraction", `0.5`, 500 * time.Millisecond},
		{"go string", `"250ms"`, 250 * time.Millisecond},
		{"compound", `"1m30s"`, 90 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Duration
			require.NoError(t, json.Unmarshal([]byte(tt.json), &d))
			assert.Equal(t, tt.want, d.D())
		})
	}
}

// base is a valid config that each bad case changes one key of.
const base = `"backend_servers": [{"host": "127.0.0.1", "port": 8001}]`

func TestBadConfigNamesKeyAndValue(t *testing.T) {
	tests := []struct {
		name string
		json string
		want []string // each must appear in the error, one line per problem
	}{
		{"unknown key", `{` + base + `, "algoritm": "ip_hash"}`, []string{`algoritm: unknown key (did you mean "algorithm"?)`}},
		{"wrong type", `{` + base + `, "proxy_port": "8080"}`, []string{`proxy_port: "8080": wrong type: expected an integer, got string`}},
		{"unknown algorithm", `{` + base + `, "algorithm": "fastest"}`, []string{`algorithm: "fastest": unknown algorithm`}},
		{"port out of range", `{` + base + `, "proxy_port": 70000}`, []string{"proxy_port: 70000: port must be between 1 and 65535"}},
		{"no backends", `{"backend_servers": []}`, []string{"backend_servers: no backends"}},
		{"missing backends", `{}`, []string{"backend_servers: no backends"}},
		{"negative weight", `{"backend_servers": [{"host": "a", "port": 1, "weight": -1}]}`, []string{"backend_servers[0].weight: -1: must be between 1 and 1000"}},
		{"negative timeout", `{` + base + `, "request_timeout": -1}`, []string{"request_timeout: -1s: must be greater than 0"}},
		{"bad duration string", `{` + base + `, "request_timeout": "soon"}`, []string{`request_timeout: "soon": "soon" is not a duration`}},
		{"timeout above interval", `{` + base + `, "health_check_interval": 2, "health_check_timeout": 2.5}`, []string{"health_check_timeout: 2.5s: must not be longer than health_check_interval (2s)"}},
		{"threshold below one", `{` + base + `, "healthy_threshold": 0}`, []string{"healthy_threshold: 0: must be at least 1"}},
		{"malformed path", `{` + base + `, "health_check_path": "health"}`, []string{`health_check_path: "health": must be a URL path`}},
		{"bad status set", `{` + base + `, "health_check_status": "2xx"}`, []string{`health_check_status: "2xx"`}},
		{"unknown backend key", `{"backend_servers": [{"host": "a", "port": 1, "wieght": 2}]}`, []string{`backend_servers[0].wieght: unknown key (did you mean "weight"?)`}},
		{"host with scheme", `{"backend_servers": [{"host": "http://a", "port": 1}]}`, []string{`backend_servers[0].host: "http://a": must be a host name or IP address`}},
		{"duplicate backend", `{"backend_servers": [{"host": "a", "port": 1}, {"host": "a", "port": 1}]}`, []string{"backend_servers[1]: a:1: duplicate of backend_servers[0]"}},
		{"bad mode", `{` + base + `, "mode": "udp"}`, []string{`mode: "udp": must be "http" or "tcp"`}},
		{"pprof without admin listener", `{` + base + `, "enable_pprof": true}`, []string{`enable_pprof: true: profiles are served on the admin listener; set admin_port`}},
		{"header lines out of range", `{` + base + `, "max_header_lines": 0}`, []string{"max_header_lines: 0: must be between 1 and 10000"}},
		{"bad forwarder", `{` + base + `, "forwarder": "fast"}`, []string{`forwarder: "fast": must be "lean" or "reverseproxy"`}},
		{"bad trusted proxy", `{` + base + `, "trusted_proxies": ["10.0.0.0/33"]}`, []string{`trusted_proxies[0]: "10.0.0.0/33"`}},
		{"try timeout not below request timeout", `{` + base + `, "request_timeout": 3, "try_timeout": 5}`, []string{"try_timeout: 5s: must be shorter than request_timeout (3s)"}},
		{"negative try timeout", `{` + base + `, "try_timeout": -1}`, []string{"try_timeout: -1s: must not be negative"}},
		{"idle pool below -1", `{` + base + `, "max_idle_conns_per_backend": -2}`, []string{"max_idle_conns_per_backend: -2: must be -1 (no limit), 0 (no keep-alive) or more"}},
		{"negative backend connection bound", `{` + base + `, "max_conns_per_backend": -1}`, []string{"max_conns_per_backend: -1: must be 0 (no limit) or more"}},
		{"backend connection bound in tcp mode", `{` + base + `, "mode": "tcp", "admin_port": 9090, "max_conns_per_backend": 8}`, []string{`max_conns_per_backend: 8: bounds backend connections in HTTP mode only`}},
		{"hedge delay of zero", `{` + base + `, "hedge_after": 0}`, []string{"hedge_after: 0s: must be greater than 0"}},
		{"hedge percentile out of range", `{` + base + `, "hedge_after": "p100"}`, []string{`hedge_after: "p100": the percentile must be at least p50`}},
		{"hedge delay not a delay", `{` + base + `, "hedge_after": "soon"}`, []string{`hedge_after: "soon": "soon" is neither a delay`}},
		{"hedging on reverseproxy", `{` + base + `, "forwarder": "reverseproxy", "hedge_after": "p95"}`, []string{`hedge_after: "p95": hedging needs the lean forwarder`}},
		{"budget over 100%", `{` + base + `, "retry_budget": 150}`, []string{"retry_budget: 150%: must be between 0% and 100%"}},
		{"budget as string", `{` + base + `, "retry_budget": "120%"}`, []string{"retry_budget: 120%: must be between 0% and 100%"}},
		{"max ejection percent over 100", `{` + base + `, "max_ejection_percent": 101}`, []string{"max_ejection_percent: 101%: must be between 0% and 100%"}},
		{"passive min available over 100", `{` + base + `, "passive_min_available_percent": 120}`, []string{"passive_min_available_percent: 120%: must be between 0% and 100% of the backends"}},
		{"passive min available negative", `{` + base + `, "passive_min_available_percent": -1}`, []string{"passive_min_available_percent: -1%: must be between 0% and 100%"}},
		{"slow share over 100", `{` + base + `, "outlier_slow_percent": 101}`, []string{"outlier_slow_percent: 101%: must be between 0% and 100% (0 turns the slow-share rule off)"}},
		{"max ejection time below base", `{` + base + `, "outlier_base_ejection_time": 30, "outlier_max_ejection_time": 10}`, []string{"outlier_max_ejection_time: 10s: must not be shorter than outlier_base_ejection_time (30s)"}},
		{"latency factor too small", `{` + base + `, "outlier_latency_factor": 1.1}`, []string{"outlier_latency_factor: 1.1: must be at least 1.5"}},
		{"not an object", `[1,2]`, []string{"config: wrong type"}},
		{"syntax error", "{\n\"proxy_port\": 80,\n}", []string{"config: invalid JSON at line 3"}},
		{"several problems at once", `{"proxy_port": 0, "algorithm": "x", "backend_servers": []}`,
			[]string{"proxy_port: 0", `algorithm: "x"`, "backend_servers: no backends"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.json))
			require.Error(t, err)
			lines := strings.Split(err.Error(), "\n")
			for _, want := range tt.want {
				assert.Contains(t, err.Error(), want)
			}
			assert.Len(t, lines, len(tt.want), "one line per problem: %q", err.Error())
		})
	}
}

func TestCheckTimeoutUpToInterval(t *testing.T) {
	// HAProxy's default: inter (2 s) bounds each check too.
	c, err := Parse([]byte(`{` + base + `, "health_check_interval": 2, "health_check_timeout": 2}`))
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, c.HealthCheckTimeout.D())
}

func TestGrayFailureKeys(t *testing.T) {
	c, err := Parse([]byte(`{` + base + `, "request_timeout": 3, "try_timeout": "300ms", "hedge_after": "p95",
		"retry_budget": "25%", "retry_budget_min_per_second": 5, "outlier_detection": true, "max_ejection_percent": 34}`))
	require.NoError(t, err)
	assert.Equal(t, 300*time.Millisecond, c.TryTimeout.D())
	assert.Equal(t, 95.0, c.HedgeAfter.Percentile)
	assert.Equal(t, "p95", c.HedgeAfter.String())
	assert.Equal(t, 0.25, c.RetryBudget.Fraction())
	assert.Equal(t, 5, c.RetryBudgetMinPerSecond)
	assert.True(t, c.OutlierDetection)
	assert.Equal(t, Percent(34), c.MaxEjectionPercent)

	c, err = Parse([]byte(`{` + base + `, "hedge_after": 0.05}`))
	require.NoError(t, err)
	assert.Equal(t, 50*time.Millisecond, c.HedgeAfter.Delay)

	// Defaults: per-try timeout, hedging and ejection off; a 20% budget.
	c, err = Parse([]byte(`{` + base + `}`))
	require.NoError(t, err)
	assert.Zero(t, c.TryTimeout)
	assert.False(t, c.HedgeAfter.On())
	assert.False(t, c.OutlierDetection)
	assert.Equal(t, Percent(20), c.RetryBudget)
}

func TestStatusSet(t *testing.T) {
	s, err := ParseStatusSet("200-299, 304")
	require.NoError(t, err)
	for code, want := range map[int]bool{199: false, 200: true, 299: true, 300: false, 304: true, 500: false} {
		assert.Equal(t, want, s.Contains(code), "code %d", code)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{` + base + `}`))
	f.Add([]byte(`{"proxy_port": 8080, "backend_servers": [{"host": "localhost", "port": 8001, "weight": 1}], "health_check_interval": 0.5}`))
	f.Add([]byte(`{"backend_servers": [{"host": "a", "port": 1}], "request_timeout": "1m"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error message")
			}
			return
		}
		// Whatever parses must validate and have at least one backend.
		require.NoError(t, c.Validate())
		require.NotEmpty(t, c.BackendServers)
	})
}

func TestDefersAccept(t *testing.T) {
	tests := []struct {
		extra string
		want  bool
	}{
		{``, true}, // HTTP mode: on
		{`, "mode": "tcp", "admin_port": 9090`, false},                      // TCP mode: the backend may speak first
		{`, "defer_accept": false`, false},                                  // turned off
		{`, "mode": "tcp", "admin_port": 9090, "defer_accept": true`, true}, // turned on for a client-first protocol
		{`, "mode": "http", "defer_accept": true`, true},                    // said explicitly
	}
	for _, tt := range tests {
		c, err := Parse([]byte(`{` + base + tt.extra + `}`))
		require.NoError(t, err, tt.extra)
		assert.Equal(t, tt.want, c.DefersAccept(), "config with %q", tt.extra)
	}
	_, err := Parse([]byte(`{` + base + `, "defer_accept": "yes"}`))
	assert.ErrorContains(t, err, `defer_accept: "yes": wrong type`)
}
