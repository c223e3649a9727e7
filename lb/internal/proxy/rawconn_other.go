//go:build !linux || 386

package proxy

import "net"

// acceptor is the accept path on Linux except linux/386 (rawconn_linux.go);
// elsewhere the front end uses the listener's Accept.
type acceptor struct{}

func newAcceptor(net.Listener) (*acceptor, error) { return nil, nil }
func (*acceptor) accept(func()) (net.Conn, error) { return nil, net.ErrClosed }
func (*acceptor) close() error                    { return nil }
