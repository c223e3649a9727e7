package server

import "fmt"

// descriptorReserve: the file descriptors a running balancer holds besides
// its proxied connections (listeners, the event loops, health checks,
// resolvers, the admin API's clients), with room to spare.
const descriptorReserve = 100

// descriptorWarning returns what to log when maxConns client connections,
// each with a backend connection of its own (HTTP mode while the request
// is in flight, TCP mode for the connection's life), could need more file
// descriptors than the open-file limit allows; "" when they fit, when
// maxConns is 0 (no limit) or when the limit is unknown (0). HAProxy warns
// likewise when its maxconn does not fit its limit.
func descriptorWarning(maxConns int, limit uint64) string {
	if maxConns <= 0 || limit == 0 {
		return ""
	}
	need := 2*uint64(maxConns) + descriptorReserve
	if need <= limit {
		return ""
	}
	fit := 0
	if limit > descriptorReserve {
		fit = int((limit - descriptorReserve) / 2)
	}
	return fmt.Sprintf("max_connections %d may need %d file descriptors (a client's and a backend's connection each, and %d for the rest), "+
		"but the open-file limit is %d: when it runs short, a backend connection waits up to connection_timeout for one, then the request is answered 503; "+
		"raise the limit (ulimit -n) or lower max_connections to %d", maxConns, need, descriptorReserve, limit, fit)
}
