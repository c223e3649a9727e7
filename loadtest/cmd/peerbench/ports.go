package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// portPlan is where everything of a run listens, all on 127.0.0.1, at fixed
// offsets from --port-base (default 18000: backends 18001-18003, HTTP
// proxies 18080-18085 (lb, haproxy, nginx, lb-rp, lb-base, haproxy-mt),
// TCP proxies 18090-18094 (lb, haproxy, nginx, lb-base, haproxy-mt), the
// TCP-mode admin listeners of lb-base 18098 and lb 18099).
type portPlan struct {
	Backends      [3]int
	LBHTTP        int
	LBRPHTTP      int // the second bin/lb, "forwarder": "reverseproxy"
	LBBaseHTTP    int // the baseline lb (--base-bin)
	HAProxyHTTP   int
	HAProxyMTHTTP int // HAProxy with one thread per CPU
	NginxHTTP     int
	LBTCP         int
	LBBaseTCP     int
	HAProxyTCP    int
	HAProxyMTTCP  int
	NginxTCP      int
	LBAdmin       int
	LBBaseAdmin   int
}

// planPorts lays the ports out from base.
func planPorts(base int) portPlan {
	return portPlan{
		Backends:      [3]int{base + 1, base + 2, base + 3},
		LBHTTP:        base + 80,
		HAProxyHTTP:   base + 81,
		NginxHTTP:     base + 82,
		LBRPHTTP:      base + 83,
		LBBaseHTTP:    base + 84,
		HAProxyMTHTTP: base + 85,
		LBTCP:         base + 90,
		HAProxyTCP:    base + 91,
		NginxTCP:      base + 92,
		LBBaseTCP:     base + 93,
		HAProxyMTTCP:  base + 94,
		LBBaseAdmin:   base + 98,
		LBAdmin:       base + 99,
	}
}

// httpPort returns the HTTP listener of a proxy target (0 for direct).
func (p portPlan) httpPort(target string) int {
	switch target {
	case targetLB:
		return p.LBHTTP
	case targetLBBase:
		return p.LBBaseHTTP
	case targetLBRP:
		return p.LBRPHTTP
	case targetHAProxy:
		return p.HAProxyHTTP
	case targetHAProxyMT:
		return p.HAProxyMTHTTP
	case targetNginx:
		return p.NginxHTTP
	}
	return 0
}

// tcpPort returns the TCP-mode listener of a proxy target (0 for direct and
// lb-rp, which have none).
func (p portPlan) tcpPort(target string) int {
	switch target {
	case targetLB:
		return p.LBTCP
	case targetLBBase:
		return p.LBBaseTCP
	case targetHAProxy:
		return p.HAProxyTCP
	case targetHAProxyMT:
		return p.HAProxyMTTCP
	case targetNginx:
		return p.NginxTCP
	}
	return 0
}

// adminPort returns the admin listener of an lb target's TCP-mode process.
func (p portPlan) adminPort(target string) int {
	switch target {
	case targetLB:
		return p.LBAdmin
	case targetLBBase:
		return p.LBBaseAdmin
	}
	return 0
}

// namedPort is a port and what it is for, for messages.
type namedPort struct {
	Port int
	Name string
}

// needed lists the ports a run with these targets uses; http and tcp say
// whether the HTTP and the TCP-mode proxies are needed.
func (p portPlan) needed(targets []string, http, tcp bool) []namedPort {
	var out []namedPort
	for i, port := range p.Backends {
		out = append(out, namedPort{port, fmt.Sprintf("backend-%d", i+1)})
	}
	for _, t := range targets {
		switch t {
		case targetDirect:
		case targetLB, targetLBBase, targetLBRP:
			// bin/lb serves one mode per process: an HTTP one, a TCP one.
			if http {
				out = append(out, namedPort{p.httpPort(t), t + " http"})
			}
			if tcp && t != targetLBRP {
				out = append(out, namedPort{p.tcpPort(t), t + " tcp"}, namedPort{p.adminPort(t), t + " tcp admin"})
			}
		default:
			// One HAProxy or nginx serves both; its HTTP listener is always there.
			out = append(out, namedPort{p.httpPort(t), t + " http"})
			if tcp {
				out = append(out, namedPort{p.tcpPort(t), t + " tcp"})
			}
		}
	}
	return out
}

// checkPortsFree tries to listen on each port of 127.0.0.1 and closes the
// listener again; the first port that cannot be bound is reported.
func checkPortsFree(ports []namedPort) error {
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)))
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("port %d (%s) is in use; free it or pass --port-base", p.Port, p.Name)
		}
		if err != nil {
			return fmt.Errorf("port %d (%s) cannot be bound (%v); pass another --port-base", p.Port, p.Name, err)
		}
		ln.Close()
	}
	return nil
}
