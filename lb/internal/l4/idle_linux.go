//go:build linux && !386

package l4

import (
	"syscall"
	"time"
	"unsafe"
)

// chunk is how many bytes one io.CopyN relays before the byte counters are
// updated. io.CopyN's *io.LimitedReader keeps the splice path (net's
// spliceFrom unwraps it), so the counters stay current on long connections at
// no cost in throughput.
const chunk = 4 << 20

// idleProbe reads the kernel's own record of the client socket's last data
// sent and received (TCP_INFO's tcpi_last_data_sent and tcpi_last_data_recv,
// in milliseconds). The client socket sees both directions: bytes received
// from the client and bytes sent to it from the backend.
type idleProbe struct{}

func (idleProbe) idleFor(c *conn) (time.Duration, error) {
	rc, err := c.client.SyscallConn()
	if err != nil {
		return 0, err
	}
	var (
		info    syscall.TCPInfo
		sockErr error
	)
	err = rc.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(info))
		_, _, errno := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
		if errno != 0 {
			sockErr = errno
		}
	})
	if err != nil {
		return 0, err
	}
	if sockErr != nil {
		return 0, sockErr
	}
	return time.Duration(min(info.Last_data_recv, info.Last_data_sent)) * time.Millisecond, nil
}
