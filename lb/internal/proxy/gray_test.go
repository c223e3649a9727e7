package proxy

import (
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/budget"
	"github.com/lblab/lblab/lb/internal/metrics"
	"github.com/lblab/lblab/lb/internal/pool"
)

func TestTryTimeoutIsRetriedAnd504(t *testing.T) {
	err := fmt.Errorf("%w (250ms): i/o timeout", ErrTryTimeout)
	assert.Equal(t, failTryTimeout, classify(err, false))
	assert.Equal(t, failTryTimeout, classify(err, true), "the balancer gave up on the try, not the client")
	assert.Equal(t, http.StatusGatewayTimeout, StatusFor(err))
}

func TestHeadTimeoutOnlyWhereTheRequestCanGoElsewhere(t *testing.T) {
	p := pool.New(pool.Options{Logger: slog.New(slog.DiscardHandler)})
	b := budget.New(0, 1, 10*time.Second) // ten retries in the window
	px, err := New(Config{Pool: p, Algorithm: "round_robin", Metrics: metrics.New(p), Retries: 2, TryTimeout: 250 * time.Millisecond, Budget: b,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	get := Plan{Idempotent: true, Replayable: true}
	tests := []struct {
		name              string
		pl                Plan
		tried, candidates int
		want              time.Duration
	}{
		{"first try of a GET", get, 0, 3, 250 * time.Millisecond},
		{"second try of a GET", get, 1, 2, 250 * time.Millisecond},
		{"last try: no retry left", get, 2, 1, 0},
		{"the only backend", get, 0, 1, 0},
		{"a POST", Plan{Replayable: true}, 0, 3, 0},
		{"a streamed body", Plan{Idempotent: true}, 0, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, px.headTimeout(tt.pl, tt.tried, tt.candidates))
		})
	}
	for range 10 {
		require.True(t, px.withdraw("retry"))
	}
	assert.False(t, px.withdraw("retry"))
	assert.Zero(t, px.headTimeout(get, 0, 3), "budget spent: the try gets request_timeout")
	assert.Equal(t, uint64(1), px.cfg.Metrics.Gray().Snapshot().BudgetRefusedRetry)
}
