package attack

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// NoBackend is the backend key of responses without an X-Backend header:
// errors made by the balancer itself, or no response at all.
const NoBackend = "-"

// WarmupPhase names the phase of the warm-up, which totals leave out.
const WarmupPhase = "warm-up"

// maxErrorMessages bounds the distinct error messages kept with counts.
const maxErrorMessages = 20

// Stats summarises a set of results.
type Stats struct {
	Requests int `json:"requests"`
	Success  int `json:"success"`
	Errors   int `json:"errors"`
	// Slow counts successful requests that took the slow threshold or longer.
	Slow        int     `json:"slow"`
	SuccessRate float64 `json:"success_rate"` // fraction, 0..1
	ErrorRate   float64 `json:"error_rate"`   // fraction, 0..1
	// DurationS is the wall time the stats cover, in seconds.
	DurationS float64 `json:"duration_s"`
	// Rate is the achieved rate: requests sent per second of DurationS.
	Rate float64 `json:"rate"`
	// Throughput is successful requests per second of DurationS.
	Throughput  float64        `json:"throughput"`
	Latency     Latency        `json:"latency_ms"`
	StatusCodes map[string]int `json:"status_codes"`
	// Backends counts requests per X-Backend value (NoBackend: none).
	Backends      map[string]int `json:"backends"`
	ErrorMessages []ErrorCount   `json:"error_messages,omitempty"`
}

// Latency holds latency figures in milliseconds.
type Latency struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// ErrorCount is one distinct error message and how often it occurred.
type ErrorCount struct {
	Error string `json:"error"`
	Count int    `json:"count"`
}

// Second is the bucket of requests sent during one second of the attack.
type Second struct {
	// T is the second since the attack started (0 = [0s, 1s)).
	T        int     `json:"t"`
	Requests int     `json:"requests"`
	Success  int     `json:"success"`
	Errors   int     `json:"errors"`
	P50      float64 `json:"p50_ms"`
	P95      float64 `json:"p95_ms"`
	P99      float64 `json:"p99_ms"`
	// Codes counts status codes ("0": no response).
	Codes map[string]int `json:"codes,omitempty"`
	// Backends holds the requests each backend served, by X-Backend.
	Backends map[string]BackendSecond `json:"backends,omitempty"`
	// FirstErrorMs and LastErrorMs are when the first and last failed
	// requests of the second were sent, in ms since the attack started.
	FirstErrorMs float64 `json:"first_error_ms,omitempty"`
	LastErrorMs  float64 `json:"last_error_ms,omitempty"`
	// Slow counts the successful requests of the second that took the slow
	// threshold or longer; FirstSlowMs and LastSlowMs are when the first and
	// last of them were sent.
	Slow        int     `json:"slow,omitempty"`
	FirstSlowMs float64 `json:"first_slow_ms,omitempty"`
	LastSlowMs  float64 `json:"last_slow_ms,omitempty"`
}

// BackendSecond is one backend's part of a Second.
type BackendSecond struct {
	Requests int `json:"requests"`
	Errors   int `json:"errors,omitempty"`
	// FirstMs and LastMs are when its first and last requests of the second
	// were sent, in ms since the attack started.
	FirstMs float64 `json:"first_ms"`
	LastMs  float64 `json:"last_ms"`
}

// Share returns each backend's share of the requests that named a backend.
func (s Second) Share() map[string]float64 {
	return share(func(yield func(string, int) bool) {
		for k, b := range s.Backends {
			if !yield(k, b.Requests) {
				return
			}
		}
	})
}

// PhaseStats summarises one phase of a run.
type PhaseStats struct {
	Name    string  `json:"name"`
	StartMs float64 `json:"start_ms"`
	EndMs   float64 `json:"end_ms"`
	Warmup  bool    `json:"warmup,omitempty"`
	Stats
}

// BackendStats summarises the requests one backend served after the warm-up.
type BackendStats struct {
	// Name is the X-Backend value (NoBackend: no header).
	Name     string `json:"name"`
	Requests int    `json:"requests"`
	Success  int    `json:"success"`
	Errors   int    `json:"errors"`
	Slow     int    `json:"slow,omitempty"`
	// Share is the fraction of the requests that named a backend.
	Share   float64 `json:"share"`
	Latency Latency `json:"latency_ms"`
	// FirstMs and LastMs are when its first and last requests were sent.
	FirstMs float64 `json:"first_ms"`
	LastMs  float64 `json:"last_ms"`
}

// Summary is everything an Aggregator learned.
type Summary struct {
	// Start is the time the attack started (written as the run's
	// "started", not here).
	Start    time.Time      `json:"-"`
	WarmupMs float64        `json:"warmup_ms"`
	EndMs    float64        `json:"end_ms"`
	Total    Stats          `json:"total"`
	Phases   []PhaseStats   `json:"phases"`
	Backends []BackendStats `json:"backends"`
	Seconds  []Second       `json:"seconds"`
}

// Aggregator folds results into per-second buckets, phases, per-backend
// figures and totals. Add is meant for the single goroutine that drains the
// attack; Mark, Live and Close may be called from others. Results are placed
// by the time they were sent, so late arrivals land in the right second and
// phase.
type Aggregator struct {
	mu     sync.Mutex // guards every field below
	start  time.Time
	warmup time.Duration
	slow   time.Duration
	phases []*phaseAgg // ordered by start
	secs   []*secondAgg
	total  vegeta.Metrics
	totErr map[string]int
	back   map[string]*backendAgg
	// totalSlow counts slow requests after the warm-up.
	totalSlow int
	closed    *Summary
}

type phaseAgg struct {
	name   string
	start  time.Duration
	warmup bool
	slow   int
	m      vegeta.Metrics
	back   map[string]int
	errs   map[string]int
}

type secondAgg struct {
	lat       vegeta.LatencyMetrics
	s         Second
	firstErr  time.Duration
	lastErr   time.Duration
	firstSlow time.Duration
	lastSlow  time.Duration
}

type backendAgg struct {
	lat                     vegeta.LatencyMetrics
	requests, success, slow int
	first, last             time.Duration
}

// DefaultSlow is the default slow threshold.
const DefaultSlow = time.Second

// NewAggregator returns an aggregator for an attack that started at start.
// Results sent before start+warmup form the warm-up phase; firstPhase names
// the phase after it. Successful requests that take DefaultSlow or longer
// count as slow; SetSlow changes that.
func NewAggregator(start time.Time, warmup time.Duration, firstPhase string) *Aggregator {
	a := &Aggregator{start: start, warmup: warmup, slow: DefaultSlow, totErr: map[string]int{}, back: map[string]*backendAgg{}}
	if warmup > 0 {
		a.phases = append(a.phases, newPhase(WarmupPhase, 0, true))
	}
	a.phases = append(a.phases, newPhase(firstPhase, warmup, false))
	return a
}

func newPhase(name string, start time.Duration, warmup bool) *phaseAgg {
	return &phaseAgg{name: name, start: start, warmup: warmup, back: map[string]int{}, errs: map[string]int{}}
}

// SetSlow sets the latency from which a successful request counts as slow
// (caught by a fault, then answered, e.g. after a retry). Call it before Add.
func (a *Aggregator) SetSlow(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if d > 0 {
		a.slow = d
	}
}

// Start returns the time the attack started.
func (a *Aggregator) Start() time.Time { return a.start }

// Mark starts a phase named name at time at. Phases marked inside the
// warm-up start when it ends.
func (a *Aggregator) Mark(name string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	off := max(at.Sub(a.start), a.warmup)
	p := newPhase(name, off, false)
	i, _ := slices.BinarySearchFunc(a.phases, off, func(p *phaseAgg, t time.Duration) int {
		return cmp.Compare(p.start, t+1) // insert after phases starting at the same time
	})
	a.phases = slices.Insert(a.phases, i, p)
}

// Add folds one result in.
func (a *Aggregator) Add(r *vegeta.Result) {
	a.mu.Lock()
	defer a.mu.Unlock()
	off := max(r.Timestamp.Sub(a.start), 0)
	ok := r.Code >= 200 && r.Code < 400
	slow := ok && r.Latency >= a.slow
	backend := NoBackend
	if r.Headers != nil {
		if b := r.Headers.Get(BackendHeader); b != "" {
			backend = b
		}
	}

	// The second.
	i := int(off / time.Second)
	for len(a.secs) <= i {
		a.secs = append(a.secs, &secondAgg{s: Second{T: len(a.secs)}})
	}
	sec := a.secs[i]
	sec.lat.Add(r.Latency)
	sec.s.Requests++
	if sec.s.Codes == nil {
		sec.s.Codes = map[string]int{}
		sec.s.Backends = map[string]BackendSecond{}
	}
	sec.s.Codes[strconv.Itoa(int(r.Code))]++
	bs := sec.s.Backends[backend]
	if bs.Requests == 0 || ms(off) < bs.FirstMs {
		bs.FirstMs = ms(off)
	}
	bs.LastMs = math.Max(bs.LastMs, ms(off))
	bs.Requests++
	if slow {
		if sec.s.Slow == 0 || off < sec.firstSlow {
			sec.firstSlow = off
		}
		sec.s.Slow++
		sec.lastSlow = max(sec.lastSlow, off)
	}
	if ok {
		sec.s.Success++
	} else {
		bs.Errors++
		if sec.s.Errors == 0 || off < sec.firstErr {
			sec.firstErr = off
		}
		sec.lastErr = max(sec.lastErr, off)
		sec.s.Errors++
	}
	sec.s.Backends[backend] = bs

	// The phase and the totals.
	p := a.phases[0]
	for _, q := range a.phases {
		if q.start <= off {
			p = q
		}
	}
	p.m.Add(r)
	p.back[backend]++
	if slow {
		p.slow++
	}
	if !ok {
		countErr(p.errs, r.Error)
	}
	if p.warmup {
		return
	}
	a.total.Add(r)
	if !ok {
		countErr(a.totErr, r.Error)
	}
	b := a.back[backend]
	if b == nil {
		b = &backendAgg{first: off, last: off}
		a.back[backend] = b
	}
	b.lat.Add(r.Latency)
	b.requests++
	if ok {
		b.success++
	}
	if slow {
		b.slow++
		a.totalSlow++
	}
	b.first = min(b.first, off)
	b.last = max(b.last, off)
}

func countErr(m map[string]int, msg string) {
	if msg == "" {
		msg = "unknown error"
	}
	if _, ok := m[msg]; ok || len(m) < maxErrorMessages {
		m[msg]++
	}
}

// Live returns the bucket of second i as it stands (requests still in flight
// are not in it yet), and false if nothing was sent in it so far.
func (a *Aggregator) Live(i int) (Second, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i < 0 || i >= len(a.secs) || a.secs[i].s.Requests == 0 {
		return Second{T: i}, false
	}
	return a.secs[i].snapshot(), true
}

func (s *secondAgg) snapshot() Second {
	out := s.s
	out.Codes = maps.Clone(s.s.Codes)
	out.Backends = maps.Clone(s.s.Backends)
	if out.Requests > 0 {
		out.P50 = ms(s.lat.Quantile(0.50))
		out.P95 = ms(s.lat.Quantile(0.95))
		out.P99 = ms(s.lat.Quantile(0.99))
	}
	if out.Errors > 0 {
		out.FirstErrorMs = ms(s.firstErr)
		out.LastErrorMs = ms(s.lastErr)
	}
	if out.Slow > 0 {
		out.FirstSlowMs = ms(s.firstSlow)
		out.LastSlowMs = ms(s.lastSlow)
	}
	return out
}

// Close computes the summary of an attack that ended at end (when the last
// request was sent or the attack was stopped). Later calls return the same.
func (a *Aggregator) Close(end time.Time) *Summary {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed != nil {
		return a.closed
	}
	endOff := max(end.Sub(a.start), 0)
	sum := &Summary{Start: a.start, WarmupMs: ms(a.warmup), EndMs: ms(endOff)}

	sum.Seconds = make([]Second, len(a.secs))
	for i, s := range a.secs {
		sum.Seconds[i] = s.snapshot()
	}
	for i, p := range a.phases {
		pEnd := endOff
		if i+1 < len(a.phases) {
			pEnd = a.phases[i+1].start
		}
		if pEnd < p.start {
			pEnd = p.start
		}
		st := stats(&p.m, p.back, p.errs, pEnd-p.start)
		st.Slow = p.slow
		sum.Phases = append(sum.Phases, PhaseStats{Name: p.name, StartMs: ms(p.start), EndMs: ms(pEnd), Warmup: p.warmup, Stats: st})
	}
	totBack := map[string]int{}
	for k, b := range a.back {
		totBack[k] = b.requests
	}
	sum.Total = stats(&a.total, totBack, a.totErr, max(endOff-a.warmup, 0))
	sum.Total.Slow = a.totalSlow
	shares := share(func(yield func(string, int) bool) {
		for k, n := range totBack {
			if !yield(k, n) {
				return
			}
		}
	})
	for name, b := range a.back {
		sum.Backends = append(sum.Backends, BackendStats{
			Name: name, Requests: b.requests, Success: b.success, Errors: b.requests - b.success, Slow: b.slow,
			Share: shares[name], Latency: latency(&b.lat, b.requests), FirstMs: ms(b.first), LastMs: ms(b.last),
		})
	}
	slices.SortFunc(sum.Backends, func(x, y BackendStats) int { return cmp.Compare(x.Name, y.Name) })
	a.closed = sum
	return sum
}

// stats turns vegeta's metrics into Stats covering a wall time of d.
func stats(m *vegeta.Metrics, back, errs map[string]int, d time.Duration) Stats {
	m.Close()
	st := Stats{
		Requests:    int(m.Requests),
		DurationS:   Round(d.Seconds(), 6),
		StatusCodes: maps.Clone(m.StatusCodes),
		Backends:    maps.Clone(back),
	}
	if st.StatusCodes == nil {
		st.StatusCodes = map[string]int{}
	}
	if st.Requests > 0 {
		st.Success = int(math.Round(m.Success * float64(m.Requests)))
		st.Errors = st.Requests - st.Success
		st.SuccessRate = Round(float64(st.Success)/float64(st.Requests), 6)
		st.ErrorRate = Round(float64(st.Errors)/float64(st.Requests), 6)
		st.Latency = Latency{
			Mean: ms(m.Latencies.Mean), P50: ms(m.Latencies.P50), P90: ms(m.Latencies.P90),
			P95: ms(m.Latencies.P95), P99: ms(m.Latencies.P99), P999: ms(m.Latencies.Quantile(0.999)), Max: ms(m.Latencies.Max),
		}
	}
	if s := d.Seconds(); s > 0 {
		st.Rate = Round(float64(st.Requests)/s, 3)
		st.Throughput = Round(float64(st.Success)/s, 3)
	}
	for msg, n := range errs {
		st.ErrorMessages = append(st.ErrorMessages, ErrorCount{Error: msg, Count: n})
	}
	slices.SortFunc(st.ErrorMessages, func(x, y ErrorCount) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Error, y.Error))
	})
	return st
}

func latency(l *vegeta.LatencyMetrics, n int) Latency {
	if n == 0 {
		return Latency{}
	}
	return Latency{
		Mean: ms(l.Total / time.Duration(n)), P50: ms(l.Quantile(0.5)), P90: ms(l.Quantile(0.9)),
		P95: ms(l.Quantile(0.95)), P99: ms(l.Quantile(0.99)), P999: ms(l.Quantile(0.999)), Max: ms(l.Max),
	}
}

// share returns each key's fraction of the counts, leaving NoBackend out.
func share(counts func(yield func(string, int) bool)) map[string]float64 {
	total := 0
	for k, n := range counts {
		if k != NoBackend {
			total += n
		}
	}
	out := map[string]float64{}
	if total == 0 {
		return out
	}
	for k, n := range counts {
		if k != NoBackend {
			out[k] = Round(float64(n)/float64(total), 6)
		}
	}
	return out
}

// Round rounds x to the given number of decimals. Results are written to
// what was measured: times in ms to the microsecond (3 decimals), in
// seconds to the microsecond (6), rates per second to 3 decimals, fractions
// to 6 (see results/README.md).
func Round(x float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(x*p) / p
}

// ms converts a duration to float milliseconds, rounded to microseconds.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}
