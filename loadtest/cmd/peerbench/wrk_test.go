package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wrkOutput is what wrk 4.1 prints with --latency and wrk-report.lua.
const wrkOutput = `Running 2s test @ http://127.0.0.1:18081/bench
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.05ms  13.00ms   80.00%
    Req/Sec    15.80k     1.20k   18.00k    70.00%
  Latency Distribution
     50%    1.88ms
     75%    2.40ms
     90%    3.10ms
     99%    6.00ms
  62968 requests in 2.00s, 18.08MB read
Requests/sec:  31484.00
Transfer/sec:      9.04MB
{"requests":62968,"duration_us":2000012,"bytes":18958000,"errors":{"connect":0,"read":2,"write":0,"status":5,"timeout":1},"latency_us":{"p50":1880,"p99":6000,"max":13000,"mean":2100.5}}
`

func TestParseWrkOutput(t *testing.T) {
	tests := []struct {
		name string
		out  string
		err  string
		want func(t *testing.T, r wrkReport)
	}{
		{name: "full output", out: wrkOutput, want: func(t *testing.T, r wrkReport) {
			assert.EqualValues(t, 62968, r.Requests)
			assert.EqualValues(t, 2000012, r.DurationUS)
			assert.EqualValues(t, 18958000, r.Bytes)
			assert.Equal(t, 1880.0, r.LatencyUS.P50)
			assert.Equal(t, 6000.0, r.LatencyUS.P99)
			assert.Equal(t, 13000.0, r.LatencyUS.Max)
			assert.EqualValues(t, 8, r.failed())
		}},
		{name: "last report line wins", out: `{"requests":1,"duration_us":5,"bytes":0,"errors":{"connect":0,"read":0,"write":0,"status":0,"timeout":0},"latency_us":{"p50":1,"p99":1,"max":1,"mean":1}}
{"requests":2,"duration_us":5,"bytes":0,"errors":{"connect":0,"read":0,"write":0,"status":0,"timeout":0},"latency_us":{"p50":1,"p99":1,"max":1,"mean":1}}`,
			want: func(t *testing.T, r wrkReport) { assert.EqualValues(t, 2, r.Requests) }},
		{name: "no report line", out: "Running 2s test @ http://x/\n  0 requests in 2.00s\n", err: "no report line from wrk-report.lua in wrk's output"},
		{name: "truncated json", out: `{"requests":1,"duration_us":`, err: `wrk report line "{\"requests\":1,\"duration_us\":": unexpected EOF`},
		{name: "unknown field", out: `{"requests":1,"duration_us":5,"rps":3}`, err: `wrk report line "{\"requests\":1,\"duration_us\":5,\"rps\":3}": json: unknown field "rps"`},
		{name: "zero duration", out: `{"requests":0,"duration_us":0}`, err: `wrk report line "{\"requests\":0,\"duration_us\":0}": duration_us 0`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseWrkOutput([]byte(tc.out))
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			tc.want(t, r)
		})
	}
}

func TestWrkArgs(t *testing.T) {
	c64, _ := caseByID("c64")
	closeCase, _ := caseByID("close")
	c512, _ := caseByID("c512")
	http10, _ := caseByID("http10")
	tests := []struct {
		c    benchCase
		want []string
	}{
		{c64, []string{"-t2", "-c64", "-d5s", "--timeout", "5s", "--latency", "-s", "/r.lua", "http://h/b"}},
		{c512, []string{"-t2", "-c512", "-d5s", "--timeout", "5s", "--latency", "-s", "/r.lua", "http://h/b"}},
		{closeCase, []string{"-t2", "-c64", "-d5s", "--timeout", "5s", "--latency", "-s", "/r.lua", "-H", "Connection: close", "http://h/b"}},
		// The script's init(args) gets "http1.0" as args[1] (args[0] is the URL).
		{http10, []string{"-t2", "-c64", "-d5s", "--timeout", "5s", "--latency", "-s", "/r.lua", "http://h/b", "http1.0"}},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, wrkArgs(tc.c, "http://h/b", "/r.lua", 5*time.Second), tc.c.ID)
	}
}

func TestSuccessRatio(t *testing.T) {
	tests := []struct {
		requests, failed int64
		want             float64
	}{
		{100, 0, 1}, {100, 25, 0.75}, {0, 0, 1}, {0, 3, 0}, {2, 5, 0},
	}
	for _, tc := range tests {
		assert.InDelta(t, tc.want, successRatio(tc.requests, tc.failed), 1e-9, "%d/%d", tc.failed, tc.requests)
	}
}
