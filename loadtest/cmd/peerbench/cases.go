package main

import "fmt"

// Target names, in table order. "direct" is one backend without a proxy.
const (
	targetDirect  = "direct"
	targetLB      = "lb"
	targetHAProxy = "haproxy"
	targetNginx   = "nginx"
)

// allTargets lists every target, in the order of the table and of round 1.
var allTargets = []string{targetDirect, targetLB, targetHAProxy, targetNginx}

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
