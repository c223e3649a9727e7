package proxy

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"peer when nothing trusted", "192.0.2.1:5000", []string{"203.0.113.9"}, nil, "192.0.2.1"},
		{"peer when peer untrusted", "192.0.2.1:5000", []string{"203.0.113.9"}, trusted, "192.0.2.1"},
		{"header from trusted peer", "127.0.0.1:5000", []string{"203.0.113.9"}, trusted, "203.0.113.9"},
		{"right-most untrusted hop", "127.0.0.1:5000", []string{"198.51.100.7, 203.0.113.9, 10.1.2.3"}, trusted, "203.0.113.9"},
		{"several header lines", "127.0.0.1:5000", []string{"198.51.100.7", "203.0.113.9"}, trusted, "203.0.113.9"},
		{"garbage falls back to peer", "127.0.0.1:5000", []string{"not-an-ip"}, trusted, "127.0.0.1"},
		{"all hops trusted: peer", "127.0.0.1:5000", []string{"10.0.0.1"}, trusted, "127.0.0.1"},
		{"IPv6 peer", "[::1]:5000", nil, nil, "::1"},
		{"no port", "192.0.2.1", nil, nil, "192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			assert.Equal(t, tt.want, ClientIP(r, tt.trusted))
		})
	}
}

func FuzzClientIP(f *testing.F) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	f.Add("127.0.0.1:1", "203.0.113.9, 10.0.0.1")
	f.Add("[::1]:80", "")
	f.Add("garbage", ",,,")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		got := ClientIP(r, trusted)
		// The result is the peer's host or an address parsed from the header.
		if got == peerIP(r) {
			return
		}
		if _, err := netip.ParseAddr(got); err != nil {
			t.Fatalf("ClientIP(%q, %q) = %q: neither the peer nor an address", remote, xff, got)
		}
	})
}
