package main

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/testkit/ports"
)

func TestPlanPorts(t *testing.T) {
	p := planPorts(18000)
	assert.Equal(t, [3]int{18001, 18002, 18003}, p.Backends)
	assert.Equal(t, []int{18080, 18081, 18082, 18083, 18084, 18085, 18090, 18091, 18092, 18093, 18094, 18098, 18099},
		[]int{p.LBHTTP, p.HAProxyHTTP, p.NginxHTTP, p.LBRPHTTP, p.LBBaseHTTP, p.HAProxyMTHTTP,
			p.LBTCP, p.HAProxyTCP, p.NginxTCP, p.LBBaseTCP, p.HAProxyMTTCP, p.LBBaseAdmin, p.LBAdmin})
	seen := map[int]string{}
	for _, tg := range allTargets {
		for _, port := range []int{p.httpPort(tg), p.tcpPort(tg), p.adminPort(tg)} {
			if port == 0 {
				continue
			}
			assert.NotContains(t, seen, port, "%s shares a port with %s", tg, seen[port])
			seen[port] = tg
			assert.Greater(t, port, 18003, "above the backends")
			assert.Less(t, port, 18100, "within base+99")
		}
	}
	assert.Zero(t, p.httpPort("direct"))
	assert.Zero(t, p.tcpPort("lb-rp"))
}

func TestNeededPorts(t *testing.T) {
	p := planPorts(18000)
	names := func(ps []namedPort) []string {
		var out []string
		for _, x := range ps {
			out = append(out, x.Name)
		}
		return out
	}
	backends := []string{"backend-1", "backend-2", "backend-3"}
	tests := []struct {
		name      string
		targets   []string
		http, tcp bool
		want      []string
	}{
		{"direct only", []string{"direct"}, true, true, backends},
		{"http cases", allTargets, true, false, append(backends, "lb http", "lb-base http", "lb-rp http", "haproxy http", "haproxy-mt http", "nginx http")},
		{"tcp only", []string{"lb", "lb-rp", "nginx"}, false, true, append(backends, "lb tcp", "lb tcp admin", "nginx http", "nginx tcp")},
		{"lb-rp alone", []string{"lb-rp"}, true, true, append(backends, "lb-rp http")},
		{"everything", allTargets, true, true, append(backends, "lb http", "lb tcp", "lb tcp admin",
			"lb-base http", "lb-base tcp", "lb-base tcp admin",
			"lb-rp http", "haproxy http", "haproxy tcp", "haproxy-mt http", "haproxy-mt tcp", "nginx http", "nginx tcp")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, names(p.needed(tc.targets, tc.http, tc.tcp)))
		})
	}
}

func TestCheckPortsFree(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer held.Close()
	heldPort := held.Addr().(*net.TCPAddr).Port

	freePort := ports.Free(t) // below the ephemeral range: no other test's listener takes it

	tests := []struct {
		name  string
		ports []namedPort
		err   string
	}{
		{"none", nil, ""},
		{"free", []namedPort{{freePort, "lb http"}}, ""},
		{"taken", []namedPort{{freePort, "lb http"}, {heldPort, "haproxy http"}},
			"port " + strconv.Itoa(heldPort) + " (haproxy http) is in use; free it or pass --port-base"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkPortsFree(tc.ports)
			if tc.err == "" {
				assert.NoError(t, err)
			} else {
				assert.EqualError(t, err, tc.err)
			}
		})
	}
}

func TestLabURLs(t *testing.T) {
	l := &lab{plan: planPorts(18000)}
	tests := []struct {
		target string
		tcp    bool
		want   string
	}{
		{"direct", false, "http://127.0.0.1:18001/bench"},
		{"lb", false, "http://127.0.0.1:18080/bench"},
		{"lb-rp", false, "http://127.0.0.1:18083/bench"},
		{"haproxy", false, "http://127.0.0.1:18081/bench"},
		{"nginx", false, "http://127.0.0.1:18082/bench"},
		{"direct", true, "http://127.0.0.1:18001/bench"},
		{"lb", true, "http://127.0.0.1:18090/bench"},
		{"haproxy", true, "http://127.0.0.1:18091/bench"},
		{"nginx", true, "http://127.0.0.1:18092/bench"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, l.url(tc.target, tc.tcp), "%s tcp=%v", tc.target, tc.tcp)
	}
}
