// Package outlier ejects backends that are alive but sick: every quarter
// of an interval it compares every backend's error rate and mean response
// time over the last interval (a sliding window) with the other backends'
// and takes out of rotation one that stands far above them (Envoy's outlier detection, HAProxy's observe layer7). An
// ejection lasts base_ejection_time times the number of times the backend
// was ejected lately, up to max_ejection_time; at most max_ejection_percent
// of the backends are ejected at once. An ejected backend comes back on its
// own when its time is up (and only if its active health checks pass: a
// backend they mark down stays down). Each ejection is logged once, with
// the figures that caused it.
package outlier

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lblab/lblab/lb/internal/pool"
)

// Config configures a Detector.
type Config struct {
	Pool *pool.Pool
	// Interval is the window backends are compared over: the tries of
	// the last Interval, judged every Interval/Steps.
	Interval time.Duration
	// ErrorRate (a fraction; 0: rule off): a backend whose share of failed
	// tries (errors, timeouts, 5xx) is this much above the others' is ejected.
	ErrorRate float64
	// LatencyFactor (0: rule off): a backend whose mean response time is
	// this many times the others' (and at least MinLatencyGap more) is ejected.
	LatencyFactor float64
	// SlowShare (a fraction; 0: rule off): with hedging on, a backend whose
	// share of first tries still unanswered at the hedge delay (Late) is
	// this much above the others' is ejected.
	SlowShare float64
	// MinRequests is the least number of tries in an interval for a backend
	// to be judged, or to count as one of the others.
	MinRequests int
	// BaseEjection is the first ejection's length; the n-th is n times as
	// long, up to MaxEjection.
	BaseEjection, MaxEjection time.Duration
	// MaxEjectedFraction bounds the ejected backends to this fraction of all
	// backends (rounded down: with 3 backends and 0.5, one).
	MaxEjectedFraction float64
	Logger             *slog.Logger
	// OnEject, when set, is called for each ejection (metrics).
	OnEject func(b *pool.Backend)
}

// MinLatencyGap is the least difference between a backend's mean response
// time and the others' for the latency rule to eject it: 1 ms against
// 0.2 ms is five times slower but nothing to act on.
const MinLatencyGap = 10 * time.Millisecond

// Steps is how many times per interval the detector judges the backends,
// each time over the last interval (Steps slices of it). Judging only at
// the end of each interval, a backend that turned slow or started failing
// just after one was judged at the earliest two intervals later (4 s
// with the default interval of 2 s, while a third of the traffic went
// to it); with a sliding window it is judged as soon as its last
// interval's figures stand out, a quarter of an interval later at most.
const Steps = 4

// Detector watches the tries' outcomes and ejects outliers.
type Detector struct {
	cfg   Config
	stats sync.Map // *pool.Backend -> *stats

	mu sync.Mutex // serialises Evaluate
}

type slice struct{ tries, fails, latNs, late atomic.Int64 }

type stats struct {
	ring [Steps]slice // the last interval, a slice per step
	cur  atomic.Int32 // the slice tries are counted in now

	// Guarded by Detector.mu.
	ejections int       // the multiplier of the next ejection's length
	until     time.Time // end of the current ejection; zero: not ejected
	since     time.Time // last ejection or decay of the multiplier
}

// New returns a detector for cfg.
func New(cfg Config) *Detector {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MinRequests < 1 {
		cfg.MinRequests = 1
	}
	return &Detector{cfg: cfg}
}

func (d *Detector) get(b *pool.Backend) *stats {
	if s, ok := d.stats.Load(b); ok {
		return s.(*stats)
	}
	s, _ := d.stats.LoadOrStore(b, &stats{})
	return s.(*stats)
}

// Observe records one try on b: whether it failed (an error, a try timeout,
// a 5xx response) and how long it took.
func (d *Detector) Observe(b *pool.Backend, failed bool, dur time.Duration) {
	s := d.get(b)
	c := &s.ring[s.cur.Load()]
	c.tries.Add(1)
	if failed {
		c.fails.Add(1)
	}
	c.latNs.Add(int64(dur))
}

// Late records that a first try on b was still unanswered when the hedge
// delay (a percentile of the un-hedged latency, e.g. its p95) ran out.
// Backends alike see about the same share of such tries (5% at the p95);
// one that stands far above the others is slow, whatever the hedges made
// of its tries: a try cancelled because its hedge answered first tells
// only that it was slower than the delay, so its time says little, and a
// mean over such times stays low while the backend is very slow.
func (d *Detector) Late(b *pool.Backend) {
	s := d.get(b)
	s.ring[s.cur.Load()].late.Add(1)
}

// window sums the slices of the last interval and starts a new slice in
// place of the oldest.
func (s *stats) window() (tries, fails, latNs, late int64) {
	for i := range s.ring {
		tries += s.ring[i].tries.Load()
		fails += s.ring[i].fails.Load()
		latNs += s.ring[i].latNs.Load()
		late += s.ring[i].late.Load()
	}
	next := (s.cur.Load() + 1) % Steps
	s.ring[next].tries.Store(0)
	s.ring[next].fails.Store(0)
	s.ring[next].latNs.Store(0)
	s.ring[next].late.Store(0)
	s.cur.Store(next)
	return tries, fails, latNs, late
}

// forget drops the figures (at an ejection and at the return from one:
// what the backend did before says little about what it does after).
func (s *stats) forget() {
	for i := range s.ring {
		s.ring[i].tries.Store(0)
		s.ring[i].fails.Store(0)
		s.ring[i].latNs.Store(0)
		s.ring[i].late.Store(0)
	}
}

// Run evaluates every Interval/Steps until ctx ends.
func (d *Detector) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Interval / Steps)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			d.Evaluate(now)
		}
	}
}

// figures are one backend's tries over an interval.
type figures struct {
	b            *pool.Backend
	s            *stats
	tries, fails int64
	latNs, late  int64
}

func (f figures) rate() float64 { return float64(f.fails) / float64(f.tries) }
func (f figures) lateShare() float64 {
	return float64(min(f.late, f.tries)) / float64(max(f.tries, 1))
}
func (f figures) mean() time.Duration {
	return time.Duration(f.latNs / max(f.tries, 1))
}

// Evaluate ends a step at now: it brings back the backends whose
// ejection is over, and ejects the outliers of the last interval (the
// last Steps steps).
func (d *Detector) Evaluate(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	all := d.cfg.Pool.All()
	ejected := 0
	var judged []figures
	for _, b := range all {
		s := d.get(b)
		f := figures{b: b, s: s}
		f.tries, f.fails, f.latNs, f.late = s.window()
		if !s.until.IsZero() {
			if now.Before(s.until) {
				ejected++
				continue
			}
			s.until = time.Time{}
			s.since = now
			s.forget()
			d.cfg.Pool.Eject(b, false)
			d.cfg.Logger.Info("backend back from outlier ejection", "backend", b.Name, "address", b.Addr,
				"state", b.State().String(), "ejections", s.ejections)
			continue // judged from the next interval on
		}
		if s.ejections > 0 && now.Sub(s.since) >= d.cfg.BaseEjection {
			s.ejections-- // a quiet base ejection time: the next ejection is shorter
			s.since = now
		}
		if b.State() == pool.StateUp && f.tries >= int64(d.cfg.MinRequests) {
			judged = append(judged, f)
		}
	}
	if len(judged) < 2 {
		return
	}
	type verdict struct {
		f        figures
		severity float64
		reason   string
	}
	var out []verdict
	for i, f := range judged {
		var oTries, oFails, oLat, oLate int64
		for j, o := range judged {
			if j != i {
				oTries += o.tries
				oFails += o.fails
				oLat += o.latNs
				oLate += o.late
			}
		}
		others := figures{tries: oTries, fails: oFails, latNs: oLat, late: oLate}
		if r := d.cfg.ErrorRate; r > 0 && f.rate()-others.rate() >= r {
			out = append(out, verdict{f, 1 + f.rate() - others.rate(), fmt.Sprintf(
				"error rate %.1f%% (%d of %d tries) against %.1f%% for the others over %s",
				100*f.rate(), f.fails, f.tries, 100*others.rate(), d.cfg.Interval)})
			continue
		}
		if k := d.cfg.LatencyFactor; k > 0 && f.mean() >= time.Duration(k*float64(others.mean())) &&
			f.mean()-others.mean() >= MinLatencyGap {
			out = append(out, verdict{f, float64(f.mean()) / math.Max(float64(others.mean()), 1) / 1e6, fmt.Sprintf(
				"mean response time %s (%d tries) against %s for the others over %s",
				f.mean().Round(100*time.Microsecond), f.tries, others.mean().Round(100*time.Microsecond), d.cfg.Interval)})
			continue
		}
		if r := d.cfg.SlowShare; r > 0 && f.lateShare()-others.lateShare() >= r {
			out = append(out, verdict{f, 1 + f.lateShare() - others.lateShare(), fmt.Sprintf(
				"%.1f%% of tries (%d of %d) unanswered at the hedge delay against %.1f%% for the others over %s",
				100*f.lateShare(), f.late, f.tries, 100*others.lateShare(), d.cfg.Interval)})
		}
	}
	slices.SortFunc(out, func(a, b verdict) int { return cmp.Compare(b.severity, a.severity) })
	limit := int(d.cfg.MaxEjectedFraction*float64(len(all)) + 1e-9)
	for _, v := range out {
		b, s := v.f.b, v.f.s
		if ejected >= limit {
			d.cfg.Logger.Warn("outlier not ejected: max_ejection_percent reached", "backend", b.Name,
				"address", b.Addr, "reason", v.reason, "ejected", ejected, "backends", len(all))
			continue
		}
		s.ejections++
		length := min(time.Duration(s.ejections)*d.cfg.BaseEjection, d.cfg.MaxEjection)
		s.until = now.Add(length)
		s.since = now
		s.forget()
		ejected++
		d.cfg.Pool.Eject(b, true)
		d.cfg.Logger.Warn("backend ejected as an outlier", "backend", b.Name, "address", b.Addr,
			"reason", v.reason, "for", length.String(), "ejections", s.ejections)
		if d.cfg.OnEject != nil {
			d.cfg.OnEject(b)
		}
	}
}

// Ejection is one ejected backend, for the JSON status.
type Ejection struct {
	Backend   string    `json:"backend"`
	Address   string    `json:"address"`
	Until     time.Time `json:"until"`
	Ejections int       `json:"ejections"`
}

// Ejected returns the backends ejected now.
func (d *Detector) Ejected() []Ejection {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Ejection
	for _, b := range d.cfg.Pool.All() {
		if s := d.get(b); !s.until.IsZero() {
			out = append(out, Ejection{Backend: b.Name, Address: b.Addr, Until: s.until, Ejections: s.ejections})
		}
	}
	return out
}
