package runner

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/loadtest/internal/balancer"
)

// grayAdmin is fakeAdmin with gray-failure counters: one hedge per
// request the fake lab's balancer has served.
type grayAdmin struct {
	fakeAdmin
	served *atomic.Int64
}

func (a *grayAdmin) Status(ctx context.Context) (balancer.Status, error) {
	st, err := a.fakeAdmin.Status(ctx)
	st.Gray = &struct {
		Counts map[string]float64 `json:"counts"`
	}{Counts: map[string]float64{"hedges": float64(a.served.Load())}}
	return st, err
}

const grayWarmYAML = `
name: gray-warm
description: hedges counted after the warm-up, as the requests
target: %s/info
rate: 100
duration: 3s
warmup: 1s
`

// The extra requests (hedges, retries) are counted over the same window as
// the requests they are a share of: after the warm-up. Counted from the
// start, 1 s of warm-up's hedges were set against 2 s of requests.
func TestGrayCountsStartAfterWarmup(t *testing.T) {
	fl := newFakeLab(3)
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served.Add(1)
		w.Header().Set("X-Backend", fl.cs[0].Hostname)
		_, _ = fmt.Fprint(w, `{}`)
	}))
	t.Cleanup(srv.Close)
	s := load(t, fmt.Sprintf(grayWarmYAML, srv.URL))
	var out bytes.Buffer
	o, err := Run(t.Context(), s, Options{Out: &out, Lab: fl, Balancer: &grayAdmin{fakeAdmin{lab: fl}, &served},
		Versions: map[string]string{"loadtest": "test"}})
	require.NoError(t, err)
	run := o.Result.Runs[0]
	require.NotNil(t, run.Gray)
	counted := float64(run.Total.Requests)
	t.Logf("requests after warm-up %v, hedges counted %v, served in all %d", counted, run.Gray["hedges"], served.Load())
	assert.InDelta(t, counted, run.Gray["hedges"], 0.2*counted, "one hedge per request, over the same window")
}
