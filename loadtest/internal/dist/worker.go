package dist

import (
	"bufio"
	"cmp"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/lblab/lblab/loadtest/internal/attack"
)

// WorkerConfig configures a worker.
type WorkerConfig struct {
	// Coordinator is the coordinator's address, host:port.
	Coordinator string
	// Name names the worker in reports; default the host name and the
	// process ID.
	Name string
	// ConnectTimeout bounds the attempts to reach the coordinator (it may
	// not listen yet); default 60s.
	ConnectTimeout time.Duration
	// Version is sent in the hello, for the record.
	Version string
	// Log receives what the worker does; default: discard.
	Log *slog.Logger
}

// flushEvery is how often a worker sends its results.
const flushEvery = time.Second

// RunWorker connects to the coordinator and runs the attacks it orders,
// streaming their results, until the coordinator says goodbye (nil), the
// connection breaks or ctx ends (an error).
func RunWorker(ctx context.Context, cfg WorkerConfig) error {
	host, _ := os.Hostname()
	cfg.Name = cmp.Or(cfg.Name, fmt.Sprintf("%s/%d", host, os.Getpid()))
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	nc, err := dial(ctx, cfg.Coordinator, cfg.ConnectTimeout)
	if err != nil {
		return err
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()

	bw := bufio.NewWriter(nc)
	enc := gob.NewEncoder(bw)
	dec := gob.NewDecoder(bufio.NewReader(nc))
	send := func(v any) error {
		if err := enc.Encode(v); err != nil {
			return err
		}
		return bw.Flush()
	}
	if err := send(hello{Protocol: protocol, Name: cfg.Name, Host: host, Version: cfg.Version}); err != nil {
		return fmt.Errorf("worker %s: send hello to %s: %w", cfg.Name, cfg.Coordinator, err)
	}
	var w welcome
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("worker %s: read the coordinator's answer: %w", cfg.Name, err)
	}
	if w.Err != "" {
		return fmt.Errorf("worker %s: refused by the coordinator: %s", cfg.Name, w.Err)
	}
	cfg.Log.Info("joined", "coordinator", cfg.Coordinator, "name", cfg.Name)

	// One goroutine reads orders; the loop below acts on them. It ends when
	// the connection closes (deferred above) or this function returns.
	orders := make(chan order)
	readErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(orders)
		for {
			var o order
			if err := dec.Decode(&o); err != nil {
				readErr <- err
				return
			}
			select {
			case orders <- o:
			case <-done:
				return
			}
		}
	}()
	for {
		o, ok := <-orders
		switch {
		case !ok:
			err := <-readErr
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("worker %s: lost the coordinator: %w", cfg.Name, err)
		case o.Bye:
			cfg.Log.Info("the coordinator said goodbye")
			return nil
		case o.Attack != nil:
			bye, err := runAttack(ctx, *o.Attack, orders, send, cfg.Log)
			if err != nil {
				return fmt.Errorf("worker %s: %w", cfg.Name, err)
			}
			if bye {
				return nil
			}
		}
	}
}

// dial connects to addr, retrying until timeout: the coordinator may start
// after its workers.
func dial(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	for {
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return nc, nil
		}
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("connect to the coordinator at %s: %w (last: %w)", addr, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// runAttack runs one assignment, streaming its results with send. It
// returns when the attack is over (or stopped by an order); bye reports an
// order to end the session that came meanwhile. An error means the
// coordinator is gone.
func runAttack(ctx context.Context, a assignment, orders <-chan order, send func(any) error, log *slog.Logger) (bye bool, err error) {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := frame{Seq: a.Seq}
	// Wait for the common start, still listening for orders.
	t := time.NewTimer(a.StartIn)
	defer t.Stop()
	for waiting := true; waiting; {
		select {
		case <-t.C:
			waiting = false
		case o, ok := <-orders:
			switch {
			case !ok:
				return false, errors.New("lost the coordinator before the attack began")
			case o.Bye:
				return true, nil
			case o.Stop:
				f.Done = true
				return false, send(f)
			}
		}
	}
	start := time.Now()
	results, err := attack.Run(actx, a.Config)
	if err != nil {
		f.Done, f.Err = true, err.Error()
		return false, send(f)
	}
	log.Info("attack", "seq", a.Seq, "rate", a.Config.Rate, "concurrency", a.Config.Concurrency, "duration", a.Config.Duration)
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	flush := func() error {
		err := send(f)
		f.Results = f.Results[:0]
		return err
	}
	for {
		select {
		case r, ok := <-results:
			if !ok {
				f.Done = true
				if err := flush(); err != nil && !bye {
					return false, err
				}
				return bye, nil
			}
			if d := a.Config.Duration; d > 0 && r.Timestamp.Sub(start) >= d {
				continue // the pacer's overshoot past the duration, as the runner drops it
			}
			f.Results = append(f.Results, toRecord(r, start))
			f.Sent++
		case <-tick.C:
			if err := flush(); err != nil {
				cancel()
				drain(results)
				return false, err
			}
		case o, ok := <-orders:
			switch {
			case !ok:
				cancel()
				drain(results)
				return false, errors.New("lost the coordinator during the attack")
			case o.Bye:
				bye = true
				cancel()
			case o.Stop:
				cancel()
			}
			orders = nil // no more orders until the attack is over
		}
	}
}

func drain(results <-chan *vegeta.Result) {
	for range results {
	}
}
