package runner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/lblab/lblab/loadtest/internal/attack"
	"github.com/lblab/lblab/loadtest/internal/backends"
	"github.com/lblab/lblab/loadtest/internal/queuesim"
	"github.com/lblab/lblab/loadtest/internal/report"
	"github.com/lblab/lblab/loadtest/internal/scenario"
)

// Backends is the part of the test backends' API the supermarket uses.
type Backends interface {
	Config(ctx context.Context, addr string) (backends.Config, error)
	Stats(ctx context.Context, addr string) (backends.Stats, error)
	Reset(ctx context.Context, addr string) error
}

var _ Backends = (*backends.Client)(nil)

// supermarketRuns is the number of runs the supermarket makes.
func supermarketRuns(s *scenario.Scenario) int {
	return len(s.Supermarket.Rho) * len(s.Algorithms)
}

// supermarket runs the supermarket experiment: it checks the backends are
// the model's (N of them, one slot each, exponential latency), measures the
// service time, then runs each algorithm at each utilisation and sets the
// theory beside each run. Problems go to res.Errors.
func (r *runner) supermarket(ctx context.Context, res *report.Result) {
	s, sm := r.s, r.s.Supermarket
	addrs, nominal, setting, err := r.supermarketBackends(ctx)
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
		return
	}
	cal, err := r.calibrate(ctx, addrs, nominal, setting)
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
		return
	}
	res.Calibration = cal
	serviceS := cal.ServiceMs / 1000
	i := 0
	for _, rho := range sm.Rho {
		for _, alg := range s.Algorithms {
			i++
			if ctx.Err() != nil {
				return
			}
			rate := int(math.Round(rho * float64(sm.Servers) / serviceS))
			fmt.Fprintf(r.out, "== run %d/%d: algorithm %s at rho %.2f (%d req/s, S = %.2f ms) ==\n",
				i, supermarketRuns(s), alg, rho, rate, cal.ServiceMs)
			if err := r.opts.Balancer.SetAlgorithm(ctx, alg); err != nil {
				res.Errors = append(res.Errors, err.Error())
				return
			}
			if !sleep(ctx, nil, s.Settle.D()) {
				return
			}
			// The backends' figures cover the run after its warm-up.
			resetDone := make(chan error, 1)
			rctx, cancel := context.WithCancel(ctx)
			go func() {
				if !sleep(rctx, nil, s.Warmup.D()) {
					resetDone <- rctx.Err()
					return
				}
				resetDone <- r.resetAll(rctx, addrs)
			}()
			r.rate, r.label = rate, fmt.Sprintf("%s rho=%.2f", alg, rho)
			run, err := r.runOnce(ctx, alg, "")
			r.rate, r.label = 0, ""
			cancel()
			resetErr := <-resetDone
			if err != nil {
				res.Errors = append(res.Errors, err.Error())
				return
			}
			if resetErr == nil {
				q, err := r.queueFigures(ctx, run, addrs, rho, rate)
				if err != nil {
					run.Partial, run.Passed = true, false
					res.Errors = append(res.Errors, err.Error())
				}
				run.Queue = q
			}
			res.Runs = append(res.Runs, *run)
		}
	}
}

// supermarketBackends returns the addresses of the balancer's backends and
// their latency's mean, or an error naming what makes the lab differ from
// the model.
func (r *runner) supermarketBackends(ctx context.Context) ([]string, time.Duration, string, error) {
	sm := r.s.Supermarket
	st, err := r.opts.Balancer.Status(ctx)
	if err != nil {
		return nil, 0, "", err
	}
	var addrs []string
	for _, b := range st.Backends {
		if b.Healthy && (b.State == "" || b.State == "up") {
			addrs = append(addrs, b.Address)
		}
	}
	if len(addrs) != sm.Servers {
		return nil, 0, "", fmt.Errorf("the supermarket needs %d healthy backends; the balancer has %d (start the lab with: make scenario-supermarket)",
			sm.Servers, len(addrs))
	}
	var problems []error
	var setting string
	var mean time.Duration
	for _, a := range addrs {
		c, err := r.backends().Config(ctx, a)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		m, ok := expMean(c.Latency)
		switch {
		case c.Capacity != 1:
			problems = append(problems, fmt.Errorf("backend %s (%s) has capacity %d: the model's servers serve one request at a time (capacity 1)", c.Name, a, c.Capacity))
		case !ok:
			problems = append(problems, fmt.Errorf("backend %s (%s) has latency %q: the model's service times are exponential (exp:MEAN)", c.Name, a, c.Latency))
		case setting != "" && c.Latency != setting:
			problems = append(problems, fmt.Errorf("backend %s (%s) has latency %s, another %s: the model's servers are alike", c.Name, a, c.Latency, setting))
		default:
			setting, mean = c.Latency, m
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, 0, "", fmt.Errorf("the lab is not the supermarket model: %w", err)
	}
	return addrs, mean, setting, nil
}

// expMean returns the mean of an exponential latency setting ("exp:20ms").
func expMean(setting string) (time.Duration, bool) {
	v, ok := strings.CutPrefix(setting, "exp:")
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(v)
	return d, err == nil && d > 0
}

func (r *runner) backends() Backends {
	if r.opts.Backends != nil {
		return r.opts.Backends
	}
	return &backends.Client{}
}

func (r *runner) resetAll(ctx context.Context, addrs []string) error {
	var errs []error
	for _, a := range addrs {
		errs = append(errs, r.backends().Reset(ctx, a))
	}
	return errors.Join(errs...)
}

func (r *runner) statsAll(ctx context.Context, addrs []string) ([]backends.Stats, error) {
	out := make([]backends.Stats, 0, len(addrs))
	for _, a := range addrs {
		st, err := r.backends().Stats(ctx, a)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// calibrate sends Poisson arrivals at CalibrateRho of the setting's mean and
// returns the service time the backends report.
func (r *runner) calibrate(ctx context.Context, addrs []string, nominal time.Duration, setting string) (*report.Calibration, error) {
	s, sm := r.s, r.s.Supermarket
	rate := max(1, int(math.Round(sm.CalibrateRho*float64(sm.Servers)/nominal.Seconds())))
	fmt.Fprintf(r.out, "== calibration: %d req/s for %s (rho %.2f of %s) ==\n", rate, sm.Calibrate, sm.CalibrateRho, setting)
	if err := r.opts.Balancer.SetAlgorithm(ctx, s.Algorithms[0]); err != nil {
		return nil, err
	}
	if err := r.resetAll(ctx, addrs); err != nil {
		return nil, err
	}
	cfg := AttackConfig(s, "calibration")
	cfg.Rate, cfg.Duration, cfg.Requests = rate, sm.Calibrate.D(), 0
	results, _, err := r.startLoad(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var n, errs int
	for res := range results {
		n++
		if res.Error != "" {
			errs++
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	all, err := r.statsAll(ctx, addrs)
	if err != nil {
		return nil, err
	}
	t := backends.Total(all)
	if t.Served == 0 || t.MeanServiceMs <= 0 {
		return nil, fmt.Errorf("calibration: the backends served nothing (%d requests sent, %d failed)", n, errs)
	}
	if errs > n/100 {
		return nil, fmt.Errorf("calibration: %d of %d requests failed", errs, n)
	}
	cal := &report.Calibration{
		LatencySetting: setting, NominalMs: ms(nominal), Rate: rate,
		DurationS: sm.Calibrate.D().Seconds(), ServiceMs: attack.Round(t.MeanServiceMs, 3),
		LatencyMs: attack.Round(t.MeanLatencyMs, 3), LatencyAskedMs: attack.Round(t.MeanLatencyAskedMs, 3), Served: t.Served,
	}
	fmt.Fprintf(r.out, "   mean service time %.3f ms (latency slept %.3f ms, drawn %.3f ms, %d requests)\n",
		cal.ServiceMs, cal.LatencyMs, cal.LatencyAskedMs, cal.Served)
	return cal, nil
}

// queueFigures reads the backends' stats for the run and sets the theory
// beside the measured time in system.
func (r *runner) queueFigures(ctx context.Context, run *report.Run, addrs []string, rhoTarget float64, rate int) (*report.Queue, error) {
	sm := r.s.Supermarket
	all, err := r.statsAll(ctx, addrs)
	if err != nil {
		return nil, fmt.Errorf("read backend stats after %s: %w", run.Label, err)
	}
	t := backends.Total(all)
	if t.Served == 0 {
		return nil, fmt.Errorf("%s: the backends served nothing after the warm-up", run.Label)
	}
	q := &report.Queue{
		Servers: sm.Servers, RhoTarget: rhoTarget, Rate: rate, ArrivalRate: run.Total.Rate,
		ServiceMs: attack.Round(t.MeanServiceMs, 3), QueueWaitMs: attack.Round(t.MeanQueueWaitMs, 3), Backends: all,
	}
	if t.Utilization != nil {
		q.Utilization = attack.Round(*t.Utilization, 6)
	}
	// The figures below are ratios of measured times: 4 significant
	// decimals say more than the measurements do.
	q.Rho = attack.Round(q.ArrivalRate*q.ServiceMs/1000/float64(sm.Servers), 4)
	q.Mean = attack.Round(run.Total.Latency.Mean/q.ServiceMs, 4)
	q.AtBackends = attack.Round((q.QueueWaitMs+q.ServiceMs)/q.ServiceMs, 4)
	q.P99 = attack.Round(run.Total.Latency.P99/q.ServiceMs, 4)
	if q.Rho >= 1 {
		q.Theory = fmt.Sprintf("none: rho %.3f >= 1", q.Rho)
		return q, nil
	}
	if run.Algorithm == queuesim.Random {
		q.TheoryMean, _, q.TheoryP99, _ = queuesim.MM1(q.Rho)
		q.TheoryMean, q.TheoryP99 = attack.Round(q.TheoryMean, 4), attack.Round(q.TheoryP99, 4)
		q.Theory = "M/M/1"
		return q, nil
	}
	sim, err := queuesim.Run(queuesim.Config{
		Servers: sm.Servers, Rho: q.Rho, Policy: run.Algorithm, Arrivals: sm.Simulate, Seed: queuesim.DefaultSeed,
	})
	if err != nil {
		return q, err
	}
	q.TheoryMean, q.TheoryP99 = attack.Round(sim.Mean, 4), attack.Round(sim.P99, 4)
	q.Theory = fmt.Sprintf("simulation (%d arrivals, seed %d)", sim.Arrivals, sim.Seed)
	return q, nil
}
