package l4

import (
	"sync"
	"time"
)

// idleWatch enforces IdleTimeout on one connection without touching the data
// path: a timer wakes once per idle period and asks how long the connection
// has been without data (idleFor); if that is the whole timeout it cuts the
// connection, else it sleeps for the rest. An active connection thus costs
// one timer and one getsockopt per idle period, and io.Copy keeps its splice.
type idleWatch struct {
	mu      sync.Mutex // guards t and stopped
	t       *time.Timer
	stopped bool
	probe   idleProbe
}

// watchIdle starts watching c; the caller must call stop when c ends.
func (s *Server) watchIdle(c *conn) *idleWatch {
	w := &idleWatch{}
	timeout := s.cfg.IdleTimeout
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t = time.AfterFunc(timeout, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.stopped {
			return
		}
		since, err := w.probe.idleFor(c)
		if err != nil { // the socket is closing; the relay is ending anyway
			return
		}
		if since >= timeout {
			c.abort(reasonIdle)
			return
		}
		w.t.Reset(timeout - since)
	})
	return w
}

func (w *idleWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.t.Stop()
}
