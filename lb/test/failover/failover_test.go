// Package failover tests failover with real processes on 127.0.0.1: bin/lb in
// front of three bin/backend processes under a steady constant-rate load, one
// backend killed (SIGKILL) or hung (SIGSTOP) mid-run and brought back.
package failover

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/test/testproc"
	"github.com/lblab/lblab/testkit/ports"
)

type lab struct {
	lbURL    string
	ports    [3]int
	names    [3]string
	backends [3]*exec.Cmd
}

func (l *lab) startBackend(t *testing.T, i int) {
	l.backends[i] = testproc.Backend(t, l.names[i], l.ports[i])
}

const requestTimeout = time.Second

func newLab(t *testing.T) *lab {
	l := &lab{}
	var entries []string
	for i := range 3 {
		l.ports[i] = ports.Free(t)
		l.names[i] = fmt.Sprintf("backend-%d", i+1)
		l.startBackend(t, i)
		entries = append(entries, fmt.Sprintf(`{"host":"127.0.0.1","port":%d}`, l.ports[i]))
	}
	lbPort := ports.Free(t)
	cfg := fmt.Sprintf(`{"proxy_port": %d, "proxy_host": "127.0.0.1", "algorithm": "round_robin",
	 "backend_servers": [%s, %s, %s],
	 "health_check_interval": 0.2, "health_check_timeout": 0.1, "healthy_threshold": 2, "unhealthy_threshold": 2,
	 "request_timeout": %g, "connection_timeout": 1, "retries": 2, "max_fails": 3, "fail_timeout": 5,
	 "enable_logging": false, "enable_metrics": true}`, lbPort, entries[0], entries[1], entries[2], requestTimeout.Seconds())
	l.lbURL = fmt.Sprintf("http://127.0.0.1:%d", lbPort)
	testproc.LB(t, cfg, l.lbURL)
	return l
}

type backendStatus struct {
	Address       string `json:"address"`
	State         string `json:"state"`
	TotalRequests uint64 `json:"total_requests"`
}

func (l *lab) status(t *testing.T, i int) backendStatus {
	resp, err := http.Get(l.lbURL + "/__status__")
	require.NoError(t, err)
	defer resp.Body.Close()
	var st struct{ Backends []backendStatus }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	want := fmt.Sprintf("127.0.0.1:%d", l.ports[i])
	for _, b := range st.Backends {
		if b.Address == want {
			return b
		}
	}
	t.Fatalf("backend %s not in /__status__", want)
	return backendStatus{}
}

// watchState polls /__status__ until ctx ends and returns when backend i was
// first seen in state, and its request counter then.
func (l *lab) watchState(ctx context.Context, t *testing.T, i int, state string, since time.Time) (time.Time, uint64) {
	for ctx.Err() == nil {
		if st := l.status(t, i); st.State == state {
			return time.Now(), st.TotalRequests
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("backend %d never %s after %s", i, state, since)
	return time.Time{}, 0
}

type outcome struct {
	sent    time.Time
	took    time.Duration
	code    int
	backend string
	err     error
}

// load sends rate requests per second for d (bounded: rate*d requests) and
// returns every outcome.
func load(t *testing.T, url string, rate int, d time.Duration) <-chan []outcome {
	out := make(chan []outcome, 1)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	go func() {
		n := int(float64(rate) * d.Seconds())
		results := make([]outcome, n)
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for i := range n {
			<-tick.C
			wg.Go(func() {
				o := outcome{sent: time.Now()}
				resp, err := client.Get(url + "/work")
				o.took = time.Since(o.sent)
				if err != nil {
					o.err = err
				} else {
					o.code = resp.StatusCode
					o.backend = resp.Header.Get("X-Backend")
					resp.Body.Close()
				}
				results[i] = o
			})
		}
		wg.Wait()
		out <- results
	}()
	return out
}

// timeline is what happened to backend 1 during a fault-and-restore run.
type timeline struct {
	faultAt, detectAt, restoreAt, upAt time.Time
	// Backend 1's request counter in lb at the fault, when it was marked
	// down, and just before it was restored.
	reqsAtFault, reqsAtDetect, reqsBeforeRestore uint64
}

// faultAndRestore applies fault to backend 1, waits (up to limit) until lb
// marks it down, restores it 2 s after the fault and waits until it is up.
func (l *lab) faultAndRestore(t *testing.T, limit time.Duration, fault, restore func()) timeline {
	var tl timeline
	tl.reqsAtFault = l.status(t, 1).TotalRequests
	tl.faultAt = time.Now()
	fault()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	tl.detectAt, tl.reqsAtDetect = l.watchState(ctx, t, 1, "down", tl.faultAt)
	cancel()

	time.Sleep(time.Until(tl.faultAt.Add(2 * time.Second)))
	tl.reqsBeforeRestore = l.status(t, 1).TotalRequests
	tl.restoreAt = time.Now()
	restore()
	ctx, cancel = context.WithTimeout(t.Context(), limit)
	tl.upAt, _ = l.watchState(ctx, t, 1, "up", tl.restoreAt)
	cancel()
	return tl
}

// firstServed returns when the first request sent after since and served by
// backend finished, or the zero time.
func firstServed(res []outcome, backend string, since time.Time) time.Time {
	for _, o := range res {
		if o.backend == backend && o.sent.After(since) {
			return o.sent.Add(o.took)
		}
	}
	return time.Time{}
}

func TestKillBackendUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("real-process failover test; not in -short")
	}
	l := newLab(t)
	const rate = 300
	results := load(t, l.lbURL, rate, 7*time.Second)

	time.Sleep(2 * time.Second)
	tl := l.faultAndRestore(t, 3*time.Second,
		func() {
			require.NoError(t, l.backends[1].Process.Signal(syscall.SIGKILL))
			l.backends[1].Wait()
		},
		func() { l.startBackend(t, 1) })

	res := <-results
	var failed int
	for _, o := range res {
		if o.err != nil || o.code != 200 {
			failed++
			t.Logf("failed request at %s: code %d err %v", o.sent.Sub(tl.faultAt), o.code, o.err)
		}
	}
	firstBack := firstServed(res, l.names[1], tl.restoreAt)
	t.Logf("FIGURES kill: %d requests at %d/s, failed %d, fault->marked down %s, restart->up %s, restart->first request served %s",
		len(res), rate, failed, tl.detectAt.Sub(tl.faultAt).Round(time.Millisecond), tl.upAt.Sub(tl.restoreAt).Round(time.Millisecond),
		firstBack.Sub(tl.restoreAt).Round(time.Millisecond))
	assert.Zero(t, failed, "no client request fails when a backend is killed")
	assert.Equal(t, tl.reqsAtDetect, tl.reqsBeforeRestore, "the dead backend gets no request after it is detected")
	require.False(t, firstBack.IsZero(), "the restarted backend takes traffic again")
	// healthy_threshold (2) x interval (0.2s), +10% jitter, + margin for a busy machine.
	assert.Less(t, firstBack.Sub(tl.restoreAt), 2*200*time.Millisecond+time.Second)
}

func TestHungBackendUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("real-process failover test; not in -short")
	}
	l := newLab(t)
	const rate = 300
	results := load(t, l.lbURL, rate, 7*time.Second)

	time.Sleep(2 * time.Second)
	tl := l.faultAndRestore(t, 4*time.Second,
		func() { require.NoError(t, l.backends[1].Process.Signal(syscall.SIGSTOP)) },
		func() { require.NoError(t, l.backends[1].Process.Signal(syscall.SIGCONT)) })

	res := <-results
	var failed int
	for _, o := range res {
		if o.err != nil || o.code != 200 {
			failed++
			assert.Equal(t, http.StatusGatewayTimeout, o.code, "a hung backend gives 504s, nothing else (err %v)", o.err)
			assert.Less(t, o.took, requestTimeout+time.Second, "bounded by request_timeout")
		}
	}
	firstBack := firstServed(res, l.names[1], tl.restoreAt)
	sentToHung := tl.reqsAtDetect - tl.reqsAtFault
	t.Logf("FIGURES hang: %d requests at %d/s, failed %d (all 504), sent to the hung backend before it was marked down %d, fault->marked down %s, SIGCONT->up %s, SIGCONT->first request served %s",
		len(res), rate, failed, sentToHung, tl.detectAt.Sub(tl.faultAt).Round(time.Millisecond), tl.upAt.Sub(tl.restoreAt).Round(time.Millisecond),
		firstBack.Sub(tl.restoreAt).Round(time.Millisecond))
	assert.LessOrEqual(t, uint64(failed), sentToHung+uint64(rate/10),
		"failures bounded by what was sent to the hung backend before detection (+ the status poll's slack)")
	require.False(t, firstBack.IsZero(), "the continued backend takes traffic again")
}
