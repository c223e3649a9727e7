// Package accesslog tests bin/lb's access log against a reader that falls
// behind, with real processes on 127.0.0.1.
package accesslog

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/test/testproc"
	"github.com/lblab/lblab/testkit/ports"
)

// TestStuckLogReaderNeverHoldsResponses: bin/lb's stdout is a pipe nobody
// reads, as Docker's log pipeline that has fallen behind. The pipe holds
// 64 KiB, some 200 access-log lines; the requests go on being answered
// well past that, the lines beyond lb's bound are dropped and counted in
// lblab_access_log_dropped_total, and what was kept is whole lines, in
// order, once the pipe is read. (When each line was written to stdout on
// the request's path, request 200 or so waited for ever.)
func TestStuckLogReaderNeverHoldsResponses(t *testing.T) {
	const requests = 5000
	backendPort, lbPort, adminPort := ports.Free(t), ports.Free(t), ports.Free(t)
	testproc.Backend(t, "b1", backendPort)
	cfg := fmt.Sprintf(`{"proxy_host": "127.0.0.1", "proxy_port": %d, "admin_port": %d,
	 "backend_servers": [{"host": "127.0.0.1", "port": %d}],
	 "health_check_interval": 30, "enable_logging": true, "enable_metrics": true}`, lbPort, adminPort, backendPort)
	path := filepath.Join(t.TempDir(), "config.json")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))

	logR, logW, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { logR.Close() })
	cmd := exec.Command(testproc.Bin(t, "lb"), "--config", path)
	cmd.Stdout = logW // never read until the end
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	require.NoError(t, cmd.Start())
	logW.Close() // lb holds its own copy
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lbURL := fmt.Sprintf("http://127.0.0.1:%d", lbPort)
	testproc.WaitOK(t, lbURL+"/__health__")

	client := &http.Client{Timeout: 5 * time.Second}
	for i := range requests {
		resp, err := client.Get(fmt.Sprintf("%s/r/%d", lbURL, i))
		require.NoError(t, err, "request %d of %d: the access log's reader is stuck", i+1, requests)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}

	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", adminPort))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^lblab_access_log_dropped_total (\S+)$`).FindSubmatch(body)
	require.NotNil(t, m, "no lblab_access_log_dropped_total in /metrics")
	dropped, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	assert.Positive(t, dropped, "5,000 lines do not fit in the pipe and 1 MiB: some were dropped")

	// Read what was kept: whole JSON lines, requests in order.
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	sc := bufio.NewScanner(logR)
	kept, last := 0, -1
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			Path string `json:"path"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), "a torn line: %q", sc.Text())
		if line.Msg != "request" {
			continue
		}
		var n int
		_, err := fmt.Sscanf(line.Path, "/r/%d", &n)
		require.NoError(t, err, "path %q", line.Path)
		require.Greater(t, n, last, "lines out of order")
		last = n
		kept++
	}
	assert.Equal(t, requests, kept+int(dropped), "every request's line is either kept or counted as dropped")
}
