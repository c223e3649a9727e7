package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/lblab/lblab/lb/internal/h1"
	"github.com/lblab/lblab/lb/internal/netx"
	"github.com/lblab/lblab/lb/internal/pool"
	"github.com/lblab/lblab/lb/internal/upstream"
)

// ErrNoBackend is the one error for "no healthy backend to send this to"; it
// becomes a 503.
var ErrNoBackend = pool.ErrNoBackend

// StatusFor maps an error from a backend round trip to the status sent to the
// client: 504 for timeouts, 503 for ErrNoBackend and for the proxy's own
// limits (no file descriptor left, or no backend connection free within
// max_conns_per_backend: no room, as HAProxy's 503 when a request's wait
// in its queue ends), 502 for everything else (a malformed response
// included).
func StatusFor(err error) int {
	if errors.Is(err, ErrNoBackend) || netx.OutOfDescriptors(err) || errors.Is(err, upstream.ErrQueueTimeout) {
		return http.StatusServiceUnavailable
	}
	var ne net.Error
	if errors.Is(err, ErrTryTimeout) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// failure classifies why a round trip to a backend failed.
type failure int

const (
	// failNone: not a backend failure (e.g. the client went away, or the
	// proxy had no file descriptor left for the connection, or no
	// connection came free in its queue).
	failNone failure = iota
	// failConnect: the connection to the backend could not be made, so nothing
	// of the request reached it. Safe to retry for every method.
	failConnect
	// failReset: the connection broke before any response (reset, EOF). The
	// backend may have seen the request: retried only for idempotent methods.
	failReset
	// failTryTimeout: no response head within try_timeout (ErrTryTimeout).
	// Retried only for idempotent methods.
	failTryTimeout
	// failTimeout and failOther: not retried.
	failTimeout
	failOther
)

// classify tells what kind of backend failure err is. clientGone reports
// whether the client's own context ended first, which is never the backend's fault.
func classify(err error, clientGone bool) failure {
	if errors.Is(err, ErrTryTimeout) {
		return failTryTimeout
	}
	if clientGone || errors.Is(err, context.Canceled) || netx.OutOfDescriptors(err) || errors.Is(err, upstream.ErrQueueTimeout) {
		return failNone
	}
	var op *net.OpError
	if (errors.As(err, &op) && op.Op == "dial") || errors.Is(err, upstream.ErrNotSent) {
		return failConnect // nothing of the request reached the backend
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return failTimeout
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return failReset
	}
	return failOther
}

// idempotent reports whether a request may be sent twice (RFC 9110 9.2.2).
func idempotent(r *http.Request) bool {
	_, keyed := r.Header["Idempotency-Key"]
	return keyed || h1.IdempotentMethod([]byte(r.Method))
}
