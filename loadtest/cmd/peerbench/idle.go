package main

import (
	"context"
	"fmt"
	"time"
)

// idleConfig is one idle-connections measurement.
type idleConfig struct {
	Addr, Host string
	Conns      int
	// Settle bounds the wait for the proxy's RSS to settle once every
	// connection idles (the case's duration, at least settleMin).
	Settle time.Duration
	// Release is how long RSS is watched after the connections close.
	Release time.Duration
	// RSS reads the proxy's resident memory in KiB.
	RSS func() (int64, error)
}

// rssSample is the proxy's RSS some time after an event.
type rssSample struct {
	AfterS float64 `json:"after_s"`
	KiB    int64   `json:"kib"`
}

// idleResult is what one idle measurement found.
type idleResult struct {
	Conns  int `json:"conns"`  // connections asked for
	Opened int `json:"opened"` // connections that got their response and idled
	// OpenS: how long opening them took.
	OpenS        float64 `json:"open_s"`
	RSSBeforeKiB int64   `json:"rss_before_kib"`
	// RSSIdleKiB: settled, with every connection idle.
	RSSIdleKiB int64 `json:"rss_idle_kib"`
	// SettleS: from the last connection's response to the idle figure.
	SettleS float64 `json:"settle_s"`
	// KiBPerConn: (idle − before) ÷ opened.
	KiBPerConn float64 `json:"kib_per_conn"`
	// DroppedIdle: connections the proxy had closed by the idle figure.
	DroppedIdle int `json:"dropped_idle"`
	// AfterClose: RSS samples after closing every connection, the last
	// one being RSSAfterKiB.
	AfterClose  []rssSample `json:"after_close"`
	RSSAfterKiB int64       `json:"rss_after_kib"`
	// Released: the share of the growth given back by the last sample.
	Released float64 `json:"released"`
	// BackS: when 90% of the growth had been given back (nil: not within
	// the window).
	BackS *float64 `json:"back_s,omitempty"`
	// FirstErr: why some connections did not open.
	FirstErr string `json:"first_error,omitempty"`
}

const (
	// settleMin is the least time given to the proxy's RSS to settle,
	// even when two samples agree before: a proxy may hand memory back a
	// moment after its connections idle. bin/lb parks, within a second,
	// the connections it still served with a goroutine each, and then
	// returns their stacks; on a quick machine the 9,500 connections open
	// in about a second, and two samples agreed before that (4.1 KiB per
	// connection measured, 1.9 KiB a second later).
	settleMin = 3 * time.Second
	// rssEvery: RSS sampling interval while settling and after the close.
	rssEvery = 500 * time.Millisecond
	// backShare: memory counts as back down once this share of the
	// growth is given back.
	backShare = 0.9
	// openTimeout bounds each connection's dial and first exchange.
	openTimeout = 10 * time.Second
)

// runIdle measures the proxy's RSS before opening cfg.Conns idle
// connections, once they idle and RSS has settled, and after closing them.
// Every connection is closed before it returns.
func runIdle(ctx context.Context, cfg idleConfig) (idleResult, error) {
	r := idleResult{Conns: cfg.Conns}
	before, err := cfg.RSS()
	if err != nil {
		return r, err
	}
	r.RSSBeforeKiB = before
	t0 := time.Now()
	conns, failed, firstErr := openConns(ctx, openConfig{Addr: cfg.Addr, Host: cfg.Host, N: cfg.Conns, Timeout: openTimeout})
	defer func() { closeAll(conns) }()
	r.Opened, r.OpenS = len(conns), time.Since(t0).Seconds()
	if firstErr != nil {
		r.FirstErr = firstErr.Error()
	}
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	if len(conns) == 0 {
		return r, fmt.Errorf("no connection opened (%d failed): %v", failed, firstErr)
	}

	// Settle: sample until two samples in a row agree, within the bound.
	t1 := time.Now()
	var prev int64 = -1
	for {
		if err := sleepCtx(ctx, rssEvery); err != nil {
			return r, err
		}
		cur, err := cfg.RSS()
		if err != nil {
			return r, err
		}
		r.RSSIdleKiB = cur
		if settleDone(time.Since(t1), cfg.Settle, prev, cur, before) {
			break
		}
		prev = cur
	}
	r.SettleS = time.Since(t1).Seconds()
	for _, c := range conns {
		if c.peerClosed() {
			r.DroppedIdle++
		}
	}
	r.KiBPerConn = perConn(before, r.RSSIdleKiB, r.Opened)

	closeAll(conns)
	conns = nil
	t2 := time.Now()
	for time.Since(t2) < cfg.Release {
		if err := sleepCtx(ctx, rssEvery); err != nil {
			return r, err
		}
		kib, err := cfg.RSS()
		if err != nil {
			return r, err
		}
		r.AfterClose = append(r.AfterClose, rssSample{AfterS: time.Since(t2).Seconds(), KiB: kib})
		if rel, _ := released(before, r.RSSIdleKiB, r.AfterClose); rel >= backShare {
			break
		}
	}
	r.Released, r.BackS = released(before, r.RSSIdleKiB, r.AfterClose)
	if n := len(r.AfterClose); n > 0 {
		r.RSSAfterKiB = r.AfterClose[n-1].KiB
	}
	return r, nil
}

// settleDone reports whether the settling that began elapsed ago, bounded
// by bound (at least settleMin), is over: two successive samples (prev,
// cur; prev < 0: none yet) agree once settleMin has passed, or the bound
// has.
func settleDone(elapsed, bound time.Duration, prev, cur, before int64) bool {
	if elapsed >= max(bound, settleMin) {
		return true
	}
	return elapsed >= settleMin && prev >= 0 && settled(prev, cur, before)
}

// settled reports whether two successive RSS samples agree: within 1% of
// the growth over before, or 64 KiB, whichever is more.
func settled(prev, cur, before int64) bool {
	tol := max((cur-before)/100, 64)
	d := cur - prev
	return d <= tol && -d <= tol
}

// perConn returns the memory per connection, (idle − before) ÷ n, in KiB.
func perConn(before, idle int64, n int) float64 {
	if n <= 0 {
		return 0
	}
	return float64(idle-before) / float64(n)
}

// released returns the share of the growth (idle − before) given back by
// the last sample, and when the samples first reached backShare of it
// (nil: they did not). No growth counts as all given back at once.
func released(before, idle int64, samples []rssSample) (float64, *float64) {
	growth := idle - before
	if growth <= 0 {
		zero := 0.0
		return 1, &zero
	}
	if len(samples) == 0 {
		return 0, nil
	}
	var back *float64
	for _, s := range samples {
		if float64(idle-s.KiB)/float64(growth) >= backShare {
			at := s.AfterS
			back = &at
			break
		}
	}
	last := samples[len(samples)-1].KiB
	return float64(idle-last) / float64(growth), back
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
