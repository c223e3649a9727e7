package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/lblab/lblab/loadtest/internal/attack"
)

// measurement is one case against one target in one round.
type measurement struct {
	Round     int     `json:"round"` // 1-based
	Case      string  `json:"case"`
	Target    string  `json:"target"`
	URL       string  `json:"url"`
	Requests  int64   `json:"requests"`
	DurationS float64 `json:"duration_s"`
	// ReqPerSec: completed requests per second (wrk); successful requests
	// per second (vegeta, whose rate is fixed).
	ReqPerSec float64 `json:"req_per_s"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	// BytesPerRequest: response bytes read per request, headers included
	// (wrk only): shows that body64k got its 64 KiB.
	BytesPerRequest float64 `json:"bytes_per_request,omitempty"`
	Failed          int64   `json:"failed"`
	SuccessRatio    float64 `json:"success_ratio"`
	// Errors: wrk's error counters, or the counts of vegeta's failing
	// status codes ("status 0" is a request that got no response).
	Errors map[string]int64 `json:"errors,omitempty"`
	// ErrorSamples: some of vegeta's distinct error texts.
	ErrorSamples []string `json:"error_samples,omitempty"`
	// CPUSeconds the proxy used during the measurement (nginx: master and
	// workers); nil for direct.
	CPUSeconds *float64 `json:"cpu_s,omitempty"`
	CPUPer100k *float64 `json:"cpu_s_per_100k,omitempty"`
	// Idle: the figures of an idle case (no requests, latencies or CPU).
	Idle *idleResult `json:"idle,omitempty"`
	// Crowd: what the crowd's generator itself did.
	Crowd *crowdResult `json:"crowd,omitempty"`
	// Err is why the measurement has no figures.
	Err string `json:"error,omitempty"`
}

// runWrk runs wrk for case c against url and decodes its report.
func runWrk(ctx context.Context, wrk, script string, c benchCase, url string, d time.Duration) (measurement, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, wrk, wrkArgs(c, url, script, d)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return measurement{}, ctx.Err()
		}
		return measurement{}, fmt.Errorf("wrk %s: %v: %s", strings.Join(cmd.Args[1:], " "), err, strings.TrimSpace(stderr.String()+stdout.String()))
	}
	r, err := parseWrkOutput(stdout.Bytes())
	if err != nil {
		return measurement{}, err
	}
	secs := float64(r.DurationUS) / 1e6
	m := measurement{
		Requests:  r.Requests,
		DurationS: secs,
		ReqPerSec: float64(r.Requests) / secs,
		P50Ms:     r.LatencyUS.P50 / 1000,
		P99Ms:     r.LatencyUS.P99 / 1000,
		MaxMs:     r.LatencyUS.Max / 1000,
		Failed:    r.failed(),
	}
	if r.Requests > 0 {
		m.BytesPerRequest = float64(r.Bytes) / float64(r.Requests)
	}
	if e := r.Errors; m.Failed > 0 {
		m.Errors = map[string]int64{}
		for k, v := range map[string]int64{"connect": e.Connect, "read": e.Read, "write": e.Write, "status": e.Status, "timeout": e.Timeout} {
			if v > 0 {
				m.Errors[k] = v
			}
		}
	}
	m.SuccessRatio = successRatio(m.Requests, m.Failed)
	return m, nil
}

// successRatio returns the share of requests that did not fail (1 for none).
func successRatio(requests, failed int64) float64 {
	if requests <= 0 {
		if failed > 0 {
			return 0
		}
		return 1
	}
	return math.Max(0, float64(requests-failed)/float64(requests))
}

// rateMaxWorkers caps vegeta's workers: enough that the client never holds
// the rate back while a proxy stalls.
const rateMaxWorkers = 1024

// runRate sends rate GET requests per second to url for d with the load
// tester's attack engine (vegeta, keep-alive connections) and summarizes the
// results.
func runRate(ctx context.Context, url string, rate int, d time.Duration) (measurement, error) {
	results, err := attack.Run(ctx, attack.Config{URL: url, Rate: rate, Duration: d, Concurrency: rateMaxWorkers, Name: "peerbench"})
	if err != nil {
		return measurement{}, err
	}
	var vm vegeta.Metrics
	for res := range results {
		vm.Add(res)
	}
	vm.Close()
	if ctx.Err() != nil {
		return measurement{}, ctx.Err()
	}
	if vm.Requests == 0 {
		return measurement{}, errors.New("vegeta sent no requests")
	}
	ok := int64(math.Round(vm.Success * float64(vm.Requests)))
	m := measurement{
		Requests:     int64(vm.Requests),
		DurationS:    (vm.Duration + vm.Wait).Seconds(),
		ReqPerSec:    vm.Throughput,
		P50Ms:        ms(vm.Latencies.P50),
		P99Ms:        ms(vm.Latencies.P99),
		MaxMs:        ms(vm.Latencies.Max),
		Failed:       int64(vm.Requests) - ok,
		SuccessRatio: vm.Success,
	}
	if m.Failed > 0 {
		m.Errors = map[string]int64{}
		for code, n := range vm.StatusCodes {
			if !strings.HasPrefix(code, "2") && !strings.HasPrefix(code, "3") {
				m.Errors["status "+code] = int64(n)
			}
		}
		m.ErrorSamples = vm.Errors[:min(5, len(vm.Errors))]
	}
	return m, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
