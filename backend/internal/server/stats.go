package server

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
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

	// since is when the counters started (New or the last reset), in Unix
	// nanoseconds: the window busy time is measured against.
	since atomic.Int64

	tmu    sync.Mutex    // guards the timing sums below, which change together
	nServe int64         // requests that got a slot and left it
	wait   time.Duration // their time queued for a slot
	busy   time.Duration // their time holding a slot: the service time
	nDelay int64         // latency delays that ran to their end
	asked  time.Duration // the delays drawn from the latency setting
	took   time.Duration // the time they actually took
}

// served records a request that waited wait for a slot and held it for service.
func (st *stats) served(wait, service time.Duration) {
	st.tmu.Lock()
	defer st.tmu.Unlock()
	st.nServe++
	st.wait += wait
	st.busy += service
}

// slept records a latency delay: asked of the distribution, took in fact.
func (st *stats) slept(asked, took time.Duration) {
	st.tmu.Lock()
	defer st.tmu.Unlock()
	st.nDelay++
	st.asked += asked
	st.took += took
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
	st.tmu.Lock()
	st.nServe, st.wait, st.busy, st.nDelay, st.asked, st.took = 0, 0, 0, 0, 0, 0
	st.since.Store(time.Now().UnixNano())
	st.tmu.Unlock()
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
	Service
}

// Service is what the backend did with the workload requests that got a
// capacity slot, since it started or its stats were last reset: what a
// queueing model calls the service. Times are in milliseconds. In-flight
// requests count once they leave their slot.
type Service struct {
	// WindowSeconds is the time since start or the last reset.
	WindowSeconds float64 `json:"window_seconds"`
	// Served counts the requests that got a slot and left it.
	Served int64 `json:"served_total"`
	// MeanServiceMs is their mean time holding a slot (latency plus the
	// handler's own work): the service time.
	MeanServiceMs float64 `json:"mean_service_ms"`
	// MeanQueueWaitMs is their mean time queued for a slot.
	MeanQueueWaitMs float64 `json:"mean_queue_wait_ms"`
	// BusySeconds is the sum of their service times.
	BusySeconds float64 `json:"busy_seconds"`
	// Utilization is BusySeconds / (WindowSeconds x capacity), the
	// utilisation rho of the slots; absent without a capacity limit.
	Utilization *float64 `json:"utilization,omitempty"`
	// MeanInService is BusySeconds / WindowSeconds: the mean number of
	// requests in service (Little's law).
	MeanInService float64 `json:"mean_in_service"`
	// Delays counts the latency delays that ran to their end;
	// MeanLatencyAskedMs is the mean of the values drawn from the latency
	// distribution and MeanLatencyMs the mean time they took.
	Delays             int64   `json:"latency_delays_total"`
	MeanLatencyAskedMs float64 `json:"latency_asked_mean_ms"`
	MeanLatencyMs      float64 `json:"latency_mean_ms"`
}

// service returns the Service figures for a backend of the given capacity.
func (st *stats) service(capacity int) Service {
	st.tmu.Lock()
	defer st.tmu.Unlock()
	msPer := func(d time.Duration, n int64) float64 {
		if n == 0 {
			return 0
		}
		return float64(d) / float64(n) / float64(time.Millisecond)
	}
	out := Service{
		WindowSeconds:      time.Since(time.Unix(0, st.since.Load())).Seconds(),
		Served:             st.nServe,
		MeanServiceMs:      msPer(st.busy, st.nServe),
		MeanQueueWaitMs:    msPer(st.wait, st.nServe),
		BusySeconds:        st.busy.Seconds(),
		Delays:             st.nDelay,
		MeanLatencyAskedMs: msPer(st.asked, st.nDelay),
		MeanLatencyMs:      msPer(st.took, st.nDelay),
	}
	if out.WindowSeconds > 0 {
		out.MeanInService = out.BusySeconds / out.WindowSeconds
		if capacity > 0 {
			u := out.MeanInService / float64(capacity)
			out.Utilization = &u
		}
	}
	return out
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
		Service:       s.stats.service(s.settings.Load().Capacity),
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
