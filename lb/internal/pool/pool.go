package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoBackend is the one error for "no healthy backend to send this to": a
// 503 in HTTP mode, a refused connection in TCP mode.
var ErrNoBackend = errors.New("no healthy backend")

// Options configures a Pool.
type Options struct {
	// Logger receives one line per state change. Default: slog.Default().
	Logger *slog.Logger
	// SlowStart, when positive, ramps a backend's effective weight from 1 to its
	// full weight over this long after it comes back up.
	SlowStart time.Duration
	// OnChange, when set, is called once per state transition, after it happened.
	OnChange func(b *Backend, from, to State, reason string)
	// OnRemove, when set, is called once for each backend removed from the pool.
	OnRemove func(b *Backend)
	// PassiveMinAvailable (0..1) is the share of the backends (those not
	// draining or disabled) that passive failures (Fail) must leave
	// available: a passive failure that would leave fewer is not acted on
	// (passive_min_available_percent). 0 turns the guard off.
	PassiveMinAvailable float64
	// OnPassiveHeld, when set, is called each time the guard keeps b up
	// against a passive failure that would have taken it down (metrics).
	OnPassiveHeld func(b *Backend)
}

// Pool is the set of backends. Reads (All, Available) are lock-free snapshots;
// membership changes and snapshot rebuilds are serialised by mu.
type Pool struct {
	opts Options

	mu      sync.Mutex // serialises Add, Remove and snapshot rebuilds; guards changed
	failMu  sync.Mutex // serialises passive take-downs, so that the guard counts right
	changed chan struct{}
	all     atomic.Pointer[[]*Backend]
	avail   atomic.Pointer[[]*Backend]
}

// New returns a pool holding backends, all up.
func New(opts Options, backends ...*Backend) *Pool {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	p := &Pool{opts: opts, changed: make(chan struct{})}
	all := slices.Clone(backends)
	for _, b := range all {
		b.rampLen = opts.SlowStart // written before the backend is shared
	}
	p.all.Store(&all)
	p.rebuild()
	return p
}

// All returns every backend, whatever its state. The slice must not be modified.
func (p *Pool) All() []*Backend { return *p.all.Load() }

// Available returns the backends that take new requests (state up). The slice
// is a shared snapshot and must not be modified.
func (p *Pool) Available() []*Backend { return *p.avail.Load() }

// Get returns the backend with address addr, or nil.
func (p *Pool) Get(addr string) *Backend {
	for _, b := range p.All() {
		if b.Addr == addr {
			return b
		}
	}
	return nil
}

// Changed returns a channel that is closed at the next membership change.
func (p *Pool) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// Add adds b (in the state it holds) to the pool.
func (p *Pool) Add(b *Backend) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.All()
	for _, x := range old {
		if x.Addr == b.Addr {
			return fmt.Errorf("add backend %s: already in the pool", b.Addr)
		}
	}
	b.rampLen = p.opts.SlowStart // written before the backend is shared
	all := append(slices.Clone(old), b)
	p.all.Store(&all)
	p.rebuildLocked()
	p.notifyLocked()
	p.opts.Logger.Info("backend added", "backend", b.Name, "address", b.Addr, "state", b.State().String())
	return nil
}

// Remove takes the backend with address addr out of the pool and returns it, or
// nil when there is none. Requests already in flight on it finish normally.
func (p *Pool) Remove(addr string) *Backend {
	p.mu.Lock()
	old := p.All()
	i := slices.IndexFunc(old, func(b *Backend) bool { return b.Addr == addr })
	if i < 0 {
		p.mu.Unlock()
		return nil
	}
	b := old[i]
	all := slices.Delete(slices.Clone(old), i, i+1)
	p.all.Store(&all)
	p.rebuildLocked()
	p.notifyLocked()
	p.mu.Unlock()
	p.opts.Logger.Info("backend removed", "backend", b.Name, "address", b.Addr)
	if p.opts.OnRemove != nil {
		p.opts.OnRemove(b)
	}
	return b
}

// Transition moves b from state from to state to, if b is in state from. It
// reports whether it did; the change is logged and reported to OnChange exactly
// once, however many goroutines race to make it.
func (p *Pool) Transition(b *Backend, from, to State, reason string) bool {
	if from == to || !b.state.CompareAndSwap(int32(from), int32(to)) {
		return false
	}
	p.changedState(b, from, to, reason)
	return true
}

// Set moves b to state to from whatever state it is in (used by the runtime
// API) and reports whether the state changed.
func (p *Pool) Set(b *Backend, to State, reason string) bool {
	for {
		from := b.State()
		if from == to {
			return false
		}
		if b.state.CompareAndSwap(int32(from), int32(to)) {
			p.changedState(b, from, to, reason)
			return true
		}
	}
}

func (p *Pool) changedState(b *Backend, from, to State, reason string) {
	now := time.Now()
	b.noteChange(now, reason, to == StateUp || from == StateUp)
	if to == StateUp && p.opts.SlowStart > 0 {
		b.rampStart.Store(now.UnixNano())
	}
	p.rebuild()
	level := slog.LevelInfo
	if to == StateDown {
		level = slog.LevelWarn
	}
	p.opts.Logger.Log(context.Background(), level, "backend "+to.String(), "backend", b.Name, "address", b.Addr, "from", from.String(), "reason", reason)
	if p.opts.OnChange != nil {
		p.opts.OnChange(b, from, to, reason)
	}
}

func (p *Pool) rebuild() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rebuildLocked()
}

func (p *Pool) rebuildLocked() {
	all := p.All()
	avail := make([]*Backend, 0, len(all))
	for _, b := range all {
		if b.Available() {
			avail = append(avail, b)
		}
	}
	p.avail.Store(&avail)
}

func (p *Pool) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Fail records a passive failure of b (a request or connection that failed on
// it) and, once b has failed maxFails times within window, takes it down at
// once with reason. It reports whether it took b down.
//
// With Options.PassiveMinAvailable set, it does not take b down when that
// would leave fewer than that share of the backends (not counting draining
// or disabled ones) available: when most backends seem to fail at once the
// cause is more likely shared (the balancer's own host stalled, its network)
// than in each of them, and taking them all down would turn every request
// into a 503 until the active checks bring them back. The active checks
// still take such a backend down when it fails them.
func (p *Pool) Fail(b *Backend, maxFails int, window time.Duration, reason string) bool {
	if !b.RecordFailure(time.Now(), maxFails, window) {
		return false
	}
	why := fmt.Sprintf("passive: %d failures within %s, last: %s", maxFails, window, reason)
	if p.opts.PassiveMinAvailable <= 0 {
		return p.Transition(b, StateUp, StateDown, why)
	}
	p.failMu.Lock()
	defer p.failMu.Unlock()
	if !b.Available() {
		return p.Transition(b, StateUp, StateDown, why) // ejected, or no longer up: nothing to keep
	}
	eligible, available := 0, 0
	for _, x := range p.All() {
		switch x.State() {
		case StateDraining, StateDisabled:
			continue
		}
		eligible++
		if x.Available() {
			available++
		}
	}
	if float64(available-1) < p.opts.PassiveMinAvailable*float64(eligible)-1e-9 {
		level := slog.LevelDebug
		if !b.passiveHeld.Swap(true) {
			level = slog.LevelWarn // once, until the backend next changes state
		}
		p.opts.Logger.Log(context.Background(), level, "backend kept up despite passive failures: too few backends would be left",
			"backend", b.Name, "address", b.Addr, "available", available, "of", eligible,
			"passive_min_available_percent", p.opts.PassiveMinAvailable*100, "reason", reason)
		if p.opts.OnPassiveHeld != nil {
			p.opts.OnPassiveHeld(b)
		}
		return false
	}
	return p.Transition(b, StateUp, StateDown, why)
}

// Eject takes b out of rotation as an outlier (on) or puts it back (off);
// its state (up, down, ...) is unchanged. The outlier detector logs why.
func (p *Pool) Eject(b *Backend, on bool) {
	if b.ejected.Swap(on) != on {
		p.rebuild()
	}
}

// Without returns the backends of cands that are not in tried, in a new
// slice; retries use it so that they never go back to a backend that failed.
func Without(cands, tried []*Backend) []*Backend {
	out := make([]*Backend, 0, len(cands))
	for _, c := range cands {
		if !slices.Contains(tried, c) {
			out = append(out, c)
		}
	}
	return out
}
