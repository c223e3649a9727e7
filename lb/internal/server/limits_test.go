package server

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDescriptorWarning(t *testing.T) {
	tests := []struct {
		name     string
		maxConns int
		limit    uint64
		want     string
	}{
		{"fits", 9950, 20000, ""},
		{"no connection limit", 0, 1024, ""},
		{"limit unknown", 20000, 0, ""},
		{"the bench's lb at a limit of 20,000", 20000, 20000,
			"max_connections 20000 may need 40100 file descriptors (a client's and a backend's connection each, and 100 for the rest), " +
				"but the open-file limit is 20000: when it runs short, a backend connection waits up to connection_timeout for one, then the request is answered 503; " +
				"raise the limit (ulimit -n) or lower max_connections to 9950"},
		{"a limit below the reserve", 10, 50,
			"max_connections 10 may need 120 file descriptors (a client's and a backend's connection each, and 100 for the rest), " +
				"but the open-file limit is 50: when it runs short, a backend connection waits up to connection_timeout for one, then the request is answered 503; " +
				"raise the limit (ulimit -n) or lower max_connections to 0"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, descriptorWarning(tc.maxConns, tc.limit), tc.name)
	}
}
