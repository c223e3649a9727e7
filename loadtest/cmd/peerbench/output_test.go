package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestShortVersion(t *testing.T) {
	tests := []struct{ in, want string }{
		{"HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/", "2.6.12"},
		{"nginx version: nginx/1.22.1", "1.22.1"},
		{"wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer", "4.1.0"},
		{"lb b24d69b", "lb b24d69b"},
		{"", "?"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, shortVersion(tc.in), tc.in)
	}
}

func TestFormatting(t *testing.T) {
	assert.Equal(t, "24.1k", fmtRate(24113))
	assert.Equal(t, "950", fmtRate(950.4))
	assert.Equal(t, []string{"0.77", "12.3", "168"}, []string{fmtMs(0.765), fmtMs(12.34), fmtMs(167.9)})
	assert.Equal(t, []string{"0", "7", "5 (0.50%)"}, []string{fmtFailed(0, 10), fmtFailed(7, 0), fmtFailed(5, 1000)})
}
