// Package composelab runs the repository's compose.yaml for Docker tests: a
// Compose project of its own (unique name, images built for the test with
// their own tag, free host ports), so a test runs beside a lab that is up
// (make up) without touching it, and removes everything it made when the
// test ends, also when it fails.
package composelab

import (
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// CmdTimeout bounds each docker and compose command.
const CmdTimeout = 90 * time.Second

// Lab is one Compose project started from the repository's compose.yaml.
type Lab struct {
	T       *testing.T
	Root    string   // repository root (compose.yaml, Dockerfiles, lab/)
	Compose []string // "docker compose" or "docker-compose"
	Env     []string // environment of every docker and compose command
	Project string
	Tag     string // image tag: lblab/lb:<Tag>, lblab/backend:<Tag>
	// LBPort and AdminPort are lb's host ports: Up sets them to those Docker
	// chose. A test that starts something else (a Swarm stack) picks its own.
	LBPort    int
	AdminPort int
	// lock holds the machine's Docker test lock (shared; see lock.go).
	lock *os.File
	// Bins holds the static binaries by name (lb, backend, and any others
	// asked for): $LBLAB_BIN/<name> when `make test` built them, else built here.
	Bins map[string]string
}

// Image is one image BuildImages built.
type Image struct {
	Name string
	Size int64
	Took time.Duration
}

// New finds Docker and a Compose tool (skipping loudly without them, failing
// when CI=true), picks a project name prefix+<random>, an image tag and free
// ports, and finds or builds lb, backend and the extra binaries. Nothing is
// started yet.
func New(t *testing.T, prefix string, extraBins ...string) *Lab {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root, err := filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "compose.yaml"))

	if _, err := exec.LookPath("docker"); err != nil {
		NoDocker(t, "the docker command is not installed")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err != nil {
		NoDocker(t, "`docker version` failed: %v: %s", err, lastLine(out))
	}
	server := strings.TrimSpace(string(out))
	lock := lockShared(t, 5*time.Minute)

	var compose []string
	if exec.CommandContext(ctx, "docker", "compose", "version").Run() == nil {
		compose = []string{"docker", "compose"}
	} else if _, err := exec.LookPath("docker-compose"); err == nil {
		compose = []string{"docker-compose"}
	} else {
		NoDocker(t, "neither `docker compose` nor `docker-compose` is installed")
	}

	suffix := randHex(t, 4)
	l := &Lab{
		lock: lock,
		T:    t, Root: root, Compose: compose,
		Project: prefix + suffix, Tag: "test-" + suffix,
	}
	// COMPOSE_* and the lab's variables from the user's shell would change
	// what compose does, so they are left out.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "COMPOSE_") || strings.HasPrefix(k, "BACKEND_") ||
			slices.Contains([]string{"LB_PORT", "ADMIN_PORT", "LB_TCP_PORT", "ADMIN_TCP_PORT", "LBLAB_TAG", "LBLAB_TARGET", "LBLAB_ADMIN"}, k) {
			continue
		}
		l.Env = append(l.Env, kv)
	}
	l.Env = append(l.Env,
		"COMPOSE_PROJECT_NAME="+l.Project,
		// Port 0: Docker chooses free host ports when it publishes them, and
		// Up reads them back. (Picking free ports here and handing them to
		// Compose raced other labs starting at the same time.)
		"LB_PORT=0", "ADMIN_PORT=0", "LB_TCP_PORT=0", "ADMIN_TCP_PORT=0",
		"BACKEND_CAPACITY=0",
		"LBLAB_TAG="+l.Tag,
	)
	// Against Docker Engine 29+, docker-compose 1.29 needs the API version pinned.
	apiEnv, err := exec.CommandContext(ctx, "sh", filepath.Join(root, "lab", "api-env.sh")).Output()
	require.NoError(t, err, "lab/api-env.sh")
	l.Env = append(l.Env, strings.Fields(string(apiEnv))...)
	l.Bins = l.binaries(append([]string{"lb", "backend"}, extraBins...))
	t.Logf("Docker Engine %s, %s, project %s %s",
		server, strings.Join(compose, " "), l.Project, strings.TrimSpace(string(apiEnv)))
	return l
}

// NoDocker skips the test with a loud line, or fails it when CI=true.
func NoDocker(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("no Docker daemon and CI=true: %s", msg)
	}
	t.Log("**************************************************************")
	t.Logf("SKIP: no Docker daemon: %s", msg)
	t.Log("**************************************************************")
	t.Skipf("SKIP: no Docker daemon: %s (this test needs Docker and docker compose or docker-compose)", msg)
}

func (l *Lab) binaries(names []string) map[string]string {
	t := l.T
	t.Helper()
	out := map[string]string{}
	var dir string
	for _, name := range names {
		if bin := os.Getenv("LBLAB_BIN"); bin != "" {
			if p := filepath.Join(bin, name); isFile(p) {
				out[name] = p
				continue
			}
		}
		if dir == "" {
			dir = t.TempDir()
		}
		p := filepath.Join(dir, name)
		cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", p, "./"+name)
		cmd.Dir = l.Root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		b, err := cmd.CombinedOutput()
		require.NoError(t, err, "go build ./%s: %s", name, b)
		out[name] = p
	}
	for _, name := range []string{"lb", "backend"} {
		requireStatic(t, out[name])
	}
	return out
}

// requireStatic fails when p is a dynamically linked ELF file: it would not
// start in a FROM scratch image ("no such file or directory").
func requireStatic(t *testing.T, p string) {
	t.Helper()
	f, err := elf.Open(p)
	require.NoError(t, err, "%s is not an ELF executable", p)
	defer f.Close()
	for _, prog := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, prog.Type,
			"%s is dynamically linked and cannot run FROM scratch: build it with CGO_ENABLED=0 (make build)", p)
	}
}

// BuildImages builds lblab/lb:<Tag> and lblab/backend:<Tag> with the
// repository's Dockerfiles in a minimal context (the binaries, lab/*.json),
// removes them when the test ends, and returns their sizes and build times.
func (l *Lab) BuildImages(ctx context.Context) []Image {
	t := l.T
	t.Helper()
	names := []string{"lblab/lb:" + l.Tag, "lblab/backend:" + l.Tag}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if out, err := l.Cmd(ctx, append([]string{"docker", "image", "rm", "--force"}, names...)...); err != nil {
			t.Logf("cleanup: %v: %s", err, out)
		}
	})

	dir := t.TempDir()
	files := map[string]string{
		l.Bins["lb"]:                                "bin/lb",
		l.Bins["backend"]:                           "bin/backend",
		filepath.Join(l.Root, "Dockerfile"):         "Dockerfile",
		filepath.Join(l.Root, "Dockerfile.backend"): "Dockerfile.backend",
		filepath.Join(l.Root, ".dockerignore"):      ".dockerignore",
	}
	configs, err := filepath.Glob(filepath.Join(l.Root, "lab", "*.json"))
	require.NoError(t, err)
	for _, c := range configs {
		files[c] = filepath.Join("lab", filepath.Base(c))
	}
	for src, dst := range files {
		copyFile(t, src, filepath.Join(dir, dst))
	}
	var buildEnv []string
	if exec.CommandContext(ctx, "docker", "buildx", "version").Run() != nil {
		buildEnv = append(buildEnv, "DOCKER_BUILDKIT=0") // the legacy builder, as `make images`
	}
	var images []Image
	for i, df := range []string{"Dockerfile", "Dockerfile.backend"} {
		start := time.Now()
		l.RunEnv(ctx, buildEnv, "docker", "build", "--quiet", "--file", filepath.Join(dir, df), "--tag", names[i], dir)
		took := time.Since(start)
		out := l.Run(ctx, "docker", "image", "inspect", "--format", "{{.Size}}", names[i])
		size, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
		require.NoError(t, err)
		images = append(images, Image{Name: names[i], Size: size, Took: took})
	}
	return images
}

// Up starts the lab (`up -d`, lb and three backends), registers Down, and
// sets LBPort and AdminPort to the host ports Docker chose for lb.
func (l *Lab) Up(ctx context.Context) {
	l.T.Helper()
	l.T.Cleanup(l.Down)
	l.ComposeRun(ctx, "up", "-d")
	l.LBPort = l.PublishedPort(ctx, "lb", 8080)
	l.AdminPort = l.PublishedPort(ctx, "lb", 9090)
	l.T.Logf("project %s: lb on 127.0.0.1:%d, admin on 127.0.0.1:%d", l.Project, l.LBPort, l.AdminPort)
}

// PublishedPort returns the host port that service's container port is
// published on (`compose port`).
func (l *Lab) PublishedPort(ctx context.Context, service string, port int) int {
	l.T.Helper()
	out := strings.TrimSpace(l.ComposeRun(ctx, "port", service, strconv.Itoa(port)))
	out = out[strings.LastIndexByte(out, '\n')+1:] // the last line: compose may warn before it
	_, p, err := net.SplitHostPort(out)
	require.NoError(l.T, err, "compose port %s %d: %q", service, port, out)
	n, err := strconv.Atoi(p)
	require.NoError(l.T, err, "compose port %s %d: %q", service, port, out)
	require.Positive(l.T, n, "compose port %s %d: %q", service, port, out)
	return n
}

// Down removes the project (containers of every profile, network, volumes),
// after logging what the lab looked like when the test failed. Containers the
// load tester cloned carry the project's labels and go as orphans; anything
// left is an error.
func (l *Lab) Down() {
	t := l.T
	ctx, cancel := context.WithTimeout(context.Background(), CmdTimeout)
	defer cancel()
	if t.Failed() {
		out, _ := l.Cmd(ctx, l.ComposeArgs("ps")...)
		t.Logf("compose ps:\n%s", out)
		out, _ = l.Cmd(ctx, l.ComposeArgs("logs", "--no-color", "--tail", "60", "lb")...)
		t.Logf("lb logs:\n%s", out)
	}
	args := l.ComposeArgs("--profile", "slow", "--profile", "scaling", "--profile", "tcp", "down", "-v", "--remove-orphans", "--timeout", "5")
	if out, err := l.Cmd(ctx, args...); err != nil {
		t.Errorf("cleanup: %v\n%s", err, out)
	}
	out, _ := l.Cmd(ctx, "docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+l.Project)
	if ids := strings.Fields(out); len(ids) > 0 {
		t.Errorf("cleanup: containers of %s left: %v", l.Project, ids)
		_, _ = l.Cmd(ctx, append([]string{"docker", "rm", "--force"}, ids...)...)
	}
}

// ComposeArgs returns the compose command line for this project.
func (l *Lab) ComposeArgs(args ...string) []string {
	base := append(slices.Clone(l.Compose), "--file", filepath.Join(l.Root, "compose.yaml"), "--project-name", l.Project)
	return append(base, args...)
}

// ComposeRun runs a compose subcommand and fails the test when it fails.
func (l *Lab) ComposeRun(ctx context.Context, args ...string) string {
	l.T.Helper()
	return l.Run(ctx, l.ComposeArgs(args...)...)
}

// Run runs a command in the lab's environment and fails the test when it fails.
func (l *Lab) Run(ctx context.Context, args ...string) string {
	l.T.Helper()
	return l.RunEnv(ctx, nil, args...)
}

// RunEnv is Run with extra environment variables.
func (l *Lab) RunEnv(ctx context.Context, extra []string, args ...string) string {
	l.T.Helper()
	out, err := l.CmdEnv(ctx, extra, args...)
	require.NoError(l.T, err, "%s\n%s", strings.Join(args, " "), out)
	return out
}

// Cmd runs a command in the lab's environment and returns its output.
func (l *Lab) Cmd(ctx context.Context, args ...string) (string, error) {
	return l.CmdEnv(ctx, nil, args...)
}

// CmdEnv is Cmd with extra environment variables; each command is bounded by
// CmdTimeout.
func (l *Lab) CmdEnv(ctx context.Context, extra []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, CmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = l.Root
	cmd.Env = append(slices.Clone(l.Env), extra...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// URL returns http://127.0.0.1:<port><path>.
func (l *Lab) URL(port int, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", port, path)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. It
// may be taken before it is used: only for what holds the Docker test lock
// exclusively (the Swarm tests), whose published ports Swarm cannot leave to
// Docker's choice on 127.0.0.1.
func FreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	st, err := os.Stat(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, data, st.Mode().Perm()))
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
