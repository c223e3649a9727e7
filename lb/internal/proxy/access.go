package proxy

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lblab/lblab/lb/internal/pool"
)

// Access is one access-log entry, filled by whichever path served the
// request (the fast front end or ReverseProxy). Its fields follow what
// HAProxy, Traefik and Caddy log.
type Access struct {
	Client    string // the TCP peer's address, host:port
	ClientIP  string // the client's IP: the peer, or from X-Forwarded-For when the peer is a trusted proxy
	Method    string
	Path      string // %-decoded, as net/http's URL.Path
	Query     string // the raw query string, without "?"
	Host      string // the Host field
	Proto     string // "HTTP/1.1" or "HTTP/1.0"
	UserAgent string
	RequestID string // the client's X-Request-Id, or the one the proxy made and sent to the backend
	Status    int    // the status sent to the client
	// BackendStatus is the status of the backend's response (0: no backend
	// answered; it differs from Status when the proxy answered itself).
	BackendStatus int
	Backend       *pool.Backend // nil: none served it
	// Connect (HAProxy's Tc) is the time to open the connection to the
	// backend: 0 when a kept-alive one was reused, -1 when none was made.
	// Response (Tr) is the time from the request sent to the backend's
	// response head, -1 when there was none. Duration (Tt) is the whole
	// request, from its head to the end of its response.
	Connect, Response, Duration time.Duration
	Bytes                       int64 // response body bytes sent
	Retries                     int
	// Termination says how the request ended (see the Term constants).
	Termination string
}

// How a request ended, for the access log's "termination" field (as
// HAProxy's termination state and TCP mode's close reasons).
const (
	TermOK             = "ok"              // the response went out whole
	TermClientAborted  = "client_aborted"  // the client went away first
	TermNoBackend      = "no_backend"      // no healthy backend: 503
	TermConnectFailed  = "connect_failed"  // the connection to the backend failed (refused, unreachable): 502
	TermConnectTimeout = "connect_timeout" // the connection to the backend timed out: 504
	TermBackendTimeout = "backend_timeout" // no response head within request_timeout: 504
	TermBackendReset   = "backend_reset"   // the backend closed or reset before its response: 502
	TermBackendError   = "backend_error"   // the response could not be read (malformed): 502
	TermResponseCut    = "response_cut"    // the response was cut off after its head
	TermRefused        = "refused"         // the proxy refused the request itself (4xx, 501, 505)
)

// Termination names how a request ended from its last try's outcome;
// clientGone reports whether the client had gone.
func Termination(last Outcome, clientGone bool) string {
	switch {
	case clientGone && last.Err != nil:
		return TermClientAborted
	case last.Aborted:
		return TermResponseCut
	case last.Err == nil:
		return TermOK
	}
	err := last.Err
	if errors.Is(err, ErrNoBackend) {
		return TermNoBackend
	}
	var op *net.OpError
	dial := errors.As(err, &op) && op.Op == "dial"
	var ne net.Error
	timeout := errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
	switch {
	case dial && timeout:
		return TermConnectTimeout
	case dial:
		return TermConnectFailed
	case timeout:
		return TermBackendTimeout
	case errors.Is(err, context.Canceled):
		return TermClientAborted
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		return TermBackendReset
	}
	return TermBackendError
}

// LogAccess writes one access-log line; a no-op when AccessLog is not set.
// Times are in milliseconds (connect_ms and response_ms are -1 when there
// was no connect or no response).
func (p *Proxy) LogAccess(ctx context.Context, a Access) {
	if p.cfg.AccessLog == nil {
		return
	}
	backend := ""
	if a.Backend != nil {
		backend = a.Backend.Name
	}
	p.cfg.AccessLog.LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("client", a.Client),
		slog.String("client_ip", a.ClientIP),
		slog.String("request_id", a.RequestID),
		slog.String("method", a.Method),
		slog.String("host", a.Host),
		slog.String("path", a.Path),
		slog.String("query", a.Query),
		slog.String("proto", a.Proto),
		slog.String("user_agent", a.UserAgent),
		slog.Int("status", a.Status),
		slog.Int("backend_status", a.BackendStatus),
		slog.String("backend", backend),
		slog.Float64("connect_ms", millis(a.Connect)),
		slog.Float64("response_ms", millis(a.Response)),
		slog.Float64("duration_ms", millis(a.Duration)),
		slog.Int64("bytes", a.Bytes),
		slog.Int("retries", a.Retries),
		slog.String("termination", a.Termination),
	)
}

// millis is d in milliseconds to the microsecond; -1 stays -1.
func millis(d time.Duration) float64 {
	if d < 0 {
		return -1
	}
	return float64(d.Microseconds()) / 1e3
}

// RequestIDHeader is the field that carries a request's id to the backend.
const RequestIDHeader = "X-Request-Id"

// RequestIDLen is the length of the ids NewRequestID makes.
const RequestIDLen = 32

// requestIDs makes request ids: 16 hex digits chosen at random when the
// process starts, then 16 of a counter. Unique within a process and,
// with the random half, across processes; one atomic add each, no
// allocation.
var requestIDs struct {
	prefix [16]byte
	n      atomic.Uint64
}

func init() {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	hex.Encode(requestIDs.prefix[:], b[:])
	requestIDs.n.Store(binary.BigEndian.Uint64(b[:]) >> 32) // the counter starts anywhere
}

// NewRequestID writes a new request id into dst and returns it.
func NewRequestID(dst *[RequestIDLen]byte) []byte {
	copy(dst[:16], requestIDs.prefix[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], requestIDs.n.Add(1))
	hex.Encode(dst[16:], n[:])
	return dst[:]
}

// requestID returns r's X-Request-Id, making one and setting it on r (so
// ReverseProxy sends it on) when the client sent none.
func requestID(r *http.Request) string {
	if id := r.Header.Get(RequestIDHeader); id != "" {
		return id
	}
	var buf [RequestIDLen]byte
	id := string(NewRequestID(&buf))
	r.Header.Set(RequestIDHeader, id)
	return id
}

// tryTimes times one try of a request through ReverseProxy's transport
// (httptrace), for the access log's connect_ms and response_ms. The
// transport may call a hook after the round trip returned (a dial it let
// finish in the background): the times are atomics.
type tryTimes struct {
	connectStart, connectDone, wrote, firstByte atomic.Int64 // UnixNano; 0: not yet
	gotConn, reused                             atomic.Bool
}

func (t *tryTimes) trace() *httptrace.ClientTrace {
	now := func(v *atomic.Int64) { v.Store(time.Now().UnixNano()) }
	return &httptrace.ClientTrace{
		ConnectStart: func(string, string) { now(&t.connectStart) },
		ConnectDone:  func(string, string, error) { now(&t.connectDone) },
		GotConn: func(info httptrace.GotConnInfo) {
			t.gotConn.Store(true)
			t.reused.Store(info.Reused)
		},
		WroteRequest:         func(httptrace.WroteRequestInfo) { now(&t.wrote) },
		GotFirstResponseByte: func() { now(&t.firstByte) },
	}
}

// reset starts a new try; a nil t does nothing.
func (t *tryTimes) reset() {
	if t == nil {
		return
	}
	for _, v := range []*atomic.Int64{&t.connectStart, &t.connectDone, &t.wrote, &t.firstByte} {
		v.Store(0)
	}
	t.gotConn.Store(false)
	t.reused.Store(false)
}

// connect is Tc: 0 on a reused connection, -1 when none was made.
func (t *tryTimes) connect() time.Duration {
	if t.gotConn.Load() && t.reused.Load() {
		return 0
	}
	cs, cd := t.connectStart.Load(), t.connectDone.Load()
	if cs == 0 || cd == 0 {
		return -1
	}
	return time.Duration(cd - cs)
}

// response is Tr: from the request written to the first byte of the
// response, -1 when there was none.
func (t *tryTimes) response() time.Duration {
	w, f := t.wrote.Load(), t.firstByte.Load()
	if w == 0 || f == 0 {
		return -1
	}
	return time.Duration(f - w)
}
