// Package health runs active health checks, one goroutine per backend, and
// brings passively failed backends back when active checks are off.
//
// Backends start up and are checked at once, as HAProxy does: the first
// requests never wait for a first check. A backend goes down after Fall
// consecutive failed checks and comes back after Rise consecutive passes
// (HAProxy's fall and rise).
package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/lblab/lblab/lb/internal/pool"
)

// CheckFunc checks one backend once; nil means healthy.
type CheckFunc func(ctx context.Context, b *pool.Backend) error

// Config configures a Checker.
type Config struct {
	Pool *pool.Pool
	// Interval between checks of one backend; 0 turns active checks off.
	Interval time.Duration
	// Timeout bounds one check.
	Timeout time.Duration
	// Rise consecutive passes bring a down backend up; Fall consecutive
	// failures take an up backend down.
	Rise, Fall int
	// FailTimeout: with active checks off, a backend taken down by passive
	// checks comes back after this long.
	FailTimeout time.Duration
	// Check performs one check; see HTTPCheck and TCPCheck.
	Check CheckFunc
	// OnCheck, when set, is told every result.
	OnCheck func(b *pool.Backend, err error)
	Logger  *slog.Logger
	// Jitter returns a random fraction in [0,1) used to spread checks;
	// nil means rand.Float64.
	Jitter func() float64
}

// Checker runs the checks. Create it with New and start it with Run.
type Checker struct{ cfg Config }

// New returns a Checker for cfg.
func New(cfg Config) *Checker {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	return &Checker{cfg: cfg}
}

// CheckOnce runs one check of b, bounded by the configured timeout, records
// the result and makes the up or down transition it calls for. It returns the
// check's error.
func (c *Checker) CheckOnce(ctx context.Context, b *pool.Backend) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	err := c.cfg.Check(ctx, b)
	cancel()
	if ctx.Err() != nil && err != nil && errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("timed out after %s", c.cfg.Timeout)
	}
	if c.cfg.OnCheck != nil {
		c.cfg.OnCheck(b, err)
	}
	passes, fails := b.RecordCheck(time.Now(), err)
	switch {
	case err == nil && passes >= c.cfg.Rise:
		c.cfg.Pool.Transition(b, pool.StateDown, pool.StateUp, fmt.Sprintf("active: %d checks passed", passes))
	case err != nil && fails >= c.cfg.Fall:
		c.cfg.Pool.Transition(b, pool.StateUp, pool.StateDown, fmt.Sprintf("active: %d checks failed, last: %v", fails, err))
	case err != nil:
		c.cfg.Logger.Debug("health check failed", "backend", b.Name, "consecutive", fails, "error", err)
	}
	return err
}

// Run checks every backend of the pool until ctx ends, starting and stopping
// one goroutine per backend as backends are added and removed.
func (c *Checker) Run(ctx context.Context) {
	running := map[*pool.Backend]context.CancelFunc{}
	defer func() {
		for _, cancel := range running {
			cancel()
		}
	}()
	for {
		changed := c.cfg.Pool.Changed()
		present := map[*pool.Backend]bool{}
		for _, b := range c.cfg.Pool.All() {
			present[b] = true
			if _, ok := running[b]; !ok {
				bctx, cancel := context.WithCancel(ctx)
				running[b] = cancel
				go c.loop(bctx, b)
			}
		}
		for b, cancel := range running {
			if !present[b] {
				cancel()
				delete(running, b)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// loop checks b at once, then every interval (spread by up to a tenth either
// way); with active checks off it only brings b back after FailTimeout.
func (c *Checker) loop(ctx context.Context, b *pool.Backend) {
	if c.cfg.Interval <= 0 {
		c.passiveRecovery(ctx, b)
		return
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.CheckOnce(ctx, b)
		spread := time.Duration((c.cfg.Jitter()*0.2 - 0.1) * float64(c.cfg.Interval))
		t.Reset(c.cfg.Interval + spread)
	}
}

func (c *Checker) passiveRecovery(ctx context.Context, b *pool.Backend) {
	step := min(c.cfg.FailTimeout/4, time.Second)
	if step <= 0 {
		step = time.Second
	}
	t := time.NewTicker(step)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if b.State() == pool.StateDown && time.Since(b.Health().LastChange) >= c.cfg.FailTimeout {
			c.cfg.Pool.Transition(b, pool.StateDown, pool.StateUp, "passive: fail_timeout elapsed")
		}
	}
}

// HTTPCheck returns a check that GETs path on the backend and passes when the
// status is accepted by expect. A body is read (at most 64 KiB) and discarded;
// garbage, a hang or a closed connection is a failed check.
func HTTPCheck(client *http.Client, path string, expect func(code int) bool) CheckFunc {
	return func(ctx context.Context, b *pool.Backend) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.URL.String()+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "lblab-health/1")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)); err != nil {
			return fmt.Errorf("read body: %w", err)
		}
		if !expect(resp.StatusCode) {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
}

// NewHTTPClient returns the client HTTPCheck uses: its own small keep-alive
// pool, no proxy from the environment, no redirects followed.
func NewHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// TCPCheck returns a check that passes when a TCP connection to the backend
// can be opened.
func TCPCheck() CheckFunc {
	var d net.Dialer
	return func(ctx context.Context, b *pool.Backend) error {
		conn, err := d.DialContext(ctx, "tcp", b.Addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}
