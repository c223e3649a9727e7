package balance

import (
	"log/slog"
	"sync/atomic"
)

// Named is a Balancer with the name it was made from.
type Named struct {
	Name string
	// Keyed: the algorithm picks by the key it is given (the client's
	// address), so callers must work it out.
	Keyed bool
	Balancer
}

// Keyed is implemented by the algorithms that pick by the key they are
// given (ip_hash); the others ignore it, and callers need not work it out.
type Keyed interface {
	// UsesKey reports whether Pick uses its key.
	UsesKey() bool
}

// UsesKey reports whether b picks by its key.
func UsesKey(b Balancer) bool {
	k, ok := b.(Keyed)
	return ok && k.UsesKey()
}

// Switch holds the algorithm in use and replaces it at run time (the admin
// API's PUT /api/algorithm). Current is one atomic load, for the request
// path; a request keeps the algorithm it loaded.
type Switch struct {
	cur atomic.Pointer[Named]
	log *slog.Logger
}

// NewSwitch returns a Switch using the named algorithm. log receives a line
// for each change (nil: slog.Default()).
func NewSwitch(name string, log *slog.Logger) (*Switch, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Switch{log: log}
	if err := s.SetAlgorithm(name); err != nil {
		return nil, err
	}
	return s, nil
}

// Current returns the algorithm in use.
func (s *Switch) Current() *Named { return s.cur.Load() }

// Algorithm returns the name of the algorithm in use.
func (s *Switch) Algorithm() string { return s.cur.Load().Name }

// SetAlgorithm switches to the named algorithm.
func (s *Switch) SetAlgorithm(name string) error {
	b, err := New(name, Options{})
	if err != nil {
		return err
	}
	if old := s.cur.Swap(&Named{Name: name, Keyed: UsesKey(b), Balancer: b}); old != nil && old.Name != name {
		s.log.Info("algorithm changed", "from", old.Name, "to", name)
	}
	return nil
}
