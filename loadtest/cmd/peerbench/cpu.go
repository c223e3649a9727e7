package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
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
	kids, err := childPIDs(pid)
	if err != nil {
		return 0, err
	}
	for _, k := range kids {
		if c, err := readProcStat(k); err == nil {
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

// cpuMeter measures the CPU time a process uses between start and stop.
// A meter without a process (direct: no proxy) measures nothing.
type cpuMeter struct {
	pid      int // 0: nothing to measure
	children bool
	clk      float64
	before   uint64
	err      error
}

// newCPUMeter returns a meter of p's CPU time (and its children's when
// p.Children); nil p gives a meter that measures nothing.
func newCPUMeter(p *proc, clk float64) *cpuMeter {
	if p == nil {
		return &cpuMeter{clk: clk}
	}
	return &cpuMeter{pid: p.PID, children: p.Children, clk: clk}
}

// start records the CPU time used so far.
func (m *cpuMeter) start() {
	if m.pid != 0 {
		m.before, m.err = cpuTicks(m.pid, m.children)
	}
}

// stop returns the CPU seconds used since start; false when there is no
// process or reading its time failed.
func (m *cpuMeter) stop() (float64, bool) {
	if m.pid == 0 || m.err != nil {
		return 0, false
	}
	after, err := cpuTicks(m.pid, m.children)
	if err != nil || after < m.before {
		return 0, false
	}
	return float64(after-m.before) / m.clk, true
}

// machineTicks holds the first ("cpu") line of /proc/stat: all CPUs' clock
// ticks, in total and idle (idle + iowait).
type machineTicks struct {
	Total, Idle uint64
}

// parseMachineTicks decodes the "cpu" line that /proc/stat begins with:
// user nice system idle iowait irq softirq steal (guest time is already
// counted in user and nice, so the fields after steal are left out).
func parseMachineTicks(b []byte) (machineTicks, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return machineTicks{}, fmt.Errorf("proc stat: first line %q is not \"cpu\" and 8 counters", line)
	}
	var t machineTicks
	for i, s := range f[1:9] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return machineTicks{}, fmt.Errorf("proc stat: cpu counter %d %q: %w", i+1, s, err)
		}
		t.Total += v
		if i == 3 || i == 4 {
			t.Idle += v
		}
	}
	return t, nil
}

// machineMeter measures the share of all CPUs' time that was idle between
// start and stop: under a paced load, how much room the machine had left.
type machineMeter struct {
	before machineTicks
	err    error
}

// readMachineTicks reads /proc/stat.
func readMachineTicks() (machineTicks, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTicks{}, err
	}
	return parseMachineTicks(b)
}

// start records the counters.
func (m *machineMeter) start() { m.before, m.err = readMachineTicks() }

// stop returns the idle share (0-1) since start; false when the counters
// could not be read or did not advance.
func (m *machineMeter) stop() (float64, bool) {
	if m.err != nil {
		return 0, false
	}
	after, err := readMachineTicks()
	if err != nil || after.Total <= m.before.Total || after.Idle < m.before.Idle {
		return 0, false
	}
	return float64(after.Idle-m.before.Idle) / float64(after.Total-m.before.Total), true
}
