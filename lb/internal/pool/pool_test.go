package pool

import (
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestTransitionHappensOnce(t *testing.T) {
	b := NewBackend("b", "127.0.0.1:1", 1)
	var changes atomic.Int64
	p := New(Options{Logger: quiet(), OnChange: func(*Backend, State, State, string) { changes.Add(1) }}, b)
	var wg sync.WaitGroup
	var won atomic.Int64
	for range 50 {
		wg.Go(func() {
			if p.Transition(b, StateUp, StateDown, "race") {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, won.Load())
	assert.EqualValues(t, 1, changes.Load())
	assert.Empty(t, p.Available())
	assert.False(t, p.Transition(b, StateUp, StateDown, "again"), "already down")
	assert.True(t, p.Set(b, StateDraining, "admin"))
	assert.False(t, p.Transition(b, StateDown, StateUp, "health"), "health checks do not override an admin state")
}

func TestAddRemoveAndAvailable(t *testing.T) {
	a, b := NewBackend("", "127.0.0.1:1", 1), NewBackend("", "127.0.0.1:2", 2)
	p := New(Options{Logger: quiet()}, a)
	changed := p.Changed()
	require.NoError(t, p.Add(b))
	select {
	case <-changed:
	default:
		t.Fatal("Changed not signalled on Add")
	}
	require.Error(t, p.Add(NewBackend("", "127.0.0.1:2", 1)), "duplicate address")
	assert.Equal(t, []*Backend{a, b}, p.Available())
	p.Set(a, StateDisabled, "test")
	assert.Equal(t, []*Backend{b}, p.Available())
	assert.Same(t, b, p.Remove("127.0.0.1:2"))
	assert.Nil(t, p.Remove("127.0.0.1:2"))
	assert.Equal(t, []*Backend{a}, p.All())
	assert.Equal(t, "127.0.0.1:1", a.Name, "name defaults to the address")
}

func TestSlowStartRamps(t *testing.T) {
	b := NewBackend("b", "127.0.0.1:1", 4)
	p := New(Options{Logger: quiet(), SlowStart: 400 * time.Millisecond}, b)
	assert.Equal(t, 4*WeightScale, b.EffectiveWeight(), "configured backends start at full weight")
	p.Transition(b, StateUp, StateDown, "test")
	p.Transition(b, StateDown, StateUp, "test")
	w0 := b.EffectiveWeight()
	assert.Less(t, w0, 4*WeightScale/4, "just after coming back it takes a small share")
	time.Sleep(200 * time.Millisecond)
	mid := b.EffectiveWeight()
	assert.Greater(t, mid, w0)
	assert.Less(t, mid, 4*WeightScale)
	time.Sleep(250 * time.Millisecond)
	assert.Equal(t, 4*WeightScale, b.EffectiveWeight())
}

func TestRecordFailureWindow(t *testing.T) {
	b := NewBackend("b", "127.0.0.1:1", 1)
	now := time.Now()
	assert.False(t, b.RecordFailure(now, 3, time.Second))
	assert.False(t, b.RecordFailure(now.Add(700*time.Millisecond), 3, time.Second))
	assert.False(t, b.RecordFailure(now.Add(1500*time.Millisecond), 3, time.Second), "the first failure fell out of the window")
	assert.True(t, b.RecordFailure(now.Add(1600*time.Millisecond), 3, time.Second))
	assert.False(t, b.RecordFailure(now, 0, time.Second), "max_fails 0 turns passive checks off")
}

func TestObserveLatencyPeakEWMA(t *testing.T) {
	b := NewBackend("b", "127.0.0.1:1", 1)
	now := time.Now()
	b.ObserveLatency(10*time.Millisecond, now)
	assert.Equal(t, 10*time.Millisecond, b.Latency())
	b.ObserveLatency(50*time.Millisecond, now.Add(time.Millisecond))
	assert.Equal(t, 50*time.Millisecond, b.Latency(), "a slower sample is taken at once (peak)")
	b.ObserveLatency(10*time.Millisecond, now.Add(10*time.Second+time.Millisecond))
	got := b.Latency()
	assert.Greater(t, got, 10*time.Millisecond)
	assert.Less(t, got, 30*time.Millisecond, "faster samples decay it (tau 10s)")
}

// Passive failures leave at least PassiveMinAvailable of the backends (not
// counting draining or disabled ones) available, however many goroutines
// fail them at once; 0 turns the guard off.
func TestFailKeepsMinimumAvailable(t *testing.T) {
	for _, c := range []struct {
		name     string
		min      float64
		n        int
		disabled int // of the n, disabled by the operator first
		wantDown int
	}{
		{"off", 0, 3, 0, 3},
		{"half of three", 0.5, 3, 0, 1},
		{"half of four", 0.5, 4, 0, 2},
		{"half of two", 0.5, 2, 0, 1},
		{"a single backend stays", 0.5, 1, 0, 0},
		{"all of them", 1, 3, 0, 0},
		{"disabled ones do not count", 0.5, 4, 2, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var bs []*Backend
			for i := range c.n {
				bs = append(bs, NewBackend("", "127.0.0.1:"+string(rune('1'+i)), 1))
			}
			p := New(Options{Logger: quiet(), PassiveMinAvailable: c.min}, bs...)
			for _, b := range bs[:c.disabled] {
				p.Set(b, StateDisabled, "operator")
			}
			var wg sync.WaitGroup
			for _, b := range bs[c.disabled:] {
				for range 20 {
					wg.Go(func() { p.Fail(b, 1, time.Minute, "reset") })
				}
			}
			wg.Wait()
			down := 0
			for _, b := range bs {
				if b.State() == StateDown {
					down++
				}
			}
			assert.Equal(t, c.wantDown, down)
		})
	}
}
