package gray

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMaxConnsPerBackendQueues: bin/lb with "max_conns_per_backend": 2 in
// front of one backend slowed to 200 ms. Of 4 requests sent at once the
// backend never has more than 2 in flight (its own count, sampled), the
// others wait in the balancer (queued_requests in /__status__), and all 4
// are answered 200.
func TestMaxConnsPerBackendQueues(t *testing.T) {
	l := newLab(t, 1, `, "max_conns_per_backend": 2`)
	l.configure(t, 0, `{"latency": "200ms"}`)

	var (
		stop                     = make(chan struct{})
		sampled                  sync.WaitGroup
		maxInFlight, maxQueued   int
		inFlightErrs, statusErrs int
	)
	sampled.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if n, err := l.backendInFlight(); err != nil {
				inFlightErrs++
			} else {
				maxInFlight = max(maxInFlight, n)
			}
			if n, err := l.queued(); err != nil {
				statusErrs++
			} else {
				maxQueued = max(maxQueued, n)
			}
		}
	})

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes []int
	)
	for range 4 {
		wg.Go(func() {
			resp, err := http.Get(l.lbURL + "/info")
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

	assert.Equal(t, []int{200, 200, 200, 200}, codes)
	assert.Zero(t, inFlightErrs+statusErrs, "samples that failed")
	assert.LessOrEqual(t, maxInFlight, 2, "requests in flight at the backend at once")
	assert.GreaterOrEqual(t, maxQueued, 1, "requests seen waiting in the balancer")
	q, err := l.queued()
	require.NoError(t, err)
	assert.Zero(t, q, "none waiting once all are answered")
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
