package metrics

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lblab/lblab/lb/internal/pool"
)

// Gray counts what the balancer does about gray failures (backends alive
// but sick): per-try timeouts, hedges, retry-budget refusals and outlier
// ejections, and the passive failures the guard did not act on
// (passive_min_available_percent). Its series are registered on first use
// of Metrics.Gray.
type Gray struct {
	m *Metrics

	tryTimeouts *prometheus.CounterVec
	hedges      *prometheus.CounterVec
	hedgeWins   prometheus.Counter
	refused     *prometheus.CounterVec
	ejections   *prometheus.CounterVec
	held        *prometheus.CounterVec

	nRetries, nTryTimeouts, nHedges, nHedgeWins, nRefusedRetry, nRefusedHedge, nEjections, nHeld atomic.Uint64
}

var grayOnce sync.Map // *Metrics -> *Gray

// Gray returns m's gray-failure counters (nil-safe: a nil m gives a Gray
// that counts nothing).
func (m *Metrics) Gray() *Gray {
	if m == nil {
		return nil
	}
	if g, ok := grayOnce.Load(m); ok {
		return g.(*Gray)
	}
	g := &Gray{m: m,
		tryTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lblab_try_timeouts_total", Help: "Tries abandoned after try_timeout without a response head, by backend.",
		}, []string{"backend"}),
		hedges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lblab_hedges_total", Help: "Hedged requests: second tries sent after hedge_after, by the backend they went to.",
		}, []string{"backend"}),
		hedgeWins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lblab_hedge_wins_total", Help: "Hedged requests whose second try answered first.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lblab_retry_budget_refused_total", Help: "Retries and hedges not sent because the retry budget was spent, by kind (retry, hedge).",
		}, []string{"kind"}),
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lblab_outlier_ejections_total", Help: "Outlier ejections, by backend.",
		}, []string{"backend"}),
		held: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lblab_passive_guard_holds_total", Help: "Passive failures that would have taken the backend down, not acted on because fewer than passive_min_available_percent of the backends would have been left, by backend.",
		}, []string{"backend"}),
	}
	actual, loaded := grayOnce.LoadOrStore(m, g)
	if !loaded {
		m.reg.MustRegister(g.tryTimeouts, g.hedges, g.hedgeWins, g.refused, g.ejections, g.held)
	}
	return actual.(*Gray)
}

// Retry counts a retry of an HTTP request away from b, for the JSON status
// (lblab_retries_total counts it in Prometheus: Metrics.Retry).
func (g *Gray) Retry() {
	if g != nil {
		g.nRetries.Add(1)
	}
}

// TryTimeout counts a try on b abandoned after try_timeout.
func (g *Gray) TryTimeout(b *pool.Backend) {
	if g == nil {
		return
	}
	g.nTryTimeouts.Add(1)
	g.tryTimeouts.WithLabelValues(g.m.label(b)).Inc()
}

// Hedge counts a hedge sent to b.
func (g *Gray) Hedge(b *pool.Backend) {
	if g == nil {
		return
	}
	g.nHedges.Add(1)
	g.hedges.WithLabelValues(g.m.label(b)).Inc()
}

// HedgeWin counts a hedge that answered first.
func (g *Gray) HedgeWin() {
	if g == nil {
		return
	}
	g.nHedgeWins.Add(1)
	g.hedgeWins.Inc()
}

// BudgetRefused counts a retry or hedge ("retry", "hedge") the budget refused.
func (g *Gray) BudgetRefused(kind string) {
	if g == nil {
		return
	}
	if kind == "hedge" {
		g.nRefusedHedge.Add(1)
	} else {
		g.nRefusedRetry.Add(1)
	}
	g.refused.WithLabelValues(kind).Inc()
}

// Ejection counts an outlier ejection of b.
func (g *Gray) Ejection(b *pool.Backend) {
	if g == nil {
		return
	}
	g.nEjections.Add(1)
	g.ejections.WithLabelValues(g.m.label(b)).Inc()
}

// PassiveHeld counts a passive failure of b the guard did not act on.
func (g *Gray) PassiveHeld(b *pool.Backend) {
	if g == nil {
		return
	}
	g.nHeld.Add(1)
	g.held.WithLabelValues(g.m.label(b)).Inc()
}

// GraySnapshot is the gray-failure figures of the JSON status.
type GraySnapshot struct {
	Retries             uint64 `json:"retries"`
	TryTimeouts         uint64 `json:"try_timeouts"`
	Hedges              uint64 `json:"hedges"`
	HedgeWins           uint64 `json:"hedge_wins"`
	BudgetRefusedRetry  uint64 `json:"budget_refused_retries"`
	BudgetRefusedHedges uint64 `json:"budget_refused_hedges"`
	Ejections           uint64 `json:"ejections"`
	PassiveGuardHolds   uint64 `json:"passive_guard_holds"`
}

// Snapshot returns the counts so far.
func (g *Gray) Snapshot() GraySnapshot {
	s := GraySnapshot{
		TryTimeouts: g.nTryTimeouts.Load(), Hedges: g.nHedges.Load(), HedgeWins: g.nHedgeWins.Load(),
		BudgetRefusedRetry: g.nRefusedRetry.Load(), BudgetRefusedHedges: g.nRefusedHedge.Load(), Ejections: g.nEjections.Load(),
		PassiveGuardHolds: g.nHeld.Load(),
	}
	s.Retries = g.nRetries.Load()
	return s
}
