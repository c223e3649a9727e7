// Package discovery turns backend_servers entries into pool backends. An IP
// address is one backend. A DNS name becomes one backend per address it
// resolves to (IPv4 preferred when it has both, so "localhost" is one
// backend), re-resolved on an interval as nginx's "resolve" and HAProxy's
// server-template do: Compose replicas that appear are added, and those that
// disappear are drained, then removed.
package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lblab/lblab/lb/internal/config"
	"github.com/lblab/lblab/lb/internal/pool"
)

// Resolver looks up host names; *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Config configures a Discoverer.
type Config struct {
	Pool    *pool.Pool
	Entries []config.Backend
	// Interval between re-resolutions of DNS names.
	Interval time.Duration
	// DrainTimeout bounds the wait for in-flight requests of a backend whose
	// address disappeared before it is removed.
	DrainTimeout time.Duration
	// NewBackend builds a backend; nil means pool.NewBackend.
	NewBackend func(name, addr string, weight int) *pool.Backend
	Resolver   Resolver
	Logger     *slog.Logger
}

// Discoverer keeps the pool in step with the entries. Sync and Run may be
// called from different goroutines.
type Discoverer struct {
	cfg Config

	mu      sync.Mutex        // guards failing
	failing map[string]string // host -> last resolve error, while it fails
}

// New returns a Discoverer for cfg.
func New(cfg Config) *Discoverer {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.NewBackend == nil {
		cfg.NewBackend = pool.NewBackend
	}
	return &Discoverer{cfg: cfg, failing: map[string]string{}}
}

// Dynamic reports whether any entry is a DNS name (and so needs Run).
func (d *Discoverer) Dynamic() bool {
	for _, e := range d.cfg.Entries {
		if _, err := netip.ParseAddr(e.Host); err != nil {
			return true
		}
	}
	return false
}

// Sync resolves every entry once, all entries at the same time (a name whose
// lookup hangs does not delay the others), and adds and removes backends to
// match. A name that does not resolve is logged as a warning once, until it
// resolves again, and keeps the backends it had; only an authoritative
// "no such host" empties it.
func (d *Discoverer) Sync(ctx context.Context) {
	type result struct {
		addrs []netip.Addr
		err   error
	}
	results := make([]result, len(d.cfg.Entries))
	var wg sync.WaitGroup
	for i, e := range d.cfg.Entries {
		wg.Go(func() {
			addrs, err := d.resolve(ctx, e.Host)
			results[i] = result{addrs, err}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	for i, e := range d.cfg.Entries {
		addrs, err := results[i].addrs, results[i].err
		if err != nil {
			var dnsErr *net.DNSError
			notFound := errors.As(err, &dnsErr) && dnsErr.IsNotFound
			d.noteFailure(e.Host, err, notFound)
			if !notFound {
				continue
			}
		} else {
			d.noteSuccess(e.Host, len(addrs))
		}
		d.apply(ctx, e, addrs)
	}
}

// noteFailure logs a failed lookup of host: a warning the first time (and
// when the error changes), debug while it keeps failing the same way, so a
// name that is absent on purpose (a Compose profile that is not started)
// does not fill the log every resolve_interval.
func (d *Discoverer) noteFailure(host string, err error, notFound bool) {
	msg := "resolve backend"
	if notFound {
		msg = "resolve backend: no such host"
	}
	d.mu.Lock()
	prev, seen := d.failing[host]
	d.failing[host] = err.Error()
	d.mu.Unlock()
	level := slog.LevelWarn
	if seen && prev == err.Error() {
		level = slog.LevelDebug
	}
	d.cfg.Logger.Log(context.Background(), level, msg, "host", host, "error", err.Error(),
		"retry_every", d.cfg.Interval.String())
}

// noteSuccess logs, once, that a host that failed to resolve resolves again.
func (d *Discoverer) noteSuccess(host string, n int) {
	d.mu.Lock()
	_, was := d.failing[host]
	delete(d.failing, host)
	d.mu.Unlock()
	if was {
		d.cfg.Logger.Info("resolve backend: resolves again", "host", host, "addresses", n)
	}
}

// Run re-resolves every Interval until ctx ends.
func (d *Discoverer) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.Sync(ctx)
		}
	}
}

func (d *Discoverer) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := d.cfg.Resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	var v4, v6 []netip.Addr
	for _, a := range addrs {
		if a = a.Unmap(); a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	if len(v4) == 0 {
		v4 = v6
	}
	slices.SortFunc(v4, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(v4), nil
}

func (d *Discoverer) apply(ctx context.Context, e config.Backend, addrs []netip.Addr) {
	source := e.Address()
	want := map[string]netip.Addr{}
	for _, a := range addrs {
		want[net.JoinHostPort(a.String(), strconv.Itoa(e.Port))] = a
	}
	have := map[string]*pool.Backend{}
	for _, b := range d.cfg.Pool.All() {
		if b.Source == source {
			have[b.Addr] = b
		}
	}
	for addr, a := range want {
		if b, ok := have[addr]; ok {
			if b.State() == pool.StateDraining && b.Health().LastReason == reasonGone {
				d.cfg.Pool.Set(b, pool.StateUp, "address is back in DNS")
			}
			continue
		}
		b := d.cfg.NewBackend(d.name(ctx, e, a, len(addrs)), addr, e.Weight)
		b.Source = source
		if err := d.cfg.Pool.Add(b); err != nil {
			d.cfg.Logger.Warn("add discovered backend", "address", addr, "error", err)
		}
	}
	for addr, b := range have {
		if _, ok := want[addr]; !ok && b.State() != pool.StateDraining {
			d.cfg.Pool.Set(b, pool.StateDraining, reasonGone)
			go d.drainAndRemove(ctx, b)
		}
	}
}

const reasonGone = "address no longer in DNS"

func (d *Discoverer) drainAndRemove(ctx context.Context, b *pool.Backend) {
	deadline := time.Now().Add(d.cfg.DrainTimeout)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for b.InFlight() > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	if b.State() == pool.StateDraining && b.Health().LastReason == reasonGone {
		d.cfg.Pool.Remove(b.Addr)
	}
}

// name gives a discovered backend a readable name: the configured name, the
// entry itself when it has one address, else the reverse-DNS name of the
// address (Docker answers with the container's name), else host/ip.
func (d *Discoverer) name(ctx context.Context, e config.Backend, a netip.Addr, n int) string {
	port := strconv.Itoa(e.Port)
	if _, err := netip.ParseAddr(e.Host); err == nil || n == 1 {
		return cmp.Or(e.Name, e.Address())
	}
	if e.Name != "" {
		return fmt.Sprintf("%s/%s", e.Name, a)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if names, err := d.cfg.Resolver.LookupAddr(ctx, a.String()); err == nil && len(names) > 0 {
		// "lblab_backend_2.lblab_default." -> "lblab_backend_2"
		host, _, _ := strings.Cut(strings.TrimSuffix(names[0], "."), ".")
		if host != "" {
			return host + ":" + port
		}
	}
	return fmt.Sprintf("%s/%s", e.Address(), a)
}
