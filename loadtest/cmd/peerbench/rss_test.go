package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name, in string
		want     int64
		err      string
	}{
		{"status", "Name:\thaproxy\nState:\tS (sleeping)\nVmPeak:\t  123456 kB\nVmRSS:\t   17980 kB\nRssAnon:\t    9000 kB\nThreads:\t2\n", 17980, ""},
		{"RssAnon is not VmRSS", "RssAnon:\t9000 kB\nVmRSS:\t1 kB\n", 1, ""},
		{"zero", "VmRSS:\t0 kB\n", 0, ""},
		{"kernel thread", "Name:\tkworker/0:1\nState:\tI (idle)\n", 0, "proc status: no VmRSS line (a kernel thread or a zombie?)"},
		{"unit", "VmRSS:\t17980 MB\n", 0, `proc status: VmRSS "17980 MB": want "<number> kB"`},
		{"not a number", "VmRSS:\tlots kB\n", 0, `proc status: VmRSS "lots": not a size`},
		{"negative", "VmRSS:\t-5 kB\n", 0, `proc status: VmRSS "-5": not a size`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseVmRSS([]byte(tc.in))
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestReadRSSOfSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	own, err := readRSS(os.Getpid(), false)
	require.NoError(t, err)
	assert.Positive(t, own)
	withChildren, err := readRSS(os.Getpid(), true)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, withChildren, own/2, "children add to it (own RSS may move a little between reads)")
	_, err = readRSS(1<<30, false)
	assert.ErrorContains(t, err, "rss of pid 1073741824")
}
