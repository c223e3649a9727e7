package dist

import (
	"bufio"
	"cmp"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/lblab/lblab/loadtest/internal/attack"
	"github.com/lblab/lblab/loadtest/internal/report"
)

// Config configures a Coordinator.
type Config struct {
	// Listen is the address to listen on for workers; default 127.0.0.1:0
	// (a free port on this machine only).
	Listen string
	// Workers is how many workers share the load.
	Workers int
	// Silence is how long a worker may send nothing during an attack
	// before it counts as dead (it sends a frame every second); default 5s.
	Silence time.Duration
	// StartIn is the time between the orders and the common start of an
	// attack; default 250ms.
	StartIn time.Duration
	// Log receives joins, departures and deaths; default: discard.
	Log *slog.Logger
}

// Coordinator hands out the load of each run to its workers and merges
// what they send back; it is the runner's Load. Attack and Workers are
// meant for one goroutine; Close may be called from any.
type Coordinator struct {
	cfg    Config
	ln     net.Listener
	ctx    context.Context // owns the accept loop and the readers; ended by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	events chan event // frames and read errors from every worker
	joined chan struct{}

	mu    sync.Mutex      // guards the fields below and every peer's dead
	peers []*peer         // in the order they joined
	last  *report.Workers // the last attack's workers
	seq   int             // attacks ordered so far
}

// peer is one connected worker.
type peer struct {
	name, host string
	nc         net.Conn

	wmu sync.Mutex // guards bw and enc: orders come from Attack, the merge loop and Close
	bw  *bufio.Writer
	enc *gob.Encoder

	dead string // why it dropped out, "" while it is alive (Coordinator.mu)
}

func (p *peer) send(o order) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := p.enc.Encode(o); err != nil {
		return err
	}
	return p.bw.Flush()
}

type event struct {
	p   *peer
	f   frame
	err error
}

// Listen starts a coordinator listening on cfg.Listen.
func Listen(cfg Config) (*Coordinator, error) {
	if cfg.Workers < 1 {
		return nil, fmt.Errorf("coordinate %d workers: want at least 1", cfg.Workers)
	}
	cfg.Listen = cmp.Or(cfg.Listen, "127.0.0.1:0")
	if cfg.Silence <= 0 {
		cfg.Silence = 5 * time.Second
	}
	if cfg.StartIn <= 0 {
		cfg.StartIn = 250 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen for workers on %s: %w", cfg.Listen, err)
	}
	c := &Coordinator{cfg: cfg, ln: ln, events: make(chan event, 64), joined: make(chan struct{}, cfg.Workers)}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Go(c.accept)
	return c, nil
}

// Addr returns the address the coordinator listens on.
func (c *Coordinator) Addr() string { return c.ln.Addr().String() }

func (c *Coordinator) accept() {
	for {
		nc, err := c.ln.Accept()
		if err != nil {
			if c.ctx.Err() == nil {
				c.cfg.Log.Warn("accept workers", "err", err)
			}
			return
		}
		c.wg.Go(func() { c.handshake(nc) })
	}
}

// handshake reads a worker's hello, and takes it on or refuses it.
func (c *Coordinator) handshake(nc net.Conn) {
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	p := &peer{nc: nc, bw: bufio.NewWriter(nc)}
	p.enc = gob.NewEncoder(p.bw)
	dec := gob.NewDecoder(bufio.NewReader(nc))
	var h hello
	if err := dec.Decode(&h); err != nil {
		c.cfg.Log.Warn("a connection that is not a worker", "from", nc.RemoteAddr(), "err", err)
		nc.Close()
		return
	}
	refuse := func(why string) {
		c.cfg.Log.Warn("worker refused", "name", h.Name, "from", nc.RemoteAddr(), "why", why)
		p.wmu.Lock()
		_ = p.enc.Encode(welcome{Err: why})
		_ = p.bw.Flush()
		p.wmu.Unlock()
		nc.Close()
	}
	if h.Protocol != protocol {
		refuse(fmt.Sprintf("protocol %d, the coordinator speaks %d: use the same loadtest version", h.Protocol, protocol))
		return
	}
	c.mu.Lock()
	if len(c.peers) >= c.cfg.Workers {
		c.mu.Unlock()
		refuse(fmt.Sprintf("the coordinator has its %d workers", c.cfg.Workers))
		return
	}
	p.name, p.host = cmp.Or(h.Name, nc.RemoteAddr().String()), h.Host
	for n := 2; slices.ContainsFunc(c.peers, func(q *peer) bool { return q.name == p.name }); n++ {
		p.name = fmt.Sprintf("%s#%d", cmp.Or(h.Name, nc.RemoteAddr().String()), n)
	}
	c.peers = append(c.peers, p)
	c.mu.Unlock()
	p.wmu.Lock()
	err := p.enc.Encode(welcome{})
	if err == nil {
		err = p.bw.Flush()
	}
	p.wmu.Unlock()
	_ = nc.SetDeadline(time.Time{})
	if err != nil {
		c.markDead(p, "lost while joining: "+err.Error())
		return
	}
	c.cfg.Log.Info("worker joined", "name", p.name, "host", p.host, "from", nc.RemoteAddr())
	c.joined <- struct{}{}
	for {
		var f frame
		err := dec.Decode(&f)
		select {
		case c.events <- event{p: p, f: f, err: err}:
		case <-c.ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// Wait waits until every worker has joined, or until ctx ends or timeout
// passes (an error naming those that joined). progress, when not nil, gets
// a line per worker that joins.
func (c *Coordinator) Wait(ctx context.Context, timeout time.Duration, progress io.Writer) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for c.count() < c.cfg.Workers {
		select {
		case <-c.joined:
			if progress != nil {
				c.mu.Lock()
				p, n := c.peers[len(c.peers)-1], len(c.peers)
				c.mu.Unlock()
				fmt.Fprintf(progress, "worker %s joined (%s), %d of %d\n", p.name, cmp.Or(p.host, "?"), n, c.cfg.Workers)
			}
		case <-ctx.Done():
			return fmt.Errorf("wait for workers: %w (%s)", ctx.Err(), c.joinedLine())
		case <-t.C:
			return fmt.Errorf("wait for workers: %d of %d joined within %s (%s); they connect to %s",
				c.count(), c.cfg.Workers, timeout, c.joinedLine(), c.Addr())
		}
	}
	return nil
}

func (c *Coordinator) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.peers)
}

func (c *Coordinator) joinedLine() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.peers) == 0 {
		return "none joined"
	}
	names := make([]string, len(c.peers))
	for i, p := range c.peers {
		names[i] = p.name
	}
	return "joined: " + strings.Join(names, ", ")
}

func (c *Coordinator) markDead(p *peer, why string) {
	c.mu.Lock()
	first := p.dead == ""
	if first {
		p.dead = why
	}
	c.mu.Unlock()
	if first {
		c.cfg.Log.Warn("worker dropped out", "name", p.name, "why", why)
		p.nc.Close()
	}
}

// part is one worker's part in one attack, kept by the merge loop.
type part struct {
	p      *peer
	cfg    attack.Config
	sent   int
	merged int
	done   bool
	last   time.Time // last frame
}

// Attack orders every live worker to attack its share of cfg at a common
// start, and returns the merged results (timestamps on this machine's
// clock) and that start. The channel is closed once every worker finished or
// dropped out; cancelling ctx tells the workers to stop.
func (c *Coordinator) Attack(ctx context.Context, cfg attack.Config) (<-chan *vegeta.Result, time.Time, error) {
	if err := cfg.Validate(); err != nil {
		return nil, time.Time{}, fmt.Errorf("configure attack: %w", err)
	}
	c.mu.Lock()
	var live []*peer
	for _, p := range c.peers {
		if p.dead == "" {
			live = append(live, p)
		}
	}
	c.seq++
	seq := c.seq
	c.mu.Unlock()
	if len(live) == 0 {
		return nil, time.Time{}, fmt.Errorf("no live workers: %s", c.deadLine())
	}
	if err := CheckSplit(cfg, len(live)); err != nil {
		return nil, time.Time{}, err
	}
	start := time.Now().Add(c.cfg.StartIn)
	shares := make([]*part, len(live))
	for i, p := range live {
		pc := Split(cfg, len(live), i)
		pc.Name = cmp.Or(cfg.Name, "attack") + "@" + p.name
		shares[i] = &part{p: p, cfg: pc, last: start}
		// The order says "start in": this machine's clock is not theirs.
		in := time.Until(start)
		if err := p.send(order{Attack: &assignment{Seq: seq, Config: pc, StartIn: in}}); err != nil {
			c.markDead(p, "could not send its share: "+err.Error())
		}
	}
	out := make(chan *vegeta.Result, 4096)
	c.wg.Go(func() { c.merge(ctx, seq, cfg, shares, start, out) })
	t := time.NewTimer(time.Until(start))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return out, start, nil
}

func (c *Coordinator) deadLine() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for _, p := range c.peers {
		parts = append(parts, p.name+": "+cmp.Or(p.dead, "alive"))
	}
	if len(parts) == 0 {
		return "none joined"
	}
	return strings.Join(parts, "; ")
}

// merge puts the workers' results on this machine's clock, in one channel,
// until every share is done or its worker dead; then it records the report.
func (c *Coordinator) merge(ctx context.Context, seq int, cfg attack.Config, shares []*part, start time.Time, out chan<- *vegeta.Result) {
	defer close(out)
	byPeer := map[*peer]*part{}
	for _, s := range shares {
		byPeer[s.p] = s
	}
	finished := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range shares {
			if !s.done && s.p.dead == "" {
				return false
			}
		}
		return true
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	cancelled := ctx.Done()
	var giveUp time.Time // after a stop: when those still running count as dead
	var n uint64
	for !finished() {
		select {
		case ev := <-c.events:
			s := byPeer[ev.p]
			switch {
			case s == nil:
				// A worker that is not in this attack: only its death matters.
				if ev.err != nil {
					c.markDead(ev.p, "connection lost: "+errText(ev.err))
				}
			case ev.err != nil:
				if !s.done {
					c.markDead(ev.p, fmt.Sprintf("connection lost %.1fs into the run: %s", time.Since(start).Seconds(), errText(ev.err)))
				}
			case ev.f.Seq != seq:
				// A late frame of an earlier attack.
			default:
				s.last = time.Now()
				for _, rec := range ev.f.Results {
					n++
					out <- rec.result(start, s.cfg.Name, n)
				}
				s.merged += len(ev.f.Results)
				s.sent = int(ev.f.Sent)
				if ev.f.Err != "" {
					c.markDead(s.p, "its attack failed: "+ev.f.Err)
				}
				if ev.f.Done {
					s.done = true
				}
			}
		case <-cancelled:
			cancelled = nil
			giveUp = time.Now().Add(cmp.Or(cfg.Timeout, 10*time.Second) + 5*time.Second)
			for _, s := range shares {
				if !s.done {
					if err := s.p.send(order{Stop: true}); err != nil {
						c.markDead(s.p, "could not send stop: "+err.Error())
					}
				}
			}
		case now := <-tick.C:
			for _, s := range shares {
				if s.done || now.Before(start) {
					continue
				}
				if quiet := now.Sub(s.last); quiet > c.cfg.Silence {
					c.markDead(s.p, fmt.Sprintf("sent nothing for %.1fs, %.1fs into the run", quiet.Seconds(), now.Sub(start).Seconds()))
				}
				if !giveUp.IsZero() && now.After(giveUp) {
					c.markDead(s.p, "did not stop when told to")
				}
			}
		case <-c.ctx.Done():
			return
		}
	}
	c.record(shares)
}

func errText(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the worker closed it"
	}
	return err.Error()
}

// record keeps the report of an attack's workers.
func (c *Coordinator) record(shares []*part) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &report.Workers{Count: len(c.peers), Workers: []report.Worker{}}
	in := map[*peer]*part{}
	for _, s := range shares {
		in[s.p] = s
	}
	for _, p := range c.peers {
		x := report.Worker{Name: p.name, Host: p.host}
		s := in[p]
		switch {
		case s == nil:
			x.Error = "dropped out before this run: " + p.dead
		default:
			x.Rate, x.Concurrency, x.Requests = s.cfg.Rate, s.cfg.Concurrency, int(s.cfg.Requests)
			x.Sent, x.Merged = s.sent, s.merged
			if s.p.dead != "" && !s.done {
				x.Error = s.p.dead
			}
		}
		if x.Error == "" {
			w.Finished++
		}
		w.Workers = append(w.Workers, x)
	}
	w.Partial = w.Finished < w.Count
	c.last = w
}

// Workers describes the last attack's workers: what each was given, sent
// and had merged, and why any dropped out.
func (c *Coordinator) Workers() *report.Workers {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Close tells the workers goodbye, closes their connections and the
// listener, and waits for its goroutines.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	peers := slices.Clone(c.peers)
	c.mu.Unlock()
	for _, p := range peers {
		_ = p.send(order{Bye: true})
	}
	c.cancel()
	err := c.ln.Close()
	for _, p := range peers {
		p.nc.Close()
	}
	c.wg.Wait()
	return err
}
