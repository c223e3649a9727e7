package server

import (
	"context"
	"sync"
	"time"
)

// maxOversleep bounds the oversleep one delay adds to a delayClock's debt.
// On a busy machine a timer now and then fires tens or hundreds of
// milliseconds late (over 200 ms was seen with both CPUs spinning and a load
// average near 10); that is repaid in full, so the mean stays true. A longer
// stall (the container was paused for seconds) is forgiven past this much,
// so that it does not make the next hundreds of delays zero. The bound is
// per delay because a stall holds up every delay in flight, and each of
// them did take that much longer: with six delays in flight, a 200 ms stall
// is 1.2 s of oversleep, which a bound on the total of one second cut to
// 1 s, leaving the mean 3.5% high (TestLatencyMeanTrueUnderBusyCPU).
const maxOversleep = time.Second

// maxDebt bounds the whole debt, so that a stall that held up many delays
// at once and a drop in load after it do not make delays zero for long: the
// debt is repaid by the delays in flight together, so 10 s of it takes about
// a second of wall time at ten concurrent delays.
const maxDebt = 10 * time.Second

// delayClock sleeps for asked delays so that their mean is what was asked.
// Timers fire late: by some 0.1 ms on an idle machine, by a millisecond or
// more on a busy one (time.Sleep of exp:10ms averaged 10.6-10.8 ms on the lab
// machine), which would make every configured latency, and the utilisation
// the lab computes from it, too high. The clock keeps the oversleep of past
// delays as a debt (up to maxOversleep a delay, maxDebt in all) and takes it off the next delays, so the
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

	if done {
		c.owe(took - want)
	} else { // cut short: nothing was repaid
		c.mu.Lock()
		c.debt = min(maxDebt, c.debt+repay)
		c.mu.Unlock()
	}
	return took, done
}

// owe adds the oversleep of one delay to the debt, within maxOversleep for
// the delay and maxDebt in all.
func (c *delayClock) owe(over time.Duration) {
	c.mu.Lock()
	c.debt = min(maxDebt, c.debt+min(maxOversleep, max(0, over)))
	c.mu.Unlock()
}
