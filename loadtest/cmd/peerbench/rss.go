package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// parseVmRSS returns the VmRSS line of /proc/PID/status, in KiB.
func parseVmRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != "VmRSS" {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("proc status: VmRSS %q: want \"<number> kB\"", strings.TrimSpace(v))
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("proc status: VmRSS %q: not a size", f[0])
		}
		return n, nil
	}
	return 0, fmt.Errorf("proc status: no VmRSS line (a kernel thread or a zombie?)")
}

// readRSS returns the resident memory of pid in KiB; with children, that
// of its direct children too (nginx's workers).
func readRSS(pid int, children bool) (int64, error) {
	pids := []int{pid}
	if children {
		kids, err := childPIDs(pid)
		if err != nil {
			return 0, err
		}
		pids = append(pids, kids...)
	}
	var total int64
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			return 0, fmt.Errorf("rss of pid %d: %w", p, err)
		}
		kib, err := parseVmRSS(b)
		if err != nil {
			return 0, fmt.Errorf("rss of pid %d: %w", p, err)
		}
		total += kib
	}
	return total, nil
}

// childPIDs returns the processes whose parent is pid.
func childPIDs(pid int) ([]int, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		if st, err := parseProcStat(b); err == nil && st.PPID == pid {
			if n, err := strconv.Atoi(filepath.Base(d)); err == nil {
				out = append(out, n)
			}
		}
	}
	return out, nil
}
