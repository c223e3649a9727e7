package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"text/template"
)

// templateData fills the config templates of bench/peers (Go text/template).
type templateData struct {
	HTTPPort     int    // the proxy's HTTP listener
	TCPPort      int    // its TCP-mode listener; 0 leaves TCP mode out
	AdminPort    int    // lb's admin listener in TCP mode
	Forwarder    string // lb's "forwarder" key; empty leaves it out (lb's default, lean)
	Backends     []int  // backend ports on 127.0.0.1
	Prefix       string // nginx: absolute directory for pid, logs and temp files
	Root         bool   // nginx: running as root (adds "user root;")
	NoFile       uint64 // nginx: worker_rlimit_nofile
	WorkerConns  uint64 // nginx: worker_connections
	MaxConn      uint64 // haproxy: global maxconn
	NbThread     int    // haproxy: nbthread (1 for haproxy, the CPUs for haproxy-mt)
	StreamModule string // nginx: path of ngx_stream_module.so
	// ServerMaxConn: lb's max_conns_per_backend and HAProxy's server
	// maxconn in HTTP mode (--server-maxconn); 0 leaves them out.
	ServerMaxConn int
}

// haproxyMaxConn returns HAProxy's global maxconn: 20000, or less when the
// open-file limit cannot hold two descriptors per connection plus a margin
// (HAProxy refuses to start when it cannot raise the limit that far).
func haproxyMaxConn(nofile uint64) uint64 {
	if nofile < 2*20000+200 {
		return max(nofile, 200)/2 - 100
	}
	return 20000
}

// nginxWorkerConns returns nginx's worker_connections: all the open-file
// limit allows less a margin, at least 1024. A worker counts its upstream
// connections too, and one worker may accept most of the idle cases'
// connections, each of which holds an upstream one in TCP mode.
func nginxWorkerConns(nofile uint64) uint64 {
	return max(nofile, 1024+200) - 200
}

// renderTemplate executes the template text src (named name in errors) with data.
func renderTemplate(name, src string, data templateData) (string, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(src)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return b.String(), nil
}

// renderFile renders the template file src into dst.
func renderFile(src, dst string, data templateData) error {
	text, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	out, err := renderTemplate(filepath.Base(src), string(text), data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, []byte(out), 0o644)
}
