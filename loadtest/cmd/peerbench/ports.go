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
// proxies 18080-18083 (lb, haproxy, nginx, lb-rp), TCP proxies 18090-18092,
// lb's TCP-mode admin 18099).
type portPlan struct {
	Backends    [3]int
	LBHTTP      int
	LBRPHTTP    int // the second bin/lb, "forwarder": "reverseproxy"
	HAProxyHTTP int
	NginxHTTP   int
	LBTCP       int
	HAProxyTCP  int
	NginxTCP    int
	LBAdmin     int
}

// planPorts lays the ports out from base.
func planPorts(base int) portPlan {
	return portPlan{
		Backends:    [3]int{base + 1, base + 2, base + 3},
		LBHTTP:      base + 80,
		LBRPHTTP:    base + 83,
		HAProxyHTTP: base + 81,
		NginxHTTP:   base + 82,
		LBTCP:       base + 90,
		HAProxyTCP:  base + 91,
		NginxTCP:    base + 92,
		LBAdmin:     base + 99,
	}
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
		case targetLB:
			if http {
				out = append(out, namedPort{p.LBHTTP, "lb http"})
			}
			if tcp {
				out = append(out, namedPort{p.LBTCP, "lb tcp"}, namedPort{p.LBAdmin, "lb tcp admin"})
			}
		case targetLBRP:
			if http {
				out = append(out, namedPort{p.LBRPHTTP, "lb-rp http"})
			}
		case targetHAProxy:
			// One HAProxy serves both; the HTTP frontend is always there.
			out = append(out, namedPort{p.HAProxyHTTP, "haproxy http"})
			if tcp {
				out = append(out, namedPort{p.HAProxyTCP, "haproxy tcp"})
			}
		case targetNginx:
			out = append(out, namedPort{p.NginxHTTP, "nginx http"})
			if tcp {
				out = append(out, namedPort{p.NginxTCP, "nginx tcp"})
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
