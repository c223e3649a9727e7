// Package discovery turns backend_servers entries into pool backends. An IP
// address is one backend. A DNS name becomes one backend per address it
// resolves to (IPv4 preferred when it has both, so "localhost" is one
// backend), re-resolved on an interval as nginx's "resolve" and HAProxy's
// server-template do: Compose replicas and Swarm tasks that appear are added,
// and those that disappear are drained, then removed. Every backend gets a
// name no other backend of the pool has (reverse DNS, as Docker answers it
// for Compose containers and Swarm tasks, else host:port/ip), so status
// pages, logs and Prometheus series tell replicas apart.
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
	taken := map[string]bool{} // names in use: every backend's name must be unique
	for _, b := range d.cfg.Pool.All() {
		taken[b.Name] = true
		if b.Source == source {
			have[b.Addr] = b
		}
	}
	// In address order, so that names that clash resolve the same way each time.
	for _, a := range addrs {
		addr := net.JoinHostPort(a.String(), strconv.Itoa(e.Port))
		if b, ok := have[addr]; ok {
			if b.State() == pool.StateDraining && b.Health().LastReason == reasonGone {
				d.cfg.Pool.Set(b, pool.StateUp, "address is back in DNS")
			}
			continue
		}
		name := d.uniqueName(ctx, e, a, len(addrs), taken)
		taken[name] = true
		b := d.cfg.NewBackend(name, addr, e.Weight)
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

// uniqueName names a discovered backend: the first of its candidate names
// (see names) that no other backend of the pool has, so that status pages,
// logs and metrics tell every replica apart whatever the orchestrator's DNS
// answers. The last candidate, entry/ip, is unique by construction.
func (d *Discoverer) uniqueName(ctx context.Context, e config.Backend, a netip.Addr, n int, taken map[string]bool) string {
	names := d.names(ctx, e, a, n)
	for _, name := range names {
		if !taken[name] {
			return name
		}
	}
	return names[len(names)-1]
}

// names returns the candidate names of a discovered backend, best first:
//   - an IP address entry: its configured name, else host:port;
//   - a configured name: the name (one address) or name/ip;
//   - a DNS name: the replica's name from reverse DNS (Docker answers with
//     the container's name and the network's, see ReplicaName), when there
//     are several addresses or the answer names a replica of the entry;
//     the entry itself when it has one address; then the whole reverse-DNS
//     name; then host:port/ip.
func (d *Discoverer) names(ctx context.Context, e config.Backend, a netip.Addr, n int) []string {
	if _, err := netip.ParseAddr(e.Host); err == nil {
		return []string{cmp.Or(e.Name, e.Address()), fmt.Sprintf("%s/%s", cmp.Or(e.Name, e.Address()), a)}
	}
	if e.Name != "" {
		if n == 1 {
			return []string{e.Name, fmt.Sprintf("%s/%s", e.Name, a)}
		}
		return []string{fmt.Sprintf("%s/%s", e.Name, a)}
	}
	var out []string
	port := strconv.Itoa(e.Port)
	lctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var full string
	if ptrs, err := d.cfg.Resolver.LookupAddr(lctx, a.String()); err == nil && len(ptrs) > 0 {
		full = strings.TrimSuffix(ptrs[0], ".")
		if r := ReplicaName(full); r != "" && (n > 1 || strings.Contains(full, e.Host)) {
			out = append(out, r+":"+port)
		}
	}
	if n == 1 {
		out = append(out, e.Address())
	}
	if full != "" {
		out = append(out, full+":"+port)
	}
	return append(out, fmt.Sprintf("%s/%s", e.Address(), a))
}

// ReplicaName returns the container's part of a reverse-DNS name from an
// orchestrator's DNS: Docker answers "<container>.<network>", so
//
//	lblab_backend_2.lblab_default        (Compose v1)    -> lblab_backend_2
//	lblab-backend-2.lblab_default        (Compose v2)    -> lblab-backend-2
//	lbs_backend.2.<task id>.lbs_default  (Swarm task)    -> lbs_backend.2.<task id>
//	lbs_agent.<node id>.<task id>.lbs_default (global)   -> lbs_agent.<node id>.<task id>
//
// Anything else gives its first label (a Kubernetes headless Service answers
// "<pod ip with dashes>.<service>.<namespace>.svc.<domain>"). A trailing dot
// is ignored; "" for an empty name.
func ReplicaName(ptr string) string {
	labels := strings.Split(strings.TrimSuffix(ptr, "."), ".")
	if len(labels) >= 3 && isSwarmID(labels[2]) && (isDigits(labels[1]) || isSwarmID(labels[1])) && labels[0] != "" {
		return strings.Join(labels[:3], ".")
	}
	return labels[0]
}

// isSwarmID reports whether s looks like a Swarm object ID: 25 characters of
// lower-case base 36.
func isSwarmID(s string) bool {
	if len(s) != 25 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
