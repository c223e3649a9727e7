package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// nginxStreamModule is where Debian's libnginx-mod-stream puts the module.
const nginxStreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

// startTimeout bounds how long a process may take to answer.
const startTimeout = 20 * time.Second

// refusal is a run refused before anything started (exit status 2).
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

// preflightError returns a refusal: main prints it and exits with status 2.
func preflightError(format string, args ...any) error {
	return &refusal{fmt.Sprintf(format, args...)}
}

// tools are the paths of the programs a run uses.
type tools struct {
	LB, Backend, HAProxy, Nginx, Wrk string
}

// lookTool finds a program on PATH or in the sbin directories that a
// user's PATH often lacks (Debian puts haproxy and nginx in /usr/sbin).
func lookTool(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// findTools checks that every program the run needs is there; the error
// names all that are missing and how to get them.
func findTools(o options) (tools, error) {
	var t tools
	http, tcp, wrk := needs(o.Cases)
	var missing []string
	peerMissing := false
	binary := func(name string) string {
		p := filepath.Join(o.Bin, name)
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			missing = append(missing, fmt.Sprintf("%s (run make build)", p))
		}
		abs, _ := filepath.Abs(p)
		return abs
	}
	t.Backend = binary("backend")
	if (has(o.Targets, targetLB) && (http || tcp)) || (has(o.Targets, targetLBRP) && http) {
		t.LB = binary("lb")
	}
	tool := func(name, pkg string) string {
		p, ok := lookTool(name)
		if !ok {
			peerMissing = true
			missing = append(missing, fmt.Sprintf("%s (apt-get install -y %s)", name, pkg))
		}
		return p
	}
	if has(o.Targets, targetHAProxy) {
		t.HAProxy = tool("haproxy", "haproxy")
	}
	if has(o.Targets, targetNginx) {
		t.Nginx = tool("nginx", "nginx")
		if _, err := os.Stat(nginxStreamModule); tcp && err != nil {
			peerMissing = true
			missing = append(missing, fmt.Sprintf("nginx stream module %s (apt-get install -y libnginx-mod-stream)", nginxStreamModule))
		}
	}
	if wrk {
		t.Wrk = tool("wrk", "wrk")
	}
	if len(missing) > 0 {
		msg := "missing:"
		for _, m := range missing {
			msg += "\n  " + m
		}
		if peerMissing {
			msg += "\nmake bench-peers installs haproxy, nginx, its stream module and wrk"
		}
		return t, preflightError("%s", msg)
	}
	return t, nil
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// raiseNoFile raises RLIMIT_NOFILE's soft limit to the hard limit (at most
// 65536) and calls setrlimit even when nothing changes: only then do child
// processes inherit it (Go otherwise restores the original soft limit in
// children). It fails when the result is below need.
func raiseNoFile(need uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	want := min(rl.Max, 65536)
	if rl.Cur < want {
		rl.Cur = want
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("setrlimit NOFILE %d: %w", rl.Cur, err)
	}
	if rl.Cur < need {
		return rl.Cur, preflightError("open-file limit %d (hard %d) is below the %d the selected cases need; raise it (ulimit -n) or drop c512", rl.Cur, rl.Max, need)
	}
	return rl.Cur, nil
}

// fdNeed estimates the open files the busiest process needs for cases: each
// client connection of a proxy may hold one to a backend too.
func fdNeed(cases []benchCase) uint64 {
	conns := 64
	for _, c := range cases {
		conns = max(conns, c.Conns)
	}
	return uint64(2*conns + 256)
}

// lab is the set of running processes: three backends and the proxies.
type lab struct {
	procs *procSet
	plan  portPlan
	// http and tcp map a target to its process (nil: direct).
	http map[string]*proc
	tcp  map[string]*proc
}

// startLab renders the configs into outDir/peers, checks them, starts the
// backends and the proxies the run needs, and waits until each answers.
func startLab(ctx context.Context, o options, t tools, plan portPlan, nofile uint64, procs *procSet) (*lab, error) {
	needHTTP, needTCP, _ := needs(o.Cases)
	l := &lab{procs: procs, plan: plan, http: map[string]*proc{}, tcp: map[string]*proc{}}
	scratch, err := filepath.Abs(filepath.Join(o.Out, "peers"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		return nil, err
	}
	data := templateData{HTTPPort: 0, Backends: plan.Backends[:], NoFile: nofile, MaxConn: haproxyMaxConn(nofile), StreamModule: nginxStreamModule}
	tmpl := func(name string) string { return filepath.Join(o.Peers, name) }

	for i, port := range plan.Backends {
		name := fmt.Sprintf("backend-%d", i+1)
		p, err := procs.start(name, t.Backend, "--name", name, "--port", strconv.Itoa(port), "--host", "127.0.0.1")
		if err != nil {
			return nil, err
		}
		if err := waitOK(ctx, p, fmt.Sprintf("http://127.0.0.1:%d/health", port), startTimeout); err != nil {
			return nil, err
		}
	}

	// lb and lb-rp: the same bin/lb and template, lb-rp with every request
	// through httputil.ReverseProxy.
	for _, v := range []struct{ target, forwarder string }{{targetLB, ""}, {targetLBRP, "reverseproxy"}} {
		if t.LB == "" || !needHTTP || !has(o.Targets, v.target) {
			continue
		}
		d := data
		d.HTTPPort, d.Forwarder = l.httpPort(v.target), v.forwarder
		cfg := filepath.Join(scratch, v.target+".json")
		if err := renderFile(tmpl("lb.json"), cfg, d); err != nil {
			return nil, err
		}
		if err := runCheck(ctx, v.target, t.LB, "--config", cfg, "--check"); err != nil {
			return nil, err
		}
		p, err := procs.start(v.target, t.LB, "--config", cfg)
		if err != nil {
			return nil, err
		}
		if err := waitOK(ctx, p, fmt.Sprintf("http://127.0.0.1:%d/__health__", d.HTTPPort), startTimeout); err != nil {
			return nil, err
		}
		l.http[v.target] = p
	}
	if t.LB != "" && needTCP && has(o.Targets, targetLB) {
		d := data
		d.TCPPort, d.AdminPort = plan.LBTCP, plan.LBAdmin
		cfg := filepath.Join(scratch, "lb-tcp.json")
		if err := renderFile(tmpl("lb-tcp.json"), cfg, d); err != nil {
			return nil, err
		}
		if err := runCheck(ctx, "lb (tcp)", t.LB, "--config", cfg, "--check"); err != nil {
			return nil, err
		}
		p, err := procs.start("lb-tcp", t.LB, "--config", cfg)
		if err != nil {
			return nil, err
		}
		if err := waitOK(ctx, p, fmt.Sprintf("http://127.0.0.1:%d/__health__", plan.LBAdmin), startTimeout); err != nil {
			return nil, err
		}
		l.tcp[targetLB] = p
	}
	if t.HAProxy != "" {
		d := data
		d.HTTPPort = plan.HAProxyHTTP
		if needTCP {
			d.TCPPort = plan.HAProxyTCP
		}
		cfg := filepath.Join(scratch, "haproxy.cfg")
		if err := renderFile(tmpl("haproxy.cfg"), cfg, d); err != nil {
			return nil, err
		}
		if err := runCheck(ctx, "haproxy", t.HAProxy, "-c", "-f", cfg); err != nil {
			return nil, err
		}
		p, err := procs.start("haproxy", t.HAProxy, "-f", cfg, "-db")
		if err != nil {
			return nil, err
		}
		l.http[targetHAProxy], l.tcp[targetHAProxy] = p, p
	}
	if t.Nginx != "" {
		prefix := filepath.Join(scratch, "nginx")
		if err := os.MkdirAll(prefix, 0o755); err != nil {
			return nil, err
		}
		d := data
		d.HTTPPort, d.Prefix, d.Root = plan.NginxHTTP, prefix, os.Geteuid() == 0
		if needTCP {
			d.TCPPort = plan.NginxTCP
		}
		cfg := filepath.Join(prefix, "nginx.conf")
		if err := renderFile(tmpl("nginx.conf"), cfg, d); err != nil {
			return nil, err
		}
		args := []string{"-p", prefix + "/", "-c", cfg, "-e", filepath.Join(prefix, "error.log")}
		if err := runCheck(ctx, "nginx", t.Nginx, append([]string{"-t"}, args...)...); err != nil {
			return nil, err
		}
		p, err := procs.start("nginx", t.Nginx, append(args, "-g", "daemon off;")...)
		if err != nil {
			return nil, err
		}
		p.Children = true
		l.http[targetNginx], l.tcp[targetNginx] = p, p
	}

	// Every proxy answers through each of its listeners before measuring.
	for _, tg := range o.Targets {
		if tg == targetDirect {
			continue
		}
		for _, tcp := range []bool{false, true} {
			if (tcp && !needTCP) || (!tcp && !needHTTP) {
				continue
			}
			p := l.proc(tg, tcp)
			if p == nil {
				continue
			}
			if err := waitOK(ctx, p, l.url(tg, tcp), startTimeout); err != nil {
				return nil, err
			}
		}
	}
	return l, nil
}

// proc returns the process that serves target (nil for direct).
func (l *lab) proc(target string, tcp bool) *proc {
	if tcp {
		return l.tcp[target]
	}
	return l.http[target]
}

// url returns the URL that the load goes to for target.
func (l *lab) url(target string, tcp bool) string {
	port := l.plan.Backends[0]
	if tcp {
		switch target {
		case targetLB:
			port = l.plan.LBTCP
		case targetHAProxy:
			port = l.plan.HAProxyTCP
		case targetNginx:
			port = l.plan.NginxTCP
		}
	} else if p := l.httpPort(target); p != 0 {
		port = p
	}
	return fmt.Sprintf("http://127.0.0.1:%d/bench", port)
}

// httpPort returns the HTTP listener of a proxy target (0 for direct).
func (l *lab) httpPort(target string) int {
	switch target {
	case targetLB:
		return l.plan.LBHTTP
	case targetLBRP:
		return l.plan.LBRPHTTP
	case targetHAProxy:
		return l.plan.HAProxyHTTP
	case targetNginx:
		return l.plan.NginxHTTP
	}
	return 0
}

// setResponseSize sets every backend's response size at run time
// (PUT /__backend__/config); size is a JSON value such as "64KiB" or 0.
func (l *lab) setResponseSize(ctx context.Context, size string) error {
	client := &http.Client{Timeout: 5 * time.Second}
	for _, port := range l.plan.Backends {
		url := fmt.Sprintf("http://127.0.0.1:%d/__backend__/config", port)
		body := []byte(`{"response_size":` + size + `}`)
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("PUT %s %s: %w", url, body, err)
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("PUT %s %s: %s: %s", url, body, resp.Status, bytes.TrimSpace(msg))
		}
	}
	return nil
}
