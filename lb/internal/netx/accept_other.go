//go:build !linux || 386 || portable

package netx

import "net"

// Acceptor is the accept path on Linux except linux/386 and builds tagged
// "portable" (accept_linux.go);
// elsewhere NewAcceptor returns nil and the front end uses the listener's
// Accept.
type Acceptor struct{}

// NewAcceptor returns nil: use ln.Accept.
func NewAcceptor(net.Listener) (*Acceptor, error) { return nil, nil }

// Accept is never called on a nil Acceptor's platforms.
func (*Acceptor) Accept(func()) (net.Conn, error) { return nil, net.ErrClosed }

// Close does nothing.
func (*Acceptor) Close() error { return nil }
