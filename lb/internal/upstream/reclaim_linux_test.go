package upstream

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/lblab/lblab/lb/internal/netx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDialReclaimsIdleConnections: a dial that finds no file descriptor
// (EMFILE) has the pools shed idle connections and dials again. It runs in
// a child process of its own, whose open-file limit it lowers and fills;
// the backend listens here, out of that limit.
func TestDialReclaimsIdleConnections(t *testing.T) {
	addr, _ := backend(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	cmd := exec.Command(os.Args[0], "-test.run=^TestReclaimChild$", "-test.v")
	cmd.Env = append(os.Environ(), "UPSTREAM_RECLAIM_ADDR="+addr)
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	require.NoError(t, err, "the child's checks")
	assert.Contains(t, string(out), "--- PASS: TestReclaimChild")
}

// TestReclaimChild is TestDialReclaimsIdleConnections's child; it does
// nothing unless run by it.
func TestReclaimChild(t *testing.T) {
	addr := os.Getenv("UPSTREAM_RECLAIM_ADDR")
	if addr == "" {
		t.Skip("run by TestDialReclaimsIdleConnections")
	}
	cfg := Config{DialTimeout: 5 * time.Second, MaxIdle: -1}
	a, b := New(addr, cfg), New(addr, cfg)
	c := New(addr, Config{DialTimeout: 200 * time.Millisecond, MaxIdle: -1})
	d := New(addr, cfg)
	b.Reclaim = a.Shed
	conns := make([]*Conn, 4)
	for i := range conns {
		var err error
		conns[i], _, err = a.Get(context.Background(), time.Now())
		require.NoError(t, err)
	}
	for _, x := range conns {
		a.Put(x, time.Now())
	}
	require.Equal(t, 4, a.Idle())

	// Fill the descriptor table up to a lowered limit.
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	lim := syscall.Rlimit{Cur: uint64(len(fds) + 16), Max: uint64(len(fds) + 16)}
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
	var held []*os.File
	for range 64 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			require.True(t, netx.OutOfDescriptors(err), "filling: %v", err)
			break
		}
		held = append(held, f)
	}
	t.Logf("holding %d more files at a limit of %d", len(held), lim.Cur)

	start := time.Now()
	_, err = c.Dial(context.Background())
	require.Error(t, err, "a pool with no reclaim finds no descriptor, not within its dial timeout")
	require.True(t, netx.OutOfDescriptors(err), "%v", err)
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "it waited for one before giving up")

	// A descriptor freed while a dial waits (a request in flight ending)
	// is taken.
	freed := make(chan struct{})
	go func() {
		defer close(freed)
		time.Sleep(100 * time.Millisecond)
		held[0].Close()
	}()
	nc, err := d.Dial(context.Background())
	<-freed
	require.NoError(t, err, "the dial that waited for a descriptor")
	nc.Close()
	held[0], err = os.Open(os.DevNull) // full again
	require.NoError(t, err)

	nc, err = b.Dial(context.Background())
	require.NoError(t, err, "the dial after the reclaim")
	nc.Close()
	assert.Equal(t, 2, a.Idle(), "the older half of a's idle connections was closed")
}
