package composelab

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The Docker tests of this machine (every checkout's make test) share one
// lock file: Compose labs hold it shared, so they run side by side, and the
// Swarm tests hold it exclusively, since initialising and leaving a swarm
// rewires the daemon's networking (its iptables chains, the ingress and
// gateway bridges) under any lab that is up: a Compose lab's published
// ports went dead and its containers' networks unreachable while a swarm
// test ran beside it.
var lockPath = filepath.Join(os.TempDir(), "lblab-docker-test.lock")

// LockExclusive turns the lab's shared hold on the Docker test lock into an
// exclusive one until the test ends, waiting for every other lab of the
// machine to finish (up to wait).
func (l *Lab) LockExclusive(wait time.Duration) {
	l.T.Helper()
	flock(l.T, l.lock, syscall.LOCK_EX, wait)
}

// LockShared holds the machine's Docker test lock shared until t ends, for
// a Docker test that runs containers without a Compose lab (New takes it
// itself): it runs beside the other labs, never while a swarm comes and
// goes.
func LockShared(t *testing.T, wait time.Duration) { lockShared(t, wait) }

// lockShared holds the lock shared until t ends, and returns the file
// holding it.
func lockShared(t *testing.T, wait time.Duration) *os.File {
	t.Helper()
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o666)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() }) // closing releases the lock
	flock(t, f, syscall.LOCK_SH, wait)
	return f
}

// flock takes (or converts) f's lock, polling until wait has passed.
func flock(t *testing.T, f *os.File, how int, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for waited := false; ; waited = true {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return
		}
		require.ErrorIs(t, err, syscall.EWOULDBLOCK)
		if !waited {
			t.Logf("waiting for the other Docker tests of this machine (%s)", lockPath)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Docker tests of this machine held %s for %s", lockPath, wait)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
