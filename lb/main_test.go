package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/config"
)

func TestHealthTarget(t *testing.T) {
	tests := []struct {
		name, cfg, want string
	}{
		{"http, admin on all interfaces", `{"mode":"http","admin_host":"0.0.0.0","admin_port":9090,"backend_servers":[{"host":"b","port":1}]}`,
			"http://127.0.0.1:9090/__health__"},
		{"tcp, admin", `{"mode":"tcp","admin_host":"0.0.0.0","admin_port":9091,"backend_servers":[{"host":"b","port":1}]}`,
			"http://127.0.0.1:9091/__health__"},
		{"http, no admin: the proxy port", `{"proxy_port":8081,"enable_metrics":true,"backend_servers":[{"host":"b","port":1}]}`,
			"http://127.0.0.1:8081/__health__"},
		{"http on one address", `{"proxy_host":"127.0.0.2","proxy_port":8082,"backend_servers":[{"host":"b","port":1}]}`,
			"http://127.0.0.2:8082/__health__"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(tt.cfg))
			require.NoError(t, err)
			assert.Equal(t, tt.want, healthTarget(cfg))
		})
	}
}

func TestConfigArg(t *testing.T) {
	tests := []struct {
		argv []string
		want string
	}{
		{[]string{"/lb", "--config", "/etc/lblab/lb-tcp.json"}, "/etc/lblab/lb-tcp.json"},
		{[]string{"/lb", "-config", "a.json", "--verbose"}, "a.json"},
		{[]string{"/lb", "--config=b.json"}, "b.json"},
		{[]string{"/sbin/init"}, ""},
		{[]string{"/lb", "--config"}, ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, configArg(tt.argv), "%q", tt.argv)
	}
}

// TestLabConfigs: every config the Compose lab runs lb with loads, and
// lab/lb-measure.json (the measurement scenarios') is lab/lb.json with the
// access log off and nothing else changed, so the two cannot drift apart.
func TestLabConfigs(t *testing.T) {
	paths, err := filepath.Glob("../lab/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	for _, p := range paths {
		_, err := config.Load(p)
		assert.NoError(t, err, p)
	}
	read := func(name string) map[string]any {
		b, err := os.ReadFile(filepath.Join("../lab", name))
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m), name)
		return m
	}
	lab, measure := read("lb.json"), read("lb-measure.json")
	assert.Equal(t, true, lab["enable_logging"], "lab/lb.json logs")
	assert.Equal(t, false, measure["enable_logging"], "lab/lb-measure.json does not")
	delete(lab, "enable_logging")
	delete(measure, "enable_logging")
	assert.Equal(t, lab, measure, "lab/lb-measure.json differs from lab/lb.json in more than enable_logging")
}
