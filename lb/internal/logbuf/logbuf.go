// Package logbuf takes the access log off the request path. A request's
// line is copied into memory and written out by a goroutine of its own, so
// a slow log reader (Docker's log pipeline under load, a terminal, a full
// pipe) never holds a response back. Lines beyond a bound are dropped and
// counted, as HAProxy drops the log lines its ring cannot hold, rather
// than block the traffic.
package logbuf

import (
	"io"
	"sync"
	"sync/atomic"
)

// DefaultMax is the bound on bytes waiting to be written (some 3,000 lines
// of about 300 bytes).
const DefaultMax = 1 << 20

// Writer is an io.Writer whose Write copies each line (each call) into
// memory and returns at once; a goroutine writes what waits to the
// underlying writer, several lines in one call when they pile up. It is
// safe for concurrent use. Close writes what is left and stops the
// goroutine; later writes go straight through.
type Writer struct {
	out  io.Writer
	max  int
	wake chan struct{}
	done chan struct{}

	mu     sync.Mutex
	buf    []byte // waiting to be written
	spare  []byte // the buffer last written, reused for the next lines
	closed bool

	dropped atomic.Uint64
	wg      sync.WaitGroup
}

// New returns a Writer in front of out that keeps at most max bytes
// waiting (DefaultMax when max <= 0).
func New(out io.Writer, max int) *Writer {
	if max <= 0 {
		max = DefaultMax
	}
	w := &Writer{out: out, max: max, wake: make(chan struct{}, 1), done: make(chan struct{})}
	w.wg.Add(1)
	go w.run()
	return w
}

// Write keeps a copy of p for the writer goroutine and returns len(p),
// or drops p (and counts it) when the bytes waiting would exceed the
// bound. It never waits for the underlying writer, except after Close.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return w.out.Write(p)
	}
	if len(w.buf)+len(p) > w.max {
		w.mu.Unlock()
		w.dropped.Add(1)
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // already woken: it will take these bytes too
	}
	return len(p), nil
}

// Dropped returns the number of writes (lines) dropped so far.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// Close writes what waits and stops the writer goroutine.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.done)
	w.wg.Wait()
	return nil
}

func (w *Writer) run() {
	defer w.wg.Done()
	for {
		select {
		case <-w.wake:
			w.flush()
		case <-w.done:
			w.flush() // Write adds nothing once closed is set
			return
		}
	}
}

// flush writes what waits, swapping buffers so that writers fill the
// other one meanwhile. A write error is not reported (no caller waits):
// the lines are lost, as they would be with a closed stdout.
func (w *Writer) flush() {
	w.mu.Lock()
	b := w.buf
	w.buf, w.spare = w.spare[:0], nil
	w.mu.Unlock()
	if len(b) > 0 {
		w.out.Write(b)
	}
	w.mu.Lock()
	w.spare = b[:0]
	w.mu.Unlock()
}
