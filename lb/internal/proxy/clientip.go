package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP returns the address that identifies the client of r: the TCP peer,
// or, when the peer is one of trusted, the right-most address in
// X-Forwarded-For that is not itself a trusted proxy. It never fails: an
// unparsable header falls back to the peer address.
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	peer := r.RemoteAddr
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	if len(trusted) == 0 || !IsTrusted(peer, trusted) {
		return peer
	}
	return ClientFromForwarded(peer, r.Header.Values("X-Forwarded-For"), trusted)
}

// ClientFromForwarded returns the right-most address in the X-Forwarded-For
// values that is not a trusted proxy, or peer when there is none or a value
// does not parse. peer is trusted.
func ClientFromForwarded(peer string, values []string, trusted []netip.Prefix) string {
	for i := len(values) - 1; i >= 0; i-- {
		parts := strings.Split(values[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return peer
			}
			if !trustedAddr(a, trusted) {
				return a.Unmap().String()
			}
		}
	}
	return peer
}

// IsTrusted reports whether the address ip is in one of trusted.
func IsTrusted(ip string, trusted []netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && trustedAddr(a, trusted)
}

func trustedAddr(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
