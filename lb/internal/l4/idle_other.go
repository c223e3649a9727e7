//go:build !linux || 386

package l4

import "time"

// chunk is how many bytes one io.CopyN relays before the counters, and so
// the idle probe, see them. Without TCP_INFO's timestamps the probe can only
// watch the counters, so the step is small (one buffer of io.Copy's).
const chunk = 32 << 10

// idleProbe, where TCP_INFO is not available, calls a connection active when
// its byte counters moved since the last probe.
type idleProbe struct {
	bytes uint64
	since time.Time
}

func (p *idleProbe) idleFor(c *conn) (time.Duration, error) {
	now := time.Now()
	if p.since.IsZero() {
		p.since = c.start
	}
	if n := c.up.Load() + c.down.Load(); n != p.bytes {
		p.bytes, p.since = n, now
	}
	return now.Sub(p.since), nil
}
