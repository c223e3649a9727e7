package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// wrkReport is the JSON line that bench/peers/wrk-report.lua prints from
// wrk's done() callback. Latencies are in microseconds.
type wrkReport struct {
	Requests   int64 `json:"requests"`
	DurationUS int64 `json:"duration_us"`
	Bytes      int64 `json:"bytes"`
	Errors     struct {
		Connect int64 `json:"connect"`
		Read    int64 `json:"read"`
		Write   int64 `json:"write"`
		Status  int64 `json:"status"`
		Timeout int64 `json:"timeout"`
	} `json:"errors"`
	LatencyUS struct {
		P50  float64 `json:"p50"`
		P99  float64 `json:"p99"`
		Max  float64 `json:"max"`
		Mean float64 `json:"mean"`
	} `json:"latency_us"`
}

// failed returns the failed requests: socket errors of every kind plus
// responses with an error status.
func (r wrkReport) failed() int64 {
	e := r.Errors
	return e.Connect + e.Read + e.Write + e.Status + e.Timeout
}

// parseWrkOutput finds the report line in wrk's stdout (the last line that
// is a JSON object with duration_us) and decodes it.
func parseWrkOutput(out []byte) (wrkReport, error) {
	var line []byte
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := bytes.TrimSpace(sc.Bytes())
		if bytes.HasPrefix(l, []byte("{")) && bytes.Contains(l, []byte(`"duration_us"`)) {
			line = append(line[:0], l...)
		}
	}
	if line == nil {
		return wrkReport{}, fmt.Errorf("no report line from wrk-report.lua in wrk's output")
	}
	var r wrkReport
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return wrkReport{}, fmt.Errorf("wrk report line %q: %w", line, err)
	}
	if r.DurationUS <= 0 {
		return wrkReport{}, fmt.Errorf("wrk report line %q: duration_us %d", line, r.DurationUS)
	}
	return r, nil
}

// wrkArgs returns wrk's arguments for case c against url: two threads, the
// case's connections, d long, latency percentiles, the report script. After
// the URL, "http1.0" tells the script to make the requests HTTP/1.0 with
// "Connection: keep-alive".
func wrkArgs(c benchCase, url, script string, d time.Duration) []string {
	args := []string{
		"-t2", "-c" + strconv.Itoa(c.Conns), "-d" + strconv.Itoa(int(d/time.Second)) + "s",
		"--timeout", "5s", "--latency", "-s", script,
	}
	if c.Close {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, url)
	if c.HTTP10 {
		args = append(args, "http1.0")
	}
	return args
}
