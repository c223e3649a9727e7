package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/loadtest/internal/balancer"
)

// smBackend answers the test backend's /__backend__/config with the given
// settings; nothing else is needed to refuse a lab.
func smBackend(t *testing.T, name, latency string, capacity int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"name": name, "latency": latency, "capacity": capacity})
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// smAdmin is an admin API listing the given backend addresses, all up.
type smAdmin struct {
	mu    sync.Mutex
	addrs []string
	alg   string
}

func (a *smAdmin) Status(context.Context) (balancer.Status, error) {
	st := balancer.Status{Algorithm: a.alg}
	for i, ad := range a.addrs {
		st.Backends = append(st.Backends, balancer.Backend{Name: fmt.Sprint("b", i), Address: ad, Healthy: true, State: "up"})
	}
	return st, nil
}
func (a *smAdmin) Algorithm(context.Context) (string, error) { return "round_robin", nil }
func (a *smAdmin) SetAlgorithm(_ context.Context, alg string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.alg = alg
	return nil
}
func (a *smAdmin) WaitHealthy(context.Context, int) (balancer.Status, error) {
	return balancer.Status{}, nil
}

const smYAML = `
name: sm
target: %s/
duration: 2s
algorithms: [random]
supermarket: {servers: 2, rho: [0.5], calibrate: 1s}
`

// TestSupermarketRefusesAnotherModel: backends that are not the model's
// (another capacity, another latency distribution, a count other than
// servers) are refused before any load, naming each.
func TestSupermarketRefusesAnotherModel(t *testing.T) {
	srv := target(t)
	tests := []struct {
		name  string
		addrs []string
		want  []string
	}{
		{"capacity 2", []string{smBackend(t, "b1", "exp:20ms", 1), smBackend(t, "b2", "exp:20ms", 2)},
			[]string{"backend b2", "has capacity 2: the model's servers serve one request at a time"}},
		{"fixed latency", []string{smBackend(t, "b1", "exp:20ms", 1), smBackend(t, "b2", "20ms", 1)},
			[]string{`backend b2`, `has latency "20ms": the model's service times are exponential`}},
		{"three backends", []string{smBackend(t, "b1", "exp:20ms", 1), smBackend(t, "b2", "exp:20ms", 1), smBackend(t, "b3", "exp:20ms", 1)},
			[]string{"the supermarket needs 2 healthy backends; the balancer has 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			o, err := Run(t.Context(), load(t, fmt.Sprintf(smYAML, srv.URL)), Options{Out: &out, Balancer: &smAdmin{addrs: tt.addrs}})
			require.NoError(t, err)
			res := o.Result
			assert.True(t, res.Partial)
			assert.False(t, res.Passed)
			assert.Empty(t, res.Runs, "no load was sent")
			assert.NotContains(t, out.String(), "calibration")
			for _, w := range tt.want {
				assert.Contains(t, strings.Join(res.Errors, "\n"), w)
			}
		})
	}
}
