package front

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// TestConnSize: every client connection keeps its conn while idle (parked
// or not); the Hold's state lives in the pooled state, so that conn stays
// in the 176-byte size class it had before.
func TestConnSize(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(conn{}), uintptr(176))
}
