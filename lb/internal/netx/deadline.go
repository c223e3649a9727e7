package netx

import (
	"net"
	"time"
)

// LazyDeadline is a connection's read deadline, re-armed lazily: one set
// within the last hundredth of its timeout is left as it is, which saves
// re-arming a timer on every request of a busy connection. The zero value
// has no deadline set. Not safe for concurrent use: it belongs to whoever
// reads the connection.
type LazyDeadline struct{ at time.Time } // zero: none, or not known

// Arm makes sure a read deadline d from now (less at most d/100) is set on c.
func (l *LazyDeadline) Arm(c net.Conn, now time.Time, d time.Duration) {
	if !l.at.IsZero() && l.at.Sub(now) >= d-d/100 {
		return
	}
	l.at = now.Add(d)
	c.SetReadDeadline(l.at)
}

// ArmWithin makes sure a read deadline between d-slack and d from now is
// set on c: a busy connection re-arms it once per slack, not per request.
func (l *LazyDeadline) ArmWithin(c net.Conn, now time.Time, d, slack time.Duration) {
	if !l.at.IsZero() && l.at.Sub(now) >= d-slack && l.at.Sub(now) <= d {
		return
	}
	l.at = now.Add(d)
	c.SetReadDeadline(l.at)
}

// Clear removes c's read deadline.
func (l *LazyDeadline) Clear(c net.Conn) {
	if !l.at.IsZero() {
		l.at = time.Time{}
		c.SetReadDeadline(time.Time{})
	}
}

// Set sets a deadline Arm does not know of (the next Arm sets its own).
func (l *LazyDeadline) Set(c net.Conn, t time.Time) {
	l.at = time.Time{}
	c.SetReadDeadline(t)
}

// Forget marks the deadline unknown after someone else set one on the
// connection (the next Arm sets its own).
func (l *LazyDeadline) Forget() { l.at = time.Time{} }
