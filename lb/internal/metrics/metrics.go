// Package metrics collects the balancer's request metrics: Prometheus
// collectors on the balancer's own registry, and the JSON snapshot served at
// /__metrics__. Recording is lock-free; every method is safe for concurrent use.
package metrics

import (
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/lblab/lblab/lb/internal/pool"
)

// Buckets is the bucket layout of both latency histograms, the global
// lblab_response_time_seconds and the per-backend
// lblab_backend_response_time_seconds: 50µs to 60s, with sub-millisecond
// buckets, since on loopback or in one Docker network a proxied request takes
// a fraction of a millisecond.
var Buckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
}

// fineBuckets are those of the global histogram kept inside (never
// exported): 50µs to about 2 minutes in steps of 15%, plus every bound of
// Buckets, fine enough for the JSON percentiles to be within a few percent
// of the true value. The exported global histogram is read from it at
// scrape time (see latencyCollector), so a request is observed once.
var fineBuckets = mergeBounds(prometheus.ExponentialBuckets(50e-6, 1.15, 106), Buckets)

// mergeBounds returns the sorted union of a and b, a's bounds within 1% of
// one of b's dropped (b's are kept exactly, so that they can be looked up).
func mergeBounds(a, b []float64) []float64 {
	out := slices.Clone(b)
	for _, x := range a {
		near := false
		for _, y := range b {
			if math.Abs(x-y) <= 0.01*y {
				near = true
				break
			}
		}
		if !near {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

// Metrics records requests. Create it with New.
type Metrics struct {
	reg   *prometheus.Registry
	pool  *pool.Pool
	start time.Time

	total  atomic.Uint64
	errors atomic.Uint64
	codes  [600]atomic.Uint64 // index = status code; 0 holds codes out of range
	minNs  atomic.Int64
	maxNs  atomic.Int64
	sumNs  atomic.Int64

	latency      prometheus.Histogram
	byBackend    *prometheus.HistogramVec
	retries      *prometheus.CounterVec
	transitions  *prometheus.CounterVec
	checks       *prometheus.CounterVec
	backendStats sync.Map // *pool.Backend -> *backendStats
	latencyCol   *latencyCollector
}

type backendStats struct {
	label   string // the backend label of its series (see BackendLabel)
	latency prometheus.Observer
	codes   [600]atomic.Uint64
}

// New returns metrics registered on a fresh registry, with a collector that
// reports each backend of p (state, in-flight, requests by status code).
func New(p *pool.Pool) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), pool: p, start: time.Now()}
	m.minNs.Store(math.MaxInt64)
	// Not registered: latencyCollector exports it with the Buckets layout.
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "lblab_response_time_seconds", Help: "Time to serve a proxied request, all backends.",
		Buckets: fineBuckets,
	})
	m.byBackend = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "lblab_backend_response_time_seconds", Help: "Time to serve a proxied request, by backend.",
		Buckets: Buckets,
	}, []string{"backend"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lblab_retries_total", Help: "Requests or connections retried on another backend, by the backend that failed.",
	}, []string{"backend"})
	m.transitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lblab_backend_transitions_total", Help: "Backend state changes, by backend and new state.",
	}, []string{"backend", "state"})
	m.checks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lblab_health_checks_total", Help: "Active health checks, by backend and result.",
	}, []string{"backend", "result"})
	m.latencyCol = &latencyCollector{h: m.latency}
	m.reg.MustRegister(m.latencyCol, m.byBackend, m.retries, m.transitions, m.checks,
		&poolCollector{m: m, pool: p},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Options say what kind of balancer the metrics describe.
type Options struct {
	// Version is the balancer's version (bin/lb --version), for lblab_build_info.
	Version string
	// TCP is true in TCP mode: no HTTP requests, so no response-time
	// histograms (the l4 package registers the connection series).
	TCP bool
	// OpenConnections, when set (HTTP mode), reports the client connections
	// open now, as lblab_open_connections.
	OpenConnections func() int
	// QueuedRequests, when set, reports the requests waiting for a backend
	// connection (max_conns_per_backend), as lblab_queued_requests.
	QueuedRequests func() int
	// AccessLogDropped, when set, reports the access-log lines dropped so
	// far because the log's reader fell behind, as
	// lblab_access_log_dropped_total.
	AccessLogDropped func() uint64
}

// Setup registers the series that depend on the mode and the build:
// lblab_build_info always, and lblab_open_connections,
// lblab_queued_requests and lblab_access_log_dropped_total when
// o.OpenConnections, o.QueuedRequests and o.AccessLogDropped are set; in
// TCP mode it removes the response-time histograms (there are no HTTP
// requests to time). Call it once, before serving.
func (m *Metrics) Setup(o Options) {
	m.reg.MustRegister(buildInfo(o.Version))
	if o.TCP {
		m.reg.Unregister(m.latencyCol)
		m.reg.Unregister(m.byBackend)
	}
	if o.OpenConnections != nil {
		open := o.OpenConnections
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lblab_open_connections", Help: "Client connections open now on the proxy port (idle keep-alive ones included).",
		}, func() float64 { return float64(open()) }))
	}
	if o.QueuedRequests != nil {
		queued := o.QueuedRequests
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lblab_queued_requests", Help: "Requests waiting in the balancer for a connection to their backend (max_conns_per_backend).",
		}, func() float64 { return float64(queued()) }))
	}
	if o.AccessLogDropped != nil {
		dropped := o.AccessLogDropped
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "lblab_access_log_dropped_total", Help: "Access-log lines dropped because the log's reader fell behind (more than 1 MiB waiting).",
		}, func() float64 { return float64(dropped()) }))
	}
}

// buildInfo returns the gauge lblab_build_info: 1, with the version, the VCS
// revision the binary was built from (when Go recorded it) and the Go version
// as labels, as Prometheus's own <name>_build_info.
func buildInfo(version string) prometheus.Collector {
	if version == "" {
		version = "unknown"
	}
	revision := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" && kv.Value != "" {
				revision = kv.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "lblab_build_info",
		Help:        "A metric with a constant '1' value labeled by version, revision and goversion from which lb was built.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}

// latencyCollector exports the fine global histogram with the Buckets
// layout: every bound of Buckets is one of fineBuckets, so its cumulative
// count is read, not estimated.
type latencyCollector struct{ h prometheus.Histogram }

var descLatency = prometheus.NewDesc("lblab_response_time_seconds", "Time to serve a proxied request, all backends.", nil, nil)

func (c *latencyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descLatency }

func (c *latencyCollector) Collect(ch chan<- prometheus.Metric) {
	var pm dto.Metric
	if err := c.h.Write(&pm); err != nil {
		ch <- prometheus.NewInvalidMetric(descLatency, err)
		return
	}
	h := pm.GetHistogram()
	cum := make(map[float64]uint64, len(Buckets))
	for _, bk := range h.GetBucket() {
		if slices.Contains(Buckets, bk.GetUpperBound()) {
			cum[bk.GetUpperBound()] = bk.GetCumulativeCount()
		}
	}
	ch <- prometheus.MustNewConstHistogram(descLatency, h.GetSampleCount(), h.GetSampleSum(), cum)
}

// Registry returns the registry, for packages that add their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the Prometheus text format. A scrape never fails because
// of what one collector reports: series that cannot be gathered (two with
// the same name and labels, say) are left out and logged (slog.Default, at
// warning level), counted in promhttp_metric_handler_errors_total, and the
// rest is served with status 200.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:      m.reg,
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
	})
}

func (m *Metrics) stats(b *pool.Backend) *backendStats {
	if s, ok := m.backendStats.Load(b); ok {
		return s.(*backendStats)
	}
	label := m.label(b)
	s, _ := m.backendStats.LoadOrStore(b, &backendStats{label: label, latency: m.byBackend.WithLabelValues(label)})
	return s.(*backendStats)
}

// label returns b's backend label among the pool's backends.
func (m *Metrics) label(b *pool.Backend) string {
	if m.pool == nil {
		return b.Name
	}
	return BackendLabel(b, m.pool.All())
}

// Forget drops the per-backend series of a removed backend.
func (m *Metrics) Forget(b *pool.Backend) {
	label := b.Name
	if s, ok := m.backendStats.LoadAndDelete(b); ok {
		label = s.(*backendStats).label
	}
	m.byBackend.DeleteLabelValues(label)
}

// Observe records one finished request: the status sent to the client, the
// backend that served it (nil when none did) and the time it took. Codes of 500
// and above count as errors.
func (m *Metrics) Observe(b *pool.Backend, code int, d time.Duration) {
	m.total.Add(1)
	if code >= 500 {
		m.errors.Add(1)
	}
	idx := code
	if idx < 0 || idx >= len(m.codes) {
		idx = 0
	}
	m.codes[idx].Add(1)
	ns := int64(d)
	m.sumNs.Add(ns)
	for cur := m.minNs.Load(); ns < cur && !m.minNs.CompareAndSwap(cur, ns); cur = m.minNs.Load() {
	}
	for cur := m.maxNs.Load(); ns > cur && !m.maxNs.CompareAndSwap(cur, ns); cur = m.maxNs.Load() {
	}
	secs := d.Seconds()
	m.latency.Observe(secs)
	if b != nil {
		s := m.stats(b)
		s.latency.Observe(secs)
		s.codes[idx].Add(1)
	}
}

// Retry counts a retry away from backend b.
func (m *Metrics) Retry(b *pool.Backend) { m.retries.WithLabelValues(m.label(b)).Inc() }

// Transition counts a backend state change.
func (m *Metrics) Transition(b *pool.Backend, to pool.State) {
	m.transitions.WithLabelValues(m.label(b), to.String()).Inc()
}

// Check counts an active health check result ("ok" or "fail").
func (m *Metrics) Check(b *pool.Backend, ok bool) {
	result := "ok"
	if !ok {
		result = "fail"
	}
	m.checks.WithLabelValues(m.label(b), result).Inc()
}

// ResponseTimes are in milliseconds.
type ResponseTimes struct {
	Average float64 `json:"average"`
	Minimum float64 `json:"minimum"`
	Maximum float64 `json:"maximum"`
	P50     float64 `json:"p50"`
	P95     float64 `json:"p95"`
	P99     float64 `json:"p99"`
}

// Snapshot is the JSON served at /__metrics__ (the seed's shape).
type Snapshot struct {
	UptimeSeconds     float64           `json:"uptime_seconds"`
	TotalRequests     uint64            `json:"total_requests"`
	TotalErrors       uint64            `json:"total_errors"`
	RequestsPerSecond float64           `json:"requests_per_second"`
	ErrorRate         float64           `json:"error_rate"`
	ResponseTimes     ResponseTimes     `json:"response_times"`
	StatusCodes       map[string]uint64 `json:"status_codes"`
}

// Snapshot returns the current figures. error_rate is a percentage, as in the
// seed; requests_per_second is the mean since start.
func (m *Metrics) Snapshot() Snapshot {
	up := time.Since(m.start).Seconds()
	s := Snapshot{
		UptimeSeconds: round2(up),
		TotalRequests: m.total.Load(),
		TotalErrors:   m.errors.Load(),
		StatusCodes:   map[string]uint64{},
	}
	if up > 0 {
		s.RequestsPerSecond = round2(float64(s.TotalRequests) / up)
	}
	if s.TotalRequests > 0 {
		s.ErrorRate = round2(100 * float64(s.TotalErrors) / float64(s.TotalRequests))
		s.ResponseTimes.Average = round2(float64(m.sumNs.Load()) / float64(s.TotalRequests) / 1e6)
		s.ResponseTimes.Minimum = round2(float64(m.minNs.Load()) / 1e6)
		s.ResponseTimes.Maximum = round2(float64(m.maxNs.Load()) / 1e6)
		var pm dto.Metric
		if err := m.latency.Write(&pm); err == nil {
			h := pm.GetHistogram()
			rt := &s.ResponseTimes
			// Interpolation within a bucket may overshoot the observed extremes.
			clamp := func(v float64) float64 { return round2(min(max(v*1e3, rt.Minimum), rt.Maximum)) }
			rt.P50 = clamp(Quantile(0.50, h))
			rt.P95 = clamp(Quantile(0.95, h))
			rt.P99 = clamp(Quantile(0.99, h))
		}
	}
	for code := range m.codes {
		if n := m.codes[code].Load(); n > 0 {
			key := strconv.Itoa(code)
			if code == 0 {
				key = "other"
			}
			s.StatusCodes[key] = n
		}
	}
	return s
}

// BackendCodes returns the status codes sent for requests served by b.
func (m *Metrics) BackendCodes(b *pool.Backend) map[string]uint64 {
	out := map[string]uint64{}
	v, ok := m.backendStats.Load(b)
	if !ok {
		return out
	}
	st := v.(*backendStats)
	for code := range st.codes {
		if n := st.codes[code].Load(); n > 0 {
			out[strconv.Itoa(code)] = n
		}
	}
	return out
}

// Quantile estimates the q-quantile of a cumulative Prometheus histogram by
// linear interpolation within the bucket holding it, as PromQL's
// histogram_quantile does. It returns 0 for an empty histogram.
func Quantile(q float64, h *dto.Histogram) float64 {
	total := h.GetSampleCount()
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	lower, prevCount := 0.0, uint64(0)
	for _, bk := range h.GetBucket() {
		upper, cum := bk.GetUpperBound(), bk.GetCumulativeCount()
		if float64(cum) >= rank {
			inBucket := cum - prevCount
			if inBucket == 0 {
				return upper
			}
			return lower + (upper-lower)*(rank-float64(prevCount))/float64(inBucket)
		}
		lower, prevCount = upper, cum
	}
	return lower // beyond the last bucket: report its bound
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// poolCollector reports each backend's live state at scrape time, so the hot
// path pays nothing for these gauges.
type poolCollector struct {
	m    *Metrics
	pool *pool.Pool
}

var (
	descUp       = prometheus.NewDesc("lblab_backend_up", "1 when the backend takes new requests (state up), else 0.", []string{"backend", "address"}, nil)
	descState    = prometheus.NewDesc("lblab_backend_state", "The backend's state as a state set: one series per state (up, down, draining, disabled), 1 for the current one, 0 for the others.", []string{"backend", "state"}, nil)
	descInFlight = prometheus.NewDesc("lblab_backend_in_flight", "Requests or connections in flight to the backend.", []string{"backend"}, nil)
	descRequests = prometheus.NewDesc("lblab_requests_total", "Proxied requests by backend and status code sent to the client.", []string{"backend", "code"}, nil)
	descHealthy  = prometheus.NewDesc("lblab_healthy_backends", "Backends taking new requests.", nil, nil)
)

// states are the values of lblab_backend_state's state label.
var states = []pool.State{pool.StateUp, pool.StateDown, pool.StateDraining, pool.StateDisabled}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descState, descInFlight, descRequests, descHealthy} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descHealthy, prometheus.GaugeValue, float64(len(c.pool.Available())))
	all := c.pool.All()
	for _, b := range all {
		up := 0.0
		if b.Available() {
			up = 1
		}
		name := BackendLabel(b, all)
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, name, b.Addr)
		cur := b.State()
		for _, st := range states {
			v := 0.0
			if st == cur {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, name, st.String())
		}
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(b.InFlight()), name)
		for code, n := range c.m.BackendCodes(b) {
			ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(n), name, code)
		}
	}
}

// BackendLabel returns the value of the "backend" label of b's series: its
// name, or "name@address" when another backend of all has the same name (a
// series per backend must differ in its labels, or the scrape loses it).
func BackendLabel(b *pool.Backend, all []*pool.Backend) string {
	for _, o := range all {
		if o != b && o.Name == b.Name {
			return b.Name + "@" + b.Addr
		}
	}
	return b.Name
}
