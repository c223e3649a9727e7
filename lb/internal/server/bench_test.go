package server

import (
	"io"
	"net/http"
	"sync"
	"testing"
)

// BenchmarkProxyInProcess sends requests through the whole HTTP path (server,
// proxy, balancer, metrics) to a local backend, 64 at a time, so that
// `go test -cpuprofile` / `-memprofile` show where the proxy spends its time.
func BenchmarkProxyInProcess(b *testing.B) {
	backend := newBackend(b, "a", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	_, url, _ := startLB(b, `, "enable_logging": false`, backend)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	work := make(chan struct{})
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range work {
				resp, err := client.Get(url + "/x")
				if err != nil {
					b.Error(err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
}
