package main

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// crowdConfig is one crowd measurement.
type crowdConfig struct {
	Addr, Host string
	Conns      int
	// Period between two requests of one connection (one second).
	Period time.Duration
	// Duration of the paced window; the proxy's CPU is measured over it
	// and the wait for the last responses.
	Duration time.Duration
	// Proxy measures the proxy's CPU time; Self, peerbench's own;
	// Backends, the backends' (all of them, or none).
	Proxy, Self *cpuMeter
	Backends    []*cpuMeter
}

// crowdDrain: how long after the window the last responses may take.
const crowdDrain = 5 * time.Second

// crowdShortfall: a round whose achieved rate is below this share of the
// intended rate is flagged: the generator (or the proxy) fell short.
const crowdShortfall = 0.95

// crowdResult is what the generator itself did in one crowd measurement.
type crowdResult struct {
	Conns int `json:"conns"` // connections asked for
	// PeriodS: seconds between two requests of one connection.
	PeriodS float64 `json:"period_s"`
	Opened  int     `json:"opened"` // connections open when the window started
	OpenS   float64 `json:"open_s"`
	// Intended: request slots in the window (each opened connection's
	// seconds from its jittered start); IntendedPerS = opened ÷ period.
	Intended     int64   `json:"intended"`
	IntendedPerS float64 `json:"intended_per_s"`
	// Sent: requests written; Missed: slots skipped because the
	// connection was a whole period late for them, or had failed; Behind:
	// slots (sent late or missed) whose time came while the connection
	// still waited for its previous response: the proxy's doing, not the
	// generator's.
	Sent   int64 `json:"sent"`
	Missed int64 `json:"missed"`
	Behind int64 `json:"behind"`
	// AchievedPerS: successful responses per second of the window;
	// Achieved: that ÷ IntendedPerS; Short: Achieved < crowdShortfall.
	AchievedPerS float64 `json:"achieved_per_s"`
	Achieved     float64 `json:"achieved"`
	Short        bool    `json:"short"`
	// LagP99Ms, LagMaxMs: how late the generator sent the requests whose
	// connection was ready in time (its own lateness: timers, scheduling).
	LagP99Ms float64 `json:"lag_p99_ms"`
	LagMaxMs float64 `json:"lag_max_ms"`
	// GenCPUPer100k: peerbench's own CPU seconds per 100k requests.
	GenCPUPer100k *float64 `json:"gen_cpu_s_per_100k,omitempty"`
	// BackendsCPUPer100k: the backends' CPU seconds per 100k requests,
	// together. MachineIdle: the share of all CPUs' time that was idle
	// over the window (0-1): near 0, the machine itself was the limit.
	BackendsCPUPer100k *float64 `json:"backends_cpu_s_per_100k,omitempty"`
	MachineIdle        *float64 `json:"machine_idle,omitempty"`
	// Seconds: each second of the window (by when its requests were
	// sent): how many, p50 and p99. A round that fell behind shows here.
	Seconds  []crowdSecond `json:"seconds"`
	FirstErr string        `json:"first_error,omitempty"`
}

// crowdShot is one request of the crowd.
type crowdShot struct {
	due, sent time.Time
	// behind: the previous response came after due, so the request could
	// not go out on time whatever the generator did.
	behind  bool
	latency time.Duration
	code    int
	err     error
}

// runCrowd opens cfg.Conns connections (one GET each, unmeasured, so that
// no proxy sees a connection without a request), then has each send one GET
// per period from a jittered start for cfg.Duration, and summarizes the
// responses as a measurement. Every connection is closed before it returns.
func runCrowd(ctx context.Context, cfg crowdConfig) (measurement, crowdResult, error) {
	r := crowdResult{Conns: cfg.Conns, PeriodS: cfg.Period.Seconds()}
	t0 := time.Now()
	conns, _, firstErr := openConns(ctx, openConfig{Addr: cfg.Addr, Host: cfg.Host, N: cfg.Conns, KeepReader: true, Timeout: openTimeout})
	defer closeAll(conns)
	r.Opened, r.OpenS = len(conns), time.Since(t0).Seconds()
	if firstErr != nil {
		r.FirstErr = firstErr.Error()
	}
	if ctx.Err() != nil {
		return measurement{}, r, ctx.Err()
	}
	if len(conns) == 0 {
		return measurement{}, r, firstErr
	}

	req := getRequest(cfg.Host)
	start := time.Now().Add(200 * time.Millisecond)
	end := start.Add(cfg.Duration)
	// Room for four seconds of results: a connection never waits for the
	// aggregator, which would count as the generator's own lag.
	shots := make(chan crowdShot, 4*len(conns)+64)
	var intended, missed, behind atomic.Int64
	var wg sync.WaitGroup
	cfg.Proxy.start()
	cfg.Self.start()
	for _, b := range cfg.Backends {
		b.start()
	}
	var machine machineMeter
	machine.start()
	for _, c := range conns {
		offset := rand.N(cfg.Period)
		wg.Go(func() {
			n := c.crowdLoop(ctx, req, start.Add(offset), end, cfg.Period, shots)
			intended.Add(n.slots)
			missed.Add(n.missed)
			behind.Add(n.behind)
		})
	}
	go func() {
		wg.Wait()
		close(shots)
	}()

	var vm vegeta.Metrics
	var lag vegeta.LatencyMetrics
	ok := int64(0)
	bins := newSecondBins(start, cfg.Duration)
	for s := range shots {
		bins.add(s.sent, s.latency)
		res := vegeta.Result{Code: uint16(s.code), Timestamp: s.sent, Latency: s.latency}
		if s.err != nil {
			res.Error = s.err.Error()
			if r.FirstErr == "" {
				r.FirstErr = res.Error
			}
		} else {
			ok++
		}
		vm.Add(&res)
		if !s.behind {
			lag.Add(s.sent.Sub(s.due))
		}
	}
	vm.Close()
	proxyCPU, proxyOK := cfg.Proxy.stop()
	selfCPU, selfOK := cfg.Self.stop()
	backendsCPU, backendsOK := stopAll(cfg.Backends)
	if idle, ok := machine.stop(); ok {
		r.MachineIdle = &idle
	}
	r.Seconds = bins.seconds()
	if ctx.Err() != nil {
		return measurement{}, r, ctx.Err()
	}

	secs := cfg.Duration.Seconds()
	r.Intended, r.Sent, r.Missed, r.Behind = intended.Load(), int64(vm.Requests), missed.Load(), behind.Load()
	r.IntendedPerS = float64(r.Opened) / cfg.Period.Seconds()
	r.AchievedPerS = float64(ok) / secs
	r.Achieved = achievedShare(r.AchievedPerS, r.IntendedPerS)
	r.Short = r.Achieved < crowdShortfall
	r.LagP99Ms, r.LagMaxMs = ms(lag.Quantile(0.99)), ms(lag.Max)
	m := measurement{
		Requests:     r.Sent,
		DurationS:    secs,
		ReqPerSec:    r.AchievedPerS,
		P50Ms:        ms(vm.Latencies.P50),
		P99Ms:        ms(vm.Latencies.P99),
		MaxMs:        ms(vm.Latencies.Max),
		Failed:       r.Sent - ok,
		SuccessRatio: successRatio(r.Sent, r.Sent-ok),
	}
	if m.Failed > 0 {
		m.Errors = map[string]int64{}
		for code, n := range vm.StatusCodes {
			if !strings.HasPrefix(code, "2") {
				m.Errors["status "+code] = int64(n)
			}
		}
		m.ErrorSamples = vm.Errors[:min(5, len(vm.Errors))]
	}
	if proxyOK {
		m.CPUSeconds = &proxyCPU
		if r.Sent > 0 {
			per := proxyCPU / float64(r.Sent) * 100000
			m.CPUPer100k = &per
		}
	}
	if selfOK && r.Sent > 0 {
		per := selfCPU / float64(r.Sent) * 100000
		r.GenCPUPer100k = &per
	}
	if backendsOK && r.Sent > 0 {
		per := backendsCPU / float64(r.Sent) * 100000
		r.BackendsCPUPer100k = &per
	}
	return m, r, nil
}

// stopAll stops every meter and returns their CPU seconds together; false
// when there are none or one failed.
func stopAll(ms []*cpuMeter) (float64, bool) {
	total, ok := 0.0, len(ms) > 0
	for _, m := range ms {
		secs, good := m.stop()
		total += secs
		ok = ok && good
	}
	return total, ok
}

// slotCounts are what one connection of the crowd did with its slots.
type slotCounts struct {
	slots  int64 // slots in [first, end)
	missed int64 // not sent: a whole period late, or after a failure
	behind int64 // due while the previous response had not arrived
}

// crowdLoop sends one request per period from first until end and reports
// each on shots. It skips the slots it is a whole period late for, and all
// after a failure (the connection is then closed).
func (c *clientConn) crowdLoop(ctx context.Context, req []byte, first, end time.Time, period time.Duration, shots chan<- crowdShot) slotCounts {
	// One deadline for the whole window (a deadline per request costs the
	// generator a timer update each): the last request gets crowdDrain.
	_ = c.SetDeadline(end.Add(crowdDrain))
	var n slotCounts
	failed := false
	var ready time.Time // when the previous response had been read
	for due := first; due.Before(end); due = due.Add(period) {
		n.slots++
		if failed || ctx.Err() != nil {
			n.missed++
			continue
		}
		behind := ready.After(due)
		if behind {
			n.behind++
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		now := time.Now()
		if now.Sub(due) >= period {
			n.missed++
			continue
		}
		code, err := c.exchange(req)
		done := time.Now()
		shots <- crowdShot{due: due, sent: now, behind: behind, latency: done.Sub(now), code: code, err: err}
		ready = done
		if err != nil {
			failed = true
			c.Close()
		}
	}
	return n
}

// achievedShare returns achieved ÷ intended (0 when nothing was intended).
func achievedShare(achieved, intended float64) float64 {
	if intended <= 0 || math.IsNaN(achieved) {
		return 0
	}
	return achieved / intended
}
