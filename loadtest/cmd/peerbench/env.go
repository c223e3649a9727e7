package main

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// environment records what the figures were measured on.
type environment struct {
	GoVersion  string `json:"go_version"` // the toolchain peerbench was built with
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"nproc"`
	Kernel     string `json:"kernel"`
	CPUModel   string `json:"cpu_model"`
	LoadAvg    string `json:"loadavg_at_start"`
	HAProxy    string `json:"haproxy"`
	// HAProxyMaxConn is the global maxconn the config got (see haproxyMaxConn).
	HAProxyMaxConn uint64 `json:"haproxy_maxconn,omitempty"`
	// HAProxyMTThreads: haproxy-mt's nbthread (the CPUs).
	HAProxyMTThreads int     `json:"haproxy_mt_nbthread,omitempty"`
	NginxWorkerConns uint64  `json:"nginx_worker_connections,omitempty"`
	Nginx            string  `json:"nginx"`
	Wrk              string  `json:"wrk"`
	LB               string  `json:"lb"`
	LBBase           string  `json:"lb_base,omitempty"`
	NoFile           uint64  `json:"rlimit_nofile"`
	ClkTck           float64 `json:"clk_tck"`
	Euid             int     `json:"euid"`
}

// collectEnvironment asks each tool for its version.
func collectEnvironment(t tools, nofile uint64, clk float64) environment {
	e := environment{
		GoVersion:  runtime.Version(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		NumCPU:     runtime.NumCPU(),
		Kernel:     firstLine(readFile("/proc/sys/kernel/osrelease")),
		NoFile:     nofile,
		ClkTck:     clk,
		Euid:       os.Geteuid(),
	}
	if f := strings.Fields(readFile("/proc/loadavg")); len(f) >= 3 {
		e.LoadAvg = strings.Join(f[:3], " ")
	}
	for _, l := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			e.CPUModel = strings.TrimSpace(v)
			break
		}
	}
	if t.HAProxy != "" {
		e.HAProxy = versionOf(t.HAProxy, "-v")
		e.HAProxyMaxConn = haproxyMaxConn(nofile)
		e.HAProxyMTThreads = runtime.NumCPU()
	}
	if t.Nginx != "" {
		e.Nginx = versionOf(t.Nginx, "-v")
		e.NginxWorkerConns = nginxWorkerConns(nofile)
	}
	if t.Wrk != "" {
		e.Wrk = versionOf(t.Wrk, "-v")
	}
	if t.LB != "" {
		e.LB = versionOf(t.LB, "--version")
	}
	if t.LBBase != "" {
		e.LBBase = versionOf(t.LBBase, "--version")
	}
	return e
}

// versionOf runs a tool's version flag and returns the first line it
// prints (wrk -v exits nonzero; its output still counts).
func versionOf(path string, args ...string) string {
	out, _ := exec.Command(path, args...).CombinedOutput()
	return strings.TrimSpace(firstLine(string(out)))
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(l)
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
