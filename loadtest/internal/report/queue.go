package report

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/lblab/lblab/loadtest/internal/backends"
)

// Queue holds a supermarket run's figures: the load and service the backends
// report, the time in system the load tester measured, in units of the mean
// service time, and the theory beside it at the utilisation measured.
type Queue struct {
	// Servers is the number of backends.
	Servers int `json:"servers"`
	// RhoTarget is the utilisation the run aimed at; Rate the arrival rate
	// asked for it (RhoTarget x Servers / the calibrated service time).
	RhoTarget float64 `json:"rho_target"`
	Rate      int     `json:"rate"`
	// ArrivalRate is the rate of the requests sent after the warm-up.
	ArrivalRate float64 `json:"arrival_rate"`
	// ServiceMs is the mean service time the backends report for the run
	// (their slot held: the latency slept plus the handler's work).
	ServiceMs float64 `json:"service_ms"`
	// Rho is ArrivalRate x ServiceMs / Servers: the utilisation the run had.
	Rho float64 `json:"rho"`
	// Utilization is the mean of the backends' own busy fraction.
	Utilization float64 `json:"utilization"`
	// QueueWaitMs is the mean wait for a slot the backends report.
	QueueWaitMs float64 `json:"queue_wait_ms"`
	// Mean and P99 are the measured time in system (the latency from each
	// request's due time to its answer) over ServiceMs.
	Mean float64 `json:"mean"`
	P99  float64 `json:"p99"`
	// AtBackends is the mean time in system the backends saw (queue wait
	// plus service) over ServiceMs: the model's figure without the
	// balancer's and the network's own time.
	AtBackends float64 `json:"at_backends"`
	// TheoryMean and TheoryP99 are the model's figures at Rho; Theory says
	// where they come from.
	TheoryMean float64 `json:"theory_mean"`
	TheoryP99  float64 `json:"theory_p99"`
	Theory     string  `json:"theory"`
	// Backends are the backends' own stats for the run, after the warm-up.
	Backends []backends.Stats `json:"backends,omitempty"`
}

// Calibration is the supermarket's first, short run: it measures the service
// time the rates are worked out from.
type Calibration struct {
	// LatencySetting is the backends' latency setting (e.g. exp:20ms).
	LatencySetting string `json:"latency_setting"`
	// NominalMs is the setting's mean; Rate the rate sent.
	NominalMs float64 `json:"nominal_ms"`
	Rate      int     `json:"rate"`
	DurationS float64 `json:"duration_s"`
	// ServiceMs is the mean service time the backends reported.
	ServiceMs float64 `json:"service_ms"`
	// LatencyMs and LatencyAskedMs are the mean latency they slept and drew.
	LatencyMs      float64 `json:"latency_ms"`
	LatencyAskedMs float64 `json:"latency_asked_ms"`
	Served         int64   `json:"served"`
}

// diff is (measured - theory) / theory.
func diff(measured, theory float64) float64 {
	if theory == 0 {
		return math.NaN()
	}
	return measured/theory - 1
}

// SupermarketTable prints, per algorithm and utilisation, the measured
// mean and p99 time in system in service times, the theory beside them and
// the difference; nothing for a result without supermarket runs.
func SupermarketTable(w io.Writer, r *Result) error {
	var runs []*Run
	for i := range r.Runs {
		if r.Runs[i].Queue != nil {
			runs = append(runs, &r.Runs[i])
		}
	}
	if len(runs) == 0 {
		return nil
	}
	if c := r.Calibration; c != nil {
		fmt.Fprintf(w, "\nService time: backends set to %s (mean %.2f ms); calibration at %d req/s for %gs: "+
			"mean service %.3f ms (latency slept %.3f ms for %.3f ms drawn, %d requests)\n",
			c.LatencySetting, c.NominalMs, c.Rate, c.DurationS, c.ServiceMs, c.LatencyMs, c.LatencyAskedMs, c.Served)
	}
	fmt.Fprintln(w, "\nSupermarket: time in system in units of the mean service time S (measured by the load tester; theory at the measured rho;")
	fmt.Fprintln(w, "\"at backends\": queue wait + service as the backends measured them, without the balancer's and the network's time)")
	slices.SortStableFunc(runs, func(a, b *Run) int { return cmp.Compare(a.Queue.RhoTarget, b.Queue.RhoTarget) })
	t := newTable(w, "algorithm", "rho aim", "rho", "util", "S ms", "rate/s", "errors",
		"mean", "theory", "diff", "at backends", "diff ", "p99", "theory ", "diff  ", "theory from")
	for _, run := range runs {
		q := run.Queue
		row := []string{run.Algorithm, fmt.Sprintf("%.2f", q.RhoTarget), fmt.Sprintf("%.3f", q.Rho),
			fmt.Sprintf("%.3f", q.Utilization), fmt.Sprintf("%.2f", q.ServiceMs), num(q.ArrivalRate),
			strconv.Itoa(run.Total.Errors),
			fmt.Sprintf("%.2f", q.Mean), fmt.Sprintf("%.2f", q.TheoryMean), signedPct(diff(q.Mean, q.TheoryMean)),
			fmt.Sprintf("%.2f", q.AtBackends), signedPct(diff(q.AtBackends, q.TheoryMean)),
			fmt.Sprintf("%.2f", q.P99), fmt.Sprintf("%.2f", q.TheoryP99), signedPct(diff(q.P99, q.TheoryP99)),
			q.Theory}
		if err := t.Append(row); err != nil {
			return err
		}
	}
	return t.Render()
}

func signedPct(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "-"
	}
	return fmt.Sprintf("%+.1f%%", 100*f)
}

// LabShape is the lab a run measured: running containers per Compose service
// and the settings of the backends the balancer listed.
type LabShape struct {
	Project string `json:"project,omitempty"`
	// Swarm is true for a Swarm stack, whose shape is not measured.
	Swarm    bool           `json:"swarm,omitempty"`
	Services map[string]int `json:"services,omitempty"`
	Backends []BackendShape `json:"backends,omitempty"`
}

// BackendShape is one backend of a LabShape.
type BackendShape struct {
	Address string `json:"address"`
	Healthy bool   `json:"healthy"`
	backends.Config
	// Error says why its settings could not be read.
	Error string `json:"error,omitempty"`
}
