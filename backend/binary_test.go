package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// backendBinary returns $LBLAB_BIN/backend when LBLAB_BIN is set, else builds
// the command into a temporary directory.
func backendBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("LBLAB_BIN"); dir != "" {
		bin := filepath.Join(dir, "backend")
		_, err := os.Stat(bin)
		require.NoError(t, err, "LBLAB_BIN is set but %s is missing (run make build)", bin)
		return bin
	}
	bin := filepath.Join(t.TempDir(), "backend")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// lockedBuffer collects log lines from one goroutine for reading in another.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) WriteLine(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s + "\n")
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runBinary runs bin with args and returns its exit code and combined output.
func runBinary(t *testing.T, bin string, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out)
	}
	require.NoError(t, err)
	return 0, string(out)
}

// TestBinary runs the real binary on a free port and checks the healthcheck
// subcommand, the flag errors and a graceful stop on SIGTERM.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := backendBinary(t)

	t.Run("bad flags", func(t *testing.T) {
		tests := []struct {
			args []string
			env  []string
			want string
		}{
			{args: []string{"--error-rate", "1.5"}, want: "backend: --error-rate 1.5: must be between 0 and 1\n"},
			{args: []string{"-capacity", "many"}, want: "backend: --capacity many: must be a whole number between 0 and 1000000\n"},
			{env: []string{"BACKEND_OVERFLOW=drop"}, want: "backend: BACKEND_OVERFLOW=drop: must be \"queue\" or \"reject\"\n"},
		}
		for _, tt := range tests {
			t.Run(strings.Join(append(tt.args, tt.env...), " "), func(t *testing.T) {
				code, out := runBinary(t, bin, tt.env, tt.args...)
				assert.Equal(t, 2, code)
				assert.Equal(t, tt.want, out)
			})
		}
	})

	// Start the server on port 0 and read the bound address from its log.
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", "0", "--name", "bin-backend")
	cmd.Env = append(os.Environ(), "BACKEND_ERROR_STATUS=503")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	// The reader goroutine owns logs until done is closed; waitErr is set before.
	var logs lockedBuffer
	var waitErr error
	done := make(chan struct{})
	addrc := make(chan string, 1)
	go func() {
		defer close(done)
		re := regexp.MustCompile(`msg=listening addr=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteLine(sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		waitErr = cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
	})
	var addr string
	select {
	case addr = <-addrc:
	case <-done:
		t.Fatalf("backend exited early: %v\n%s", waitErr, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("backend did not log its address\n%s", logs.String())
	}
	base := "http://" + addr
	client := &http.Client{Timeout: 5 * time.Second}
	post := func(path string) {
		resp, err := client.Post(base+path, "application/json", nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}

	resp, err := client.Get(base + "/hello")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "bin-backend", resp.Header.Get("X-Backend"))
	assert.Contains(t, string(body), `"backend":"bin-backend"`)

	health := []string{"healthcheck", "--url", base + "/health"}
	tests := []struct {
		name    string
		before  string
		args    []string
		env     []string
		code    int
		wantOut string
	}{
		{name: "healthy", args: health, code: 0, wantOut: "backend healthcheck: GET " + base + "/health: 200 OK\n"},
		{name: "failing", before: "/__backend__/health/fail", args: health, code: 1,
			wantOut: "backend healthcheck: GET " + base + "/health: 503 Service Unavailable\n"},
		{name: "recovered", before: "/__backend__/health/ok", args: health, code: 0},
		{name: "default url from BACKEND_PORT", args: []string{"healthcheck"},
			env: []string{"BACKEND_PORT=" + addr[strings.LastIndex(addr, ":")+1:]}, code: 0},
		{name: "nothing listening", args: []string{"healthcheck", "--url", "http://127.0.0.1:1/health"}, code: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != "" {
				post(tt.before)
			}
			code, out := runBinary(t, bin, tt.env, tt.args...)
			assert.Equal(t, tt.code, code, out)
			assert.Equal(t, 1, strings.Count(out, "\n"), "one line: %q", out)
			if tt.wantOut != "" {
				assert.Equal(t, tt.wantOut, out)
			}
		})
	}

	t.Run("SIGTERM stops it cleanly", func(t *testing.T) {
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		select {
		case <-done:
			assert.NoError(t, waitErr, "exit status\n%s", logs.String())
		case <-time.After(10 * time.Second):
			t.Fatalf("backend did not stop within 10s of SIGTERM\n%s", logs.String())
		}
		assert.Contains(t, logs.String(), "msg=stopped")
	})
}
