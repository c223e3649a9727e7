package main

import "fmt"

// Target names, in table order. "direct" is one backend without a proxy;
// "lb-base" is a baseline bin/lb (--base-bin DIR) with lb's configs, present
// only when --base-bin is given; "lb-rp" is a second bin/lb with the lb
// target's config plus "forwarder": "reverseproxy" (every request through
// httputil.ReverseProxy), HTTP cases only; "haproxy" runs one thread,
// "haproxy-mt" one per CPU.
const (
	targetDirect    = "direct"
	targetLB        = "lb"
	targetLBBase    = "lb-base"
	targetLBRP      = "lb-rp"
	targetHAProxy   = "haproxy"
	targetHAProxyMT = "haproxy-mt"
	targetNginx     = "nginx"
)

// allTargets lists every target, in the order of the table and of round 1.
var allTargets = []string{targetDirect, targetLB, targetLBBase, targetLBRP, targetHAProxy, targetHAProxyMT, targetNginx}

// bestPeers are the peers that use every core: the "best peer" columns
// compare with the better of them in each round.
var bestPeers = []string{targetHAProxyMT, targetNginx}

// takesPart reports whether target is measured in case c: lb-rp has no TCP
// mode (the forwarder only matters to HTTP mode), and direct has no proxy
// whose memory the idle cases measure.
func takesPart(c benchCase, target string) bool {
	switch {
	case c.TCP && target == targetLBRP:
		return false
	case c.Kind == idleConns && target == targetDirect:
		return false
	}
	return true
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
	// idleConns: peerbench opens many connections, one request each, and
	// measures the proxy's memory while they idle and after they close.
	idleConns
	// crowd: peerbench holds many connections, each sending one request per
	// second, jittered (open model per connection).
	crowdLoad
)

// rateLike reports whether p99 rather than req/s is the figure of case
// kind k: the load is paced, so every target gets the same req/s.
func (k caseKind) rateLike() bool { return k == constantRate || k == crowdLoad }

// benchCase is one load shape, measured against every target.
type benchCase struct {
	ID    string
	Desc  string
	Kind  caseKind
	Conns int  // wrk connections (closedLoop); 0 in idle and crowd cases: sized at run time
	Rate  int  // requests per second (constantRate)
	Close bool // a new connection per request (Connection: close)
	// HTTP10: requests are HTTP/1.0 with "Connection: keep-alive" (what
	// ab -k sends), made by wrk-report.lua when wrk passes it "http1.0".
	HTTP10 bool
	Body   string
	TCP    bool // through the TCP-mode proxies instead of the HTTP ones
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
	{ID: "http10", Desc: "wrk, 64 keep-alive connections speaking HTTP/1.0 with Connection: keep-alive (what ab -k -c 64 sends)", Kind: closedLoop, Conns: 64, HTTP10: true},
	{ID: "rate5000", Desc: "vegeta, constant 5000 req/s, keep-alive", Kind: constantRate, Rate: 5000},
	{ID: "rate7000", Desc: "vegeta, constant 7000 req/s, keep-alive", Kind: constantRate, Rate: 7000},
	{ID: "crowd", Desc: "peerbench, a mostly idle crowd: up to 10,000 keep-alive connections (sized to the open-file limit), each sending one GET per second from a jittered start", Kind: crowdLoad},
	{ID: "tcp", Desc: "wrk, 64 keep-alive connections through the TCP-mode proxies", Kind: closedLoop, Conns: 64, TCP: true},
	{ID: "idle-http", Desc: "peerbench, idle keep-alive connections (sized to the open-file limit), one GET each, then idle: the proxy's RSS per connection, and after closing them", Kind: idleConns},
	{ID: "idle-tcp", Desc: "peerbench, idle connections through the TCP-mode proxies, one request/response each, then idle: RSS per connection, and after closing them", Kind: idleConns, TCP: true},
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
