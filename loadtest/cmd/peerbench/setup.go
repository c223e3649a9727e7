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
	"runtime"
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
	// LBBase: the baseline lb of the lb-base target (--base-bin).
	LB, LBBase, Backend, HAProxy, Nginx, Wrk string
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
	binary := func(dir, name, hint string) string {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			missing = append(missing, fmt.Sprintf("%s (%s)", p, hint))
		}
		abs, _ := filepath.Abs(p)
		return abs
	}
	t.Backend = binary(o.Bin, "backend", "run make build")
	if (has(o.Targets, targetLB) && (http || tcp)) || (has(o.Targets, targetLBRP) && http) {
		t.LB = binary(o.Bin, "lb", "run make build")
	}
	if has(o.Targets, targetLBBase) && (http || tcp) {
		t.LBBase = binary(o.BaseBin, "lb", "--base-bin: the directory of the baseline lb, e.g. the bin/ of another checkout after make build")
	}
	tool := func(name, pkg string) string {
		p, ok := lookTool(name)
		if !ok {
			peerMissing = true
			missing = append(missing, fmt.Sprintf("%s (apt-get install -y %s)", name, pkg))
		}
		return p
	}
	if has(o.Targets, targetHAProxy) || has(o.Targets, targetHAProxyMT) {
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

// snapshotBinaries copies lb and the baseline lb into dir and points t at
// the copies, so that the processes the run starts, and restarts for the
// idle cases, run the binaries of the run's start even when make build (or
// the other checkout's) replaces them meanwhile.
func snapshotBinaries(t *tools, dir string) error {
	for _, v := range []struct {
		path *string
		name string
	}{{&t.LB, "lb"}, {&t.LBBase, "lb-base"}} {
		if *v.path == "" {
			continue
		}
		dst := filepath.Join(dir, v.name)
		if err := copyExecutable(*v.path, dst); err != nil {
			return fmt.Errorf("copy %s to %s: %w", *v.path, dst, err)
		}
		*v.path = dst
	}
	return nil
}

// copyExecutable copies the file src to dst, executable.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst) // a running copy keeps its old inode
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
		return rl.Cur, preflightError("open-file limit %d (hard %d) is below the %d the selected cases need; raise it (ulimit -n) or drop c512 and the idle and crowd cases", rl.Cur, rl.Max, need)
	}
	return rl.Cur, nil
}

// fdNeed estimates the open files the busiest process needs for cases: each
// client connection of a proxy may hold one to a backend too. The idle and
// crowd cases are sized to the limit (sizeConns); they need room for at
// least minSizedConns connections.
func fdNeed(cases []benchCase) uint64 {
	conns := 64
	for _, c := range cases {
		conns = max(conns, c.Conns)
		if c.Kind == idleConns || c.Kind == crowdLoad {
			conns = max(conns, minSizedConns)
		}
	}
	return uint64(2*conns + fdMargin)
}

const (
	// maxIdleConns and maxCrowdConns: the connections of the idle and
	// crowd cases when the open-file limit allows.
	maxIdleConns  = 10000
	maxCrowdConns = 10000
	// minSizedConns: fewer than this, and the idle and crowd figures say
	// little; a lower limit refuses the run.
	minSizedConns = 1000
	// fdMargin: descriptors a process needs besides its connections.
	fdMargin = 1000
)

// connSizes are the connections of the idle and crowd cases, and why.
type connSizes struct {
	Idle  int    `json:"idle_conns"`
	Crowd int    `json:"crowd_conns"`
	Note  string `json:"note"`
}

// sizeConns sizes the idle and crowd cases to the open-file limit nofile
// (the same for every process peerbench starts), or takes idle and crowd
// when nonzero, refusing what the limit cannot hold. A TCP-mode proxy holds
// two descriptors per idle connection, so the idle cases get
// (nofile − fdMargin) ÷ 2; the crowd is HTTP (one descriptor per client in
// the proxy, besides a few to the backends) but HAProxy's maxconn bounds
// it (haproxyMaxConn, less 100 for health checks and the like).
func sizeConns(nofile uint64, idle, crowd int) (connSizes, error) {
	idleMax := min(maxIdleConns, max(0, int(nofile)-fdMargin)/2)
	crowdMax := min(maxCrowdConns, max(0, int(haproxyMaxConn(nofile))-100))
	s := connSizes{Idle: idleMax, Crowd: crowdMax}
	if idle > 0 {
		if idle > idleMax {
			return s, preflightError("--idle-conns %d: the open-file limit %d holds at most %d (a TCP-mode proxy takes two descriptors per connection, plus %d)", idle, nofile, idleMax, fdMargin)
		}
		s.Idle = idle
	}
	if crowd > 0 {
		if crowd > crowdMax {
			return s, preflightError("--crowd-conns %d: the open-file limit %d holds at most %d (HAProxy's maxconn there is %d)", crowd, nofile, crowdMax, haproxyMaxConn(nofile))
		}
		s.Crowd = crowd
	}
	s.Note = fmt.Sprintf("open-file limit %d per process: idle cases %d connections", nofile, s.Idle)
	if idle == 0 && s.Idle < maxIdleConns {
		s.Note += fmt.Sprintf(" (a TCP-mode proxy holds two descriptors per connection: (%d − %d) ÷ 2)", nofile, fdMargin)
	}
	s.Note += fmt.Sprintf(", crowd %d", s.Crowd)
	if crowd == 0 && s.Crowd < maxCrowdConns {
		s.Note += fmt.Sprintf(" (HAProxy's maxconn %d, less 100)", haproxyMaxConn(nofile))
	}
	return s, nil
}

// lab is the set of running processes: three backends and the proxies.
type lab struct {
	procs *procSet
	plan  portPlan
	// http and tcp map a target to its process (nil: direct).
	http map[string]*proc
	tcp  map[string]*proc
	// needHTTP and needTCP: which listeners the proxies have.
	needHTTP, needTCP bool
	// backends: the three bin/backend processes.
	backends []*proc
}

// startLab renders the configs into outDir/peers, checks them, starts the
// backends and the proxies the run needs, and waits until each answers.
func startLab(ctx context.Context, o options, t tools, plan portPlan, nofile uint64, procs *procSet) (*lab, error) {
	needHTTP, needTCP, _ := needs(o.Cases)
	l := &lab{procs: procs, plan: plan, http: map[string]*proc{}, tcp: map[string]*proc{}, needHTTP: needHTTP, needTCP: needTCP}
	scratch, err := filepath.Abs(filepath.Join(o.Out, "peers"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		return nil, err
	}
	data := templateData{HTTPPort: 0, Backends: plan.Backends[:], NoFile: nofile, MaxConn: haproxyMaxConn(nofile),
		WorkerConns: nginxWorkerConns(nofile), StreamModule: nginxStreamModule, ServerMaxConn: o.ServerMaxConn}
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
		l.backends = append(l.backends, p)
	}

	// lb, lb-base and lb-rp: the same templates; lb-base runs the baseline
	// binary, lb-rp has every request through httputil.ReverseProxy.
	for _, v := range []struct{ target, bin, forwarder string }{
		{targetLB, t.LB, ""}, {targetLBBase, t.LBBase, ""}, {targetLBRP, t.LB, "reverseproxy"},
	} {
		if v.bin == "" || !has(o.Targets, v.target) {
			continue
		}
		if needHTTP {
			d := data
			d.HTTPPort, d.Forwarder = plan.httpPort(v.target), v.forwarder
			cfg := filepath.Join(scratch, v.target+".json")
			if err := renderFile(tmpl("lb.json"), cfg, d); err != nil {
				return nil, err
			}
			if v.target == targetLBBase && o.BaseConfig != "" {
				if err := overlayConfig(cfg, o.BaseConfig); err != nil {
					return nil, err
				}
			}
			if err := runCheck(ctx, v.target, v.bin, "--config", cfg, "--check"); err != nil {
				return nil, err
			}
			p, err := procs.start(v.target, v.bin, "--config", cfg)
			if err != nil {
				return nil, err
			}
			if err := waitOK(ctx, p, fmt.Sprintf("http://127.0.0.1:%d/__health__", d.HTTPPort), startTimeout); err != nil {
				return nil, err
			}
			l.http[v.target] = p
		}
		if needTCP && v.target != targetLBRP {
			d := data
			d.TCPPort, d.AdminPort = plan.tcpPort(v.target), plan.adminPort(v.target)
			cfg := filepath.Join(scratch, v.target+"-tcp.json")
			if err := renderFile(tmpl("lb-tcp.json"), cfg, d); err != nil {
				return nil, err
			}
			if v.target == targetLBBase && o.BaseConfig != "" {
				if err := overlayConfig(cfg, o.BaseConfig); err != nil {
					return nil, err
				}
			}
			if err := runCheck(ctx, v.target+" (tcp)", v.bin, "--config", cfg, "--check"); err != nil {
				return nil, err
			}
			p, err := procs.start(v.target+"-tcp", v.bin, "--config", cfg)
			if err != nil {
				return nil, err
			}
			if err := waitOK(ctx, p, fmt.Sprintf("http://127.0.0.1:%d/__health__", d.AdminPort), startTimeout); err != nil {
				return nil, err
			}
			l.tcp[v.target] = p
		}
	}
	// haproxy (one thread) and haproxy-mt (one per CPU): the same template.
	for _, v := range []struct {
		target  string
		threads int
	}{{targetHAProxy, 1}, {targetHAProxyMT, runtime.NumCPU()}} {
		if t.HAProxy == "" || !has(o.Targets, v.target) {
			continue
		}
		d := data
		d.HTTPPort, d.NbThread = plan.httpPort(v.target), v.threads
		if needTCP {
			d.TCPPort = plan.tcpPort(v.target)
		}
		cfg := filepath.Join(scratch, v.target+".cfg")
		if err := renderFile(tmpl("haproxy.cfg"), cfg, d); err != nil {
			return nil, err
		}
		if err := runCheck(ctx, v.target, t.HAProxy, "-c", "-f", cfg); err != nil {
			return nil, err
		}
		p, err := procs.start(v.target, t.HAProxy, "-f", cfg, "-db")
		if err != nil {
			return nil, err
		}
		l.http[v.target], l.tcp[v.target] = p, p
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
		if err := l.waitListeners(ctx, tg, nil); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// waitListeners waits until target answers through each listener it has
// (only those served by process only, when only is not nil).
func (l *lab) waitListeners(ctx context.Context, target string, only *proc) error {
	for _, tcp := range []bool{false, true} {
		if (tcp && !l.needTCP) || (!tcp && !l.needHTTP) {
			continue
		}
		p := l.proc(target, tcp)
		if p == nil || (only != nil && p != only) {
			continue
		}
		if err := waitOK(ctx, p, l.url(target, tcp), startTimeout); err != nil {
			return err
		}
	}
	return nil
}

// restart stops the process that serves target (in TCP mode when tcp) and
// starts it again with the same config, so that a measurement starts from a
// fresh process; it waits until each of the process's listeners answers.
func (l *lab) restart(ctx context.Context, target string, tcp bool) error {
	old := l.proc(target, tcp)
	if old == nil {
		return nil
	}
	p, err := l.procs.restart(old, 5*time.Second)
	if err != nil {
		return err
	}
	for _, m := range []map[string]*proc{l.http, l.tcp} {
		for t, x := range m {
			if x == old {
				m[t] = p
			}
		}
	}
	return l.waitListeners(ctx, target, p)
}

// proc returns the process that serves target (nil for direct).
func (l *lab) proc(target string, tcp bool) *proc {
	if tcp {
		return l.tcp[target]
	}
	return l.http[target]
}

// addr returns the host:port that the load goes to for target: its HTTP or
// TCP-mode listener, or for direct the first backend.
func (l *lab) addr(target string, tcp bool) string {
	port := l.plan.httpPort(target)
	if tcp {
		port = l.plan.tcpPort(target)
	}
	if port == 0 {
		port = l.plan.Backends[0]
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// backendMeters returns a CPU meter for each backend process.
func (l *lab) backendMeters(clk float64) []*cpuMeter {
	ms := make([]*cpuMeter, len(l.backends))
	for i, p := range l.backends {
		ms[i] = newCPUMeter(p, clk)
	}
	return ms
}

// url returns the URL that the load goes to for target.
func (l *lab) url(target string, tcp bool) string {
	return "http://" + l.addr(target, tcp) + "/bench"
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
