package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/config"
	"github.com/lblab/lblab/lb/internal/pool"
)

// accessLine waits for the access-log line whose field key is value and
// returns it decoded.
func accessLine(t *testing.T, log *lockedBuffer, key, value string) map[string]any {
	t.Helper()
	var found map[string]any
	require.Eventually(t, func() bool {
		for _, l := range strings.Split(log.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m[key] == value {
				found = m
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond, "no access-log line with %s=%q", key, value)
	return found
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestAccessLogFields checks the access log's fields on both forwarders
// (the lean fast path and ReverseProxy), and that the request id reaches
// the backend: the client's own, or one the proxy made.
func TestAccessLogFields(t *testing.T) {
	for _, fw := range []string{"lean", "reverseproxy"} {
		t.Run(fw, func(t *testing.T) {
			var mu sync.Mutex
			got := map[string]string{} // path -> the X-Request-Id values the backend got
			be := newBackend(t, "be", func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got[r.URL.Path] = strings.Join(r.Header.Values("X-Request-Id"), ",")
				mu.Unlock()
				w.WriteHeader(http.StatusAccepted)
				w.Write([]byte("ok"))
			})
			cfg, err := config.Parse(fmt.Appendf(nil, `{"backend_servers":[{"host":"127.0.0.1","port":%d}],
				"health_check_interval": 0.2, "health_check_timeout": 0.1, "enable_logging": true, "forwarder": %q, "trusted_proxies": ["127.0.0.1/32"]}`,
				be.port(), fw))
			require.NoError(t, err)
			_, url, log := startWith(t, cfg)

			// No X-Request-Id: the proxy makes one, sends it on and logs it.
			req, _ := http.NewRequest(http.MethodGet, url+"/made%20id?x=1&y=%41", nil)
			req.Host = "example.test"
			req.Header.Set("User-Agent", "lbtest/1.0")
			req.Header.Set("X-Forwarded-For", "203.0.113.7")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusAccepted, resp.StatusCode)

			line := accessLine(t, log, "path", "/made id")
			mu.Lock()
			sent := got["/made id"]
			mu.Unlock()
			assert.Regexp(t, hexID, sent, "one id, made by the proxy, reached the backend")
			assert.Equal(t, sent, line["request_id"])
			assert.Equal(t, "x=1&y=%41", line["query"], "the raw query")
			assert.Equal(t, "example.test", line["host"])
			assert.Equal(t, "HTTP/1.1", line["proto"])
			assert.Equal(t, "lbtest/1.0", line["user_agent"])
			assert.Equal(t, "GET", line["method"])
			assert.Equal(t, "203.0.113.7", line["client_ip"], "X-Forwarded-For from a trusted proxy")
			host, _, err := net.SplitHostPort(line["client"].(string))
			require.NoError(t, err)
			assert.Equal(t, "127.0.0.1", host, "client is the TCP peer")
			assert.EqualValues(t, 202, line["status"])
			assert.EqualValues(t, 202, line["backend_status"])
			assert.Equal(t, "ok", line["termination"])
			assert.EqualValues(t, 2, line["bytes"])
			tc, tr, tt := line["connect_ms"].(float64), line["response_ms"].(float64), line["duration_ms"].(float64)
			assert.GreaterOrEqual(t, tc, 0.0, "a connection was made or reused")
			assert.GreaterOrEqual(t, tr, 0.0, "a response came")
			assert.GreaterOrEqual(t, tt, tr, "Tt covers Tr")

			// The client's X-Request-Id is kept, sent on once and logged.
			req, _ = http.NewRequest(http.MethodGet, url+"/own", nil)
			req.Header.Set("X-Request-Id", "client-id-42")
			resp, err = http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			line = accessLine(t, log, "path", "/own")
			mu.Lock()
			assert.Equal(t, "client-id-42", got["/own"])
			mu.Unlock()
			assert.Equal(t, "client-id-42", line["request_id"])
			assert.Equal(t, "", line["query"])
			assert.Equal(t, "127.0.0.1", line["client_ip"], "no X-Forwarded-For: the peer")
		})
	}
}

// TestRequestIDOnlyWithAccessLog: without the access log the proxy makes no
// request id (as HAProxy adds one only when told to): the backend gets the
// client's X-Request-Id unchanged, and none when the client sent none.
func TestRequestIDOnlyWithAccessLog(t *testing.T) {
	for _, fw := range []string{"lean", "reverseproxy"} {
		t.Run(fw, func(t *testing.T) {
			var mu sync.Mutex
			got := map[string][]string{} // path -> the X-Request-Id values the backend got
			be := newBackend(t, "be", func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got[r.URL.Path] = r.Header.Values("X-Request-Id")
				mu.Unlock()
			})
			cfg, err := config.Parse(fmt.Appendf(nil, `{"backend_servers":[{"host":"127.0.0.1","port":%d}],
				"health_check_interval": 0.2, "health_check_timeout": 0.1, "enable_logging": false, "forwarder": %q}`, be.port(), fw))
			require.NoError(t, err)
			_, url, _ := startWith(t, cfg)
			for _, tc := range []struct{ path, id string }{{"/none", ""}, {"/own", "client-id-7"}} {
				req, _ := http.NewRequest(http.MethodGet, url+tc.path, nil)
				if tc.id != "" {
					req.Header.Set("X-Request-Id", tc.id)
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)
			}
			mu.Lock()
			defer mu.Unlock()
			assert.Empty(t, got["/none"], "no id made without the access log")
			assert.Equal(t, []string{"client-id-7"}, got["/own"], "the client's id, once")
		})
	}
}

// TestAccessLogNoBackend: the proxy answers 503 itself; the backend's
// status is 0 and the termination says why.
func TestAccessLogNoBackend(t *testing.T) {
	for _, fw := range []string{"lean", "reverseproxy"} {
		t.Run(fw, func(t *testing.T) {
			be := newBackend(t, "be", nil)
			cfg, err := config.Parse(fmt.Appendf(nil, `{"backend_servers":[{"host":"127.0.0.1","port":%d}],
				"health_check_interval": 0.2, "health_check_timeout": 0.1, "enable_logging": true, "forwarder": %q}`, be.port(), fw))
			require.NoError(t, err)
			srv, url, log := startWith(t, cfg)
			for _, b := range srv.Pool.All() {
				srv.Pool.Set(b, pool.StateDisabled, "test")
			}
			resp, err := http.Get(url + "/none")
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			line := accessLine(t, log, "path", "/none")
			assert.EqualValues(t, 503, line["status"])
			assert.EqualValues(t, 0, line["backend_status"])
			assert.Equal(t, "no_backend", line["termination"])
			assert.EqualValues(t, -1, line["connect_ms"])
			assert.EqualValues(t, -1, line["response_ms"])
		})
	}
}

// TestAccessLogDurationExcludesIdle: on a keep-alive connection, a
// request's duration (and the latency histograms fed with it) starts when
// its head arrives, not when the previous response was sent: the client's
// pause between two requests is not the proxy's time.
func TestAccessLogDurationExcludesIdle(t *testing.T) {
	const pause = 400 * time.Millisecond
	for _, fw := range []string{"lean", "reverseproxy"} {
		t.Run(fw, func(t *testing.T) {
			be := newBackend(t, "be", nil)
			cfg, err := config.Parse(fmt.Appendf(nil, `{"backend_servers":[{"host":"127.0.0.1","port":%d}],
				"health_check_interval": 0.2, "health_check_timeout": 0.1, "enable_logging": true, "forwarder": %q}`, be.port(), fw))
			require.NoError(t, err)
			_, url, log := startWith(t, cfg)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			t.Cleanup(client.CloseIdleConnections)
			for i, path := range []string{"/first", "/second"} {
				if i > 0 {
					time.Sleep(pause) // the connection waits, idle
				}
				resp, err := client.Get(url + path)
				require.NoError(t, err)
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			first, second := accessLine(t, log, "path", "/first"), accessLine(t, log, "path", "/second")
			assert.Equal(t, first["client"], second["client"], "one keep-alive connection")
			assert.Less(t, second["duration_ms"].(float64), float64(pause/time.Millisecond)/2,
				"the duration counts from the request's arrival, not from the end of the previous one")
		})
	}
}
