//go:build linux && !386 && !portable

package netx

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// Epoll is an epoll(7) instance for an event loop of the balancer's own (TCP
// mode's relay, the Parker) whose waits park the calling goroutine in Go's
// poller instead of blocking a thread in epoll_wait(2). An epoll descriptor
// is itself pollable: it is readable while events are ready in it.
//
// Why: a goroutine blocked in a system call holds its P until the runtime's
// monitor thread (sysmon) takes the P back, and each time sysmon takes one
// back it keeps waking every 20 µs instead of backing off to 10 ms. An event
// loop that waits in epoll_wait thousands of times a second kept sysmon
// waking about 4,500 times a second, 60% of the balancer's context switches
// in TCP mode (perf record -e sched:sched_switch): on a virtual machine,
// where a context switch is dear, the biggest cost after the relaying itself.
// Waiting in Go's poller, the loop's goroutine just parks; the runtime's
// own epoll_wait (one per process) wakes it.
type Epoll struct {
	fd       int
	file     *os.File // fd in Go's poller (closing it closes fd)
	rc       syscall.RawConn
	deadline time.Time // the read deadline set on file
	polls    int       // Hold's polls (tests)
}

// NewEpoll creates an epoll instance and adds it to Go's poller.
func NewEpoll() (*Epoll, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, &net.OpError{Op: "epoll_create1", Err: err}
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, &net.OpError{Op: "fcntl", Err: err}
	}
	f := os.NewFile(uintptr(fd), "epoll") // non-blocking: joins the poller if it can
	// A file that could not join the poller takes no deadline: waiting on it
	// would fail, so say so now.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, &net.OpError{Op: "epoll", Err: errors.New("the epoll descriptor cannot join Go's poller: " + err.Error())}
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Epoll{fd: fd, file: f, rc: rc}, nil
}

// FD is the epoll descriptor, for epoll_ctl(2); valid until Close.
func (e *Epoll) FD() int { return e.fd }

// Wait fills events with the ready ones and returns how many. When none is
// ready it waits in Go's poller until one is, or until deadline (the zero
// time: no deadline), and then returns 0. Only one goroutine may call Wait
// at a time.
func (e *Epoll) Wait(events []syscall.EpollEvent, deadline time.Time) (int, error) {
	if err := e.setDeadline(deadline); err != nil {
		return 0, err
	}
	var n int
	var werr error
	err := e.rc.Read(func(uintptr) bool { // the first call asks at once: no wait while events are ready
		n, werr = epollPoll(e.fd, events)
		return n > 0 || werr != nil
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return n, werr
}

// Hold hands the events ready to handle (handle(n): events[:n]) again and
// again, inside one read of the descriptor's RawConn, until handle returns
// true or deadline passes (then nil, as Wait), or a poll fails. Go's poller
// clears a descriptor's readiness only at the start of a read, so a set
// that a poll found empty, or drained (fewer events than events holds),
// is waited on without another poll, and an event that comes meanwhile
// ends the wait at once: one epoll_pwait per wake-up instead of Wait's two
// (the second finding nothing). Only for sets whose registrations are all
// one-shot or edge-triggered: a level-triggered socket still ready after
// its event is reported again without a new edge, which the wait would not
// see. Only one goroutine may call Hold or Wait at a time.
func (e *Epoll) Hold(events []syscall.EpollEvent, deadline time.Time, handle func(n int) bool) error {
	if err := e.setDeadline(deadline); err != nil {
		return err
	}
	var werr error
	err := e.rc.Read(func(uintptr) bool {
		for {
			e.polls++
			n, err := epollPoll(e.fd, events)
			switch {
			case err != nil:
				werr = err
				return true
			case n == 0:
				return false // empty: wait
			case handle(n):
				return true
			case n < len(events):
				return false // drained: wait, without polling again
			}
		}
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return werr
	}
	if err != nil {
		return err
	}
	return werr
}

// setDeadline sets the waits' deadline on the descriptor, unless it is set.
func (e *Epoll) setDeadline(deadline time.Time) error {
	if deadline.Equal(e.deadline) {
		return nil
	}
	if err := e.file.SetReadDeadline(deadline); err != nil {
		return err
	}
	e.deadline = deadline
	return nil
}

// Close closes the instance; a Wait in progress returns an error.
func (e *Epoll) Close() error { return e.file.Close() }

// epollPoll is epoll_pwait(2) with a zero timeout: the events ready now,
// without blocking (so without the system-call bookkeeping that lets the
// scheduler hand the P on).
func epollPoll(epfd int, events []syscall.EpollEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	for {
		n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd),
			uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
		switch e {
		case 0:
			return int(n), nil
		case syscall.EINTR:
		default:
			return 0, os.NewSyscallError("epoll_pwait", e)
		}
	}
}
