package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSizeConns(t *testing.T) {
	tests := []struct {
		name               string
		nofile             uint64
		idle, crowd        int
		wantIdle, wantCrwd int
		note, err          string
	}{
		{name: "this machine's limit", nofile: 20000, wantIdle: 9500, wantCrwd: 9800,
			note: "open-file limit 20000 per process: idle cases 9500 connections (a TCP-mode proxy holds two descriptors per connection: (20000 − 1000) ÷ 2), crowd 9800 (HAProxy's maxconn 9900, less 100)"},
		{name: "room for all", nofile: 65536, wantIdle: 10000, wantCrwd: 10000,
			note: "open-file limit 65536 per process: idle cases 10000 connections, crowd 10000"},
		{name: "chosen", nofile: 20000, idle: 8000, crowd: 9000, wantIdle: 8000, wantCrwd: 9000,
			note: "open-file limit 20000 per process: idle cases 8000 connections, crowd 9000"},
		{name: "idle beyond the limit", nofile: 20000, idle: 10000,
			err: "--idle-conns 10000: the open-file limit 20000 holds at most 9500 (a TCP-mode proxy takes two descriptors per connection, plus 1000)"},
		{name: "crowd beyond the limit", nofile: 20000, crowd: 10000,
			err: "--crowd-conns 10000: the open-file limit 20000 holds at most 9800 (HAProxy's maxconn there is 9900)"},
		{name: "small limit", nofile: 4096, wantIdle: 1548, wantCrwd: 1848},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sizeConns(tc.nofile, tc.idle, tc.crowd)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				assert.True(t, errors.As(err, new(*refusal)), "refused before the run (exit status 2)")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, []int{tc.wantIdle, tc.wantCrwd}, []int{got.Idle, got.Crowd})
			if tc.note != "" {
				assert.Equal(t, tc.note, got.Note)
			}
			// Whatever was chosen fits: a TCP-mode proxy's two descriptors per
			// idle connection, and HAProxy's maxconn for the crowd.
			assert.LessOrEqual(t, uint64(2*got.Idle+fdMargin), tc.nofile)
			assert.Less(t, uint64(got.Crowd), haproxyMaxConn(tc.nofile))
		})
	}
}

func TestFdNeed(t *testing.T) {
	pick := func(ids ...string) []benchCase {
		var out []benchCase
		for _, id := range ids {
			c, err := caseByID(id)
			require.NoError(t, err)
			out = append(out, c)
		}
		return out
	}
	assert.Equal(t, uint64(2*64+fdMargin), fdNeed(pick("c64", "tcp")))
	assert.Equal(t, uint64(2*512+fdMargin), fdNeed(pick("c64", "c512")))
	assert.Equal(t, uint64(2*minSizedConns+fdMargin), fdNeed(pick("c512", "idle-tcp")), "room for the smallest idle case")
	assert.Equal(t, uint64(2*minSizedConns+fdMargin), fdNeed(pick("crowd")))
	s, err := sizeConns(fdNeed(pick("idle-http", "crowd")), 0, 0)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, s.Idle, minSizedConns, "the least limit a run accepts gives the idle cases their minimum")
}

func TestSnapshotBinaries(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "lb")
	require.NoError(t, os.WriteFile(src, []byte("#!/bin/sh\necho v1\n"), 0o755))
	tl := tools{LB: src, LBBase: src, Backend: "/bin/backend"}
	snap := filepath.Join(dir, "out", "bin")
	require.NoError(t, snapshotBinaries(&tl, snap))
	assert.Equal(t, filepath.Join(snap, "lb"), tl.LB)
	assert.Equal(t, filepath.Join(snap, "lb-base"), tl.LBBase)
	assert.Equal(t, "/bin/backend", tl.Backend, "only the lbs are copied")
	// A rebuild of the source does not reach the copies.
	require.NoError(t, os.WriteFile(src, []byte("#!/bin/sh\necho v2\n"), 0o755))
	b, err := os.ReadFile(tl.LB)
	require.NoError(t, err)
	assert.Contains(t, string(b), "v1")
	st, err := os.Stat(tl.LBBase)
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&0o111, "executable")

	none := tools{}
	require.NoError(t, snapshotBinaries(&none, snap))
	assert.Empty(t, none.LB)
	missing := tools{LB: filepath.Join(dir, "nope")}
	assert.ErrorContains(t, snapshotBinaries(&missing, snap), "copy "+filepath.Join(dir, "nope"))
}
