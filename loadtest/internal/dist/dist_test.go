package dist

import (
	"bufio"
	"context"
	"encoding/gob"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/lblab/lblab/loadtest/internal/attack"
)

func TestSplit(t *testing.T) {
	cfg := attack.Config{URL: "http://h/", Rate: 101, Concurrency: 5, Requests: 1000, Duration: time.Second}
	rate, conc, req := 0, 0, uint64(0)
	for i := range 3 {
		p := Split(cfg, 3, i)
		assert.InDelta(t, 101.0/3, p.Rate, 1)
		assert.Equal(t, "http://h/", p.URL)
		rate, conc, req = rate+p.Rate, conc+p.Concurrency, req+p.Requests
	}
	assert.Equal(t, 101, rate, "the parts add up")
	assert.Equal(t, 5, conc)
	assert.Equal(t, uint64(1000), req)

	for _, tc := range []struct {
		name string
		cfg  attack.Config
		n    int
		want string
	}{
		{"rate below workers", attack.Config{Rate: 1, Duration: time.Second}, 2, "rate 1/s cannot be split over 2 workers"},
		{"closed model, too few", attack.Config{Concurrency: 1, Duration: time.Second}, 2, "concurrency 1 cannot be split over 2 workers"},
		{"requests below workers", attack.Config{Rate: 10, Requests: 1}, 2, "requests 1 cannot be split"},
		{"no workers", attack.Config{Rate: 10}, 0, "0 workers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.ErrorContains(t, CheckSplit(tc.cfg, tc.n), tc.want)
		})
	}
	assert.NoError(t, CheckSplit(attack.Config{Rate: 2, Duration: time.Second}, 2))
}

// target answers every request with an X-Backend header.
func target(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set(attack.BackendHeader, "b1")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// startWorkers runs n workers in this process, each with a context of its
// own (cancelling one is how a worker dies here); it returns their cancel
// functions and their errors once they ended.
func startWorkers(t *testing.T, addr string, n int) ([]context.CancelFunc, func() []error) {
	var wg sync.WaitGroup
	cancels := make([]context.CancelFunc, n)
	errs := make([]error, n)
	for i := range n {
		ctx, cancel := context.WithCancel(t.Context())
		cancels[i] = cancel
		wg.Go(func() {
			errs[i] = RunWorker(ctx, WorkerConfig{Coordinator: addr, Name: fmt.Sprintf("w%d", i+1), ConnectTimeout: 10 * time.Second})
		})
	}
	t.Cleanup(func() {
		for _, c := range cancels {
			c()
		}
		wg.Wait()
	})
	return cancels, func() []error { wg.Wait(); return errs }
}

func collect(results <-chan *vegeta.Result) []*vegeta.Result {
	var out []*vegeta.Result
	for r := range results {
		out = append(out, r)
	}
	return out
}

// Two workers share a run: the coordinator merges exactly what they sent,
// on its own clock, and a second run reuses them.
func TestCoordinatorMergesWorkers(t *testing.T) {
	srv := target(t)
	c, err := Listen(Config{Workers: 2})
	require.NoError(t, err)
	_, wait := startWorkers(t, c.Addr(), 2)
	require.NoError(t, c.Wait(t.Context(), 10*time.Second, nil))

	cfg := attack.Config{URL: srv.URL, Rate: 60, Duration: 1500 * time.Millisecond, Timeout: 2 * time.Second, Name: "run"}
	for run := range 2 {
		results, start, err := c.Attack(t.Context(), cfg)
		require.NoError(t, err)
		got := collect(results)
		ws := c.Workers()
		require.NotNil(t, ws)
		assert.Equal(t, 2, ws.Count)
		assert.Equal(t, 2, ws.Finished)
		assert.False(t, ws.Partial)
		sent := 0
		for _, w := range ws.Workers {
			assert.Equal(t, 30, w.Rate, "each has half the rate")
			assert.Equal(t, w.Sent, w.Merged, "%s: every result it sent was merged", w.Name)
			assert.Empty(t, w.Error)
			sent += w.Sent
		}
		assert.Equal(t, sent, len(got), "run %d: the merged count is the sum of the workers'", run)
		// 60/s for 1.5 s; a starved pacer sends fewer by the deadline, never more.
		assert.True(t, len(got) >= 60 && len(got) <= 91, "60/s for 1.5 s: %d results", len(got))
		for _, r := range got {
			off := r.Timestamp.Sub(start)
			require.True(t, off >= 0 && off < cfg.Duration, "result at %s, outside the run", off)
			require.Equal(t, uint16(200), r.Code)
			require.Equal(t, "b1", r.Headers.Get(attack.BackendHeader))
		}
	}
	require.NoError(t, c.Close())
	for _, err := range wait() {
		assert.NoError(t, err, "workers exit cleanly when the coordinator says goodbye")
	}
}

// A worker that dies mid-run is reported by name, its results until then
// are kept, the others go on, and the run is partial.
func TestDeadWorkerIsReportedByName(t *testing.T) {
	srv := target(t)
	c, err := Listen(Config{Workers: 2})
	require.NoError(t, err)
	defer c.Close()
	cancels, _ := startWorkers(t, c.Addr(), 2)
	require.NoError(t, c.Wait(t.Context(), 10*time.Second, nil))

	cfg := attack.Config{URL: srv.URL, Rate: 40, Duration: 3 * time.Second, Timeout: 2 * time.Second}
	results, _, err := c.Attack(t.Context(), cfg)
	require.NoError(t, err)
	var got []*vegeta.Result
	for r := range results {
		got = append(got, r)
		if len(got) == 30 { // after about 1.5 s: w2 dies
			cancels[1]()
		}
	}
	ws := c.Workers()
	require.NotNil(t, ws)
	assert.True(t, ws.Partial)
	assert.Equal(t, 1, ws.Finished)
	dead := ws.Dead()
	require.Len(t, dead, 1)
	assert.Contains(t, dead[0], "w2 (connection lost")
	merged := 0
	for _, w := range ws.Workers {
		merged += w.Merged
		if w.Name == "w1" {
			assert.True(t, w.Sent >= 40 && w.Sent <= 61, "w1 sent its share to the end (20/s for 3 s): %d", w.Sent)
		}
	}
	assert.Equal(t, merged, len(got))

	// The next run goes on with the worker that is left.
	results, _, err = c.Attack(t.Context(), attack.Config{URL: srv.URL, Rate: 20, Duration: 500 * time.Millisecond})
	require.NoError(t, err)
	collect(results)
	ws = c.Workers()
	assert.Equal(t, 1, ws.Finished)
	assert.Contains(t, strings.Join(ws.Dead(), " "), "w2 (dropped out before this run")
}

// A worker that stays connected but sends nothing counts as dead after
// Config.Silence.
func TestSilentWorkerIsDead(t *testing.T) {
	srv := target(t)
	c, err := Listen(Config{Workers: 1, Silence: 700 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	nc, err := net.Dial("tcp", c.Addr())
	require.NoError(t, err)
	defer nc.Close()
	bw := bufio.NewWriter(nc)
	require.NoError(t, gob.NewEncoder(bw).Encode(hello{Protocol: protocol, Name: "mute"}))
	require.NoError(t, bw.Flush())
	require.NoError(t, c.Wait(t.Context(), 5*time.Second, nil))

	results, _, err := c.Attack(t.Context(), attack.Config{URL: srv.URL, Rate: 10, Duration: 10 * time.Second})
	require.NoError(t, err)
	assert.Empty(t, collect(results))
	ws := c.Workers()
	require.Len(t, ws.Dead(), 1)
	assert.Contains(t, ws.Dead()[0], "mute (sent nothing for")
	_, _, err = c.Attack(t.Context(), attack.Config{URL: srv.URL, Rate: 10, Duration: time.Second})
	assert.ErrorContains(t, err, "no live workers: mute: sent nothing")
}

// Workers beyond the count, and of another protocol, are refused with a
// reason; Wait says who joined when some are missing.
func TestJoinRefusalsAndTimeout(t *testing.T) {
	c, err := Listen(Config{Workers: 2})
	require.NoError(t, err)
	defer c.Close()
	join := func(h hello) welcome {
		nc, err := net.Dial("tcp", c.Addr())
		require.NoError(t, err)
		t.Cleanup(func() { nc.Close() })
		bw := bufio.NewWriter(nc)
		require.NoError(t, gob.NewEncoder(bw).Encode(h))
		require.NoError(t, bw.Flush())
		var w welcome
		require.NoError(t, gob.NewDecoder(nc).Decode(&w))
		return w
	}
	assert.Contains(t, join(hello{Protocol: protocol + 1, Name: "new"}).Err, "use the same loadtest version")
	assert.Empty(t, join(hello{Protocol: protocol, Name: "a"}).Err)
	err = c.Wait(t.Context(), 300*time.Millisecond, nil)
	assert.ErrorContains(t, err, "1 of 2 joined within 300ms (joined: a)")
	assert.Empty(t, join(hello{Protocol: protocol, Name: "a"}).Err, "a name in use is numbered")
	assert.Contains(t, join(hello{Protocol: protocol, Name: "c"}).Err, "has its 2 workers")
	require.NoError(t, c.Wait(t.Context(), time.Second, nil))
	assert.Equal(t, "joined: a, a#2", c.joinedLine())
}

// Cancelling the run stops the workers: the channel closes soon after,
// and the workers stay for the next run.
func TestCancelStopsWorkers(t *testing.T) {
	srv := target(t)
	c, err := Listen(Config{Workers: 2})
	require.NoError(t, err)
	defer c.Close()
	startWorkers(t, c.Addr(), 2)
	require.NoError(t, c.Wait(t.Context(), 10*time.Second, nil))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	results, _, err := c.Attack(ctx, attack.Config{URL: srv.URL, Rate: 20, Duration: time.Minute})
	require.NoError(t, err)
	n := 0
	began := time.Now()
	for range results {
		if n++; n == 5 {
			cancel()
		}
	}
	assert.Less(t, time.Since(began), 20*time.Second, "stopped long before the minute")
	ws := c.Workers()
	assert.Equal(t, 2, ws.Finished, "stopped, not dead")
}
