//go:build !linux || 386 || portable

package netx

import "net"

// DeferAccept does nothing here: TCP_DEFER_ACCEPT is Linux's.
func DeferAccept(net.Listener) error { return nil }

// DelayFirstAck does nothing here: clearing TCP_QUICKACK is Linux's.
func DelayFirstAck(net.Listener) error { return nil }
