//go:build !unix

package upstream

import (
	"net"

	"github.com/lblab/lblab/lb/internal/netx"
)

type quiet struct{}

func (q *quiet) init(net.Conn) {}

func (q *quiet) quiet(c net.Conn, rd *netx.LazyDeadline) bool { return quietPortable(c, rd) }

// peekQuiet cannot look without reading here (a Transport's reader may be
// reading): it says quiet.
func (q *quiet) peekQuiet() bool { return true }
