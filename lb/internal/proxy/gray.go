package proxy

import (
	"context"
	"errors"
	"time"

	"github.com/lblab/lblab/lb/internal/balance"
	"github.com/lblab/lblab/lb/internal/pool"
)

// ErrTryTimeout: a try of an idempotent request had no response head within
// try_timeout; it was abandoned (its connection closed) and, budget
// allowing, the request was sent to another backend.
var ErrTryTimeout = errors.New("no response head within try_timeout")

// Try is what Attempt tells a forwarder about one try of a request.
type Try struct {
	// HeadTimeout, when positive, is how long this try waits for the
	// response head instead of request_timeout (the per-try timeout);
	// expiry is reported as an error wrapping ErrTryTimeout.
	HeadTimeout time.Duration
}

// Observer is told of every try's outcome (outlier ejection): failed for
// a failed try or a 5xx response, and the time to the response (or the
// failure).
type Observer interface {
	Observe(b *pool.Backend, failed bool, d time.Duration)
	// Late tells that a first try on b was still unanswered at the hedge
	// delay.
	Late(b *pool.Backend)
}

// Leg is one try of a hedged request that has its response head: Relay
// sends the response to the client, Drop abandons it. Exactly one of them
// is called, on the goroutine that called Hedge.
type Leg interface {
	Relay() Outcome
	Drop()
	Status() int
}

// Sender sends a request to b and waits for its response head, at most
// t.HeadTimeout when set, else request_timeout. It runs on a goroutine of
// its own; when ctx is cancelled it must end at once (closing the
// connection: the backend sees the request cancelled) and return a nil Leg.
type Sender func(ctx context.Context, b *pool.Backend, t Try) (Leg, error)

// Hedging reports whether a request may be hedged: hedging is on and the
// request is idempotent and replayable. Such a request goes through Hedge.
func (p *Proxy) Hedging(pl Plan) bool {
	return p.hedge != nil && pl.Idempotent && pl.Replayable
}

// headTimeout is the per-try timeout for the next try: try_timeout when the
// request could go elsewhere after it (idempotent, replayable, a retry
// left, another backend, budget left), else 0 (request_timeout).
func (p *Proxy) headTimeout(pl Plan, tried, candidates int) time.Duration {
	if p.cfg.TryTimeout <= 0 || !pl.Idempotent || !pl.Replayable || tried >= p.cfg.Retries || candidates < 2 {
		return 0
	}
	if p.cfg.Budget != nil && !p.cfg.Budget.Allows(time.Now()) {
		return 0
	}
	return p.cfg.TryTimeout
}

// withdraw takes one retry or hedge from the budget (always granted without
// one), counting a refusal as kind ("retry" or "hedge").
func (p *Proxy) withdraw(kind string) bool {
	if p.cfg.Budget == nil || p.cfg.Budget.Withdraw(time.Now()) {
		return true
	}
	p.cfg.Metrics.Gray().BudgetRefused(kind)
	return false
}

// observe feeds the outlier detector and, for a try of a request that was
// not hedged, the hedge delay.
func (p *Proxy) observe(b *pool.Backend, failed bool, d time.Duration) {
	if p.cfg.Outliers != nil {
		p.cfg.Outliers.Observe(b, failed, d)
	}
	if p.hedge != nil && !failed {
		p.hedge.Observe(d, time.Now())
	}
}

type legResult struct {
	b     *pool.Backend
	leg   Leg
	err   error
	d     time.Duration
	hedge bool
	first bool // the request's first try
}

// Hedge is Attempt for an idempotent, replayable request with hedging on
// (see Hedging): the request goes to one backend; if no response head has
// come after the hedge delay (hedge_after), it also goes to a second one,
// budget allowing. The first response head wins and is relayed; the other
// try is cancelled (its connection closed). A try that fails is retried
// as in Attempt once no other try is in flight.
func (p *Proxy) Hedge(bal *balance.Named, pl Plan, send Sender) (served *pool.Backend, last Outcome, retries int) {
	if p.cfg.Budget != nil {
		p.cfg.Budget.Request(time.Now())
	}
	g := p.cfg.Metrics.Gray()
	results := make(chan legResult, p.cfg.Retries+2)
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	var tried []*pool.Backend
	inflight := 0
	var firstStart time.Time
	firstDone := false // the first try has come back (answered or failed)
	pick := func() (*pool.Backend, int) {
		cands := pool.Without(p.cfg.Pool.Available(), tried)
		return bal.Pick(cands, pl.Key), len(cands)
	}
	launch := func(b *pool.Backend, n int, hedge bool) {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		t := Try{HeadTimeout: p.headTimeout(pl, len(tried), n)}
		first := len(tried) == 0
		tried = append(tried, b)
		inflight++
		if first {
			firstStart = time.Now()
		}
		go func() {
			t0 := time.Now()
			leg, err := send(ctx, b, t)
			results <- legResult{b: b, leg: leg, err: err, d: time.Since(t0), hedge: hedge, first: first}
		}()
	}
	b, n := pick()
	if b == nil {
		return nil, Outcome{Err: ErrNoBackend}, 0
	}
	served = b
	launch(b, n, false)
	var timerC <-chan time.Time
	if d := p.hedge.After(time.Now()); d > 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		timerC = tm.C
	}
	for {
		select {
		case <-timerC:
			timerC = nil
			if !firstDone && p.cfg.Outliers != nil {
				p.cfg.Outliers.Late(tried[0]) // the first try is still out
			}
			if b, n := pick(); b != nil && p.withdraw("hedge") {
				g.Hedge(b)
				launch(b, n, true)
			}
		case r := <-results:
			inflight--
			if r.err == nil {
				for _, c := range cancels {
					c() // the other try, if any: its connection is closed
				}
				now := time.Now()
				served = r.b
				r.b.ObserveLatency(r.d, now)
				status := r.leg.Status()
				if p.cfg.Outliers != nil {
					p.cfg.Outliers.Observe(r.b, status >= 500, r.d)
				}
				switch {
				case r.first:
					if status < 500 {
						p.hedge.Observe(r.d, now)
					}
				case !firstDone:
					// The first try is the loser: it would have taken at
					// least this long.
					p.hedge.Observe(now.Sub(firstStart), now)
				}
				if r.hedge {
					g.HedgeWin()
				}
				last = r.leg.Relay()
				if status >= 500 {
					r.b.CountError()
					if p.cfg.Passive5xx {
						p.cfg.Pool.Fail(r.b, p.cfg.MaxFails, p.cfg.FailTimeout, "HTTP "+itoa3(status))
					}
				}
				for ; inflight > 0; inflight-- { // wait for the loser: it reads the request's bytes
					x := <-results
					if x.leg != nil {
						x.leg.Drop()
					}
					if x.err == nil || classify(x.err, false) == failNone {
						// The loser was slower than the winner: evidence
						// for the outlier detector and the latency
						// estimate (a lower bound of its time), not a
						// failure.
						x.b.ObserveLatency(x.d, time.Now())
						if p.cfg.Outliers != nil {
							p.cfg.Outliers.Observe(x.b, false, x.d)
						}
					}
				}
				return served, last, len(tried) - 1
			}
			last = Outcome{Err: r.err}
			if r.first {
				firstDone = true
			}
			kind := classify(r.err, pl.ClientGone != nil && pl.ClientGone())
			if kind != failNone {
				r.b.CountError()
				p.observe(r.b, true, r.d)
				if kind == failTryTimeout {
					g.TryTimeout(r.b) // slow, not failed: no passive failure (see Attempt)
				} else {
					p.cfg.Pool.Fail(r.b, p.cfg.MaxFails, p.cfg.FailTimeout, r.err.Error())
				}
			}
			if inflight > 0 {
				continue // the other try may still answer
			}
			served = r.b
			retry := kind != failNone && len(tried)-1 < p.cfg.Retries &&
				(kind == failConnect || kind == failReset || kind == failTryTimeout)
			if !retry {
				return served, last, len(tried) - 1
			}
			nb, n := pick()
			if nb == nil || !p.withdraw("retry") {
				return served, last, len(tried) - 1
			}
			p.cfg.Metrics.Retry(r.b)
			g.Retry()
			launch(nb, n, false)
		}
	}
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100%10), byte('0' + n/10%10), byte('0' + n%10)})
}
