package main

import (
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
