package logbuf

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockedBuffer is a bytes.Buffer safe for the writer goroutine and the test.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// gate is a writer that blocks every write until it is opened: a log
// reader that fell behind.
type gate struct {
	open chan struct{}
	in   chan struct{} // a write has started
	out  lockedBuffer
}

func newGate() *gate { return &gate{open: make(chan struct{}), in: make(chan struct{}, 1)} }

func (g *gate) Write(p []byte) (int, error) {
	select {
	case g.in <- struct{}{}:
	default:
	}
	<-g.open
	return g.out.Write(p)
}

// TestLinesArriveWholeInOrderAndOnce: writers on many goroutines; after
// Close the output holds every line once, whole, each writer's in order.
func TestLinesArriveWholeInOrderAndOnce(t *testing.T) {
	const writers, lines = 8, 2000
	var out lockedBuffer
	w := New(&out, 0)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(w, "writer=%d line=%d %s\n", g, i, strings.Repeat("x", i%50))
			}
		})
	}
	wg.Wait()
	require.NoError(t, w.Close())
	next := make([]int, writers)
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, got, writers*lines)
	for _, l := range got {
		var g, i int
		var pad string
		_, err := fmt.Sscanf(l, "writer=%d line=%d %s", &g, &i, &pad)
		if i%50 == 0 {
			_, err = fmt.Sscanf(l, "writer=%d line=%d", &g, &i)
		}
		require.NoError(t, err, "a torn line: %q", l)
		require.Equal(t, next[g], i, "writer %d's lines out of order", g)
		require.Equal(t, strings.Repeat("x", i%50), pad, "line %q", l)
		next[g]++
	}
	assert.Zero(t, w.Dropped())
}

// TestWriteNeverWaitsForASlowReader: with the reader stuck, writes within
// the bound return; beyond it lines are dropped and counted, never torn;
// once the reader moves, what was kept arrives.
func TestWriteNeverWaitsForASlowReader(t *testing.T) {
	const line = "0123456789012345678901234567\n" // 30 bytes
	const n, max = 20, 100
	g := newGate()
	w := New(g, max)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		w.Write([]byte(line))
		<-g.in // the writer goroutine holds the first line, stuck in the reader
		for range n - 1 {
			w.Write([]byte(line))
		}
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second): // a bound on a hung test, not a timing assertion
		t.Fatal("Write waited for the stuck reader")
	}
	// One line is with the stuck reader, three fit in 100 bytes: the rest dropped.
	assert.Equal(t, uint64(n-1-max/len(line)), w.Dropped())
	close(g.open)
	require.NoError(t, w.Close())
	out := g.out.String()
	assert.Equal(t, strings.Repeat(line, 1+max/len(line)), out, "the kept lines, whole")
}

// TestAfterCloseWritesGoStraightThrough: nothing written after Close is lost.
func TestAfterCloseWritesGoStraightThrough(t *testing.T) {
	var out lockedBuffer
	w := New(&out, 0)
	w.Write([]byte("before\n"))
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "a second Close is harmless")
	w.Write([]byte("after\n"))
	assert.Equal(t, "before\nafter\n", out.String())
}

// TestLinesThatPileUpGoOutTogether: while the reader is stuck, lines wait
// and then leave in one write, not one write each.
func TestLinesThatPileUpGoOutTogether(t *testing.T) {
	g := newGate()
	w := New(g, 0)
	w.Write([]byte("first\n"))
	<-g.in
	for i := range 10 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	close(g.open)
	require.NoError(t, w.Close())
	assert.Equal(t, 2, g.out.writes, "the first line, then the ten that waited in one write")
	assert.True(t, strings.HasPrefix(g.out.String(), "first\nline 0\n"))
}
