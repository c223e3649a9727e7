package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// HedgeDelay is hedge_after: a fixed delay (a number of seconds or a Go
// duration string, as Duration) or a percentile of recent response times
// ("p95", "p99.9"). The zero value is off.
type HedgeDelay struct {
	// Delay is the fixed delay (0 with a percentile).
	Delay time.Duration
	// Percentile is the percentile of recent response times, in (0, 100);
	// 0 with a fixed delay.
	Percentile float64
	set        bool
}

// On reports whether hedging is configured.
func (h HedgeDelay) On() bool { return h.set }

// String formats the delay as it is written: "50ms" or "p95" ("off" when not set).
func (h HedgeDelay) String() string {
	switch {
	case !h.set:
		return "off"
	case h.Percentile > 0:
		return "p" + strconv.FormatFloat(h.Percentile, 'f', -1, 64)
	}
	return h.Delay.String()
}

// UnmarshalJSON accepts a number of seconds, a duration string or "pNN".
func (h *HedgeDelay) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(s), "p"); ok {
			p, err := strconv.ParseFloat(rest, 64)
			if err != nil || math.IsNaN(p) {
				return fmt.Errorf("%q is not a percentile (use e.g. \"p95\" or \"p99.9\")", s)
			}
			*h = HedgeDelay{Percentile: p, set: true}
			return nil
		}
	}
	var d Duration
	if err := d.UnmarshalJSON(b); err != nil {
		return fmt.Errorf("%s is neither a delay (seconds, or a string like \"50ms\") nor a percentile like \"p95\"", b)
	}
	*h = HedgeDelay{Delay: d.D(), set: true}
	return nil
}

// MarshalJSON writes the delay as a string ("50ms", "p95"), null when off.
func (h HedgeDelay) MarshalJSON() ([]byte, error) {
	if !h.set {
		return []byte("null"), nil
	}
	return json.Marshal(h.String())
}

// Percent is a percentage, written as a number (20 means 20%) or a string
// ("20%").
type Percent float64

// UnmarshalJSON accepts 20, 2.5 and "20%".
func (p *Percent) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")))
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%s is not a percentage (use a number of percent such as 20, or \"20%%\")", b)
	}
	*p = Percent(f)
	return nil
}

// String formats the percentage, e.g. "20%".
func (p Percent) String() string { return strconv.FormatFloat(float64(p), 'f', -1, 64) + "%" }

// Fraction returns the percentage as a fraction (20% -> 0.2).
func (p Percent) Fraction() float64 { return float64(p) / 100 }

// validateGray checks the gray-failure keys (per-try timeout, hedging, retry
// budget, outlier ejection); bad reports each problem.
func (c *Config) validateGray(bad func(key string, val any, format string, args ...any)) {
	if c.TryTimeout < 0 {
		bad("try_timeout", c.TryTimeout, "must not be negative (0 turns the per-try timeout off)")
	} else if c.TryTimeout > 0 && c.TryTimeout >= c.RequestTimeout {
		bad("try_timeout", c.TryTimeout, "must be shorter than request_timeout (%s): a try that may take the whole request_timeout needs no per-try timeout", c.RequestTimeout)
	}
	if h := c.HedgeAfter; h.On() {
		switch {
		case h.Percentile != 0 && (h.Percentile < 50 || h.Percentile >= 100):
			bad("hedge_after", strconv.Quote(h.String()), "the percentile must be at least p50 and below p100 (e.g. \"p95\")")
		case h.Percentile == 0 && h.Delay <= 0:
			bad("hedge_after", h.Delay, "must be greater than 0 (leave hedge_after out to turn hedging off)")
		case h.Percentile == 0 && h.Delay >= c.RequestTimeout.D():
			bad("hedge_after", h.Delay, "must be shorter than request_timeout (%s)", c.RequestTimeout)
		}
		if c.Forwarder == "reverseproxy" {
			bad("hedge_after", strconv.Quote(h.String()), `hedging needs the lean forwarder ("forwarder": "lean", the default)`)
		}
	}
	if c.RetryBudget < 0 || c.RetryBudget > 100 {
		bad("retry_budget", c.RetryBudget, "must be between 0%% and 100%% of the requests of the last %s", RetryBudgetWindow)
	}
	if c.RetryBudgetMinPerSecond < 0 {
		bad("retry_budget_min_per_second", c.RetryBudgetMinPerSecond, "must not be negative")
	}
	positive := func(key string, d Duration) {
		if d <= 0 {
			bad(key, d, "must be greater than 0")
		}
	}
	positive("outlier_interval", c.OutlierInterval)
	positive("outlier_base_ejection_time", c.OutlierBaseEjectionTime)
	if c.OutlierMaxEjectionTime < c.OutlierBaseEjectionTime {
		bad("outlier_max_ejection_time", c.OutlierMaxEjectionTime, "must not be shorter than outlier_base_ejection_time (%s)", c.OutlierBaseEjectionTime)
	}
	if c.OutlierErrorPercent < 0 || c.OutlierErrorPercent > 100 {
		bad("outlier_error_percent", c.OutlierErrorPercent, "must be between 0%% and 100%% (0 turns the error rule off)")
	}
	if c.OutlierSlowPercent < 0 || c.OutlierSlowPercent > 100 {
		bad("outlier_slow_percent", c.OutlierSlowPercent, "must be between 0%% and 100%% (0 turns the slow-share rule off)")
	}
	if c.OutlierLatencyFactor != 0 && c.OutlierLatencyFactor < 1.5 {
		bad("outlier_latency_factor", c.OutlierLatencyFactor, "must be at least 1.5 (0 turns the latency rule off)")
	}
	if c.OutlierMinRequests < 1 {
		bad("outlier_min_requests", c.OutlierMinRequests, "must be at least 1")
	}
	if c.MaxEjectionPercent < 0 || c.MaxEjectionPercent > 100 {
		bad("max_ejection_percent", c.MaxEjectionPercent, "must be between 0%% and 100%% of the backends")
	}
}

// RetryBudgetWindow is the window retry_budget counts requests over.
const RetryBudgetWindow = 10 * time.Second
