//go:build linux && !386 && !portable

package netx

import (
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Read is recv(2) on a non-blocking socket: a raw system call (it never
// blocks, so it skips the scheduler's system-call bookkeeping) unless
// SetCrowded(true) was the last word. An interrupted call is retried.
// recvfrom(2) with no flags and no address reads as read(2) does, without
// the file layer read(2) passes through first (its position lock, access
// checks and notifications), as HAProxy and nginx read. fd must be a
// socket.
// n == 0 with a nil error is the peer's EOF; EAGAIN comes back as
// syscall.EAGAIN.
func Read(fd int, b []byte) (int, error) {
	return sockIO(syscall.SYS_RECVFROM, fd, b, 0)
}

// Send is send(2) on a non-blocking socket, without SIGPIPE
// (MSG_NOSIGNAL): a peer that has gone is an EPIPE error. Raw as Read is.
func Send(fd int, b []byte) (int, error) {
	return sockIO(syscall.SYS_SENDTO, fd, b, syscall.MSG_NOSIGNAL)
}

// crowded: see SetCrowded.
var crowded atomic.Bool

// SetCrowded says whether many connections are being served: then Read and
// Send (and RawIO's connections, and the Acceptor's) make their system
// calls as the scheduler's own (syscall.Syscall6) rather than raw.
//
// A raw call keeps the thread's P (its run queue of goroutines) for as
// long as the call lasts, and on this project's 2-core machine the kernel
// often switches a thread out in the middle of a loopback write. With a few
// dozen busy connections that costs nothing, and raw calls save the
// runtime's monitor its wake-ups every 20 µs (about 8% of the CPU per
// request at 64 connections, 13% with a new connection per request). With
// hundreds, goroutines wait in the run queue of a P whose thread is
// switched out; a call the scheduler knows of hands the P on after 20 µs
// (raw calls cost 7% of the req/s at 512 connections, side by side). The
// HTTP front end says when (front.Config.RawCallsBelow), by the
// connections it serves: parked ones do not count. A crowd of mostly idle
// connections gains the most from raw calls: where every P falls idle
// between requests, the monitor sleeps until the next system call the
// scheduler knows of wakes it, and then polls every 20 µs for a
// millisecond or more.
func SetCrowded(on bool) {
	if crowded.Load() != on {
		crowded.Store(on)
	}
}

// Crowded reports the last SetCrowded.
func Crowded() bool { return crowded.Load() }

func sockIO(trap uintptr, fd int, b []byte, flags uintptr) (int, error) {
	call := syscall.RawSyscall6
	if crowded.Load() {
		call = syscall.Syscall6
	}
	for {
		n, _, e := call(trap, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), flags, 0, 0)
		switch e {
		case 0:
			return int(n), nil
		case syscall.EINTR:
		default:
			return 0, e
		}
	}
}

// DupCloexec duplicates fd (close-on-exec). The copy shares the socket and
// its file status flags, non-blocking mode included.
func DupCloexec(fd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if e != 0 {
		return -1, os.NewSyscallError("fcntl", e)
	}
	return int(r), nil
}

// TCPAddr converts a socket address from accept4(2) or getsockname(2);
// anything but IPv4 and IPv6 gives an empty address.
func TCPAddr(sa syscall.Sockaddr) *net.TCPAddr {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port, Zone: zoneName(sa.ZoneId)}
	}
	return &net.TCPAddr{}
}

// zoneName is the name of the interface an IPv6 link-local address is on
// (its zone, as net writes it: fe80::1%eth0), or its index if it has no
// name.
func zoneName(index uint32) string {
	if index == 0 {
		return ""
	}
	if ifi, err := net.InterfaceByIndex(int(index)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(index), 10)
}

// Peek looks at the first byte waiting on a non-blocking socket without
// taking it: n == 1 when bytes wait, n == 0 with a nil error at the peer's
// EOF, syscall.EAGAIN when nothing waits.
func Peek(fd int, b *[1]byte) (int, error) {
	return sockIO(syscall.SYS_RECVFROM, fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
}
