//go:build linux && !386

package proxy

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestZoneName(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	require.NoError(t, err)
	tests := []struct {
		index uint32
		want  string
	}{
		{0, ""},
		{uint32(lo.Index), "lo"},
		{1 << 30, "1073741824"}, // no such interface: the index, as net writes it
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, zoneName(tt.index), "index %d", tt.index)
	}
}
