package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/pool"
)

func TestSnapshotPercentiles(t *testing.T) {
	b := pool.NewBackend("b", "127.0.0.1:1", 1)
	m := New(pool.New(pool.Options{}, b))
	// 1..1000 ms, once each: p50 = 500 ms, p95 = 950 ms, p99 = 990 ms.
	for i := 1; i <= 1000; i++ {
		code := 200
		if i%100 == 0 {
			code = 502
		}
		m.Observe(b, code, time.Duration(i)*time.Millisecond)
	}
	s := m.Snapshot()
	assert.EqualValues(t, 1000, s.TotalRequests)
	assert.EqualValues(t, 10, s.TotalErrors)
	assert.InDelta(t, 1.0, s.ErrorRate, 1e-9, "percent")
	assert.Equal(t, map[string]uint64{"200": 990, "502": 10}, s.StatusCodes)
	rt := s.ResponseTimes
	assert.InDelta(t, 500.5, rt.Average, 0.01)
	assert.Equal(t, 1.0, rt.Minimum)
	assert.Equal(t, 1000.0, rt.Maximum)
	// Buckets grow by 15%, so interpolation is within a few percent.
	assert.InEpsilon(t, 500, rt.P50, 0.05)
	assert.InEpsilon(t, 950, rt.P95, 0.05)
	assert.InEpsilon(t, 990, rt.P99, 0.05)
	assert.LessOrEqual(t, rt.P99, rt.Maximum, "never above the observed maximum")
	assert.Equal(t, map[string]uint64{"200": 990, "502": 10}, m.BackendCodes(b))
}

func TestQuantileEdges(t *testing.T) {
	assert.Zero(t, Quantile(0.99, &dto.Histogram{}), "empty")
	one, two := uint64(1), uint64(2)
	ub1, ub2 := 1.0, 2.0
	h := &dto.Histogram{SampleCount: &two, Bucket: []*dto.Bucket{
		{UpperBound: &ub1, CumulativeCount: &one},
		{UpperBound: &ub2, CumulativeCount: &two},
	}}
	assert.Equal(t, 1.0, Quantile(0.5, h))
	assert.Equal(t, 2.0, Quantile(1, h))
}

func TestEmptySnapshotAndPrometheus(t *testing.T) {
	b := pool.NewBackend("b", "127.0.0.1:1", 1)
	m := New(pool.New(pool.Options{}, b))
	s := m.Snapshot()
	assert.Zero(t, s.TotalRequests)
	assert.Zero(t, s.ResponseTimes.Minimum, "no MaxInt64 leaks out before the first request")
	m.Observe(b, 200, time.Millisecond)
	m.Retry(b)
	m.Transition(b, pool.StateDown)
	m.Check(b, false)
	families, err := m.Registry().Gather()
	require.NoError(t, err)
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	joined := strings.Join(names, " ")
	for _, want := range []string{"lblab_requests_total", "lblab_response_time_seconds", "lblab_retries_total",
		"lblab_backend_transitions_total", "lblab_health_checks_total", "lblab_backend_in_flight", "lblab_healthy_backends"} {
		assert.Contains(t, joined, want)
	}
}

// Backends that share a name (an admin API "add" with a name in use, or a
// discovery that named replicas alike) never make /metrics fail: each keeps
// series of its own, and a collector that reports a clash anyway costs only
// its clashing series.
func TestMetricsServeNameClashes(t *testing.T) {
	a := pool.NewBackend("backend:8000", "10.0.1.3:8000", 1)
	b := pool.NewBackend("backend:8000", "10.0.1.4:8000", 1)
	c := pool.NewBackend("other", "10.0.1.5:8000", 1)
	m := New(pool.New(pool.Options{}, a, b, c))
	m.Observe(a, 200, time.Millisecond)
	m.Observe(b, 502, time.Millisecond)
	m.Observe(c, 200, time.Millisecond)
	require.NoError(t, m.Registry().Register(clashing{}))

	m.Retry(a)
	m.Check(b, false)

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	scrape := func() string {
		resp, err := http.Get(srv.URL)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		return string(body)
	}
	text := scrape()
	for _, want := range []string{
		`lblab_backend_in_flight{backend="backend:8000@10.0.1.3:8000"} 0`,
		`lblab_backend_in_flight{backend="backend:8000@10.0.1.4:8000"} 0`,
		`lblab_backend_in_flight{backend="other"} 0`,
		`lblab_requests_total{backend="backend:8000@10.0.1.3:8000",code="200"} 1`,
		`lblab_requests_total{backend="backend:8000@10.0.1.4:8000",code="502"} 1`,
		`lblab_backend_response_time_seconds_count{backend="backend:8000@10.0.1.4:8000"} 1`,
		`lblab_retries_total{backend="backend:8000@10.0.1.3:8000"} 1`,
		`lblab_health_checks_total{backend="backend:8000@10.0.1.4:8000",result="fail"} 1`,
		`lblab_test_clash{backend="x"} 1`,
		`lblab_healthy_backends 3`,
	} {
		assert.Contains(t, text, want)
	}
	assert.Contains(t, scrape(), `promhttp_metric_handler_errors_total{cause="gathering"} 1`,
		"the clash of the first scrape is counted where Prometheus users look for it")
}

// clashing is a collector that reports the same series twice.
type clashing struct{}

var descClash = prometheus.NewDesc("lblab_test_clash", "A series reported twice.", []string{"backend"}, nil)

func (clashing) Describe(ch chan<- *prometheus.Desc) { ch <- descClash }

func (clashing) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descClash, prometheus.GaugeValue, 1, "x")
	ch <- prometheus.MustNewConstMetric(descClash, prometheus.GaugeValue, 2, "x")
}

// families gathers m's registry into a map by name.
func families(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry().Gather()
	require.NoError(t, err)
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func bounds(h *dto.Histogram) []float64 {
	var out []float64
	for _, b := range h.GetBucket() {
		out = append(out, b.GetUpperBound())
	}
	return out
}

func TestLatencyHistogramsShareBuckets(t *testing.T) {
	b := pool.NewBackend("b", "127.0.0.1:1", 1)
	m := New(pool.New(pool.Options{}, b))
	// Loopback-like times: 30µs, 200µs, 700µs, 3ms, 2s.
	for _, d := range []time.Duration{30 * time.Microsecond, 200 * time.Microsecond, 700 * time.Microsecond, 3 * time.Millisecond, 2 * time.Second} {
		m.Observe(b, 200, d)
	}
	fams := families(t, m)
	global := fams["lblab_response_time_seconds"].GetMetric()[0].GetHistogram()
	per := fams["lblab_backend_response_time_seconds"].GetMetric()[0].GetHistogram()
	assert.Equal(t, Buckets, bounds(global), "global layout")
	assert.Equal(t, Buckets, bounds(per), "per-backend layout")
	for i := range Buckets {
		assert.Equal(t, per.GetBucket()[i].GetCumulativeCount(), global.GetBucket()[i].GetCumulativeCount(),
			"le=%g: one backend, so the same counts", Buckets[i])
	}
	assert.EqualValues(t, 5, global.GetSampleCount())
	assert.InDelta(t, per.GetSampleSum(), global.GetSampleSum(), 1e-9)
	// Sub-millisecond buckets tell loopback requests apart.
	cum := map[float64]uint64{}
	for _, bk := range global.GetBucket() {
		cum[bk.GetUpperBound()] = bk.GetCumulativeCount()
	}
	assert.EqualValues(t, 1, cum[0.00005])
	assert.EqualValues(t, 2, cum[0.00025])
	assert.EqualValues(t, 3, cum[0.001])
	assert.EqualValues(t, 4, cum[0.005])
	assert.EqualValues(t, 5, cum[2.5])
	for _, x := range Buckets {
		assert.Contains(t, fineBuckets, x, "every exported bound is an internal one")
	}
}

func TestBackendStateSet(t *testing.T) {
	up := pool.NewBackend("a", "127.0.0.1:1", 1)
	drain := pool.NewBackend("b", "127.0.0.1:2", 1)
	p := pool.New(pool.Options{}, up, drain)
	p.Set(drain, pool.StateDraining, "test")
	m := New(p)
	got := map[string]float64{}
	for _, s := range families(t, m)["lblab_backend_state"].GetMetric() {
		labels := map[string]string{}
		for _, l := range s.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		got[labels["backend"]+"/"+labels["state"]] = s.GetGauge().GetValue()
	}
	assert.Equal(t, map[string]float64{
		"a/up": 1, "a/down": 0, "a/draining": 0, "a/disabled": 0,
		"b/up": 0, "b/down": 0, "b/draining": 1, "b/disabled": 0,
	}, got)
}

func TestSetup(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		want     []string
		wantNone []string
	}{
		{"http", Options{Version: "v1.2.3", OpenConnections: func() int { return 7 }, QueuedRequests: func() int { return 3 }},
			[]string{"lblab_build_info", "lblab_open_connections", "lblab_queued_requests", "lblab_response_time_seconds", "lblab_backend_response_time_seconds"}, nil},
		{"tcp", Options{Version: "v1.2.3", TCP: true},
			[]string{"lblab_build_info"}, []string{"lblab_open_connections", "lblab_queued_requests", "lblab_response_time_seconds", "lblab_backend_response_time_seconds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := pool.NewBackend("b", "127.0.0.1:1", 1)
			m := New(pool.New(pool.Options{}, b))
			m.Setup(tt.opts)
			m.Observe(b, 200, time.Millisecond) // a histogram series exists once observed
			fams := families(t, m)
			for _, name := range tt.want {
				assert.Contains(t, fams, name)
			}
			for _, name := range tt.wantNone {
				assert.NotContains(t, fams, name)
			}
			info := fams["lblab_build_info"].GetMetric()[0]
			assert.Equal(t, 1.0, info.GetGauge().GetValue())
			labels := map[string]string{}
			for _, l := range info.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			assert.Equal(t, "v1.2.3", labels["version"])
			assert.Contains(t, labels, "revision")
			assert.True(t, strings.HasPrefix(labels["goversion"], "go"), labels["goversion"])
			if tt.opts.OpenConnections != nil {
				assert.Equal(t, 7.0, fams["lblab_open_connections"].GetMetric()[0].GetGauge().GetValue())
			}
			if tt.opts.QueuedRequests != nil {
				assert.Equal(t, 3.0, fams["lblab_queued_requests"].GetMetric()[0].GetGauge().GetValue())
			}
		})
	}
}
