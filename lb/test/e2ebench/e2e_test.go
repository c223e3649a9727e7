// Package e2ebench measures requests/s and latency through the real bin/lb
// against three real bin/backend processes, beside the same load sent
// directly to one backend, in one run: `make bench`.
package e2ebench

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lblab/lblab/lb/internal/metrics"
	"github.com/lblab/lblab/lb/test/testproc"
	"github.com/lblab/lblab/testkit/ports"
)

const concurrency = 64

// BenchmarkLoopback runs closed-model load (64 keep-alive connections) against
// each target in turn. Run it with -count 3 to alternate the targets; compare
// the req/s and p99-ms columns of "direct" and "lb" from the same run.
func BenchmarkLoopback(b *testing.B) {
	var backendPorts [3]int
	var entries string
	for i := range backendPorts {
		backendPorts[i] = ports.Free(b)
		testproc.Backend(b, fmt.Sprintf("backend-%d", i+1), backendPorts[i])
		if i > 0 {
			entries += ","
		}
		entries += fmt.Sprintf(`{"host":"127.0.0.1","port":%d}`, backendPorts[i])
	}
	lbPort := ports.Free(b)
	lbURL := fmt.Sprintf("http://127.0.0.1:%d", lbPort)
	testproc.LB(b, fmt.Sprintf(`{"proxy_port": %d, "proxy_host": "127.0.0.1", "backend_servers": [%s],
		"health_check_interval": 5, "health_check_timeout": 1, "enable_logging": false}`, lbPort, entries), lbURL)

	targets := []struct{ name, url string }{
		{"direct", fmt.Sprintf("http://127.0.0.1:%d/bench", backendPorts[0])},
		{"lb", lbURL + "/bench"},
	}
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) { attack(b, tg.url) })
	}
}

func attack(b *testing.B, url string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, DisableCompression: true}}
	defer client.CloseIdleConnections()
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "latency", Buckets: prometheus.ExponentialBuckets(20e-6, 1.1, 160)})
	var failed sync.Map
	work := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for range work {
				t0 := time.Now()
				resp, err := client.Get(url)
				if err != nil {
					failed.Store(err.Error(), true)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Store(resp.Status, true)
				}
				hist.Observe(time.Since(t0).Seconds())
			}
		})
	}
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	failed.Range(func(k, _ any) bool { b.Errorf("failed request: %v", k); return false })
	var m dto.Metric
	hist.Write(&m)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(metrics.Quantile(0.50, m.GetHistogram())*1e3, "p50-ms")
	b.ReportMetric(metrics.Quantile(0.99, m.GetHistogram())*1e3, "p99-ms")
}
