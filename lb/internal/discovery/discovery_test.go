package discovery

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/lb/internal/config"
	"github.com/lblab/lblab/lb/internal/pool"
)

// fakeResolver answers from maps that the test changes between Syncs, as
// Docker's embedded DNS does when Compose scales a service.
type fakeResolver struct {
	mu    sync.Mutex
	addrs map[string][]string // host -> addresses; absent = no such host
	errs  map[string]error    // host -> error other than "no such host"
	hang  map[string]bool     // host -> lookup blocks until its context ends
	ptr   map[string]string   // address -> reverse-DNS name
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{addrs: map[string][]string{}, errs: map[string]error{}, hang: map[string]bool{}, ptr: map[string]string{}}
}

func (r *fakeResolver) set(host string, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if addrs == nil {
		delete(r.addrs, host)
		return
	}
	r.addrs[host] = addrs
	for i, a := range addrs {
		if _, ok := r.ptr[a]; !ok {
			r.ptr[a] = host + "_" + string(rune('1'+i)) + ".lab_default."
		}
	}
}

func (r *fakeResolver) fail(host string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs[host] = err
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	hang, err, addrs := r.hang[host], r.errs[host], slices.Clone(r.addrs[host])
	r.mu.Unlock()
	if hang {
		<-ctx.Done()
		return nil, &net.DNSError{Err: "i/o timeout", Name: host, IsTimeout: true}
	}
	if err != nil {
		return nil, err
	}
	if addrs == nil {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		out[i] = netip.MustParseAddr(a)
	}
	return out, nil
}

func (r *fakeResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n, ok := r.ptr[addr]; ok {
		return []string{n}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

type state struct{ Name, Addr, State string }

func snapshot(p *pool.Pool) []state {
	var out []state
	for _, b := range p.All() {
		out = append(out, state{b.Name, b.Addr, b.State().String()})
	}
	slices.SortFunc(out, func(a, b state) int { return strings.Compare(a.Addr, b.Addr) })
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newDiscoverer(r Resolver, logger *slog.Logger, entries ...config.Backend) (*Discoverer, *pool.Pool) {
	p := pool.New(pool.Options{Logger: quiet()})
	d := New(Config{Pool: p, Entries: entries, Interval: time.Second, DrainTimeout: 10 * time.Second, Resolver: r, Logger: logger})
	return d, p
}

func TestSyncFollowsScaling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeResolver()
		d, p := newDiscoverer(r, quiet(),
			config.Backend{Host: "backend", Port: 8000, Weight: 1},
			config.Backend{Host: "10.0.0.9", Port: 9000, Weight: 1})
		require.True(t, d.Dynamic())

		r.set("backend", "10.0.0.2", "10.0.0.3", "10.0.0.4")
		d.Sync(t.Context())
		assert.Equal(t, []state{
			{"10.0.0.9:9000", "10.0.0.9:9000", "up"},
			{"backend_1:8000", "10.0.0.2:8000", "up"},
			{"backend_2:8000", "10.0.0.3:8000", "up"},
			{"backend_3:8000", "10.0.0.4:8000", "up"},
		}, sortByName(snapshot(p)), "one backend per address, named by reverse DNS")
		for _, b := range p.All() {
			if b.Addr != "10.0.0.9:9000" {
				assert.Equal(t, "backend:8000", b.Source)
			}
		}

		// --scale backend=5
		r.set("backend", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6")
		d.Sync(t.Context())
		assert.Len(t, p.Available(), 6, "two replicas added, nothing restarted")
		assert.Equal(t, "backend_5:8000", p.Get("10.0.0.6:8000").Name)

		// --scale backend=3, with a request still in flight on one leaving replica.
		busy := p.Get("10.0.0.5:8000")
		busy.Acquire()
		r.set("backend", "10.0.0.2", "10.0.0.3", "10.0.0.4")
		d.Sync(t.Context())
		synctest.Wait()
		assert.Nil(t, p.Get("10.0.0.6:8000"), "an idle leaving replica is removed at once")
		require.NotNil(t, p.Get("10.0.0.5:8000"), "a busy leaving replica is drained first")
		assert.Equal(t, pool.StateDraining, busy.State())
		assert.NotContains(t, p.Available(), busy, "a draining replica takes no new requests")

		time.Sleep(time.Second)
		synctest.Wait()
		require.NotNil(t, p.Get("10.0.0.5:8000"), "still draining while the request runs")
		busy.Release()
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		assert.Nil(t, p.Get("10.0.0.5:8000"), "removed once its last request ended")
		assert.Len(t, p.All(), 4)
	})
}

func sortByName(s []state) []state {
	slices.SortFunc(s, func(a, b state) int { return strings.Compare(a.Name, b.Name) })
	return s
}

func TestSyncDrainTimeoutCutsAStuckRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeResolver()
		d, p := newDiscoverer(r, quiet(), config.Backend{Host: "backend", Port: 8000, Weight: 1})
		r.set("backend", "10.0.0.2", "10.0.0.3")
		d.Sync(t.Context())
		p.Get("10.0.0.3:8000").Acquire() // never released
		r.set("backend", "10.0.0.2")
		d.Sync(t.Context())
		time.Sleep(9 * time.Second)
		synctest.Wait()
		assert.NotNil(t, p.Get("10.0.0.3:8000"))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.Nil(t, p.Get("10.0.0.3:8000"), "removed at the drain timeout")
	})
}

func TestSyncAddressBackWhileDraining(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeResolver()
		d, p := newDiscoverer(r, quiet(), config.Backend{Host: "backend", Port: 8000, Weight: 1})
		r.set("backend", "10.0.0.2", "10.0.0.3")
		d.Sync(t.Context())
		b := p.Get("10.0.0.3:8000")
		b.Acquire()
		r.set("backend", "10.0.0.2")
		d.Sync(t.Context())
		require.Equal(t, pool.StateDraining, b.State())
		r.set("backend", "10.0.0.2", "10.0.0.3")
		d.Sync(t.Context())
		assert.Equal(t, pool.StateUp, b.State(), "back in DNS before it was removed: up again")
		b.Release()
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Same(t, b, p.Get("10.0.0.3:8000"), "not removed after all")
	})
}

func TestSyncLookupErrors(t *testing.T) {
	tests := []struct {
		name      string
		breakIt   func(r *fakeResolver)
		wantAddrs int
	}{
		{"temporary failure keeps the backends", func(r *fakeResolver) {
			r.fail("backend", &net.DNSError{Err: "server misbehaving", Name: "backend", IsTemporary: true})
		}, 2},
		{"other error keeps the backends", func(r *fakeResolver) { r.fail("backend", errors.New("boom")) }, 2},
		{"no such host drains them", func(r *fakeResolver) { r.set("backend") }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newFakeResolver()
				d, p := newDiscoverer(r, quiet(), config.Backend{Host: "backend", Port: 8000, Weight: 1})
				r.set("backend", "10.0.0.2", "10.0.0.3")
				d.Sync(t.Context())
				tt.breakIt(r)
				d.Sync(t.Context())
				synctest.Wait()
				assert.Len(t, p.All(), tt.wantAddrs)
			})
		})
	}
}

func TestSyncUnresolvedAtStartIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeResolver()
		d, p := newDiscoverer(r, quiet(), config.Backend{Host: "backend", Port: 8000, Weight: 1})
		d.Sync(t.Context())
		assert.Empty(t, p.All(), "nothing yet: the balancer answers 503")

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { d.Run(ctx); close(done) }()
		r.set("backend", "10.0.0.2")
		time.Sleep(time.Second + time.Millisecond)
		synctest.Wait()
		assert.Len(t, p.Available(), 1, "found at the next resolve_interval")
		assert.Equal(t, "backend_1:8000", p.All()[0].Name,
			"one replica is named after its container, as the replicas that join it later will be")
		cancel()
		<-done
	})
}

// A name that is absent on purpose (the lab's backend-slow outside its
// Compose profile) is reported once, not every resolve_interval.
func TestSyncWarnsOncePerFailure(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	r := newFakeResolver()
	d, _ := newDiscoverer(r, logger,
		config.Backend{Host: "backend", Port: 8000, Weight: 1},
		config.Backend{Host: "backend-slow", Port: 8000, Weight: 1})
	r.set("backend", "10.0.0.2")
	for range 5 {
		d.Sync(t.Context())
	}
	assert.Equal(t, 1, strings.Count(buf.String(), "level=WARN"), buf.String())
	assert.Contains(t, buf.String(), `msg="resolve backend: no such host" host=backend-slow`)

	r.set("backend-slow", "10.0.0.9")
	d.Sync(t.Context())
	d.Sync(t.Context())
	assert.Equal(t, 1, strings.Count(buf.String(), "resolves again"), buf.String())

	r.set("backend-slow")
	d.Sync(t.Context())
	assert.Equal(t, 2, strings.Count(buf.String(), "level=WARN"), "a new failure is reported again")
}

// A lookup that hangs until its timeout does not hold up the other names:
// Sync resolves them all at once.
func TestSyncHangingNameDoesNotDelayOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeResolver()
		d, p := newDiscoverer(r, quiet(),
			config.Backend{Host: "backend", Port: 8000, Weight: 1},
			config.Backend{Host: "hang-a", Port: 8000, Weight: 1},
			config.Backend{Host: "hang-b", Port: 8000, Weight: 1})
		r.hang["hang-a"], r.hang["hang-b"] = true, true // before any lookup: no lock needed
		r.set("backend", "10.0.0.2")
		start := time.Now()
		d.Sync(t.Context())
		assert.Equal(t, 3*time.Second, time.Since(start), "one lookup timeout, not one per hanging name")
		assert.Len(t, p.All(), 1)
	})
}

func TestReplicaName(t *testing.T) {
	for _, tc := range []struct{ name, ptr, want string }{
		{"compose v1", "lblab_backend_2.lblab_default.", "lblab_backend_2"},
		{"compose v2", "lblab-backend-2.lblab_default.", "lblab-backend-2"},
		{"swarm task", "lbeco2_backend.1.ntq4tg1c0f9k2q5j8m7a1d3bx.lbeco2_default.", "lbeco2_backend.1.ntq4tg1c0f9k2q5j8m7a1d3bx"},
		{"swarm task, no trailing dot", "s_backend.12.ntq4tg1c0f9k2q5j8m7a1d3bx.s_default", "s_backend.12.ntq4tg1c0f9k2q5j8m7a1d3bx"},
		{"swarm global task", "s_agent.ph3amrmjxvo2hgy3aky2fmnof.ntq4tg1c0f9k2q5j8m7a1d3bx.s_default.", "s_agent.ph3amrmjxvo2hgy3aky2fmnof.ntq4tg1c0f9k2q5j8m7a1d3bx"},
		{"not a task id", "s_backend.1.short.s_default.", "s_backend"},
		{"kubernetes headless", "10-0-0-5.backend.lab.svc.cluster.local.", "10-0-0-5"},
		{"one label", "localhost.", "localhost"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ReplicaName(tc.ptr))
		})
	}
}

// Every replica gets a name of its own, whatever reverse DNS answers: Swarm
// tasks of one service (which share the text up to the first dot), replicas
// whose reverse DNS is missing or names the same host, and an address that
// comes back while its old name is still taken.
func TestSyncNamesEveryReplicaUniquely(t *testing.T) {
	const (
		task1 = "ntq4tg1c0f9k2q5j8m7a1d3bx"
		task2 = "ce9g2inufi2ne7fzgkkzl53aj"
		task3 = "hgm8iqbpqvq1918wydu6cm55w"
	)
	for _, tc := range []struct {
		name  string
		ptr   map[string]string // address -> reverse DNS; absent: no answer
		addrs []string
		want  []string // names, by address
	}{{
		name: "swarm tasks",
		ptr: map[string]string{
			"10.0.1.3": "lbs_backend.1." + task1 + ".lbs_default.",
			"10.0.1.4": "lbs_backend.2." + task2 + ".lbs_default.",
			"10.0.1.5": "lbs_backend.3." + task3 + ".lbs_default.",
		},
		addrs: []string{"10.0.1.3", "10.0.1.4", "10.0.1.5"},
		want: []string{
			"lbs_backend.1." + task1 + ":8000", "lbs_backend.2." + task2 + ":8000", "lbs_backend.3." + task3 + ":8000",
		},
	}, {
		name: "one reverse-DNS name for every address",
		ptr: map[string]string{
			"10.0.1.3": "backend.lab.", "10.0.1.4": "backend.lab.", "10.0.1.5": "backend.other.",
		},
		addrs: []string{"10.0.1.3", "10.0.1.4", "10.0.1.5"},
		want:  []string{"backend:8000", "backend.lab:8000", "backend.other:8000"},
	}, {
		name:  "no reverse DNS",
		ptr:   map[string]string{"10.0.1.4": "backend_2.lab_default."},
		addrs: []string{"10.0.1.3", "10.0.1.4"},
		want:  []string{"backend:8000/10.0.1.3", "backend_2:8000"},
	}, {
		name:  "one address, reverse DNS of something else",
		ptr:   map[string]string{"10.0.1.3": "ec2-10-0-1-3.compute.internal."},
		addrs: []string{"10.0.1.3"},
		want:  []string{"backend:8000"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newFakeResolver()
			d, p := newDiscoverer(r, quiet(), config.Backend{Host: "backend", Port: 8000, Weight: 1})
			r.set("backend", tc.addrs...)
			r.ptr = tc.ptr // set gave every address a name; only these have one
			d.Sync(t.Context())
			var got []string
			for _, s := range snapshot(p) {
				got = append(got, s.Name)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// A replica whose name is taken by one still draining (a Swarm slot's new
// task, here with the same reverse-DNS answer) is named apart.
func TestSyncNameTakenByADrainingReplica(t *testing.T) {
	r := newFakeResolver()
	r.ptr = map[string]string{"10.0.1.3": "backend_1.lab_default.", "10.0.1.4": "backend_1.lab_default.", "10.0.1.5": "backend_2.lab_default."}
	d, p := newDiscoverer(r, quiet(), config.Backend{Host: "backend", Port: 8000, Weight: 1})
	r.set("backend", "10.0.1.3", "10.0.1.5")
	d.Sync(t.Context())
	p.Get("10.0.1.3:8000").Acquire() // in flight: it drains instead of going at once
	r.set("backend", "10.0.1.4", "10.0.1.5")
	d.Sync(t.Context())
	assert.Equal(t, []state{
		{"backend_1:8000", "10.0.1.3:8000", "draining"},
		{"backend_1.lab_default:8000", "10.0.1.4:8000", "up"},
		{"backend_2:8000", "10.0.1.5:8000", "up"},
	}, snapshot(p))
}

// ReplicaName returns a prefix of its input, label-aligned, for any input.
func FuzzReplicaName(f *testing.F) {
	for _, s := range []string{"lblab_backend_2.lblab_default.", "s_backend.1.ntq4tg1c0f9k2q5j8m7a1d3bx.s_default.", "", ".", "..", "a..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ptr string) {
		got := ReplicaName(ptr)
		trimmed := strings.TrimSuffix(ptr, ".")
		if !strings.HasPrefix(trimmed, got) {
			t.Fatalf("ReplicaName(%q) = %q: not a prefix", ptr, got)
		}
		if rest := trimmed[len(got):]; rest != "" && rest[0] != '.' {
			t.Fatalf("ReplicaName(%q) = %q: cut inside a label", ptr, got)
		}
	})
}
