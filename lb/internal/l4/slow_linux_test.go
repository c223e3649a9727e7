package l4_test

import (
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cpuTime is the CPU time (user + system) this process has used so far.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSlowPeers: a peer that does not read holds the other side's bytes in
// the balancer (and its kernel buffers) until it reads again; nothing is lost
// or reordered, and the balancer does not spin while it waits, even when the
// sender has hung up meanwhile.
func TestSlowPeers(t *testing.T) {
	const (
		size  = 16 << 20
		pause = 400 * time.Millisecond
	)
	payload := make([]byte, size)
	rand.Read(payload)
	sum := sha256.Sum256(payload)
	// small is more than the client's socket buffers take while it does not
	// read, and little enough for the rest to fit on the backend's side, so
	// the backend's FIN arrives (a hang-up, as the balancer has shut its
	// side already) while the balancer still holds bytes for the client.
	// Measured: with 1 MiB nothing waits in the balancer; with 4 MiB it does.
	small := payload[:4<<20]
	smallSum := sha256.Sum256(small)

	tests := []struct {
		name    string
		handler func(c *net.TCPConn)
		client  func(t *testing.T, c *net.TCPConn) (wait func(), check func())
	}{
		{
			name:    "client reads late; backend streams then closes",
			handler: func(c *net.TCPConn) { c.Write(payload) },
			client:  readLate(payload, sum, pause, false),
		},
		{
			name: "client half-closes and reads late; backend answers then closes (backend hung up while bytes wait)",
			handler: func(c *net.TCPConn) {
				if _, err := io.Copy(io.Discard, c); err != nil {
					return
				}
				c.Write(small)
			},
			client: readLate(small, smallSum, pause, true),
		},
		{
			name: "backend reads late; client uploads",
			handler: func(c *net.TCPConn) {
				time.Sleep(pause)
				hashHandler(c)
			},
			client: func(t *testing.T, c *net.TCPConn) (func(), func()) {
				done := make(chan error, 1)
				go func() {
					_, err := c.Write(payload)
					if err == nil {
						err = c.CloseWrite()
					}
					done <- err
				}()
				wait := func() { time.Sleep(pause / 2) }
				check := func() {
					require.NoError(t, <-done)
					got, err := io.ReadAll(c)
					require.NoError(t, err)
					assert.Equal(t, formatHash(size, sum[:]), string(got))
				}
				return wait, check
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTCPBackend(t, "slow", tt.handler)
			lb := startLB(t, lbOpts{backendsByName: []*tcpBackend{b}})
			c := dial(t, lb.addr)
			c.SetDeadline(time.Now().Add(30 * time.Second))
			wait, check := tt.client(t, c)
			// While one side does not read, the relay waits: the process
			// must stay near idle, where a loop spinning on a ready socket
			// it cannot serve would burn the whole pause.
			time.Sleep(50 * time.Millisecond)
			before, start := cpuTime(t), time.Now()
			wait()
			used, waited := cpuTime(t)-before, time.Since(start)
			check()
			// A spinning loop uses a whole core for the wait; the race
			// detector and a busy machine may take a quarter of one.
			assert.Less(t, used, waited/2, "the process used %s of CPU in %s while one peer was not reading", used, waited)
			require.Eventually(t, func() bool { return lb.srv.Stats().ConnectionsActive == 0 }, 5*time.Second, 10*time.Millisecond)
			assert.Equal(t, map[string]uint64{"closed": 1}, lb.srv.Stats().ConnectionsClosed)
		})
	}
}

// readLate returns a client that (after a CloseWrite, if halfClose) waits for
// the pause, then reads everything and checks it is payload.
func readLate(payload []byte, sum [32]byte, pause time.Duration, halfClose bool) func(t *testing.T, c *net.TCPConn) (func(), func()) {
	return func(t *testing.T, c *net.TCPConn) (func(), func()) {
		if halfClose {
			_, err := c.Write([]byte("go"))
			require.NoError(t, err)
			require.NoError(t, c.CloseWrite())
		}
		wait := func() { time.Sleep(pause) }
		check := func() {
			h := sha256.New()
			n, err := io.Copy(h, c)
			require.NoError(t, err)
			assert.Equal(t, int64(len(payload)), n)
			assert.Equal(t, sum[:], h.Sum(nil), "the bytes differ")
			if !halfClose { // end the client's direction too, so the connection ends
				require.NoError(t, c.CloseWrite())
			}
		}
		return wait, check
	}
}
