//go:build linux

package l4_test

import (
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConnectWaitsForDescriptor: a connection that finds the proxy's own
// file table full waits for a descriptor to be freed, as the HTTP path's
// dial does, and then goes through; the backend is not blamed. Each row
// leaves the connection a number of free descriptors: two let the client
// connect and the proxy accept, and its connect to the backend finds none;
// three let the connect through too, and the relay's duplicate of the
// client's socket (it hands the socket to an event loop) finds none. The
// child process lowers its open-file limit; the backend runs here, outside
// it.
func TestConnectWaitsForDescriptor(t *testing.T) {
	be := newTCPBackend(t, "echo", echoHandler)
	for _, tc := range []struct {
		name string
		free int
	}{
		{"connect", 2},
		{"duplicate", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestConnectWaitsChild$", "-test.v")
			// The proxy's debug log goes to the child's output, which is
			// shown when the test fails.
			cmd.Env = append(os.Environ(), "L4_SHORT_BACKEND="+be.addr, "L4_SHORT_FREE="+strconv.Itoa(tc.free), "L4_TEST_LOG=1")
			out, err := cmd.CombinedOutput()
			t.Logf("child:\n%s", out)
			require.NoError(t, err, "the child's checks")
			assert.Contains(t, string(out), "--- PASS: TestConnectWaitsChild")
		})
	}
}

// TestConnectWaitsChild is TestConnectWaitsForDescriptor's child; it does
// nothing unless run by it.
func TestConnectWaitsChild(t *testing.T) {
	addr := os.Getenv("L4_SHORT_BACKEND")
	if addr == "" {
		t.Skip("run by TestConnectWaitsForDescriptor")
	}
	free, err := strconv.Atoi(os.Getenv("L4_SHORT_FREE"))
	require.NoError(t, err, "L4_SHORT_FREE")
	lb := startLB(t, lbOpts{backendAddrs: []string{addr}, dial: 5 * time.Second, maxFails: 1})
	exchange := func(msg string) (string, error) {
		c := dial(t, lb.addr)
		defer c.Close()
		if _, err := io.WriteString(c, msg); err != nil {
			return "", err
		}
		c.CloseWrite()
		return readAll(c, 10*time.Second)
	}
	got, err := exchange("warm")
	require.NoError(t, err)
	require.Equal(t, "warm", got, "through the proxy before the limit")
	// The warm connection's sockets are closed (by the relay's event loop)
	// before the table is counted and filled.
	require.Eventually(t, func() bool { return lb.srv.Active() == 0 }, 5*time.Second, 10*time.Millisecond)

	// Fill the descriptor table up to a lowered limit, then leave free ones
	// as the row says.
	// One count for both bounds: two counts can differ (the proxy opens and
	// closes sockets meanwhile), and a soft limit above the hard one is
	// EINVAL.
	n := uint64(openFDs(t) + 32)
	lim := syscall.Rlimit{Cur: n, Max: n}
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
	var held []*os.File
	for range 64 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			require.ErrorIs(t, err, syscall.EMFILE, "filling")
			break
		}
		held = append(held, f)
	}
	require.Greater(t, len(held), 8)
	for _, f := range held[:free] {
		f.Close()
	}
	held = held[free:]
	t.Logf("holding %d files at a limit of %d", len(held), lim.Cur)

	// Connections in flight ending free descriptors while the connection
	// waits (the relay needs two more for its copies).
	freed := make(chan struct{})
	go func() {
		defer close(freed)
		time.Sleep(200 * time.Millisecond)
		for _, f := range held[:6] {
			f.Close()
		}
	}()
	start := time.Now()
	got, err = exchange("after a wait")
	<-freed
	require.NoError(t, err)
	assert.Equal(t, "after a wait", got, "the connection that waited for a descriptor went through")
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "it waited")
	assert.Len(t, lb.pool.Available(), 1, "the backend was not blamed")
}
