package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testServer is a real HTTP server on 127.0.0.1; it returns host:port.
func testServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, strings.TrimPrefix(srv.URL, "http://")
}

func TestOpenConns(t *testing.T) {
	_, addr := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/bench" || r.Host == "" {
			http.Error(w, "want GET /bench with a Host", http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(`{"backend":"test"}`))
	})
	conns, failed, err := openConns(t.Context(), openConfig{Addr: addr, Host: addr, N: 40, Timeout: 5 * time.Second})
	t.Cleanup(func() { closeAll(conns) })
	require.NoError(t, err)
	assert.Zero(t, failed)
	require.Len(t, conns, 40)
	for _, c := range conns {
		assert.Nil(t, c.br, "an idle connection keeps no reader")
		assert.False(t, c.peerClosed(), "the server keeps idle keep-alive connections open")
	}

	kept, _, err := openConns(t.Context(), openConfig{Addr: addr, Host: addr, N: 2, KeepReader: true, Timeout: 5 * time.Second})
	t.Cleanup(func() { closeAll(kept) })
	require.NoError(t, err)
	require.Len(t, kept, 2)
	require.NotNil(t, kept[0].br)
	code, err := kept[0].exchange(getRequest(addr))
	require.NoError(t, err, "a second request on the same connection")
	assert.Equal(t, 200, code)
}

func TestOpenConnsFailures(t *testing.T) {
	_, refusing := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	})
	_, closing := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = w.Write([]byte("ok"))
	})
	tests := []struct {
		name, addr, err string
	}{
		{"error status", refusing, "status 503 Service Unavailable"},
		{"response closes the connection", closing, "the response closes the connection"},
		{"nothing listening", "127.0.0.1:1", "connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conns, failed, err := openConns(t.Context(), openConfig{Addr: tc.addr, Host: tc.addr, N: 5, Timeout: 5 * time.Second})
			closeAll(conns)
			assert.Empty(t, conns)
			assert.Equal(t, 5, failed)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
}

func TestPeerClosed(t *testing.T) {
	srv, addr := testServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	conns, _, err := openConns(t.Context(), openConfig{Addr: addr, Host: addr, N: 3, Timeout: 5 * time.Second})
	t.Cleanup(func() { closeAll(conns) })
	require.NoError(t, err)
	require.Len(t, conns, 3)
	for _, c := range conns {
		assert.False(t, c.peerClosed())
	}
	srv.CloseClientConnections()
	// Wait for the condition (the FINs to arrive), never a fixed sleep.
	for _, c := range conns {
		assert.Eventually(t, func() bool { return c.peerClosed() }, 10*time.Second, 5*time.Millisecond)
	}
}

func TestRunCrowd(t *testing.T) {
	_, addr := testServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	m, r, err := runCrowd(t.Context(), crowdConfig{Addr: addr, Host: addr, Conns: 8, Period: 100 * time.Millisecond,
		Duration: 500 * time.Millisecond, Proxy: newCPUMeter(nil, clockTicks()), Self: newCPUMeter(&proc{PID: os.Getpid()}, clockTicks())})
	require.NoError(t, err)
	assert.Equal(t, 8, r.Opened)
	// Each connection starts within the first period and has one slot per
	// period until the end: five each, whatever its jitter.
	assert.EqualValues(t, 40, r.Intended)
	assert.Equal(t, r.Intended, r.Sent+r.Missed, "every slot is sent or missed")
	assert.LessOrEqual(t, r.Behind, r.Intended)
	assert.Positive(t, r.Sent)
	assert.InDelta(t, 80, r.IntendedPerS, 1e-9, "8 connections, one request per 100 ms")
	assert.Equal(t, r.Sent, m.Requests)
	assert.Zero(t, m.Failed)
	assert.Nil(t, m.CPUPer100k, "no proxy process: no CPU figure")
	assert.NotNil(t, r.GenCPUPer100k, "the generator's own CPU is measured")
	assert.Equal(t, r.Achieved < crowdShortfall, r.Short)
	// One second of the window (500 ms), holding every request sent.
	require.Len(t, r.Seconds, 1)
	assert.EqualValues(t, r.Sent, r.Seconds[0].N)
	assert.Positive(t, r.Seconds[0].P99Ms)
	require.NotNil(t, r.MachineIdle, "the machine's idle share is measured")
	assert.True(t, *r.MachineIdle >= 0 && *r.MachineIdle <= 1)
	assert.Nil(t, r.BackendsCPUPer100k, "no backend processes: no figure")
}
