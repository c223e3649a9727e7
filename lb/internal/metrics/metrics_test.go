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
