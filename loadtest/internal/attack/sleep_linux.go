package attack

import (
	"syscall"
	"time"
)

// sleepFine sleeps for d with nanosleep(2), whose high-resolution timer wakes
// within tens of microseconds, not up to a millisecond late as time.Sleep
// can. The thread is blocked meanwhile (one, the pacer's). It returns the
// wait left to the caller: none.
func sleepFine(d time.Duration) time.Duration {
	ts := syscall.NsecToTimespec(int64(d))
	for {
		// Interrupted (the runtime's preemption signal): sleep what is left.
		if err := syscall.Nanosleep(&ts, &ts); err != syscall.EINTR {
			return 0
		}
	}
}
