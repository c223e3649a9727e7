package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPerConn(t *testing.T) {
	assert.InDelta(t, 18.3, perConn(10000, 10000+183000, 10000), 1e-9)
	assert.InDelta(t, 1.1, perConn(15000, 15000+8800, 8000), 1e-9)
	assert.InDelta(t, -0.5, perConn(2000, 1000, 2000), 1e-9, "RSS may go down meanwhile: shown as it is")
	assert.Equal(t, 0.0, perConn(1, 2, 0), "no connection")
}

func TestSettled(t *testing.T) {
	tests := []struct {
		name              string
		prev, cur, before int64
		want              bool
	}{
		{"equal", 50000, 50000, 10000, true},
		{"within 1% of the growth", 50000, 50390, 10000, true},  // growth 40390: tolerance 403
		{"beyond 1% of the growth", 50000, 50500, 10000, false}, // tolerance 405
		{"going down counts too", 50500, 50000, 10000, false},   // tolerance 400
		{"64 KiB at the least", 10000, 10060, 10000, true},
		{"small growth, larger step", 10000, 10070, 10000, false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, settled(tc.prev, tc.cur, tc.before), tc.name)
	}
}

func TestSettleDone(t *testing.T) {
	const before, prev, cur = 10000, 50000, 50000 // two samples that agree
	tests := []struct {
		name      string
		elapsed   time.Duration
		bound     time.Duration
		prev, cur int64
		want      bool
	}{
		{"agreeing samples before settleMin", settleMin - rssEvery, 5 * time.Second, prev, cur, false},
		{"agreeing samples at settleMin", settleMin, 5 * time.Second, prev, cur, true},
		{"no earlier sample", settleMin, 5 * time.Second, -1, cur, false},
		{"samples that differ", settleMin + time.Second, 5 * time.Second, prev, cur + 5000, false},
		{"the bound", 5 * time.Second, 5 * time.Second, prev, cur + 5000, true},
		{"a bound below settleMin waits settleMin", settleMin - rssEvery, time.Second, prev, cur + 5000, false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, settleDone(tc.elapsed, tc.bound, tc.prev, tc.cur, before), tc.name)
	}
}

func TestReleased(t *testing.T) {
	s := func(pairs ...float64) []rssSample {
		var out []rssSample
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, rssSample{AfterS: pairs[i], KiB: int64(pairs[i+1])})
		}
		return out
	}
	tests := []struct {
		name         string
		before, idle int64
		samples      []rssSample
		want         float64
		back         *float64
	}{
		{"all back at once", 10000, 20000, s(0.5, 10000), 1, fp(0.5)},
		{"90% on the third sample", 10000, 20000, s(0.5, 18000, 1, 12000, 1.5, 11000, 2, 10500), 0.95, fp(1.5)},
		{"never back", 10000, 20000, s(0.5, 20100, 1, 20000), 0, nil},
		{"half back", 10000, 20000, s(0.5, 16000, 1, 15000), 0.5, nil},
		{"below where it started", 10000, 20000, s(0.5, 9000), 1.1, fp(0.5)},
		{"no samples", 10000, 20000, nil, 0, nil},
		{"no growth", 10000, 9990, s(0.5, 9000), 1, fp(0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, back := released(tc.before, tc.idle, tc.samples)
			assert.InDelta(t, tc.want, got, 1e-9)
			if tc.back == nil {
				assert.Nil(t, back)
			} else if assert.NotNil(t, back) {
				assert.InDelta(t, *tc.back, *back, 1e-9)
			}
		})
	}
}
