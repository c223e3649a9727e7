//go:build unix

package server

import "syscall"

// openFileLimit returns the process's open-file limit (the soft one, which
// Go raises to the hard one at start), or 0 when it cannot be read.
func openFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return uint64(l.Cur)
}
