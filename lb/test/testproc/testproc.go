// Package testproc starts the project's real binaries for tests and
// benchmarks: bin/lb and bin/backend on 127.0.0.1, stopped by PID when the
// test ends.
package testproc

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// Bin returns the path of a project binary ("lb", "backend"): $LBLAB_BIN/<name>
// when `make` set it, else one built once into a temporary directory.
func Bin(tb testing.TB, name string) string {
	tb.Helper()
	if dir := os.Getenv("LBLAB_BIN"); dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..", "..")
		binDir, buildErr = os.MkdirTemp("", "lblab-bin-")
		for _, m := range []string{"lb", "backend"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, m), "./"+m)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", m, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

// Start runs a process (its output shown with -v) and kills it by PID when
// the test ends, also when it fails.
func Start(tb testing.TB, path string, args ...string) *exec.Cmd {
	tb.Helper()
	cmd := exec.Command(path, args...)
	if testing.Verbose() {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// WaitOK waits up to 10 s for url to answer 200.
func WaitOK(tb testing.TB, url string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("%s never answered 200", url)
}

// Backend starts bin/backend on a free port with extra flags and returns its
// port once it is healthy.
func Backend(tb testing.TB, name string, port int, flags ...string) *exec.Cmd {
	tb.Helper()
	args := append([]string{"--host", "127.0.0.1", "--port", fmt.Sprint(port), "--name", name}, flags...)
	cmd := Start(tb, Bin(tb, "backend"), args...)
	WaitOK(tb, fmt.Sprintf("http://127.0.0.1:%d/health", port))
	return cmd
}

// LB writes config (a JSON document) to a file, starts bin/lb with it and waits
// until url+"/__health__" answers 200.
func LB(tb testing.TB, config, url string) *exec.Cmd {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := Start(tb, Bin(tb, "lb"), "--config", path)
	WaitOK(tb, url+"/__health__")
	return cmd
}
