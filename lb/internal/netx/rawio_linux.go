//go:build linux && !386 && !portable

package netx

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// RawIO returns c with its Read and Write done as system calls on its
// descriptor (Read and Send, raw unless SetCrowded says otherwise), inside
// its RawConn (which keeps the descriptor from being closed under them and
// waits in Go's poller, with c's deadlines, when the socket would block);
// everything else is c's own. c as it is when it has no RawConn.
//
// net.Conn's Read and Write tell the scheduler that each read(2) and
// write(2) may block. On loopback a write runs the receiver's TCP work and
// often ends with the kernel switching the thread out; the runtime's
// monitor then hands the P to another thread, and keeps waking every 20 µs
// (see Epoll). A non-blocking socket's calls never block: raw calls skip
// that bookkeeping.
func RawIO(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	t := &rawTCP{Conn: c}
	t.rw.init(rc)
	return t
}

// rawTCP is RawIO's net.Conn.
type rawTCP struct {
	net.Conn
	rw rawRW
}

func (c *rawTCP) Read(b []byte) (int, error) {
	n, err := c.rw.read(b)
	return n, c.opErr("read", err)
}

func (c *rawTCP) Write(b []byte) (int, error) {
	n, err := c.rw.write(b)
	return n, c.opErr("write", err)
}

// opErr wraps a failure of rawRW's as net.Conn's would be; nil and io.EOF
// stay as they are.
func (c *rawTCP) opErr(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// rawRW reads and writes a non-blocking socket with raw system calls (Read,
// Send) inside a RawConn's callbacks: the RawConn keeps the descriptor
// from being closed under a call, and waits in Go's poller (with its
// deadlines) while the socket would block. One read and one write may run
// at the same time. The callbacks are bound once (init), so a call
// allocates nothing.
type rawRW struct {
	rc         syscall.RawConn
	rd, wr     func(uintptr) bool
	rb, wb     []byte
	rn, wn     int
	rerr, werr error
	// hold, while set, is the client connection in a Hold (see
	// rawConn.Hold): readStep, the callback of the one RawConn read the
	// Hold makes, runs its step instead.
	hold *rawConn
}

func (x *rawRW) init(rc syscall.RawConn) {
	x.rc, x.rd, x.wr = rc, x.readStep, x.writeStep
}

// read reads into b as net.Conn's Read does, but with a failure left for
// the caller to wrap in its *net.OpError: the wait's (os.ErrDeadlineExceeded
// or net.ErrClosed) or the system call's (an *os.SyscallError); io.EOF at
// the peer's close.
func (x *rawRW) read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	x.rb, x.rn, x.rerr = b, 0, nil
	err := x.rc.Read(x.rd)
	n, errno := x.rn, x.rerr
	x.rb, x.rerr = nil, nil
	switch {
	case err != nil:
		return 0, waitErr(err)
	case errno != nil:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (x *rawRW) readStep(fd uintptr) bool {
	if x.hold != nil {
		return x.hold.heldStep()
	}
	x.rn, x.rerr = Read(int(fd), x.rb)
	if x.rerr == syscall.EAGAIN {
		emptyReads.Add(1)
		x.rerr = nil
		return false
	}
	return true
}

// write writes all of b: what the kernel took, and a failure as read's.
func (x *rawRW) write(b []byte) (int, error) {
	x.wb, x.wn, x.werr = b, 0, nil
	err := x.rc.Write(x.wr)
	n, errno := x.wn, x.werr
	x.wb, x.werr = nil, nil
	switch {
	case err != nil:
		return n, waitErr(err)
	case errno != nil:
		return n, os.NewSyscallError("write", errno)
	}
	return n, nil
}

func (x *rawRW) writeStep(fd uintptr) bool {
	for x.wn < len(x.wb) {
		m, err := Send(int(fd), x.wb[x.wn:])
		if err == syscall.EAGAIN {
			return false
		}
		if err != nil {
			x.werr = err
			return true
		}
		x.wn += m
	}
	return true
}

// waitErr is the error inside a RawConn's failed wait (net wraps it as
// "raw-read"): a deadline that passed, or the connection closed.
func waitErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return os.ErrDeadlineExceeded
	}
	return net.ErrClosed
}
