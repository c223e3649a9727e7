package balancer

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeAdmin mimics the admin API of bin/lb.
func fakeAdmin(t *testing.T, token string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var mu sync.Mutex
	alg := "round_robin"
	var healthyAfter atomic.Int32
	mux := http.NewServeMux()
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"error":"missing or wrong bearer token"}`))
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /api/algorithm", auth(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]string{"algorithm": alg})
	}))
	mux.HandleFunc("PUT /api/algorithm", auth(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Algorithm string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		if in.Algorithm == "bogus" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"algorithm: unknown algorithm \"bogus\""}`))
			return
		}
		mu.Lock()
		alg = in.Algorithm
		mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]string{"algorithm": in.Algorithm})
	}))
	var calls atomic.Int32
	mux.HandleFunc("GET /__status__", func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		healthy := n > healthyAfter.Load()
		st := map[string]any{"algorithm": alg, "backends": []map[string]any{
			{"name": "a", "address": "10.0.0.1:8000", "healthy": true, "state": "up"},
			{"name": "b", "address": "10.0.0.2:8000", "healthy": healthy, "state": map[bool]string{true: "up", false: "down"}[healthy]},
		}}
		_ = json.NewEncoder(w).Encode(st)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &healthyAfter
}

func TestClient(t *testing.T) {
	srv, healthyAfter := fakeAdmin(t, "s3cret")
	c := &Client{Admin: srv.URL, Token: "s3cret"}
	ctx := t.Context()

	alg, err := c.Algorithm(ctx)
	require.NoError(t, err)
	assert.Equal(t, "round_robin", alg)

	require.NoError(t, c.SetAlgorithm(ctx, "least_latency"))
	alg, err = c.Algorithm(ctx)
	require.NoError(t, err)
	assert.Equal(t, "least_latency", alg)

	err = c.SetAlgorithm(ctx, "bogus")
	require.ErrorContains(t, err, `unknown algorithm "bogus"`)

	_, err = (&Client{Admin: srv.URL}).Algorithm(ctx)
	require.ErrorContains(t, err, "401")

	healthyAfter.Store(2)
	st, err := c.WaitHealthy(ctx, 2)
	require.NoError(t, err)
	assert.Equal(t, 2, st.Healthy())

	healthyAfter.Store(1 << 30)
	wctx, cancel := context.WithTimeout(ctx, 600*time.Millisecond)
	defer cancel()
	_, err = c.WaitHealthy(wctx, 2)
	require.ErrorContains(t, err, "1 of 2 healthy")

	_, err = (&Client{Admin: "http://127.0.0.1:1"}).Status(ctx)
	require.ErrorContains(t, err, "not reachable")
}
