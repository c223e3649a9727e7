package main

import "fmt"

// Target names, in table order. "direct" is one backend without a proxy;
// "lb-rp" is a second bin/lb with the lb target's config plus
// "forwarder": "reverseproxy" (every request through httputil.ReverseProxy),
// HTTP cases only.
const (
	targetDirect  = "direct"
	targetLB      = "lb"
	targetLBRP    = "lb-rp"
	targetHAProxy = "haproxy"
	targetNginx   = "nginx"
)

// allTargets lists every target, in the order of the table and of round 1.
var allTargets = []string{targetDirect, targetLB, targetLBRP, targetHAProxy, targetNginx}

// takesPart reports whether target is measured in case c: every target in
// the HTTP cases; in the TCP case all but lb-rp, which has no TCP mode (the
// forwarder only matters to HTTP mode).
func takesPart(c benchCase, target string) bool {
	return !c.TCP || target != targetLBRP
}

// caseTargets returns the targets that take part in case c, in the order given.
func caseTargets(c benchCase, targets []string) []string {
	var out []string
	for _, t := range targets {
		if takesPart(c, t) {
			out = append(out, t)
		}
	}
	return out
}

// caseKind says which load generator a case uses.
type caseKind int

const (
	// closedLoop: wrk with a fixed number of connections, as fast as they go.
	closedLoop caseKind = iota
	// constantRate: vegeta at a fixed request rate (open model).
	constantRate
)

// benchCase is one load shape, measured against every target.
type benchCase struct {
	ID    string
	Desc  string
	Kind  caseKind
	Conns int  // wrk connections (closedLoop)
	Rate  int  // requests per second (constantRate)
	Close bool // a new connection per request (Connection: close)
	Body  string
	TCP   bool // through the TCP-mode proxies instead of the HTTP ones
}

// cellCount returns the number of (case, target) pairs that take part: the
// measurements of one round.
func cellCount(cases []benchCase, targets []string) int {
	n := 0
	for _, c := range cases {
		n += len(caseTargets(c, targets))
	}
	return n
}

// allCases lists every case, in the order of the table.
var allCases = []benchCase{
	{ID: "c64", Desc: "wrk, 64 keep-alive connections", Kind: closedLoop, Conns: 64},
	{ID: "c512", Desc: "wrk, 512 keep-alive connections", Kind: closedLoop, Conns: 512},
	{ID: "close", Desc: "wrk, 64 connections, Connection: close (a new connection per request)", Kind: closedLoop, Conns: 64, Close: true},
	{ID: "body64k", Desc: "wrk, 64 keep-alive connections, 64 KiB response bodies", Kind: closedLoop, Conns: 64, Body: "64KiB"},
	{ID: "rate5000", Desc: "vegeta, constant 5000 req/s, keep-alive", Kind: constantRate, Rate: 5000},
	{ID: "rate7000", Desc: "vegeta, constant 7000 req/s, keep-alive", Kind: constantRate, Rate: 7000},
	{ID: "tcp", Desc: "wrk, 64 keep-alive connections through the TCP-mode proxies", Kind: closedLoop, Conns: 64, TCP: true},
}

// caseByID returns the case with that id.
func caseByID(id string) (benchCase, error) {
	for _, c := range allCases {
		if c.ID == id {
			return c, nil
		}
	}
	return benchCase{}, fmt.Errorf("unknown case %q", id)
}

// caseIDs returns the ids of cases.
func caseIDs(cases []benchCase) []string {
	ids := make([]string, len(cases))
	for i, c := range cases {
		ids[i] = c.ID
	}
	return ids
}
