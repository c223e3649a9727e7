//go:build !unix

package upstream

import (
	"bufio"
	"net"
	"time"

	"github.com/lblab/lblab/lb/internal/netx"
)

type quiet struct{}

func (q *quiet) init(net.Conn) {}

func (q *quiet) quiet(c net.Conn, rd *netx.LazyDeadline) bool { return quietPortable(c, rd) }

// peekQuiet cannot look without reading here (a Transport's reader may be
// reading): it says quiet.
func (q *quiet) peekQuiet() bool { return true }

// arrived cannot look without reading here: it says no.
func (q *quiet) arrived() bool { return false }

// send flushes w (the request); at, when not nil, gets the time it left.
func (q *quiet) send(w *bufio.Writer, at *time.Time) error { return flushAt(w, at) }

// sendWaits says whether send waits for the response (tests).
const sendWaits = false
