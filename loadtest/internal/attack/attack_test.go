package attack

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// server answers like bin/backend behind a balancer: round robin over three
// names, each response carrying X-Backend; every 10th request fails.
func server(t *testing.T, delay time.Duration) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	names := []string{"b1", "b2", "b3"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		w.Header().Set(BackendHeader, names[i%3])
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if i%10 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
		_, _ = w.Write([]byte(`{"backend":"x"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func drain(a *Aggregator, ch <-chan *vegeta.Result) {
	for r := range ch {
		a.Add(r)
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		wantCount int // exact, or 0 to check a range
		minCount  int
		maxCount  int
	}{
		{name: "closed model, fixed requests", cfg: Config{Concurrency: 8, Requests: 300}, wantCount: 300},
		{name: "open model, rate for a duration", cfg: Config{Rate: 200, Duration: time.Second}, minCount: 180, maxCount: 201},
		{name: "open model, requests cap", cfg: Config{Rate: 500, Requests: 100, Duration: 5 * time.Second}, wantCount: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := server(t, 0)
			cfg := tt.cfg
			cfg.URL = srv.URL + "/info"
			start := time.Now()
			ch, err := Run(t.Context(), cfg)
			require.NoError(t, err)
			agg := NewAggregator(start, 0, "steady")
			drain(agg, ch)
			sum := agg.Close(time.Now())
			if tt.wantCount > 0 {
				assert.Equal(t, tt.wantCount, sum.Total.Requests)
			} else {
				assert.GreaterOrEqual(t, sum.Total.Requests, tt.minCount)
				assert.LessOrEqual(t, sum.Total.Requests, tt.maxCount)
			}
			// Every 10th fails with a 500, attributed to its backend.
			assert.InDelta(t, 0.1, sum.Total.ErrorRate, 0.02)
			assert.Equal(t, sum.Total.Errors, sum.Total.StatusCodes["500"])
			require.Len(t, sum.Backends, 3)
			for _, b := range sum.Backends {
				assert.InDelta(t, 1.0/3, b.Share, 0.02, b.Name)
			}
			assert.Contains(t, sum.Total.ErrorMessages[0].Error, "500")
		})
	}
}

func TestRunCancelDrains(t *testing.T) {
	srv, _ := server(t, 5*time.Second) // every request hangs
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := Run(ctx, Config{URL: srv.URL, Rate: 50, Duration: 30 * time.Second, Timeout: 20 * time.Second})
	require.NoError(t, err)
	time.AfterFunc(300*time.Millisecond, cancel)
	begin := time.Now()
	n := 0
	for range ch {
		n++
	}
	assert.Less(t, time.Since(begin), 3*time.Second, "cancel aborts requests in flight")
	assert.Zero(t, n, "requests aborted by the cancel are not reported as target errors")
}

func TestRunErrorsAsData(t *testing.T) {
	// Nothing listens here: every request fails, and each failure is a result.
	ch, err := Run(t.Context(), Config{URL: "http://127.0.0.1:1/", Concurrency: 2, Requests: 20, Timeout: time.Second})
	require.NoError(t, err)
	agg := NewAggregator(time.Now(), 0, "steady")
	drain(agg, ch)
	sum := agg.Close(time.Now())
	assert.Equal(t, 20, sum.Total.Requests)
	assert.Equal(t, 20, sum.Total.Errors)
	assert.Equal(t, 20, sum.Total.StatusCodes["0"])
	assert.Equal(t, 20, sum.Total.Backends[NoBackend])
	assert.Contains(t, sum.Total.ErrorMessages[0].Error, "refused")
}

// TestKeepAlive counts the TCP connections the server accepts: a handful
// with keep-alive, one per request without. The keep-alive bound is loose on
// purpose: net/http may dial a spare connection while another one is on its
// way back to the idle pool, so 4 workers can open a few more than 4.
func TestKeepAlive(t *testing.T) {
	tests := []struct {
		name        string
		noKeepAlive bool
		minConns    int64
		maxConns    int64
	}{
		{"keep-alive reuses connections", false, 1, 16},
		{"no keep-alive: one connection per request", true, 100, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var conns atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(BackendHeader, "b1")
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			t.Cleanup(srv.Close)
			ch, err := Run(t.Context(), Config{URL: srv.URL, Concurrency: 4, Requests: 100, NoKeepAlive: tt.noKeepAlive})
			require.NoError(t, err)
			agg := NewAggregator(time.Now(), 0, "steady")
			drain(agg, ch)
			sum := agg.Close(time.Now())
			assert.Equal(t, 100, sum.Total.Success)
			assert.GreaterOrEqual(t, conns.Load(), tt.minConns)
			assert.LessOrEqual(t, conns.Load(), tt.maxConns)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no url", Config{Rate: 1, Duration: time.Second}, "not an http(s) URL"},
		{"no model", Config{URL: "http://h/", Duration: time.Second}, "set a rate"},
		{"no end", Config{URL: "http://h/", Rate: 1}, "requests or a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(t.Context(), tt.cfg)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
