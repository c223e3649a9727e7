package l4_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/test/testproc"
	"github.com/lblab/lblab/testkit/ports"
)

// TestBinaryTCPMode runs the real bin/lb with "mode": "tcp" in front of two
// raw TCP backends (which would fail an HTTP health check: the checks must be
// TCP connects) and uses the admin listener for status, metrics and the
// runtime API.
func TestBinaryTCPMode(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: real-process test (-short)")
	}
	a := newTCPBackend(t, "bin-a", nameHandler("bin-a"))
	b := newTCPBackend(t, "bin-b", nameHandler("bin-b"))
	port, adminPort := ports.Free(t), ports.Free(t)
	admin := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	cfg := fmt.Sprintf(`{"mode": "tcp", "proxy_host": "127.0.0.1", "proxy_port": %d, "admin_port": %d,
		"algorithm": "round_robin",
		"backend_servers": [{"host": "127.0.0.1", "port": %d}, {"host": "127.0.0.1", "port": %d}],
		"health_check_interval": 0.5, "health_check_timeout": 0.4, "unhealthy_threshold": 3,
		"idle_timeout": 2, "connection_timeout": 5, "shutdown_timeout": 2, "max_connections": 100}`,
		port, adminPort, portOf(a.addr), portOf(b.addr))
	cmd := testproc.LB(t, cfg, admin)
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	var status struct {
		Mode      string `json:"mode"`
		Algorithm string `json:"algorithm"`
		Backends  []struct {
			State         string `json:"state"`
			TotalRequests uint64 `json:"total_requests"`
		} `json:"backends"`
		TCP struct {
			ConnectionsAccepted uint64 `json:"connections_accepted"`
			ConnectionsActive   int64  `json:"connections_active"`
			BytesOut            uint64 `json:"bytes_backend_to_client"`
		} `json:"tcp"`
	}
	// Wait for the condition, not for a time: both backends up. The
	// checks and connects get time to spare: with 50 ms checks that one
	// failure took down, and 1 s connects, a machine with busy cores took a
	// backend down or cut a connection (1 run in 30).
	waitJSON(t, admin+"/__status__", &status, func() bool {
		up := 0
		for _, b := range status.Backends {
			if b.State == "up" {
				up++
			}
		}
		return up == 2
	})
	var got []string
	for range 4 {
		name, err := fetchName(addr)
		require.NoError(t, err)
		got = append(got, name)
	}
	assert.ElementsMatch(t, []string{"bin-a", "bin-b", "bin-a", "bin-b"}, got)
	assert.NotEqual(t, got[0], got[1], "round robin alternates")

	// The client has closed; the lb counts a connection when its relay
	// ends, which may be a moment later: wait until all four have ended.
	waitJSON(t, admin+"/__status__", &status, func() bool {
		return status.TCP.ConnectionsAccepted == 4 && status.TCP.ConnectionsActive == 0 && status.TCP.BytesOut == 4*5
	})
	assert.Equal(t, "tcp", status.Mode)
	assert.Equal(t, "round_robin", status.Algorithm)
	require.Len(t, status.Backends, 2)
	for _, b := range status.Backends {
		assert.Equal(t, "up", b.State, "TCP health checks keep raw TCP backends up")
		assert.Equal(t, uint64(2), b.TotalRequests)
	}
	assert.Equal(t, uint64(4), status.TCP.ConnectionsAccepted)
	assert.Equal(t, uint64(4*5), status.TCP.BytesOut)

	var m map[string]any
	getJSON(t, admin+"/__metrics__", &m)
	assert.EqualValues(t, 4, m["total_requests"])
	assert.Contains(t, m, "response_times")
	assert.Contains(t, m, "tcp")

	// A connection is counted closed just after it stops being active:
	// wait for the count.
	var prom []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(admin + "/metrics")
		require.NoError(t, err)
		prom, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(prom), `lblab_tcp_connections_closed_total{reason="closed"} 4`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	assert.Contains(t, string(prom), "lblab_tcp_connections_accepted_total 4")
	assert.Contains(t, string(prom), `lblab_tcp_connections_closed_total{reason="closed"} 4`)
	assert.NotContains(t, string(prom), "lblab_response_time_seconds", "no HTTP response times in TCP mode")
	assert.Contains(t, string(prom), "lblab_build_info{")

	req, _ := http.NewRequest(http.MethodPut, admin+"/api/algorithm", strings.NewReader(`{"algorithm":"ip_hash"}`))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	first, err := fetchName(addr)
	require.NoError(t, err)
	for range 3 {
		name, err := fetchName(addr)
		require.NoError(t, err)
		assert.Equal(t, first, name, "ip_hash keeps 127.0.0.1 on one backend")
	}

	// SIGTERM: a clean stop, exit status 0.
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("lb did not stop within 10s of SIGTERM")
	}
}

// TestBinaryTCPHealthChecks: in tcp mode the active checks are TCP connects,
// unless health_check_path is given, when they are HTTP GETs of that path.
func TestBinaryTCPHealthChecks(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: real-process test (-short)")
	}
	raw := newTCPBackend(t, "raw", nameHandler("raw"))
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			io.WriteString(w, `{"status":"ok"}`)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(hs.Close)
	tests := []struct {
		name      string
		extra     string
		wantState map[int]string // by backend port
	}{
		{"TCP connects by default", "", map[int]string{portOf(raw.addr): "up", portOf(hs.Listener.Addr().String()): "up"}},
		{"HTTP where health_check_path is set", `"health_check_path": "/health",`,
			map[int]string{portOf(raw.addr): "down", portOf(hs.Listener.Addr().String()): "up"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port, adminPort := ports.Free(t), ports.Free(t)
			admin := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
			// The checks get time to spare (a 50 ms timeout and one failure
			// to go down took the HTTP backend down on a busy machine, 2
			// runs in 30), and the test waits for each backend's last three
			// checks to agree with the state it wants, not for a time.
			cfg := fmt.Sprintf(`{"mode": "tcp", "proxy_host": "127.0.0.1", "proxy_port": %d, "admin_port": %d, %s
				"backend_servers": [{"host": "127.0.0.1", "port": %d}, {"host": "127.0.0.1", "port": %d}],
				"health_check_interval": 0.3, "health_check_timeout": 0.25, "unhealthy_threshold": 3}`,
				port, adminPort, tt.extra, portOf(raw.addr), portOf(hs.Listener.Addr().String()))
			testproc.LB(t, cfg, admin)
			var got map[int]string
			settled := func() bool {
				var status struct {
					Backends []struct {
						Address              string `json:"address"`
						State                string `json:"state"`
						ConsecutiveSuccesses int    `json:"consecutive_successes"`
						ConsecutiveFailures  int    `json:"consecutive_failures"`
					} `json:"backends"`
				}
				getJSON(t, admin+"/__status__", &status)
				got = map[int]string{}
				steady := true
				for _, b := range status.Backends {
					got[portOf(b.Address)] = b.State
					run := b.ConsecutiveSuccesses
					if b.State == "down" {
						run = b.ConsecutiveFailures
					}
					steady = steady && run >= 3
				}
				return steady && assert.ObjectsAreEqual(tt.wantState, got)
			}
			if !assert.Eventually(t, settled, 15*time.Second, 50*time.Millisecond) {
				t.Errorf("states %v, want %v, each with its last three checks agreeing", got, tt.wantState)
			}
		})
	}
}

// TestBinaryTCPGracefulShutdown: on SIGTERM bin/lb stops accepting at once and
// lets an open connection finish within shutdown_timeout, then exits 0.
func TestBinaryTCPGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: real-process test (-short)")
	}
	echo := newTCPBackend(t, "echo", echoHandler)
	port, adminPort := ports.Free(t), ports.Free(t)
	cfg := fmt.Sprintf(`{"mode": "tcp", "proxy_host": "127.0.0.1", "proxy_port": %d, "admin_port": %d,
		"backend_servers": [{"host": "127.0.0.1", "port": %d}], "shutdown_timeout": 5}`, port, adminPort, portOf(echo.addr))
	cmd := testproc.LB(t, cfg, fmt.Sprintf("http://127.0.0.1:%d", adminPort))
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 5)
	io.WriteString(c, "hello")
	_, err := io.ReadFull(c, buf)
	require.NoError(t, err)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	require.Eventually(t, func() bool {
		c2, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c2.Close()
		}
		return err != nil
	}, 5*time.Second, 20*time.Millisecond, "the proxy port must stop accepting")
	io.WriteString(c, "world") // the open connection still works
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	assert.Equal(t, "world", string(buf))
	select {
	case err := <-done:
		t.Fatalf("lb exited (%v) with a connection open", err)
	default:
	}
	c.CloseWrite()
	_, err = io.ReadAll(c)
	require.NoError(t, err)
	select {
	case err := <-done:
		assert.NoError(t, err, "exit status")
	case <-time.After(5 * time.Second):
		t.Fatal("lb did not exit after its last connection closed")
	}
}

func TestBinaryTCPConfigErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: real-process test (-short)")
	}
	lb := testproc.Bin(t, "lb")
	base := `"mode": "tcp", "backend_servers": [{"host": "127.0.0.1", "port": 9}]`
	tests := []struct {
		name, config string
		wantExit     int
		wantOut      string
	}{
		{"sample config loads", "", 0, "ok"},
		{"tcp mode needs the admin listener", `{` + base + `}`, 2, `admin_port: 0: "mode": "tcp" serves status`},
		{"bad idle timeout", `{` + base + `, "admin_port": 9090, "idle_timeout": 0}`, 2, "idle_timeout: 0s: must be greater than 0"},
		{"ok", `{` + base + `, "admin_port": 9090}`, 0, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join("testdata", "tcp.json")
			if tt.config != "" {
				path = filepath.Join(t.TempDir(), "c.json")
				require.NoError(t, os.WriteFile(path, []byte(tt.config), 0o644))
			}
			var out bytes.Buffer
			cmd := exec.Command(lb, "--check", "--config", path)
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.wantExit, code, out.String())
			assert.Contains(t, out.String(), tt.wantOut)
		})
	}
}

func portOf(addr string) int {
	var p int
	fmt.Sscanf(addr[strings.LastIndexByte(addr, ':')+1:], "%d", &p)
	return p
}

// waitJSON decodes url's JSON into v until done reports true, for up to
// 10 s: the test waits for the condition instead of racing it.
func waitJSON(t *testing.T, url string, v any, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		getJSON(t, url, v)
		if done() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: condition not met within 10s; last: %+v", url, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}
