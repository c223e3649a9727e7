// Package admin serves the balancer's status endpoints (/__health__,
// /__status__, /__metrics__), Prometheus /metrics and the runtime API that
// switches the algorithm and drains, disables, enables, adds and removes
// backends.
package admin

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/lblab/lblab/lb/internal/metrics"
	"github.com/lblab/lblab/lb/internal/pool"
)

// Switcher reads and changes the balancing algorithm.
type Switcher interface {
	Algorithm() string
	SetAlgorithm(name string) error
}

// Config configures the admin handlers.
type Config struct {
	Pool     *pool.Pool
	Metrics  *metrics.Metrics
	Switcher Switcher
	// Mode is "http" or "tcp", reported in /__status__.
	Mode string
	// Token, when set, is required as "Authorization: Bearer <token>" on /api/.
	Token string
	// DrainTimeout bounds how long DELETE /api/backends/{address} waits for a
	// backend's in-flight requests before removing it.
	DrainTimeout time.Duration
	// NewBackend builds a backend added through the API (it may set up what
	// other packages need); nil means pool.NewBackend.
	NewBackend func(name, addr string, weight int) *pool.Backend
	Logger     *slog.Logger
	// Extra, when set, adds fields to /__status__ (e.g. TCP mode's figures).
	Extra func() map[string]any
	// Pprof serves net/http/pprof under /debug/pprof/ (behind Token).
	Pprof bool
}

// Server holds the admin handlers.
type Server struct{ cfg Config }

// New returns the admin server for cfg.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NewBackend == nil {
		cfg.NewBackend = pool.NewBackend
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 30 * time.Second
	}
	return &Server{cfg: cfg}
}

// IsStatusPath reports whether path is one of the three status endpoints that
// the proxy port serves itself instead of forwarding.
func IsStatusPath(path string) bool {
	return path == "/__health__" || path == "/__status__" || path == "/__metrics__"
}

// StatusHandler serves /__health__, /__status__ and /__metrics__.
func (s *Server) StatusHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /__health__", s.health)
	mux.HandleFunc("GET /__status__", s.status)
	mux.HandleFunc("GET /__metrics__", s.metricsJSON)
	return mux
}

// Handler serves the status endpoints, Prometheus /metrics and the runtime API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /__health__", s.health)
	mux.HandleFunc("GET /__status__", s.status)
	mux.HandleFunc("GET /__metrics__", s.metricsJSON)
	mux.Handle("GET /metrics", s.cfg.Metrics.Handler())
	mux.HandleFunc("GET /api/algorithm", s.auth(s.getAlgorithm))
	mux.HandleFunc("PUT /api/algorithm", s.auth(s.putAlgorithm))
	mux.HandleFunc("GET /api/backends", s.auth(s.listBackends))
	mux.HandleFunc("POST /api/backends", s.auth(s.addBackend))
	mux.HandleFunc("DELETE /api/backends/{address}", s.auth(s.removeBackend))
	mux.HandleFunc("POST /api/backends/{address}/{action}", s.auth(s.backendAction))
	if s.cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", s.auth(pprof.Index))
		mux.HandleFunc("GET /debug/pprof/cmdline", s.auth(pprof.Cmdline))
		mux.HandleFunc("GET /debug/pprof/profile", s.auth(pprof.Profile))
		mux.HandleFunc("GET /debug/pprof/symbol", s.auth(pprof.Symbol))
		mux.HandleFunc("GET /debug/pprof/trace", s.auth(pprof.Trace))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	if s.cfg.Token == "" {
		return h
	}
	want := []byte("Bearer " + s.cfg.Token)
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lblab"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		h(w, r)
	}
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	n := len(s.cfg.Pool.Available())
	body := map[string]any{"status": "healthy", "healthy_backends": n, "total_backends": len(s.cfg.Pool.All())}
	code := http.StatusOK
	if n == 0 {
		body["status"] = "unhealthy"
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

// BackendStatus is one backend in /__status__.
type BackendStatus struct {
	Name              string            `json:"name"`
	Address           string            `json:"address"`
	Source            string            `json:"source,omitempty"`
	Healthy           bool              `json:"healthy"`
	State             string            `json:"state"`
	Weight            int               `json:"weight"`
	EffectiveWeight   int               `json:"effective_weight"`
	ActiveConnections int64             `json:"active_connections"`
	TotalRequests     uint64            `json:"total_requests"`
	TotalErrors       uint64            `json:"total_errors"`
	LatencyMS         float64           `json:"latency_ewma_ms"`
	StatusCodes       map[string]uint64 `json:"status_codes,omitempty"`
	// Ejected: taken out of rotation as an outlier (docs/gray-failures.md).
	Ejected bool `json:"ejected,omitempty"`
	pool.HealthInfo
}

// Backends returns the status of every backend.
func (s *Server) Backends() []BackendStatus {
	all := s.cfg.Pool.All()
	out := make([]BackendStatus, 0, len(all))
	for _, b := range all {
		st := b.State()
		out = append(out, BackendStatus{
			Name: b.Name, Address: b.Addr, Source: b.Source,
			Healthy: st == pool.StateUp || st == pool.StateDraining, State: st.String(),
			Weight: b.Weight, EffectiveWeight: b.EffectiveWeight() / pool.WeightScale,
			ActiveConnections: b.InFlight(), TotalRequests: b.Requests(), TotalErrors: b.Errors(),
			LatencyMS:   float64(b.Latency().Microseconds()) / 1e3,
			StatusCodes: s.cfg.Metrics.BackendCodes(b),
			Ejected:     b.Ejected(),
			HealthInfo:  b.Health(),
		})
	}
	return out
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	body := map[string]any{
		"algorithm":        s.cfg.Switcher.Algorithm(),
		"mode":             s.cfg.Mode,
		"backends":         s.Backends(),
		"healthy_backends": len(s.cfg.Pool.Available()),
	}
	if s.cfg.Extra != nil {
		for k, v := range s.cfg.Extra() {
			body[k] = v
		}
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) metricsJSON(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.cfg.Metrics.Snapshot())
}

func (s *Server) getAlgorithm(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"algorithm": s.cfg.Switcher.Algorithm()})
}

func (s *Server) putAlgorithm(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Algorithm string `json:"algorithm"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.cfg.Switcher.SetAlgorithm(req.Algorithm); err != nil {
		writeError(w, http.StatusBadRequest, "algorithm: "+err.Error())
		return
	}
	s.getAlgorithm(w, r)
}

func (s *Server) listBackends(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"backends": s.Backends()})
}

func (s *Server) addBackend(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Host   string `json:"host"`
		Port   int    `json:"port"`
		Weight int    `json:"weight"`
		Name   string `json:"name"`
	}
	req.Weight = 1
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var problems []string
	if strings.TrimSpace(req.Host) == "" {
		problems = append(problems, "host: must not be empty")
	}
	if req.Port < 1 || req.Port > 65535 {
		problems = append(problems, fmt.Sprintf("port: %d: must be between 1 and 65535", req.Port))
	}
	if req.Weight < 1 || req.Weight > 1000 {
		problems = append(problems, fmt.Sprintf("weight: %d: must be between 1 and 1000", req.Weight))
	}
	if len(problems) > 0 {
		writeError(w, http.StatusBadRequest, strings.Join(problems, "; "))
		return
	}
	addr := net.JoinHostPort(req.Host, strconv.Itoa(req.Port))
	b := s.cfg.NewBackend(req.Name, addr, req.Weight)
	b.Source = "api"
	if err := s.cfg.Pool.Add(b); err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"added": addr})
}

func (s *Server) removeBackend(w http.ResponseWriter, r *http.Request) {
	b := s.lookup(w, r)
	if b == nil {
		return
	}
	s.cfg.Pool.Set(b, pool.StateDraining, "removed through the admin API")
	deadline := time.Now().Add(s.cfg.DrainTimeout)
	for b.InFlight() > 0 && time.Now().Before(deadline) {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.cfg.Pool.Remove(b.Addr)
	writeJSON(w, http.StatusOK, map[string]any{"removed": b.Addr, "in_flight_at_removal": b.InFlight()})
}

func (s *Server) backendAction(w http.ResponseWriter, r *http.Request) {
	to, ok := map[string]pool.State{"drain": pool.StateDraining, "disable": pool.StateDisabled, "enable": pool.StateUp}[r.PathValue("action")]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("action %q: use drain, disable or enable", r.PathValue("action")))
		return
	}
	b := s.lookup(w, r)
	if b == nil {
		return
	}
	s.cfg.Pool.Set(b, to, r.PathValue("action")+" through the admin API")
	writeJSON(w, http.StatusOK, map[string]any{"address": b.Addr, "state": b.State().String()})
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) *pool.Backend {
	addr := r.PathValue("address")
	if b := s.cfg.Pool.Get(addr); b != nil {
		return b
	}
	for _, b := range s.cfg.Pool.All() {
		if b.Name == addr {
			return b
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no backend %q (use its address host:port or name)", addr))
	return nil
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad request body: %w", err)
	}
	if dec.More() {
		return errors.New("bad request body: trailing data after the JSON object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": msg, "status": code})
}
