//go:build !linux || 386 || portable

package netx

import (
	"errors"
	"time"
)

// Parker is not available here: NewParker returns an error and the front
// end keeps a goroutine per idle connection.
type Parker struct{}

// Parkee is what a Parker holds for a parked socket.
type Parkee interface {
	Wake()
	Expire()
}

// ErrParkerClosed is Park's error once the Parker is closing.
var ErrParkerClosed = errors.New("parker closed")

// NewParker reports that parking needs Linux.
func NewParker(int, time.Duration) (*Parker, error) { return nil, errors.New("parking needs Linux") }

// Park is never called where NewParker fails.
func (*Parker) Park(int, Parkee, time.Time) error { return ErrParkerClosed }

// Parked is 0.
func (*Parker) Parked() int { return 0 }

// Close does nothing.
func (*Parker) Close() {}
