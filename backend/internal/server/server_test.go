package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/backend/internal/settings"
)

func TestInfo(t *testing.T) {
	b := start(t, Config{Name: "backend-1", Now: func() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }})
	tests := []struct {
		name   string
		method string
		path   string
		body   []byte
	}{
		{name: "root", method: http.MethodGet, path: "/"},
		{name: "nested path with query", method: http.MethodGet, path: "/api/users/7?x=1"},
		{name: "seed info path", method: http.MethodGet, path: "/info"},
		{name: "post elsewhere", method: http.MethodPost, path: "/submit", body: []byte("ignored")},
		{name: "delete", method: http.MethodDelete, path: "/thing"},
		{name: "get echo", method: http.MethodGet, path: "/echo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := b.do(t, tt.method, tt.path, tt.body)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "backend-1", resp.Header.Get("X-Backend"))
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var got map[string]any
			require.NoError(t, json.Unmarshal(data, &got))
			path, _, _ := strings.Cut(tt.path, "?")
			assert.Equal(t, map[string]any{
				"backend":     "backend-1",
				"path":        path,
				"method":      tt.method,
				"host":        b.Addr,
				"remote_addr": got["remote_addr"],
				"time":        "2030-01-02T03:04:05.000000000Z",
			}, got)
			assert.True(t, strings.HasPrefix(got["remote_addr"].(string), "127.0.0.1:"))
		})
	}
	t.Run("head has no body", func(t *testing.T) {
		resp, data := b.do(t, http.MethodHead, "/", nil)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "backend-1", resp.Header.Get("X-Backend"))
		assert.Empty(t, data)
	})
}

// Every answer, errors included, names the backend.
func TestXBackendOnEveryResponse(t *testing.T) {
	b := start(t, Config{Name: "named", Settings: withSettings(func(s *settings.Settings) { s.Healthy = false }), MaxBodyBytes: 8})
	tests := []struct {
		name   string
		method string
		path   string
		body   []byte
		status int
	}{
		{name: "status endpoint", method: http.MethodGet, path: "/status/503", status: 503},
		{name: "bad status code", method: http.MethodGet, path: "/status/abc", status: 400},
		{name: "failing health", method: http.MethodGet, path: "/health", status: 503},
		{name: "unknown control endpoint", method: http.MethodGet, path: "/__backend__/nope", status: 404},
		{name: "wrong method on control", method: http.MethodPost, path: "/__backend__/stats", status: 405},
		{name: "bad config", method: http.MethodPut, path: "/__backend__/config", body: []byte(`{"error_rate":9}`), status: 400},
		{name: "body too large", method: http.MethodPost, path: "/echo", body: []byte("0123456789"), status: 413},
		{name: "bad sleep", method: http.MethodGet, path: "/sleep?d=x", status: 400},
		{name: "websocket without upgrade", method: http.MethodGet, path: "/ws", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := b.do(t, tt.method, tt.path, tt.body)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, "named", resp.Header.Get("X-Backend"))
		})
	}
}

func TestHealthFlip(t *testing.T) {
	b := start(t, Config{})
	steps := []struct {
		name       string
		method     string
		path       string
		body       string
		wantCode   int
		wantStatus string
	}{
		{name: "starts healthy", wantCode: 200, wantStatus: "ok"},
		{name: "fail shortcut", method: http.MethodPost, path: "/__backend__/health/fail", wantCode: 503, wantStatus: "failing"},
		{name: "ok shortcut", method: http.MethodPost, path: "/__backend__/health/ok", wantCode: 200, wantStatus: "ok"},
		{name: "config false", method: http.MethodPut, path: "/__backend__/config", body: `{"healthy":false}`, wantCode: 503, wantStatus: "failing"},
		{name: "config true via PATCH", method: http.MethodPatch, path: "/__backend__/config", body: `{"healthy":true}`, wantCode: 200, wantStatus: "ok"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.path != "" {
				resp, _ := b.do(t, st.method, st.path, []byte(st.body))
				require.Equal(t, http.StatusOK, resp.StatusCode)
			}
			code, body := b.getJSON(t, "/health")
			assert.Equal(t, st.wantCode, code)
			assert.Equal(t, map[string]any{"status": st.wantStatus}, body)
			_, cfg := b.getJSON(t, "/__backend__/config")
			assert.Equal(t, st.wantCode == 200, cfg["healthy"])
		})
	}
}

func TestConfigEndpoint(t *testing.T) {
	b := start(t, Config{Name: "cfg"})
	code, got := b.getJSON(t, "/__backend__/config")
	require.Equal(t, 200, code)
	assert.Equal(t, map[string]any{
		"name": "cfg", "latency": "0s", "error_rate": 0.0, "error_status": 500.0, "response_size": 0.0,
		"capacity": 0.0, "overflow": "queue", "healthy": true,
	}, got)

	tests := []struct {
		name       string
		patch      string
		wantCode   int
		want       map[string]any // fields expected in the answer
		wantFields []any
	}{
		{name: "latency fixed", patch: `{"latency":"50ms"}`, wantCode: 200, want: map[string]any{"latency": "50ms"}},
		{name: "latency dist and rate", patch: `{"latency":"normal:20ms,5ms","error_rate":0.1}`, wantCode: 200,
			want: map[string]any{"latency": "normal:20ms,5ms", "error_rate": 0.1}},
		{name: "size string", patch: `{"response_size":"2KiB","capacity":3,"overflow":"reject"}`, wantCode: 200,
			want: map[string]any{"response_size": 2048.0, "capacity": 3.0, "overflow": "reject"}},
		{name: "bad rate", patch: `{"error_rate":1.5}`, wantCode: 400, wantFields: []any{"error_rate"}},
		{name: "bad latency", patch: `{"latency":"fast"}`, wantCode: 400, wantFields: []any{"latency"}},
		{name: "unknown field", patch: `{"name":"x"}`, wantCode: 400, wantFields: []any{"name"}},
		{name: "two bad fields", patch: `{"capacity":-1,"overflow":"drop"}`, wantCode: 400, wantFields: []any{"capacity", "overflow"}},
		{name: "not json", patch: `latency=1`, wantCode: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := b.Settings()
			code, got := b.putConfig(t, tt.patch)
			assert.Equal(t, tt.wantCode, code, "answer %v", got)
			if tt.wantCode != 200 {
				assert.Equal(t, before, b.Settings(), "a rejected patch changes nothing")
				assert.NotEmpty(t, got["error"])
				for _, f := range tt.wantFields {
					assert.Contains(t, got["error"], f.(string))
				}
				if tt.wantFields != nil {
					assert.Equal(t, tt.wantFields, got["fields"])
				}
				return
			}
			for k, v := range tt.want {
				assert.Equal(t, v, got[k], k)
			}
			_, again := b.getJSON(t, "/__backend__/config")
			assert.Equal(t, got, again)
		})
	}
}

func TestErrorRateExactCounts(t *testing.T) {
	tests := []struct {
		name   string
		rate   float64
		status int
		want   int // errors out of 100
	}{
		{name: "none", rate: 0, status: 500, want: 0},
		{name: "five percent", rate: 0.05, status: 500, want: 5},
		{name: "half as 503", rate: 0.5, status: 503, want: 50},
		{name: "all", rate: 1, status: 502, want: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := start(t, Config{Rand: &stepRand{n: 100}, Settings: withSettings(func(s *settings.Settings) {
				s.ErrorRate, s.ErrorStatus = tt.rate, tt.status
			})})
			// Concurrent is fine: any 100 draws of stepRand hold exactly rate*100 values below rate.
			var mu sync.Mutex
			codes := map[int]int{}
			var wg sync.WaitGroup
			for range 10 {
				wg.Go(func() {
					for range 10 {
						resp, data := b.do(t, http.MethodGet, "/work", nil)
						assert.Equal(t, "test-backend", resp.Header.Get("X-Backend"))
						if resp.StatusCode != 200 {
							assert.Contains(t, string(data), `"error":"injected error"`)
						}
						mu.Lock()
						codes[resp.StatusCode]++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			assert.Equal(t, tt.want, codes[tt.status], "codes %v", codes)
			assert.Equal(t, 100-tt.want, codes[200], "codes %v", codes)
			st := b.Stats()
			assert.Equal(t, int64(tt.want), st.Injected)
			assert.Equal(t, int64(100), st.Requests)
		})
	}
}

func TestLatencyApplied(t *testing.T) {
	tests := []struct {
		name    string
		latency string
		rnd     *stepRand
		want    time.Duration
	}{
		{name: "fixed", latency: "60ms", want: 60 * time.Millisecond},
		{name: "normal at +2 sd", latency: "normal:40ms,10ms", rnd: &stepRand{n: 1, norm: 2}, want: 60 * time.Millisecond},
		{name: "exp at 3x mean", latency: "exp:20ms", rnd: &stepRand{n: 1, exp: 3}, want: 60 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := settings.ParseLatency(tt.latency)
			require.NoError(t, err)
			cfg := Config{Settings: withSettings(func(s *settings.Settings) { s.Latency = l })}
			if tt.rnd != nil {
				cfg.Rand = tt.rnd
			}
			b := start(t, cfg)
			t0 := time.Now()
			resp, _ := b.do(t, http.MethodGet, "/", nil)
			elapsed := time.Since(t0)
			assert.Equal(t, 200, resp.StatusCode)
			assert.GreaterOrEqual(t, elapsed, tt.want)
			assert.Less(t, elapsed, tt.want+time.Second)

			// Control and health endpoints are not delayed.
			t0 = time.Now()
			resp, _ = b.do(t, http.MethodGet, "/health", nil)
			assert.Equal(t, 200, resp.StatusCode)
			assert.Less(t, time.Since(t0), tt.want)
		})
	}
	t.Run("changed at run time", func(t *testing.T) {
		b := start(t, Config{})
		code, _ := b.putConfig(t, `{"latency":"uniform:50ms,70ms"}`) // stepRand n=100 gives Float64 0 first: 50ms
		require.Equal(t, 200, code)
		t0 := time.Now()
		b.do(t, http.MethodGet, "/", nil)
		assert.GreaterOrEqual(t, time.Since(t0), 50*time.Millisecond)
	})
}

func TestCapacity(t *testing.T) {
	const hold = 300 * time.Millisecond
	t.Run("reject beyond capacity", func(t *testing.T) {
		b := start(t, Config{Settings: withSettings(func(s *settings.Settings) {
			s.Capacity, s.Overflow = 2, settings.OverflowReject
			s.Latency = settings.Latency{Kind: settings.LatencyFixed, A: hold}
		})})
		codes := fire(t, b, 6, "/")
		assert.Equal(t, map[int]int{200: 2, 503: 4}, codes)
		st := b.Stats()
		assert.Equal(t, int64(4), st.Rejected)
		assert.Equal(t, map[string]int64{"200": 2, "503": 4}, st.StatusCodes)
	})
	t.Run("queue beyond capacity", func(t *testing.T) {
		b := start(t, Config{Settings: withSettings(func(s *settings.Settings) {
			s.Capacity, s.Overflow = 2, settings.OverflowQueue
			s.Latency = settings.Latency{Kind: settings.LatencyFixed, A: 100 * time.Millisecond}
		})})
		sawQueue := make(chan [2]int, 1)
		go func() {
			for range 200 {
				if st := b.Stats(); st.Queued == 4 {
					sawQueue <- [2]int{st.InFlight, st.Queued}
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
			sawQueue <- [2]int{-1, -1}
		}()
		t0 := time.Now()
		codes := fire(t, b, 6, "/")
		assert.Equal(t, map[int]int{200: 6}, codes)
		assert.GreaterOrEqual(t, time.Since(t0), 300*time.Millisecond, "three waves of two")
		assert.Equal(t, [2]int{2, 4}, <-sawQueue, "in flight and queued at the peak")
		st := b.Stats()
		assert.Zero(t, st.Rejected)
		assert.Zero(t, st.InFlight)
		assert.Zero(t, st.Queued)
	})
	t.Run("raising capacity admits the queue", func(t *testing.T) {
		b := start(t, Config{Settings: withSettings(func(s *settings.Settings) { s.Capacity = 1 })})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		holder := make(chan struct{})
		go func() {
			defer close(holder)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.URL+"/sleep?d=20s", nil)
			if resp, err := b.client.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		waitFor(t, "holder admitted", func() bool { return b.Stats().InFlight == 1 })
		queued := make(chan int, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.URL+"/", nil)
			resp, err := b.client.Do(req)
			if err != nil {
				queued <- 0
				return
			}
			resp.Body.Close()
			queued <- resp.StatusCode
		}()
		waitFor(t, "second request queued", func() bool { return b.Stats().Queued == 1 })
		code, _ := b.putConfig(t, `{"capacity":0}`)
		require.Equal(t, 200, code)
		select {
		case c := <-queued:
			assert.Equal(t, 200, c)
		case <-time.After(2 * time.Second):
			t.Fatal("queued request not admitted after capacity was removed")
		}
		cancel() // the holder's client gives up; its slot is freed
		<-holder
		waitFor(t, "holder released", func() bool { return b.Stats().InFlight == 0 })
	})
}

// fire sends n concurrent GETs to path and counts the status codes.
func fire(t *testing.T, b *testBackend, n int, path string) map[int]int {
	t.Helper()
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, _ := b.do(t, http.MethodGet, path, nil)
			assert.Equal(t, "test-backend", resp.Header.Get("X-Backend"))
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return codes
}

func TestEchoByteExact(t *testing.T) {
	b := start(t, Config{})
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := make([]byte, 3<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	tests := []struct {
		name   string
		method string
		ctype  string
		body   []byte
	}{
		{name: "empty post", method: http.MethodPost, body: []byte{}},
		{name: "text", method: http.MethodPost, ctype: "text/plain; charset=utf-8", body: []byte("hello, wörld\r\n")},
		{name: "every byte value", method: http.MethodPut, ctype: "application/octet-stream", body: all},
		{name: "json", method: http.MethodPatch, ctype: "application/json", body: []byte(`{"a":[1,2,3]}`)},
		{name: "3 MiB random", method: http.MethodPost, body: big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, b.URL+"/echo", bytes.NewReader(tt.body))
			require.NoError(t, err)
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := b.client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var got bytes.Buffer
			_, err = got.ReadFrom(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "test-backend", resp.Header.Get("X-Backend"))
			assert.True(t, bytes.Equal(tt.body, got.Bytes()), "body differs: sent %d bytes, got %d", len(tt.body), got.Len())
			want := tt.ctype
			if want == "" {
				want = "application/octet-stream"
			}
			assert.Equal(t, want, resp.Header.Get("Content-Type"))
			assert.Equal(t, strconv.Itoa(len(tt.body)), resp.Header.Get("Content-Length"))
		})
	}
}

func TestStream(t *testing.T) {
	b := start(t, Config{Name: "streamer"})
	t.Run("chunks arrive flushed and spaced", func(t *testing.T) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, b.URL+"/stream?chunks=5&interval=40ms", nil)
		require.NoError(t, err)
		t0 := time.Now()
		resp, err := b.client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, "streamer", resp.Header.Get("X-Backend"))
		assert.Equal(t, "application/x-ndjson", resp.Header.Get("Content-Type"))
		sc := bufio.NewScanner(resp.Body)
		var arrivals []time.Duration
		var sent []time.Time
		for i := 1; sc.Scan(); i++ {
			arrivals = append(arrivals, time.Since(t0))
			var c streamChunk
			require.NoError(t, json.Unmarshal(sc.Bytes(), &c))
			assert.Equal(t, streamChunk{Backend: "streamer", Chunk: i, Of: 5, Time: c.Time}, c)
			ts, err := time.Parse(time.RFC3339Nano, c.Time)
			require.NoError(t, err)
			sent = append(sent, ts)
		}
		require.NoError(t, sc.Err())
		require.Len(t, arrivals, 5)
		for i := 1; i < len(sent); i++ {
			assert.GreaterOrEqual(t, sent[i].Sub(sent[i-1]), 40*time.Millisecond, "chunk %d sent too early", i+1)
		}
		// Each chunk is flushed as it is written: the first arrives long before the last.
		assert.Less(t, arrivals[0], arrivals[4]-80*time.Millisecond)
	})
	tests := []struct {
		query string
		code  int
		lines int
	}{
		{query: "chunks=3&interval=0", code: 200, lines: 3},
		{query: "chunks=0", code: 200, lines: 0},
		{query: "", code: 200, lines: 10},
		{query: "chunks=-1", code: 400},
		{query: "chunks=many", code: 400},
		{query: "interval=soon", code: 400},
		{query: "interval=2m", code: 400},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, data := b.do(t, http.MethodGet, "/stream?"+tt.query, nil)
			assert.Equal(t, tt.code, resp.StatusCode, "%s", data)
			if tt.code == 200 {
				assert.Equal(t, tt.lines, bytes.Count(data, []byte("\n")))
			} else {
				assert.Contains(t, string(data), `"error":"`)
			}
		})
	}
}

func TestWebSocketEcho(t *testing.T) {
	b := start(t, Config{Name: "ws-backend"})
	conn, resp, err := websocket.DefaultDialer.DialContext(t.Context(), "ws://"+b.Addr+"/ws", nil)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	assert.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	assert.Equal(t, "ws-backend", resp.Header.Get("X-Backend"))

	tests := []struct {
		name string
		typ  int
		data []byte
	}{
		{name: "text", typ: websocket.TextMessage, data: []byte("hello")},
		{name: "binary", typ: websocket.BinaryMessage, data: []byte{0, 1, 2, 255}},
		{name: "empty text", typ: websocket.TextMessage, data: []byte{}},
		{name: "large binary", typ: websocket.BinaryMessage, data: bytes.Repeat([]byte("abc"), 100_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, conn.SetWriteDeadline(time.Now().Add(5*time.Second)))
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
			require.NoError(t, conn.WriteMessage(tt.typ, tt.data))
			typ, got, err := conn.ReadMessage()
			require.NoError(t, err)
			assert.Equal(t, tt.typ, typ)
			assert.True(t, bytes.Equal(tt.data, got))
		})
	}
	assert.Equal(t, int64(1), b.Stats().WebSockets)

	t.Run("shutdown closes the session", func(t *testing.T) {
		require.NoError(t, b.stop())
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, _, err := conn.ReadMessage()
		assert.True(t, websocket.IsCloseError(err, websocket.CloseGoingAway), "got %v", err)
	})
}

func TestResponseSize(t *testing.T) {
	b := start(t, Config{})
	_, natural := b.do(t, http.MethodGet, "/", nil)
	n := len(natural)
	tests := []struct {
		name string
		size int
		want int
	}{
		{name: "zero is natural", size: 0, want: n},
		{name: "smaller than natural", size: 10, want: n},
		{name: "exactly natural", size: n, want: n},
		{name: "gap too small for field", size: n + 5, want: n + 5},
		{name: "exactly room for empty field", size: n + 13, want: n + 13},
		{name: "one kilobyte", size: 1000, want: 1000},
		{name: "64KiB", size: 64 << 10, want: 64 << 10},
		{name: "1MiB", size: 1 << 20, want: 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _ := b.putConfig(t, `{"response_size":`+strconv.Itoa(tt.size)+`}`)
			require.Equal(t, 200, code)
			resp, data := b.do(t, http.MethodGet, "/", nil)
			assert.Equal(t, 200, resp.StatusCode)
			assert.Len(t, data, tt.want)
			assert.Equal(t, strconv.Itoa(tt.want), resp.Header.Get("Content-Length"))
			var got map[string]any
			require.NoError(t, json.Unmarshal(data, &got), "still valid JSON")
			assert.Equal(t, "test-backend", got["backend"])
			assert.Equal(t, byte('\n'), data[len(data)-1])
		})
	}
	t.Run("status endpoint is padded too", func(t *testing.T) {
		resp, data := b.do(t, http.MethodGet, "/status/201", nil)
		assert.Equal(t, 201, resp.StatusCode)
		assert.Len(t, data, 1<<20)
	})
}

func TestStatusAndSleep(t *testing.T) {
	b := start(t, Config{})
	tests := []struct {
		path    string
		code    int
		minTime time.Duration
		empty   bool
	}{
		{path: "/status/200", code: 200},
		{path: "/status/418", code: 418},
		{path: "/status/503", code: 503},
		{path: "/status/204", code: 204, empty: true},
		{path: "/status/99", code: 400},
		{path: "/status/600", code: 400},
		{path: "/sleep?d=80ms", code: 200, minTime: 80 * time.Millisecond},
		{path: "/sleep?d=0", code: 200},
		{path: "/sleep", code: 400},
		{path: "/sleep?d=-1s", code: 400},
		{path: "/sleep?d=11m", code: 400},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t0 := time.Now()
			resp, data := b.do(t, http.MethodGet, tt.path, nil)
			assert.Equal(t, tt.code, resp.StatusCode, "%s", data)
			assert.GreaterOrEqual(t, time.Since(t0), tt.minTime)
			assert.Equal(t, tt.empty, len(data) == 0)
			if tt.code == 400 {
				assert.Contains(t, string(data), `"error":"`)
			}
		})
	}
}

func TestStats(t *testing.T) {
	b := start(t, Config{})
	for _, p := range []string{"/", "/a", "/status/404", "/health", "/health", "/__backend__/config"} {
		b.do(t, http.MethodGet, p, nil)
	}
	code, st := b.getJSON(t, "/__backend__/stats")
	require.Equal(t, 200, code)
	assert.Equal(t, 3.0, st["requests_total"])
	assert.Equal(t, 2.0, st["health_checks_total"])
	assert.Equal(t, 0.0, st["in_flight"])
	assert.Equal(t, 0.0, st["rejected_total"])
	assert.Equal(t, map[string]any{"200": 2.0, "404": 1.0}, st["status_codes"])

	resp, _ := b.do(t, http.MethodPost, "/__backend__/stats/reset", nil)
	require.Equal(t, 200, resp.StatusCode)
	_, st = b.getJSON(t, "/__backend__/stats")
	assert.Equal(t, 0.0, st["requests_total"])
	assert.Equal(t, map[string]any{}, st["status_codes"])
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	b := start(t, Config{})
	result := make(chan int, 1)
	go func() {
		resp, err := b.client.Get(b.URL + "/sleep?d=300ms")
		if err != nil {
			result <- 0
			return
		}
		resp.Body.Close()
		result <- resp.StatusCode
	}()
	waitFor(t, "request in flight", func() bool { return b.Stats().InFlight == 1 })
	require.NoError(t, b.stop())
	assert.Equal(t, 200, <-result)
}

func TestNewRejectsBadSettings(t *testing.T) {
	_, err := New(Config{Name: "x", Settings: withSettings(func(s *settings.Settings) { s.ErrorRate = 2 })})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "error_rate")
	_, err = New(Config{})
	assert.Error(t, err)
}
