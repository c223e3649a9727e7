package server

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// stats are the backend's counters. Not to be copied.
type stats struct {
	requests     atomic.Int64 // workload requests received (not /health, /ws or control)
	rejected     atomic.Int64 // refused with 503 by the capacity limit
	injected     atomic.Int64 // answered with the injected error status
	healthChecks atomic.Int64 // requests to /health
	websockets   atomic.Int64 // open WebSocket sessions

	mu    sync.Mutex    // guards codes
	codes map[int]int64 // workload responses by status
}

func (st *stats) record(code int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.codes[code]++
}

func (st *stats) reset() {
	st.requests.Store(0)
	st.rejected.Store(0)
	st.injected.Store(0)
	st.healthChecks.Store(0)
	st.mu.Lock()
	defer st.mu.Unlock()
	clear(st.codes)
}

func (st *stats) codeSnapshot() map[string]int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make(map[string]int64, len(st.codes))
	for c, n := range st.codes {
		out[strconv.Itoa(c)] = n
	}
	return out
}

// StatsSnapshot is the JSON answer of GET /__backend__/stats.
type StatsSnapshot struct {
	Backend       string           `json:"backend"`
	UptimeSeconds float64          `json:"uptime_seconds"`
	Requests      int64            `json:"requests_total"`
	InFlight      int              `json:"in_flight"`
	Queued        int              `json:"queued"`
	Rejected      int64            `json:"rejected_total"`
	Injected      int64            `json:"errors_injected_total"`
	HealthChecks  int64            `json:"health_checks_total"`
	WebSockets    int64            `json:"websockets_open"`
	StatusCodes   map[string]int64 `json:"status_codes"`
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() StatsSnapshot {
	active, queued := s.lim.counts()
	return StatsSnapshot{
		Backend:       s.name,
		UptimeSeconds: s.now().Sub(s.started).Seconds(),
		Requests:      s.stats.requests.Load(),
		InFlight:      active,
		Queued:        queued,
		Rejected:      s.stats.rejected.Load(),
		Injected:      s.stats.injected.Load(),
		HealthChecks:  s.stats.healthChecks.Load(),
		WebSockets:    s.stats.websockets.Load(),
		StatusCodes:   s.stats.codeSnapshot(),
	}
}

// statusRecorder remembers the status a handler wrote. Unwrap lets
// http.ResponseController reach the real writer's Flush.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
