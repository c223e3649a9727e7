package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// peersDir holds the real templates, which these tests render.
const peersDir = "../../../bench/peers"

func renderPeer(t *testing.T, name string, d templateData) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(peersDir, name))
	require.NoError(t, err)
	out, err := renderTemplate(name, string(src), d)
	require.NoError(t, err)
	assert.NotContains(t, out, "{{")
	assert.NotContains(t, out, "<no value>")
	return out
}

func TestRenderHAProxy(t *testing.T) {
	base := templateData{HTTPPort: 18081, Backends: []int{18001, 18002, 18003}, MaxConn: 20000, NbThread: 1}
	tests := []struct {
		name     string
		tcpPort  int
		nbthread int
		want     []string
		notWant  []string
	}{
		{"http only", 0, 1,
			[]string{"nbthread 1", "maxconn 20000", "bind 127.0.0.1:18081", "balance roundrobin", "http-reuse always",
				"option http-keep-alive", "server b0 127.0.0.1:18001", "server b2 127.0.0.1:18003"},
			[]string{"mode tcp", "tcp_in", "log "}},
		{"with tcp frontend", 18091, 1,
			[]string{"bind 127.0.0.1:18081", "mode tcp", "bind 127.0.0.1:18091", "backend tcp_backends"}, nil},
		{"haproxy-mt", 18094, 2,
			[]string{"    nbthread 2\n", "bind 127.0.0.1:18094"}, []string{"    nbthread 1\n"}},
		{"server maxconn", 18091, 1,
			[]string{"server b0 127.0.0.1:18001 check inter 2s maxconn 64\n", "server b2 127.0.0.1:18003 check inter 2s maxconn 64\n"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := base
			d.TCPPort, d.NbThread = tc.tcpPort, tc.nbthread
			if tc.name == "server maxconn" {
				d.ServerMaxConn = 64
			}
			out := renderPeer(t, "haproxy.cfg", d)
			if d.ServerMaxConn == 0 {
				assert.NotContains(t, out, "check inter 2s maxconn")
			} else {
				assert.Equal(t, 3, strings.Count(out, "maxconn 64"), "the HTTP backend's servers only: TCP mode has no bound in lb")
			}
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
			for _, w := range tc.notWant {
				assert.NotContains(t, out, w)
			}
			if tc.tcpPort != 0 {
				assert.Equal(t, 6, strings.Count(out, "server b"), "three servers per backend section")
			}
		})
	}
}

func TestRenderNginx(t *testing.T) {
	base := templateData{HTTPPort: 18082, Backends: []int{18001, 18002, 18003}, Prefix: "/tmp/pb/nginx",
		NoFile: 20000, WorkerConns: 19800, StreamModule: "/usr/lib/nginx/modules/ngx_stream_module.so"}
	tests := []struct {
		name    string
		root    bool
		tcpPort int
		want    []string
		notWant []string
	}{
		{"non-root, http only", false, 0,
			[]string{"worker_processes auto;", "worker_connections 19800;", "worker_rlimit_nofile 20000;",
				"pid /tmp/pb/nginx/nginx.pid;", "error_log /tmp/pb/nginx/error.log", "access_log off;",
				"proxy_temp_path /tmp/pb/nginx/proxy;", "keepalive 128;", "proxy_http_version 1.1;",
				`proxy_set_header Connection "";`, "proxy_max_temp_file_size 0;", "listen 127.0.0.1:18082;",
				"server 127.0.0.1:18001;", "server 127.0.0.1:18003;"},
			[]string{"user root;", "load_module", "stream {"}},
		{"root with stream", true, 18092,
			[]string{"user root;", "load_module /usr/lib/nginx/modules/ngx_stream_module.so;", "stream {",
				"listen 127.0.0.1:18092;", "proxy_pass tcp_backends;"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := base
			d.Root, d.TCPPort = tc.root, tc.tcpPort
			out := renderPeer(t, "nginx.conf", d)
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
			for _, w := range tc.notWant {
				assert.NotContains(t, out, w)
			}
			assert.Equal(t, strings.Count(out, "{"), strings.Count(out, "}"), "balanced braces")
		})
	}
}

func TestRenderLBConfigs(t *testing.T) {
	d := templateData{HTTPPort: 18080, TCPPort: 18090, AdminPort: 18099, Backends: []int{18001, 18002, 18003}}
	lbWant := map[string]any{"proxy_host": "127.0.0.1", "proxy_port": 18080.0, "algorithm": "round_robin",
		"health_check_interval": 2.0, "health_check_timeout": 2.0, "max_connections": 20000.0,
		"connection_timeout": 5.0, "request_timeout": 30.0, "enable_logging": false, "enable_metrics": true,
		"forwarder": nil, "max_conns_per_backend": nil}
	// lb-rp: lb's config on its own port, plus the forwarder.
	rpWant := map[string]any{}
	for k, v := range lbWant {
		rpWant[k] = v
	}
	rpWant["proxy_port"], rpWant["forwarder"] = 18083.0, "reverseproxy"
	// --server-maxconn: the bound in HTTP mode; TCP mode has none.
	boundWant := map[string]any{}
	for k, v := range lbWant {
		boundWant[k] = v
	}
	boundWant["max_conns_per_backend"] = 64.0
	tests := []struct {
		name, file string
		port       int
		forwarder  string
		maxConn    int
		want       map[string]any
	}{
		{"lb", "lb.json", 18080, "", 0, lbWant},
		{"lb-rp", "lb.json", 18083, "reverseproxy", 0, rpWant},
		{"lb bounded", "lb.json", 18080, "", 64, boundWant},
		{"lb-tcp", "lb-tcp.json", 18080, "", 0, map[string]any{"mode": "tcp", "proxy_port": 18090.0, "admin_host": "127.0.0.1",
			"admin_port": 18099.0, "idle_timeout": 60.0, "enable_logging": false}},
		{"lb-tcp bounded: not in TCP mode", "lb-tcp.json", 18080, "", 64, map[string]any{"mode": "tcp", "max_conns_per_backend": nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := d
			d.HTTPPort, d.Forwarder, d.ServerMaxConn = tc.port, tc.forwarder, tc.maxConn
			var cfg map[string]any
			require.NoError(t, json.Unmarshal([]byte(renderPeer(t, tc.file, d)), &cfg))
			for k, v := range tc.want {
				assert.Equal(t, v, cfg[k], k)
			}
			backends, ok := cfg["backend_servers"].([]any)
			require.True(t, ok)
			require.Len(t, backends, 3)
			assert.Equal(t, map[string]any{"host": "127.0.0.1", "port": 18003.0, "weight": 1.0}, backends[2])
		})
	}
}

func TestRenderTemplateErrors(t *testing.T) {
	_, err := renderTemplate("x", "{{.Nope}}", templateData{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "render x")
	_, err = renderTemplate("y", "{{if}}", templateData{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "parse y")
}

func TestHAProxyMaxConn(t *testing.T) {
	tests := []struct{ nofile, want uint64 }{
		{1 << 20, 20000},
		{65536, 20000},
		{40200, 20000},
		{20000, 9900},
		{1024, 412},
		{0, 0},
	}
	for _, tc := range tests {
		got := haproxyMaxConn(tc.nofile)
		assert.Equal(t, tc.want, got, "nofile %d", tc.nofile)
		assert.LessOrEqual(t, 2*got+200, max(tc.nofile, 200), "nofile %d: two fds per connection plus margin", tc.nofile)
	}
}

func TestNginxWorkerConns(t *testing.T) {
	assert.Equal(t, uint64(19800), nginxWorkerConns(20000))
	assert.Equal(t, uint64(65336), nginxWorkerConns(65536))
	assert.Equal(t, uint64(1024), nginxWorkerConns(512), "nginx's default at the least")
}

func TestWrkScriptPrintsTheParsedFields(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(peersDir, "wrk-report.lua"))
	require.NoError(t, err)
	for _, k := range []string{`args[1] == "http1.0"`, `HTTP/1.0\r\n`, `wrk.headers["Connection"] = "keep-alive"`, `"requests"`, `"duration_us"`, `"bytes"`, `"connect"`, `"read"`, `"write"`, `"status"`, `"timeout"`, `"p50"`, `"p99"`, `"max"`, `"mean"`} {
		assert.Contains(t, string(src), k)
	}
	assert.NotContains(t, string(src), "\nrequest = ", "a request() function would make wrk call Lua for every request")
	assert.NotContains(t, string(src), "function request(", "a request() function would make wrk call Lua for every request")
}
