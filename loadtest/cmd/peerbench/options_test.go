package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseList(t *testing.T) {
	valid := []string{"direct", "lb", "lb-rp", "haproxy", "nginx"}
	tests := []struct {
		name, in string
		want     []string
		err      string
	}{
		{"empty means all", "", valid, ""},
		{"blank means all", "  ", valid, ""},
		{"canonical order", "nginx,lb-rp,lb", []string{"lb", "lb-rp", "nginx"}, ""},
		{"repeats and spaces", " lb , lb,haproxy,", []string{"lb", "haproxy"}, ""},
		{"unknown lists the valid ones", "lb,envoy", nil, `unknown target "envoy"; valid targets: direct, lb, lb-rp, haproxy, nginx`},
		{"only commas", ",,", nil, "no target named; valid targets: direct, lb, lb-rp, haproxy, nginx"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseList(tc.in, valid, "target")
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		err   string
		check func(t *testing.T, o options)
	}{
		{name: "defaults", check: func(t *testing.T, o options) {
			assert.Equal(t, "./bin", o.Bin)
			assert.Equal(t, "bench/peers", o.Peers)
			assert.Equal(t, "bench/out", o.Out)
			assert.Equal(t, 3, o.Rounds)
			assert.Equal(t, time.Second, o.CrowdPeriod)
			assert.Equal(t, 5*time.Second, o.Duration)
			assert.Equal(t, 18000, o.PortBase)
			assert.Equal(t, caseIDs(allCases), caseIDs(o.Cases))
			assert.Equal(t, []string{"direct", "lb", "lb-rp", "haproxy", "haproxy-mt", "nginx"}, o.Targets, "no lb-base without --base-bin")
			assert.Equal(t, "", o.BaseBin)
			assert.Equal(t, 0, o.IdleConns, "sized at run time")
			assert.Equal(t, 0, o.CrowdConns, "sized at run time")
			assert.Equal(t, 10*time.Second, o.ReleaseWait)
		}},
		{name: "base-bin adds lb-base", args: []string{"--base-bin", "/tmp/old/bin"},
			check: func(t *testing.T, o options) {
				assert.Equal(t, "/tmp/old/bin", o.BaseBin)
				assert.Equal(t, []string{"direct", "lb", "lb-base", "lb-rp", "haproxy", "haproxy-mt", "nginx"}, o.Targets)
			}},
		{name: "base-config adds lb-base: bin/lb itself", args: []string{"--bin", "mybin", "--base-config", `{"max_conns_per_backend": 128}`, "--targets", "lb"},
			check: func(t *testing.T, o options) {
				assert.Equal(t, "mybin", o.BaseBin)
				assert.Equal(t, `{"max_conns_per_backend": 128}`, o.BaseConfig)
				assert.Equal(t, []string{"lb", "lb-base"}, o.Targets)
			}},
		{name: "base-config with base-bin", args: []string{"--base-bin", "old", "--base-config", `{"retries": 0}`, "--targets", "lb"},
			check: func(t *testing.T, o options) {
				assert.Equal(t, "old", o.BaseBin)
				assert.Equal(t, []string{"lb", "lb-base"}, o.Targets)
			}},
		{name: "server-maxconn leaves nginx out", args: []string{"--server-maxconn", "128"},
			check: func(t *testing.T, o options) {
				assert.Equal(t, 128, o.ServerMaxConn)
				assert.Equal(t, []string{"direct", "lb", "lb-rp", "haproxy", "haproxy-mt"}, o.Targets)
			}},
		{name: "server-maxconn with nginx asked for", args: []string{"--server-maxconn", "128", "--targets", "lb,nginx"},
			err: "--targets lb,nginx: nginx takes no part with --server-maxconn (its open-source build has no queue: max_conns answers 502 beyond the bound)"},
		{name: "server-maxconn negative", args: []string{"--server-maxconn", "-1"},
			err: "--server-maxconn -1: need 0 (no bound) or more"},
		{name: "base-config not JSON", args: []string{"--base-config", "max_conns_per_backend=128"},
			err: `--base-config max_conns_per_backend=128: not a JSON object of config keys (e.g. '{"max_conns_per_backend": 128}')`},
		{name: "base-config not an object", args: []string{"--base-config", "[1]"},
			err: `--base-config [1]: not a JSON object of config keys (e.g. '{"max_conns_per_backend": 128}')`},
		{name: "base-config empty object", args: []string{"--base-config", "{}"},
			err: "--base-config {}: no config key in it"},
		{name: "base-bin adds lb-base to named targets", args: []string{"--base-bin", "b", "--targets", "lb,haproxy-mt"},
			check: func(t *testing.T, o options) {
				assert.Equal(t, []string{"lb", "lb-base", "haproxy-mt"}, o.Targets)
			}},
		{name: "base-bin with lb-base named", args: []string{"--base-bin", "b", "--targets", "lb-base,lb"},
			check: func(t *testing.T, o options) {
				assert.Equal(t, []string{"lb", "lb-base"}, o.Targets)
			}},
		{name: "lb-base without base-bin", args: []string{"--targets", "lb,lb-base"},
			err: "--targets lb,lb-base: lb-base needs --base-bin DIR (the directory of the baseline lb)"},
		{name: "sizes, period and release wait", args: []string{"--idle-conns", "500", "--crowd-conns", "700", "--crowd-period", "2s", "--release-wait", "3s"},
			check: func(t *testing.T, o options) {
				assert.Equal(t, []int{500, 700}, []int{o.IdleConns, o.CrowdConns})
				assert.Equal(t, 2*time.Second, o.CrowdPeriod)
				assert.Equal(t, 3*time.Second, o.ReleaseWait)
			}},
		{name: "negative idle conns", args: []string{"--idle-conns", "-1"}, err: "--idle-conns -1: need 0 (sized to the open-file limit) or more"},
		{name: "negative crowd conns", args: []string{"--crowd-conns", "-5"}, err: "--crowd-conns -5: need 0 (sized to the open-file limit) or more"},
		{name: "crowd period too short", args: []string{"--crowd-period", "50ms"}, err: "--crowd-period 50ms: need 100ms to the --duration (5s)"},
		{name: "crowd period past the duration", args: []string{"--crowd-period", "6s"}, err: "--crowd-period 6s: need 100ms to the --duration (5s)"},
		{name: "short release wait", args: []string{"--release-wait", "500ms"}, err: "--release-wait 500ms: need at least 1s"},
		{name: "direct has no idle figures", args: []string{"--targets", "direct", "--cases", "idle-http,idle-tcp"},
			err: "--targets direct --cases idle-http,idle-tcp: nothing to measure (lb-rp takes no part in the TCP cases, direct none in the idle ones)"},
		{name: "filters", args: []string{"--cases", "tcp,c64", "--targets", "haproxy,lb", "--rounds", "1", "--duration", "2s"},
			check: func(t *testing.T, o options) {
				assert.Equal(t, []string{"c64", "tcp"}, caseIDs(o.Cases))
				assert.Equal(t, []string{"lb", "haproxy"}, o.Targets)
				assert.Equal(t, 1, o.Rounds)
				assert.Equal(t, 2*time.Second, o.Duration)
			}},
		{name: "lb-rp selected", args: []string{"--targets", "haproxy,lb-rp,lb", "--cases", "c64,tcp"},
			check: func(t *testing.T, o options) {
				assert.Equal(t, []string{"lb", "lb-rp", "haproxy"}, o.Targets)
			}},
		{name: "lb-rp excluded", args: []string{"--targets", "direct,lb,haproxy,nginx"},
			check: func(t *testing.T, o options) {
				assert.NotContains(t, o.Targets, "lb-rp")
			}},
		{name: "lb-rp has no tcp", args: []string{"--targets", "lb-rp", "--cases", "tcp"},
			err: "--targets lb-rp --cases tcp: nothing to measure (lb-rp takes no part in the TCP cases, direct none in the idle ones)"},
		{name: "unknown case", args: []string{"--cases", "c65"},
			err: `--cases: unknown case "c65"; valid cases: c64, c512, close, body64k, http10, rate5000, rate7000, crowd, tcp, idle-http, idle-tcp`},
		{name: "zero rounds", args: []string{"--rounds", "0"}, err: "--rounds 0: need at least 1"},
		{name: "fractional duration", args: []string{"--duration", "1500ms"}, err: "--duration 1.5s: need a whole number of seconds, at least 1s (wrk counts in seconds)"},
		{name: "low port base", args: []string{"--port-base", "80"}, err: "--port-base 80: need 1024 to 65435"},
		{name: "stray argument", args: []string{"extra"}, err: `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOptions(tc.args, io.Discard)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			tc.check(t, o)
		})
	}
}

func TestRotate(t *testing.T) {
	ts := []string{"a", "b", "c", "d"}
	tests := []struct {
		round int
		want  []string
	}{
		{0, []string{"a", "b", "c", "d"}},
		{1, []string{"b", "c", "d", "a"}},
		{3, []string{"d", "a", "b", "c"}},
		{4, []string{"a", "b", "c", "d"}},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, rotate(ts, tc.round), "round %d", tc.round)
	}
	assert.Equal(t, []string{"a", "b", "c", "d"}, ts, "rotate must not modify its input")
	assert.Nil(t, rotate(nil, 2))
}

func TestNeeds(t *testing.T) {
	pick := func(ids ...string) []benchCase {
		var out []benchCase
		for _, id := range ids {
			c, err := caseByID(id)
			require.NoError(t, err)
			out = append(out, c)
		}
		return out
	}
	tests := []struct {
		cases               []benchCase
		http, tcp, needsWrk bool
	}{
		{pick("c64"), true, false, true},
		{pick("tcp"), false, true, true},
		{pick("rate5000"), true, false, false},
		{pick("rate7000", "tcp"), true, true, true},
		{pick("http10"), true, false, true},
		{pick("crowd", "idle-http"), true, false, false},
		{pick("idle-tcp"), false, true, false},
	}
	for _, tc := range tests {
		h, tcp, w := needs(tc.cases)
		assert.Equal(t, []bool{tc.http, tc.tcp, tc.needsWrk}, []bool{h, tcp, w}, "%v", caseIDs(tc.cases))
	}
}

// TestOverlayConfig: --base-config's keys are added to a rendered config,
// replacing those it has; the rest stay.
func TestOverlayConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lb-base.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"proxy_port": 18080, "retries": 2, "backend_servers": [{"host": "127.0.0.1", "port": 18001}]}`), 0o644))
	require.NoError(t, overlayConfig(path, `{"retries": 0, "max_conns_per_backend": 128}`))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, map[string]any{
		"proxy_port": 18080.0, "retries": 0.0, "max_conns_per_backend": 128.0,
		"backend_servers": []any{map[string]any{"host": "127.0.0.1", "port": 18001.0}},
	}, got)

	require.NoError(t, os.WriteFile(path, []byte(`{"proxy_port": `), 0o644))
	assert.ErrorContains(t, overlayConfig(path, `{"retries": 0}`), path, "a broken rendered config is named")
}
