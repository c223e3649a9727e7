package main

import (
	"os"
	"testing"

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
