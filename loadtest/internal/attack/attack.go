// Package attack sends load with vegeta and folds the results into per-second
// buckets, phases and totals, attributing each response to the backend named
// by its X-Backend header.
//
// It is shaped like vegeta: Run returns a channel of results, one Aggregator
// consumes it, errors are kept as data in the results, and cancelling the
// context stops the attack, aborts requests in flight and closes the channel.
package attack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// BackendHeader is the response header that names the backend that served a
// request.
const BackendHeader = "X-Backend"

// Config describes one attack.
type Config struct {
	// URL is the target of every request.
	URL string
	// Method is the HTTP method; default GET.
	Method string
	// Header is added to every request.
	Header http.Header
	// Body is the body of every request (nil: none).
	Body []byte
	// Rate is the constant rate in requests per second (open model). When 0,
	// Concurrency workers send requests back to back (closed model).
	Rate int
	// Concurrency is the number of workers of the closed model, and the cap on
	// workers of the open model (0: no cap).
	Concurrency int
	// Requests stops the attack after this many requests (0: no limit).
	Requests uint64
	// Duration stops the attack after this long (0: no limit). One of Requests
	// and Duration must be set.
	Duration time.Duration
	// Timeout bounds each request; default 10s.
	Timeout time.Duration
	// NoKeepAlive opens a new TCP connection for every request and closes it
	// after the answer (vegeta's KeepAlive(false)); by default connections
	// are reused.
	NoKeepAlive bool
	// Name tags the results (vegeta's attack name).
	Name string
	// Arrivals is the arrival process of the open model: ArrivalsConstant
	// (the default, "" too) or ArrivalsPoisson. With Poisson arrivals each
	// result's Timestamp is the time it was due and its Latency runs from
	// then (see Schedule), so a stalled sender cannot hide queueing.
	Arrivals string
	// Seed seeds the Poisson arrival times (0: a random seed). The same seed
	// and rate give the same times.
	Seed uint64
}

// Validate reports a configuration that cannot run.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		errs = append(errs, fmt.Errorf("url %q is not an http(s) URL with a host", c.URL))
	}
	if c.Rate < 0 || c.Concurrency < 0 {
		errs = append(errs, errors.New("rate and concurrency must not be negative"))
	}
	if c.Rate == 0 && c.Concurrency == 0 {
		errs = append(errs, errors.New("set a rate (open model) or a concurrency (closed model)"))
	}
	switch c.Arrivals {
	case "", ArrivalsConstant:
	case ArrivalsPoisson:
		if c.Rate <= 0 {
			errs = append(errs, fmt.Errorf("arrivals %s: %w (got rate %d); the closed model (concurrency) has no arrivals", c.Arrivals, ErrBadRate, c.Rate))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown arrivals %q; known: %s", c.Arrivals, strings.Join(ArrivalKinds, ", ")))
	}
	if c.Requests == 0 && c.Duration <= 0 {
		errs = append(errs, errors.New("set a number of requests or a duration"))
	}
	return errors.Join(errs...)
}

// Run starts the attack and returns its results in completion order. The
// channel is closed when the attack is over: the requests or duration are
// reached, or ctx is cancelled (which also aborts requests in flight; their
// results are dropped). The caller must drain the channel. Results record the
// time each request was sent (Timestamp) and keep errors as data.
func Run(ctx context.Context, cfg Config) (<-chan *vegeta.Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configure attack: %w", err)
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodGet
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}

	opts := []func(*vegeta.Attacker){
		vegeta.Client(newClient(ctx, cfg)),
		vegeta.MaxBody(0),
		vegeta.Redirects(vegeta.NoFollow),
	}
	var pacer vegeta.Pacer
	var sched *Schedule
	if cfg.Rate > 0 {
		var base vegeta.Pacer = vegeta.ConstantPacer{Freq: cfg.Rate, Per: time.Second}
		if cfg.Arrivals == ArrivalsPoisson {
			seed := cfg.Seed
			if seed == 0 {
				seed = rand.Uint64()
			}
			var err error
			if sched, err = NewSchedule(float64(cfg.Rate), seed); err != nil {
				return nil, fmt.Errorf("configure attack: %w", err)
			}
			base = PoissonPacer{Schedule: sched}
		}
		pacer = limitPacer{Pacer: base, max: cfg.Requests}
		if cfg.Concurrency > 0 {
			opts = append(opts, vegeta.Workers(uint64(min(cfg.Concurrency, 10))), vegeta.MaxWorkers(uint64(cfg.Concurrency)))
		}
	} else {
		// Closed model: a rate of 0 means "as fast as the workers return", and
		// with Workers == MaxWorkers no extra worker is ever started.
		pacer = limitPacer{Pacer: vegeta.ConstantPacer{}, max: cfg.Requests}
		opts = append(opts, vegeta.Workers(uint64(cfg.Concurrency)), vegeta.MaxWorkers(uint64(cfg.Concurrency)))
	}
	atk := vegeta.NewAttacker(opts...)
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: cfg.Method, URL: cfg.URL, Header: cfg.Header, Body: cfg.Body})

	start := time.Now() // just before vegeta's own start: due times are never late
	in := atk.Attack(tr, pacer, cfg.Duration, cfg.Name)
	out := make(chan *vegeta.Result, 256)
	go func() {
		defer close(out)
		stop := context.AfterFunc(ctx, func() { atk.Stop() })
		defer stop()
		for r := range in {
			if ctx.Err() != nil && strings.Contains(r.Error, context.Canceled.Error()) {
				continue // aborted by our cancellation: not the target's doing
			}
			if sched != nil {
				fromSchedule(r, start, sched)
			}
			out <- r
		}
	}()
	return out, nil
}

// limitPacer stops its Pacer after max hits (0: never).
type limitPacer struct {
	vegeta.Pacer
	max uint64
}

// Pace implements vegeta.Pacer.
func (p limitPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if p.max > 0 && hits >= p.max {
		return 0, true
	}
	return p.Pacer.Pace(elapsed, hits)
}

// newClient returns the attack's HTTP client: vegeta's transport settings,
// with every request also cancelled when ctx is.
func newClient(ctx context.Context, cfg Config) *http.Client {
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: vegeta.DefaultConnections,
		IdleConnTimeout:     90 * time.Second,
		// vegeta.KeepAlive(false) does this to vegeta's own transport; ours
		// wraps the transport (see ctxTransport), so it is set here.
		DisableKeepAlives: cfg.NoKeepAlive,
	}
	return &http.Client{
		Timeout:   cfg.Timeout,
		Transport: &ctxTransport{ctx: ctx, base: tr},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// ctxTransport ties each request to ctx as well as to its own context: vegeta
// builds requests without a context, so this is how cancellation reaches
// requests in flight.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(t.ctx, cancel)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	// The request's context must live until the body is read.
	resp.Body = &cancelBody{ReadCloser: resp.Body, done: func() { stop(); cancel() }}
	return resp, nil
}

type cancelBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

// Close closes the body, then releases the request's context.
func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}
