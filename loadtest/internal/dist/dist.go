// Package dist splits a run's load over several workers: processes on this
// machine, a Swarm service's tasks spread over nodes, or load testers started
// by hand on other machines (`loadtest worker --coordinator HOST:PORT`).
//
// The coordinator (the `loadtest run` that plays the scenario's timeline)
// listens; workers connect and say who they are. For each run it sends every
// worker its share of the rate, concurrency and request count, and a common
// start; each worker attacks with vegeta (package attack) and streams its
// results back once a second, with offsets from its own start, so that no
// two clocks need to agree. The coordinator puts them on its own clock and
// hands one stream to the runner, whose aggregator merges them as vegeta
// merges result files from several attackers (`vegeta report a.bin b.bin`):
// the same tables, JSON and HTML as a run from one process. A worker that
// stops answering (its connection breaks, or it sends nothing for
// Config.Silence) is reported by name and the run is partial.
//
// The wire format is encoding/gob over TCP: a hello, then frames, from a
// worker; orders from the coordinator. It carries no credentials: run
// workers on networks you trust.
package dist

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/lblab/lblab/loadtest/internal/attack"
)

// protocol is the version of the wire format; a worker of another version
// is refused at its hello.
const protocol = 1

// hello is a worker's first message.
type hello struct {
	Protocol int
	Name     string
	Host     string
	Version  string
}

// welcome answers a hello: Err is set when the worker is refused.
type welcome struct {
	Err string
}

// order is a message from the coordinator: one of its fields is set.
type order struct {
	// Attack starts an attack.
	Attack *assignment
	// Stop ends the current attack early (the run was cancelled).
	Stop bool
	// Bye ends the session: the worker exits.
	Bye bool
}

// assignment is a worker's share of one run.
type assignment struct {
	// Seq numbers the attacks of a session; frames carry it back.
	Seq    int
	Config attack.Config
	// StartIn is how long after receiving the order the attack starts.
	StartIn time.Duration
}

// frame is a worker's report during an attack, sent once a second and at
// the end.
type frame struct {
	Seq     int
	Results []record
	// Sent counts the results the worker produced so far in this attack.
	Sent uint64
	// Done marks the last frame of the attack: Sent is final.
	Done bool
	// Err says why the attack could not run or broke off.
	Err string
}

// record is one result, compact: what the runner's aggregator reads.
type record struct {
	// Off is when the request was sent, since the worker's attack began.
	Off      time.Duration
	Latency  time.Duration
	Code     uint16
	BytesIn  uint64
	BytesOut uint64
	Error    string
	// Backend is the response's X-Backend header.
	Backend string
}

func toRecord(r *vegeta.Result, start time.Time) record {
	rec := record{
		Off: r.Timestamp.Sub(start), Latency: r.Latency, Code: r.Code,
		BytesIn: r.BytesIn, BytesOut: r.BytesOut, Error: r.Error,
	}
	if r.Headers != nil {
		rec.Backend = r.Headers.Get(attack.BackendHeader)
	}
	return rec
}

func (rec record) result(start time.Time, name string, seq uint64) *vegeta.Result {
	r := &vegeta.Result{
		Attack: name, Seq: seq, Code: rec.Code, Timestamp: start.Add(rec.Off), Latency: rec.Latency,
		BytesIn: rec.BytesIn, BytesOut: rec.BytesOut, Error: rec.Error,
	}
	if rec.Backend != "" {
		r.Headers = http.Header{attack.BackendHeader: {rec.Backend}}
	}
	return r
}

// share returns part i of total split over n: the parts differ by at most
// one and add up to total.
func share(total, n, i int) int {
	p := total / n
	if i < total%n {
		p++
	}
	return p
}

// Split returns worker i's part of cfg among n workers: the rate,
// concurrency and request count shared out, the rest as is.
func Split(cfg attack.Config, n, i int) attack.Config {
	out := cfg
	out.Rate = share(cfg.Rate, n, i)
	if cfg.Seed != 0 {
		// Independent Poisson streams add up to a Poisson stream of the
		// summed rate, as long as the workers do not share a seed.
		out.Seed = cfg.Seed + uint64(i)
	}
	if cfg.Concurrency > 0 {
		out.Concurrency = max(1, share(cfg.Concurrency, n, i))
	}
	if cfg.Requests > 0 {
		out.Requests = uint64(share(int(cfg.Requests), n, i))
	}
	return out
}

// CheckSplit reports a load that cannot be shared by n workers (each needs
// at least one request per second, worker or request).
func CheckSplit(cfg attack.Config, n int) error {
	var errs []error
	switch {
	case n < 1:
		errs = append(errs, fmt.Errorf("%d workers: want at least 1", n))
	case cfg.Rate > 0 && cfg.Rate < n:
		errs = append(errs, fmt.Errorf("rate %d/s cannot be split over %d workers: each needs at least 1 request per second", cfg.Rate, n))
	case cfg.Rate == 0 && cfg.Concurrency < n:
		errs = append(errs, fmt.Errorf("concurrency %d cannot be split over %d workers: each needs at least 1", cfg.Concurrency, n))
	}
	if cfg.Requests > 0 && int(cfg.Requests) < n {
		errs = append(errs, fmt.Errorf("requests %d cannot be split over %d workers: each needs at least 1", cfg.Requests, n))
	}
	return errors.Join(errs...)
}
