package gray

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMaxConnsPerBackendQueues: bin/lb with "max_conns_per_backend": 2 in
// front of one backend slowed to 200 ms, whichever path carries the
// requests: the fast path, net/http (the reverseproxy forwarder, or the
// chunked uploads the fast path hands to it), or both at once. Of 4
// requests sent at once the backend never has more than 2 in flight (its
// own count, sampled), the others wait in the balancer (queued_requests in
// /__status__), and all 4 are answered 200.
func TestMaxConnsPerBackendQueues(t *testing.T) {
	get := func(url string) (*http.Response, error) { return http.Get(url) }
	chunked := func(url string) (*http.Response, error) {
		// A body of unknown length goes chunked: the fast path hands it to net/http.
		return http.Post(url, "text/plain", io.MultiReader(strings.NewReader("an upload")))
	}
	tests := []struct {
		name  string
		extra string
		send  []func(url string) (*http.Response, error)
	}{
		{"fast path", ``, []func(string) (*http.Response, error){get, get, get, get}},
		{"reverseproxy forwarder", `, "forwarder": "reverseproxy"`, []func(string) (*http.Response, error){get, get, get, get}},
		{"handed to net/http", ``, []func(string) (*http.Response, error){chunked, chunked, chunked, chunked}},
		{"both paths", ``, []func(string) (*http.Response, error){get, chunked, get, chunked}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab(t, 1, `, "max_conns_per_backend": 2`+tt.extra)
			l.configure(t, 0, `{"latency": "200ms"}`)
			maxInFlight, maxQueued, codes := l.sendSampling(t, tt.send)
			assert.Equal(t, []int{200, 200, 200, 200}, codes)
			assert.LessOrEqual(t, maxInFlight, 2, "requests in flight at the backend at once")
			assert.GreaterOrEqual(t, maxQueued, 1, "requests seen waiting in the balancer")
			q, err := l.queued()
			require.NoError(t, err)
			assert.Zero(t, q, "none waiting once all are answered")
		})
	}
}

// sendSampling sends one request with each of send at once to the
// balancer and, until all are answered, samples every 5 ms the backend's
// requests in flight and the balancer's queued requests. It returns their
// highest values and the responses' statuses, sorted.
func (l *lab) sendSampling(t *testing.T, send []func(url string) (*http.Response, error)) (maxInFlight, maxQueued int, codes []int) {
	t.Helper()
	var (
		stop    = make(chan struct{})
		sampled sync.WaitGroup
		errs    int
	)
	sampled.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			n, err := l.backendInFlight()
			q, qerr := l.queued()
			if err != nil || qerr != nil {
				errs++
				continue
			}
			maxInFlight, maxQueued = max(maxInFlight, n), max(maxQueued, q)
		}
	})
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for _, do := range send {
		wg.Go(func() {
			resp, err := do(l.lbURL + "/info")
			if !assert.NoError(t, err) {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			codes = append(codes, resp.StatusCode)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(stop)
	sampled.Wait()
	assert.Zero(t, errs, "samples that failed")
	slices.Sort(codes)
	return maxInFlight, maxQueued, codes
}

// backendInFlight returns backend 0's requests in flight, by its own count.
func (l *lab) backendInFlight() (int, error) {
	resp, err := http.Get(l.backendURL(0) + "/__backend__/stats")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var s struct {
		InFlight int `json:"in_flight"`
	}
	err = json.NewDecoder(resp.Body).Decode(&s)
	return s.InFlight, err
}

// queued returns the balancer's queued_requests from /__status__.
func (l *lab) queued() (int, error) {
	resp, err := http.Get(l.lbURL + "/__status__")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		Queued *int `json:"queued_requests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, err
	}
	if st.Queued == nil {
		return 0, io.ErrUnexpectedEOF
	}
	return *st.Queued, nil
}
