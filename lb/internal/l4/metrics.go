package l4

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lblab/lblab/lb/internal/metrics"
	"github.com/lblab/lblab/lb/internal/pool"
)

// durationBuckets spans 100µs to about 4.6 hours in steps of 25%.
var durationBuckets = prometheus.ExponentialBuckets(100e-6, 1.25, 80)

// stats holds the TCP mode's counters. Recording is lock-free; it is also the
// Prometheus collector for the counters (the histograms collect themselves).
type stats struct {
	srv *Server

	accepted      atomic.Uint64
	active        atomic.Int64
	up, down      atomic.Uint64 // bytes client->backend, backend->client
	connectErrors atomic.Uint64
	retries       atomic.Uint64
	acceptLimited atomic.Uint64
	closed        [numReasons]atomic.Uint64
	minNs, maxNs  atomic.Int64
	sumNs         atomic.Int64

	duration    prometheus.Histogram
	connectTime prometheus.Histogram

	backends sync.Map // *pool.Backend -> *backendStats
}

type backendStats struct {
	up, down      atomic.Uint64
	connectErrors atomic.Uint64
}

func newStats(s *Server) *stats {
	st := &stats{srv: s}
	st.minNs.Store(math.MaxInt64)
	st.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "lblab_tcp_connection_duration_seconds", Help: "Lifetime of client connections, from accept to close.",
		Buckets: durationBuckets,
	})
	st.connectTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "lblab_tcp_connect_duration_seconds", Help: "Time to open a connection to a backend (successful connects).",
		Buckets: prometheus.ExponentialBuckets(50e-6, 1.5, 30),
	})
	return st
}

func (st *stats) backend(b *pool.Backend) *backendStats {
	if v, ok := st.backends.Load(b); ok {
		return v.(*backendStats)
	}
	v, _ := st.backends.LoadOrStore(b, &backendStats{})
	return v.(*backendStats)
}

// observe records a connection that ended.
func (st *stats) observe(r reason, d time.Duration) {
	st.closed[r].Add(1)
	ns := int64(d)
	st.sumNs.Add(ns)
	for cur := st.minNs.Load(); ns < cur && !st.minNs.CompareAndSwap(cur, ns); cur = st.minNs.Load() {
	}
	for cur := st.maxNs.Load(); ns > cur && !st.maxNs.CompareAndSwap(cur, ns); cur = st.maxNs.Load() {
	}
	st.duration.Observe(d.Seconds())
}

// forgetRemoved drops the stats of backends no longer in the pool (a
// connection still open on one keeps its own pointer).
func (st *stats) forgetRemoved(all []*pool.Backend) {
	st.backends.Range(func(k, _ any) bool {
		for _, b := range all {
			if b == k {
				return true
			}
		}
		st.backends.Delete(k)
		return true
	})
}

var (
	descAccepted      = prometheus.NewDesc("lblab_tcp_connections_accepted_total", "Client connections accepted.", nil, nil)
	descActive        = prometheus.NewDesc("lblab_tcp_connections_active", "Client connections open now.", nil, nil)
	descClosed        = prometheus.NewDesc("lblab_tcp_connections_closed_total", "Client connections ended, by reason (closed, reset, idle_timeout, shutdown, no_backend, connect_failed, connect_timeout).", []string{"reason"}, nil)
	descBytes         = prometheus.NewDesc("lblab_tcp_bytes_total", "Bytes relayed, by direction (client_to_backend, backend_to_client).", []string{"direction"}, nil)
	descConnectErrors = prometheus.NewDesc("lblab_tcp_connect_errors_total", "Failed connects to backends (each attempt, retried or not).", nil, nil)
	descLimited       = prometheus.NewDesc("lblab_tcp_accept_limited_total", "Times accepting paused because max_connections were open.", nil, nil)
	descMaxConns      = prometheus.NewDesc("lblab_tcp_max_connections", "The bound on open client connections (0: none).", nil, nil)
	descBConns        = prometheus.NewDesc("lblab_tcp_backend_connections_total", "Connections sent to the backend (connect attempts included). Open ones: lblab_backend_in_flight.", []string{"backend"}, nil)
	descBBytes        = prometheus.NewDesc("lblab_tcp_backend_bytes_total", "Bytes relayed, by backend and direction.", []string{"backend", "direction"}, nil)
	descBConnErrors   = prometheus.NewDesc("lblab_tcp_backend_connect_errors_total", "Failed connects, by backend.", []string{"backend"}, nil)
)

// Describe implements prometheus.Collector.
func (st *stats) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAccepted, descActive, descClosed, descBytes, descConnectErrors,
		descLimited, descMaxConns, descBConns, descBBytes, descBConnErrors} {
		ch <- d
	}
	st.duration.Describe(ch)
	st.connectTime.Describe(ch)
}

// Collect implements prometheus.Collector.
func (st *stats) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descAccepted, st.accepted.Load())
	ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(st.active.Load()))
	for r := reasonClosed; r < numReasons; r++ {
		counter(descClosed, st.closed[r].Load(), r.String())
	}
	counter(descBytes, st.up.Load(), "client_to_backend")
	counter(descBytes, st.down.Load(), "backend_to_client")
	counter(descConnectErrors, st.connectErrors.Load())
	counter(descLimited, st.acceptLimited.Load())
	ch <- prometheus.MustNewConstMetric(descMaxConns, prometheus.GaugeValue, float64(st.srv.cfg.MaxConnections))
	all := st.srv.cfg.Pool.All()
	st.forgetRemoved(all)
	for _, b := range all {
		bs := st.backend(b)
		counter(descBConns, b.Requests(), b.Name)
		counter(descBBytes, bs.up.Load(), b.Name, "client_to_backend")
		counter(descBBytes, bs.down.Load(), b.Name, "backend_to_client")
		counter(descBConnErrors, bs.connectErrors.Load(), b.Name)
	}
	st.duration.Collect(ch)
	st.connectTime.Collect(ch)
}

// Stats is the TCP mode's figures, under "tcp" in /__status__ and
// /__metrics__ on the admin listener. Byte counts are current to within 4 MiB
// per open connection.
type Stats struct {
	ConnectionsAccepted uint64            `json:"connections_accepted"`
	ConnectionsActive   int64             `json:"connections_active"`
	ConnectionsClosed   map[string]uint64 `json:"connections_closed"`
	BytesIn             uint64            `json:"bytes_client_to_backend"`
	BytesOut            uint64            `json:"bytes_backend_to_client"`
	ConnectErrors       uint64            `json:"connect_errors"`
	Retries             uint64            `json:"retries"`
	AcceptLimited       uint64            `json:"accept_limited"`
	MaxConnections      int               `json:"max_connections"`
	IdleTimeoutSeconds  float64           `json:"idle_timeout_seconds"`
	Backends            []BackendStats    `json:"backends"`
}

// BackendStats is one backend's TCP figures.
type BackendStats struct {
	Name              string `json:"name"`
	Address           string `json:"address"`
	State             string `json:"state"`
	ActiveConnections int64  `json:"active_connections"`
	TotalConnections  uint64 `json:"total_connections"`
	ConnectErrors     uint64 `json:"connect_errors"`
	BytesIn           uint64 `json:"bytes_client_to_backend"`
	BytesOut          uint64 `json:"bytes_backend_to_client"`
}

// Stats returns the current figures.
func (s *Server) Stats() Stats {
	st := s.stats
	out := Stats{
		ConnectionsAccepted: st.accepted.Load(),
		ConnectionsActive:   st.active.Load(),
		ConnectionsClosed:   map[string]uint64{},
		BytesIn:             st.up.Load(),
		BytesOut:            st.down.Load(),
		ConnectErrors:       st.connectErrors.Load(),
		Retries:             st.retries.Load(),
		AcceptLimited:       st.acceptLimited.Load(),
		MaxConnections:      s.cfg.MaxConnections,
		IdleTimeoutSeconds:  s.cfg.IdleTimeout.Seconds(),
		Backends:            []BackendStats{},
	}
	for r := reasonClosed; r < numReasons; r++ {
		if n := st.closed[r].Load(); n > 0 {
			out.ConnectionsClosed[r.String()] = n
		}
	}
	for _, b := range s.cfg.Pool.All() {
		bs := st.backend(b)
		out.Backends = append(out.Backends, BackendStats{
			Name: b.Name, Address: b.Addr, State: b.State().String(),
			ActiveConnections: b.InFlight(), TotalConnections: b.Requests(),
			ConnectErrors: bs.connectErrors.Load(), BytesIn: bs.up.Load(), BytesOut: bs.down.Load(),
		})
	}
	return out
}

// StatusExtra returns the fields TCP mode adds to /__status__ (admin.Config.Extra).
func (s *Server) StatusExtra() map[string]any { return map[string]any{"tcp": s.Stats()} }

// Summary is /__metrics__ in TCP mode: the seed's shape, with finished
// connections in place of requests (response_times are connection durations
// in ms; status_codes counts 200 for a relayed connection, 502 when every
// connect failed, 503 when no backend was up, 504 when the last connect timed
// out), and the TCP figures under "tcp".
type Summary struct {
	metrics.Snapshot
	TCP Stats `json:"tcp"`
}

// Summary returns the figures served at /__metrics__.
func (s *Server) Summary() Summary {
	st := s.stats
	up := time.Since(s.start).Seconds()
	snap := metrics.Snapshot{UptimeSeconds: round2(up), StatusCodes: map[string]uint64{}}
	for r := reasonClosed; r < numReasons; r++ {
		n := st.closed[r].Load()
		if n == 0 {
			continue
		}
		snap.TotalRequests += n
		code := r.status()
		if code >= 500 {
			snap.TotalErrors += n
		}
		snap.StatusCodes[strconv.Itoa(code)] += n
	}
	if up > 0 {
		snap.RequestsPerSecond = round2(float64(snap.TotalRequests) / up)
	}
	if snap.TotalRequests > 0 {
		snap.ErrorRate = round2(100 * float64(snap.TotalErrors) / float64(snap.TotalRequests))
		rt := &snap.ResponseTimes
		rt.Average = round2(float64(st.sumNs.Load()) / float64(snap.TotalRequests) / 1e6)
		rt.Minimum = round2(float64(st.minNs.Load()) / 1e6)
		rt.Maximum = round2(float64(st.maxNs.Load()) / 1e6)
		var pm dto.Metric
		if err := st.duration.Write(&pm); err == nil {
			h := pm.GetHistogram()
			clamp := func(v float64) float64 { return round2(min(max(v*1e3, rt.Minimum), rt.Maximum)) }
			rt.P50 = clamp(metrics.Quantile(0.50, h))
			rt.P95 = clamp(metrics.Quantile(0.95, h))
			rt.P99 = clamp(metrics.Quantile(0.99, h))
		}
	}
	return Summary{Snapshot: snap, TCP: s.Stats()}
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// AdminHandler wraps the admin listener's handler so that GET /__metrics__
// serves Summary; every other path goes to next.
func (s *Server) AdminHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/__metrics__" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(s.Summary())
	})
}
