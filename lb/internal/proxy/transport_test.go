package proxy

import (
	"context"
	"io"
	"log/slog"
	"math"
	"net"
	"testing"
	"time"

	"github.com/lblab/lblab/lb/internal/metrics"
	"github.com/lblab/lblab/lb/internal/pool"
	"github.com/lblab/lblab/lb/internal/upstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNewTransportIdlePool: the pool's MaxIdle as the Transport reads it:
// 0 keeps none (the Transport's own 0 would keep 2), a negative number
// keeps them all.
func TestNewTransportIdlePool(t *testing.T) {
	for _, tc := range []struct{ maxIdle, perHost int }{
		{0, -1},
		{-1, math.MaxInt},
		{5, 5},
	} {
		tr := NewTransport(upstream.Config{DialTimeout: time.Second, MaxIdle: tc.maxIdle})
		assert.Equal(t, tc.perHost, tr.MaxIdleConnsPerHost, "MaxIdle %d", tc.maxIdle)
	}
}

// TestUpstreamPoolsReclaimTogether: the fast front end's pools shed their
// idle connections together when a dial finds no descriptor: the hook each
// pool gets closes the older half of every pool's idle connections.
func TestUpstreamPoolsReclaimTogether(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c)
		}
	}()
	bs := []*pool.Backend{pool.NewBackend("a", ln.Addr().String(), 1), pool.NewBackend("b", ln.Addr().String(), 1)}
	pl := pool.New(pool.Options{Logger: slog.New(slog.DiscardHandler)}, bs...)
	px, err := New(Config{Pool: pl, Algorithm: "round_robin", Metrics: metrics.New(pl), Logger: slog.New(slog.DiscardHandler),
		Conn: upstream.Config{DialTimeout: time.Second, MaxIdle: -1}})
	require.NoError(t, err)
	t.Cleanup(px.CloseIdleConnections)
	for i, n := range []int{4, 3} {
		up := px.Upstream(bs[i])
		conns := make([]*upstream.Conn, n)
		for j := range conns {
			conns[j], _, err = up.Get(context.Background(), time.Now())
			require.NoError(t, err)
		}
		for _, c := range conns {
			up.Put(c, time.Now())
		}
	}
	require.Equal(t, 7, px.IdleUpstream())
	require.NotNil(t, px.Upstream(bs[0]).Reclaim)
	assert.Equal(t, 4, px.Upstream(bs[1]).Reclaim(), "2 of a's 4, 2 of b's 3")
	assert.Equal(t, 3, px.IdleUpstream())
}
