package main

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want procStat
		err  string
	}{
		{"nginx worker",
			"4242 (nginx) S 4241 4241 4241 0 -1 4194624 100 0 0 0 150 37 0 0 20 0 1 0 12345 10000000 500 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n",
			procStat{PPID: 4241, Ticks: 187}, ""},
		{"name with spaces and parens",
			"77 (we (ird) name) R 1 77 77 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1",
			procStat{PPID: 1, Ticks: 11}, ""},
		{"no name", "77 R 1", procStat{}, `proc stat: no ')' in "77 R 1"`},
		{"too short", "77 (x) R 1 2 3", procStat{}, "proc stat: 4 fields after the name, want at least 13"},
		{"bad utime", "77 (x) R 1 77 77 0 -1 0 0 0 0 0 five 6", procStat{}, `proc stat: utime "five": strconv.ParseUint: parsing "five": invalid syntax`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tc.in))
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestCPUTicksOfSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	_, err := cpuTicks(os.Getpid(), true)
	require.NoError(t, err)
	assert.Greater(t, clockTicks(), 0.0)
}

func TestParseMachineTicks(t *testing.T) {
	tests := []struct {
		name, in string
		want     machineTicks
		err      string
	}{
		{"kernel 6", "cpu  100 5 50 800 20 3 7 15 0 0\ncpu0 50 2 25 400 10 1 3 7 0 0\n", machineTicks{Total: 1000, Idle: 820}, ""},
		{"guest time is not counted twice", "cpu  10 0 10 70 10 0 0 0 99 99\n", machineTicks{Total: 100, Idle: 80}, ""},
		{"not the cpu line", "intr 5 6 7 8 9 10 11 12 13\n", machineTicks{}, `is not "cpu"`},
		{"too few counters", "cpu  1 2 3 4 5 6 7\n", machineTicks{}, `is not "cpu"`},
		{"a counter that is not a number", "cpu  1 2 3 x 5 6 7 8\n", machineTicks{}, `cpu counter 4 "x"`},
	}
	for _, tc := range tests {
		got, err := parseMachineTicks([]byte(tc.in))
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, tc.name)
			continue
		}
		assert.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
	}
	var m machineMeter
	m.start()
	time.Sleep(100 * time.Millisecond) // idle ticks count too: the counters advance
	idle, ok := m.stop()
	assert.True(t, ok)
	assert.True(t, idle >= 0 && idle <= 1, "idle share %v", idle)
}
