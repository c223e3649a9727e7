//go:build linux && !386 && !portable

package netx

import (
	"bytes"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// On Linux the HTTP front end accepts client connections itself and reads and
// writes them with plain system calls, joining Go's poller only when a
// socket makes it wait (HAProxy's speculative I/O). A client that sends its
// request with its connect and reads the response at once, as most do, is
// served without its socket ever being added to (or taken out of) the epoll
// set and without the getsockname net.Conn's LocalAddr costs: three system
// calls per connection, which with a new connection per request were about
// 5.5% of the balancer's CPU (epoll_ctl 4.6%, getsockname 1%).

// Acceptor accepts from a TCP listener with accept4(2), waiting for it in
// Go's poller through a duplicate of the listener's descriptor.
type Acceptor struct {
	file *os.File // the duplicate; closing it ends a pending accept
	raw  interface {
		Read(func(uintptr) bool) error
	}
	local net.Addr
}

// NewAcceptor returns an Acceptor for ln, or nil when ln is not a
// *net.TCPListener (the caller then uses ln.Accept).
func NewAcceptor(ln net.Listener) (*Acceptor, error) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil, nil
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd, dupErr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { nfd, dupErr = DupCloexec(int(fd)) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, dupErr
	}
	f := os.NewFile(uintptr(nfd), "listener") // non-blocking: joins the poller
	frc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Acceptor{file: f, raw: frc, local: ln.Addr()}, nil
}

// Accept waits for and returns the next connection, without keep-alive
// probes, and with TCP_NODELAY (as net sets it) from its second write on:
// Nagle's algorithm holds back only a write made while an earlier one is
// unacknowledged, so a connection that writes once (one response, then
// the close) never needs it and saves the system call. release, if not nil, is run
// once when the connection is closed.
func (a *Acceptor) Accept(release func()) (net.Conn, error) {
	var (
		nfd    int
		remote *net.TCPAddr
		aErr   error
	)
	for {
		err := a.raw.Read(func(fd uintptr) bool {
			nfd, remote, aErr = accept4(int(fd))
			return aErr != syscall.EAGAIN
		})
		if err != nil {
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: a.local, Err: err}
		}
		if aErr == syscall.ECONNABORTED || aErr == syscall.EINTR { // gone before it was accepted
			continue
		}
		if aErr != nil {
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: a.local, Err: os.NewSyscallError("accept4", aErr)}
		}
		break
	}
	return &rawConn{fd: nfd, remote: remote, release: release}, nil
}

// accept4 is accept4(2), non-blocking and close-on-exec, as a raw system
// call (it never blocks on the non-blocking listener, so the scheduler need
// not hear of it; see Epoll), with the peer's address.
func accept4(lfd int) (int, *net.TCPAddr, error) {
	var rsa syscall.RawSockaddrAny
	l := uint32(syscall.SizeofSockaddrAny)
	for {
		r, _, e := syscall.RawSyscall6(syscall.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(&rsa)),
			uintptr(unsafe.Pointer(&l)), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0, 0)
		switch e {
		case 0:
			return int(r), rawTCPAddr(&rsa), nil
		case syscall.EINTR:
		default:
			return -1, nil, e
		}
	}
}

// rawTCPAddr converts accept4's address; anything but IPv4 and IPv6 gives
// an empty address.
func rawTCPAddr(rsa *syscall.RawSockaddrAny) *net.TCPAddr {
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: int(p[0])<<8 | int(p[1])}
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return &net.TCPAddr{IP: net.IP(bytes.Clone(sa.Addr[:])), Port: int(p[0])<<8 | int(p[1]), Zone: zoneName(sa.Scope_id)}
	}
	return &net.TCPAddr{}
}

// setNoDelay sets TCP_NODELAY (as net does for its connections), as a raw
// system call.
func setNoDelay(fd int) {
	one := int32(1)
	syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, uintptr(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY,
		uintptr(unsafe.Pointer(&one)), 4, 0)
}

// Close ends a pending Accept and the ones after it.
func (a *Acceptor) Close() error { return a.file.Close() }

// rawConn is an accepted client connection read and written with plain
// system calls until one would block; then (and from then on) through an
// *os.File on the descriptor, which waits in Go's poller and keeps
// deadlines. Its methods are safe for concurrent use: Close and
// SetReadDeadline come from Shutdown and Close.
type rawConn struct {
	remote *net.TCPAddr

	mu     sync.Mutex
	fd     int
	file   *os.File // set once the connection has had to wait
	writes uint8    // counted up to 2: TCP_NODELAY is set before the second
	closed bool
	// Hold's state (see Hold): holding while a Hold runs (under mu);
	// drained, once a read in it found the socket empty (heldEmpty) or
	// drained (heldDrained) and no wait has ended since; step, the Hold's
	// step. Packed next to writes and closed: each idle connection has a
	// rawConn, and it stays in the 256-byte size class it had before Hold
	// (TestRawConnSize).
	holding bool
	drained uint8
	step    func() bool
	rw      rawRW     // reads and writes through file's RawConn, once it is set
	rd, wd  time.Time // deadlines, applied to file when it is made
	local   net.Addr
	release func() // run by the first Close (the connection limit's slot)
}

// rawConn.drained's values.
const (
	heldUnknown uint8 = iota
	heldEmpty
	heldDrained
)

// polledLocked returns the connection's *os.File, making it if need be; the
// caller holds mu.
func (r *rawConn) polledLocked() *os.File {
	if r.file == nil {
		r.file = os.NewFile(uintptr(r.fd), "client")
		rc, _ := r.file.SyscallConn() // never fails for a file made from a descriptor
		r.rw.init(rc)
		if !r.rd.IsZero() {
			r.file.SetReadDeadline(r.rd)
		}
		if !r.wd.IsZero() {
			r.file.SetWriteDeadline(r.wd)
		}
	}
	return r.file
}

// Read reads what the socket holds; when it holds nothing it waits in the
// poller (until the read deadline).
func (r *rawConn) Read(b []byte) (int, error) {
	r.mu.Lock()
	if r.holding {
		return r.heldRead(b) // unlocks
	}
	if f := r.file; f != nil || r.closed {
		closed := r.closed
		r.mu.Unlock()
		if closed { // (a file a Hold still reads is closed after it)
			return 0, r.opErr("read", net.ErrClosed)
		}
		return r.pollRead(b)
	}
	if len(b) == 0 {
		r.mu.Unlock()
		return 0, nil
	}
	n, err := Read(r.fd, b)
	switch {
	case err == nil && n == 0:
		r.mu.Unlock()
		return 0, io.EOF
	case err == nil:
		r.mu.Unlock()
		return n, nil
	case err != syscall.EAGAIN:
		r.mu.Unlock()
		return 0, r.opErr("read", os.NewSyscallError("read", err))
	}
	emptyReads.Add(1)
	r.polledLocked()
	r.mu.Unlock()
	return r.pollRead(b)
}

// Write writes b; what the socket does not take at once is written through
// the poller (until the write deadline).
func (r *rawConn) Write(b []byte) (int, error) {
	r.mu.Lock()
	if r.writes < 2 && !r.closed {
		if r.writes++; r.writes == 2 {
			setNoDelay(r.fd)
		}
	}
	if f := r.file; f != nil || r.closed {
		closed := r.closed
		r.mu.Unlock()
		if closed {
			return 0, r.opErr("write", net.ErrClosed)
		}
		return r.pollWrite(b)
	}
	n := 0
	for n < len(b) {
		m, err := Send(r.fd, b[n:])
		if err == syscall.EAGAIN {
			break
		}
		if err != nil {
			r.mu.Unlock()
			return n, r.opErr("write", os.NewSyscallError("write", err))
		}
		n += m
	}
	if n == len(b) {
		r.mu.Unlock()
		return n, nil
	}
	r.polledLocked()
	r.mu.Unlock()
	m, err := r.pollWrite(b[n:])
	return n + m, err
}

// Hold serves a keep-alive connection's requests without the read that
// finds nothing between them. step runs inside a read of the socket's
// RawConn, so the poller's readiness is cleared once, when Hold starts,
// and not again before each read: step reads (Read is then a plain system
// call that returns ErrWouldBlock or ErrDrained rather than wait), answers
// what it read, and returns false to wait until more arrives or true to
// end the Hold. Until a wait ends, a socket found empty (EAGAIN) or drained
// (a read gave fewer bytes than asked for) is not read again: Read
// returns ErrWouldBlock or ErrDrained without a system call. A byte that
// comes meanwhile ends the next wait at once, since its readiness edge is
// not forgotten: this is what HAProxy's event loop knows from epoll for
// free, and what Go's reads forget at the start of each one. A peer's close
// is signalled the same way, except one that came with the bytes just
// read (their edges are one): a drained socket may hold it unseen, so
// the step waits for a drained socket with a short deadline, after which
// a read (a new Hold) finds it. The waits keep the read deadline.
//
// Only the connection's reader may call Hold, and Read only from step while
// it runs. held is false when the connection has not yet had to wait for
// a read (it has no poller registration: the first wait stays an ordinary
// Read) or is closed; err is the failed wait's, as Read would give it (a
// deadline that passed, or the connection closed).
func (r *rawConn) Hold(step func() bool) (held bool, err error) {
	r.mu.Lock()
	if r.file == nil || r.closed || r.holding {
		r.mu.Unlock()
		return false, nil
	}
	r.holding, r.drained, r.step, r.rw.hold = true, heldUnknown, step, r
	r.mu.Unlock()
	werr := r.rw.rc.Read(r.rw.rd) // readStep calls heldStep while rw.hold is set
	r.mu.Lock()
	r.holding, r.step, r.rw.hold = false, nil, nil
	r.mu.Unlock()
	if werr != nil {
		return true, r.opErr("read", waitErr(werr))
	}
	return true, nil
}

// heldStep is the Hold's RawConn callback (through rw's readStep): each
// call follows the Hold's start or the end of a wait, so the socket may
// hold bytes again.
func (r *rawConn) heldStep() bool {
	r.drained = heldUnknown
	return r.step()
}

// heldRead is Read inside Hold; the caller holds mu, which it releases.
func (r *rawConn) heldRead(b []byte) (int, error) {
	switch {
	case r.closed:
		r.mu.Unlock()
		return 0, r.opErr("read", net.ErrClosed)
	case len(b) == 0:
		r.mu.Unlock()
		return 0, nil
	case r.drained == heldEmpty:
		r.mu.Unlock()
		return 0, ErrWouldBlock
	case r.drained == heldDrained:
		r.mu.Unlock()
		return 0, ErrDrained
	}
	n, err := Read(r.fd, b)
	switch {
	case err == syscall.EAGAIN:
		emptyReads.Add(1)
		r.drained = heldEmpty
		r.mu.Unlock()
		return 0, ErrWouldBlock
	case err != nil:
		r.mu.Unlock()
		return 0, r.opErr("read", os.NewSyscallError("read", err))
	case n == 0:
		r.mu.Unlock()
		return 0, io.EOF
	}
	if n < len(b) {
		r.drained = heldDrained
	}
	r.mu.Unlock()
	return n, nil
}

// emptyReads counts the reads of client and backend sockets that found
// nothing (EAGAIN), process-wide, for tests (EmptyReads).
var emptyReads atomic.Int64

// EmptyReads returns how many reads of client and backend sockets
// (Acceptor's connections, RawIO's) have found nothing (EAGAIN) in this
// process: each one made its reader wait, or ended a step of Hold. For
// tests; counted where a read finds nothing, which Hold makes rare.
func EmptyReads() int64 { return emptyReads.Load() }

// pollRead reads through the file's RawConn (see rawRW): the os.File's
// own Read would make each read a blocking system call in the scheduler's
// eyes (see RawIO).
func (r *rawConn) pollRead(b []byte) (int, error) {
	n, err := r.rw.read(b)
	return n, r.opErr("read", err)
}

// pollWrite writes all of b through the file's RawConn.
func (r *rawConn) pollWrite(b []byte) (int, error) {
	n, err := r.rw.write(b)
	return n, r.opErr("write", err)
}

// opErr wraps a failure as net.Conn's would be; nil and io.EOF stay as
// they are.
func (r *rawConn) opErr(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Addr: r.remote, Err: err}
}

// Close closes the connection. Called while another goroutine reads or
// writes, that call fails (net.ErrClosed, or the poller's error).
func (r *rawConn) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return net.ErrClosed
	}
	r.closed = true
	if r.release != nil {
		r.release()
	}
	if f := r.file; f != nil {
		// Outside mu: the file's Close waits for the reads and writes in
		// its RawConn to return, and Hold's step may want mu meanwhile.
		holding := r.holding
		r.mu.Unlock()
		if holding {
			// Hold's step may be answering a request, inside the read
			// that Close would wait for: the client sees the connection
			// shut now (every read and write of it fails from here), and
			// the descriptor closes once the step returns.
			syscall.RawSyscall(syscall.SYS_SHUTDOWN, uintptr(r.fd), syscall.SHUT_RDWR, 0)
			go f.Close()
			return nil
		}
		return f.Close()
	}
	defer r.mu.Unlock()
	// close(2) of a socket without SO_LINGER never blocks: a raw call.
	if _, _, e := syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(r.fd), 0, 0); e != 0 {
		return os.NewSyscallError("close", e)
	}
	return nil
}

// LocalAddr asks the kernel (once) for the connection's own address.
func (r *rawConn) LocalAddr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.local == nil {
		r.local = &net.TCPAddr{}
		if !r.closed {
			if sa, err := syscall.Getsockname(r.fd); err == nil {
				r.local = TCPAddr(sa)
			}
		}
	}
	return r.local
}

// Fd is the connection's descriptor (for a Parker); valid until Close.
func (r *rawConn) Fd() int { return r.fd }

// RemoteAddr is the client's address.
func (r *rawConn) RemoteAddr() net.Addr { return r.remote }

// SetDeadline sets both deadlines.
func (r *rawConn) SetDeadline(t time.Time) error {
	if err := r.SetReadDeadline(t); err != nil {
		return err
	}
	return r.SetWriteDeadline(t)
}

// SetReadDeadline bounds the waits of Read (a read that finds bytes waiting
// never waits).
func (r *rawConn) SetReadDeadline(t time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rd = t
	if r.file != nil {
		return r.file.SetReadDeadline(t)
	}
	return nil
}

// SetWriteDeadline bounds the waits of Write.
func (r *rawConn) SetWriteDeadline(t time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wd = t
	if r.file != nil {
		return r.file.SetWriteDeadline(t)
	}
	return nil
}
