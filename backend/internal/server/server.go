// Package server is the test backend's HTTP handler: a configurable echo server
// whose latency, error rate, response size, capacity and health can be changed
// while it runs through the control endpoints under /__backend__/.
package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lblab/lblab/backend/internal/settings"
)

// Defaults for the zero values in Config.
const (
	DefaultMaxBodyBytes    = 64 << 20
	DefaultShutdownTimeout = 10 * time.Second
	DefaultReadHeader      = 5 * time.Second
)

// Config is what New needs. Only Name is required.
type Config struct {
	// Name is sent as the X-Backend header and the "backend" JSON field.
	Name string
	// Settings are the initial run-time settings; the zero value is replaced by
	// settings.Default().
	Settings *settings.Settings
	// Rand is the source of latency samples and error-rate decisions; the server
	// serialises calls to it. Nil means a randomly seeded PCG.
	Rand settings.Rand
	// Logger receives start/stop and settings changes at info, each request at
	// debug. Nil discards.
	Logger *slog.Logger
	// Now is the clock for the "time" field and uptime. Nil means time.Now.
	Now func() time.Time
	// MaxBodyBytes limits /echo bodies and WebSocket messages. Default 64 MiB.
	MaxBodyBytes int64
	// ShutdownTimeout bounds the graceful shutdown in Serve. Default 10s.
	ShutdownTimeout time.Duration
}

// Server is the test backend. It is an http.Handler; all methods are safe for
// concurrent use. Run-time settings live behind an atomic pointer and are
// replaced whole (copy-on-write) by Update.
type Server struct {
	name            string
	log             *slog.Logger
	now             func() time.Time
	started         time.Time
	maxBody         int64
	shutdownTimeout time.Duration
	mux             *http.ServeMux
	upgrader        websocket.Upgrader
	padding         []byte // read-only run of 'x' used to pad responses

	settings atomic.Pointer[settings.Settings]
	lim      *limiter
	stats    stats
	clock    delayClock // sleeps the latency and /sleep, true to the mean

	randMu sync.Mutex // guards rnd, which need not be safe for concurrent use
	rnd    settings.Rand

	// hijacked is cancelled when the HTTP server shuts down; WebSocket sessions
	// (which http.Server.Shutdown does not track) close when it is.
	hijacked     context.Context
	stopHijacked context.CancelFunc
}

// New returns a Server for cfg, or an error naming the bad setting.
func New(cfg Config) (*Server, error) {
	st := settings.Default()
	if cfg.Settings != nil {
		st = *cfg.Settings
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("validate settings: %w", err)
	}
	if cfg.Name == "" {
		return nil, fmt.Errorf("new server: empty name")
	}
	s := &Server{
		name:            cfg.Name,
		log:             cfg.Logger,
		now:             cfg.Now,
		maxBody:         cfg.MaxBodyBytes,
		shutdownTimeout: cfg.ShutdownTimeout,
		rnd:             cfg.Rand,
		padding:         bytes.Repeat([]byte("x"), 32<<10),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.shutdownTimeout <= 0 {
		s.shutdownTimeout = DefaultShutdownTimeout
	}
	if s.rnd == nil {
		s.rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	s.started = s.now()
	s.settings.Store(&st)
	s.lim = newLimiter(func() int { return s.settings.Load().Capacity })
	s.stats.codes = make(map[int]int64)
	s.stats.since.Store(time.Now().UnixNano())
	s.hijacked, s.stopHijacked = context.WithCancel(context.Background())
	s.upgrader = websocket.Upgrader{
		// A test backend accepts any origin: the clients are load balancers and tests.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	s.routes()
	return s, nil
}

// Name returns the backend's name.
func (s *Server) Name() string { return s.name }

// Settings returns the current settings snapshot.
func (s *Server) Settings() settings.Settings { return *s.settings.Load() }

// Update replaces the settings with fn's result, retrying fn if another update
// wins the race. The result is validated; on error nothing changes and the
// current settings are returned with the error. Queued requests are admitted at
// once if the capacity grew.
func (s *Server) Update(fn func(settings.Settings) (settings.Settings, error)) (settings.Settings, error) {
	for {
		old := s.settings.Load()
		next, err := fn(*old)
		if err == nil {
			err = next.Validate()
		}
		if err != nil {
			return *old, err
		}
		if s.settings.CompareAndSwap(old, &next) {
			s.lim.wake()
			if next != *old {
				s.log.Info("settings changed", "settings", settingsAttr(next))
			}
			return next, nil
		}
	}
}

func settingsAttr(st settings.Settings) slog.Value {
	return slog.GroupValue(
		slog.String("latency", st.Latency.String()),
		slog.Float64("error_rate", st.ErrorRate),
		slog.Int("error_status", st.ErrorStatus),
		slog.Int64("response_size", int64(st.ResponseSize)),
		slog.Int("capacity", st.Capacity),
		slog.String("overflow", string(st.Overflow)),
		slog.Bool("healthy", st.Healthy),
	)
}

// float64 draws a uniform value in [0, 1).
func (s *Server) float64() float64 {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	return s.rnd.Float64()
}

// sampleLatency draws one delay; fixed and zero latencies draw nothing.
func (s *Server) sampleLatency(l settings.Latency) time.Duration {
	if !l.Random() {
		return l.Sample(nil)
	}
	s.randMu.Lock()
	defer s.randMu.Unlock()
	return l.Sample(s.rnd)
}

// ServeHTTP sets X-Backend on every response, then routes the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Backend", s.name)
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/health", s.handleHealth)
	s.mux.Handle("/__backend__/config", methods{
		http.MethodGet: s.handleGetConfig, http.MethodPut: s.handlePutConfig, http.MethodPatch: s.handlePutConfig,
	})
	s.mux.Handle("/__backend__/health/fail", methods{http.MethodPost: s.handleHealthSet(false)})
	s.mux.Handle("/__backend__/health/ok", methods{http.MethodPost: s.handleHealthSet(true)})
	s.mux.Handle("/__backend__/stats", methods{http.MethodGet: s.handleStats})
	s.mux.Handle("/__backend__/stats/reset", methods{http.MethodPost: s.handleStatsReset})
	s.mux.HandleFunc("/__backend__/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "unknown control endpoint " + r.URL.Path})
	})
	s.mux.HandleFunc("/ws", s.handleWS)
	s.mux.Handle("/echo", s.workload(s.handleEcho))
	s.mux.Handle("/stream", s.workload(s.handleStream))
	s.mux.Handle("/sleep", s.workload(s.handleSleep))
	s.mux.Handle("/status/{code}", s.workload(s.handleStatus))
	s.mux.Handle("/", s.workload(s.handleInfo))
}

// methods routes by request method and answers 405 with an Allow header otherwise.
type methods map[string]http.HandlerFunc

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := m[r.Method]; ok {
		h(w, r)
		return
	}
	allow := make([]string, 0, len(m))
	for k := range m {
		allow = append(allow, k)
	}
	slices.Sort(allow)
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method " + r.Method + " not allowed"})
}
