package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// procStat holds the fields of /proc/PID/stat that peerbench uses.
type procStat struct {
	PPID  int
	Ticks uint64 // utime + stime, in clock ticks
}

// parseProcStat decodes /proc/PID/stat. The command name (field 2) is in
// parentheses and may itself hold spaces and parentheses, so the fields are
// counted from the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("proc stat: no ')' in %q", b)
	}
	// After the name: state(3) ppid(4) ... utime(14) stime(15).
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("proc stat: %d fields after the name, want at least 13", len(f))
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, fmt.Errorf("proc stat: ppid %q: %w", f[1], err)
	}
	utime, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("proc stat: utime %q: %w", f[11], err)
	}
	stime, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("proc stat: stime %q: %w", f[12], err)
	}
	return procStat{PPID: ppid, Ticks: utime + stime}, nil
}

// readProcStat reads and decodes /proc/PID/stat.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(b)
}

// cpuTicks returns the CPU time (user + system, clock ticks) that pid has
// used; with children, that of its direct children too (nginx's workers).
func cpuTicks(pid int, children bool) (uint64, error) {
	st, err := readProcStat(pid)
	if err != nil {
		return 0, err
	}
	total := st.Ticks
	if !children {
		return total, nil
	}
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, err
	}
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		if c, err := parseProcStat(b); err == nil && c.PPID == pid {
			total += c.Ticks
		}
	}
	return total, nil
}

// clockTicks returns CLK_TCK from `getconf CLK_TCK`, or 100 (Linux's value
// on every common architecture) when getconf is unavailable.
func clockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return float64(n)
		}
	}
	return 100
}
