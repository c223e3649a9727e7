package h1safety

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A reference proxy: H1SAFETY_FORWARDERS=haproxy (alone or beside lean and
// reverseproxy) runs the corpus through HAProxy (make bench-peers installs
// it) with the harness's timeouts, to check the corpus's expectations
// against the proxy they follow. It is a tool for writing vectors, not part
// of make test.

// forwardersFromEnv returns the targets TestSafety runs: lean and
// reverseproxy, or H1SAFETY_FORWARDERS (comma-separated).
func forwardersFromEnv() []string {
	if s := os.Getenv("H1SAFETY_FORWARDERS"); s != "" {
		return strings.Split(s, ",")
	}
	return []string{"lean", "reverseproxy"}
}

// startTarget starts the proxy a vector runs through.
func startTarget(t testing.TB, c lbConfig) *balancer {
	if c.Forwarder == "haproxy" {
		return startHAProxy(t, c)
	}
	return startBalancer(t, c)
}

// startHAProxy runs haproxy in the foreground with the harness's timeouts
// and retries, keep-alive to the backends and connection reuse on.
func startHAProxy(t testing.TB, c lbConfig) *balancer {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if bin = "/usr/sbin/haproxy"; !fileExists(bin) {
			t.Fatalf("H1SAFETY_FORWARDERS names haproxy, which is not installed (make bench-peers installs it)")
		}
	}
	// haproxy takes over the listener (bind fd@3): no other vector can
	// take its port in between.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	lf, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	var servers strings.Builder
	for i, a := range c.Backends {
		fmt.Fprintf(&servers, "  server s%d %s\n", i+1, a)
	}
	cfg := fmt.Sprintf(`global
  maxconn 200
defaults
  mode http
  option forwardfor
  timeout connect 1s
  timeout client 5s
  timeout server 2s
  timeout http-request 1s
  timeout http-keep-alive 5s
  retries %d
  http-reuse always
frontend fe
  bind fd@3
  default_backend be
backend be
  balance roundrobin
%s`, c.Retries, servers.String())
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-db", "-f", path)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.ExtraFiles = []*os.File{lf}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start haproxy: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	b := &balancer{addr: addr, logs: logs, stop: func() { cancel(); <-done }}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return b
		}
		select {
		case <-done:
			t.Fatalf("haproxy exited: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			b.stop()
			t.Fatalf("haproxy did not listen on %s: %s", addr, logs.String())
		}
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
