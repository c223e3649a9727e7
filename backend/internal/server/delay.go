package server

import (
	"context"
	"sync"
	"time"
)

// maxDebt bounds the oversleep a delayClock carries over. On a busy machine
// a timer now and then fires tens of milliseconds late (150 ms was seen with
// both CPUs spinning); that is repaid in full, so the mean stays true. A
// longer stall (the container was paused for seconds) is forgiven past this
// much, so that it does not make the next hundreds of delays zero.
const maxDebt = time.Second

// delayClock sleeps for asked delays so that their mean is what was asked.
// Timers fire late: by some 0.1 ms on an idle machine, by a millisecond or
// more on a busy one (time.Sleep of exp:10ms averaged 10.6-10.8 ms on the lab
// machine), which would make every configured latency, and the utilisation
// the lab computes from it, too high. The clock keeps the oversleep of past
// delays as a debt (up to maxDebt) and takes it off the next delays, so the
// long-run mean matches; each delay still starts with its own sample, so the
// distribution keeps its shape except for delays shorter than the debt.
// Safe for concurrent use: concurrent delays share the debt.
type delayClock struct {
	mu   sync.Mutex    // guards debt
	debt time.Duration // oversleep not yet taken off a delay, in [0, maxDebt]
}

// sleep waits about d, less the debt it repays, or until ctx is done. It
// reports whether the wait ran to its end, and how long it actually took.
func (c *delayClock) sleep(ctx context.Context, d time.Duration) (time.Duration, bool) {
	if d <= 0 {
		return 0, true
	}
	c.mu.Lock()
	repay := min(c.debt, d)
	c.debt -= repay
	c.mu.Unlock()

	start := time.Now()
	want := d - repay
	done := true
	if want > 0 {
		t := time.NewTimer(want)
		select {
		case <-t.C:
		case <-ctx.Done():
			done = false
		}
		t.Stop()
	}
	took := time.Now().Sub(start)

	c.mu.Lock()
	if done {
		c.debt = min(maxDebt, max(0, c.debt+took-want))
	} else {
		c.debt = min(maxDebt, c.debt+repay) // cut short: nothing was repaid
	}
	c.mu.Unlock()
	return took, done
}
