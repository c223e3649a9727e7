package netx

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSlots(t *testing.T) {
	done := make(chan struct{})
	s := NewSlots(2)
	assert.True(t, s.TryAcquire())
	assert.True(t, s.Acquire(done))
	assert.False(t, s.TryAcquire(), "both slots taken")
	close(done)
	assert.False(t, s.Acquire(done), "done closed while none is free")
	s.Release()
	assert.True(t, s.TryAcquire(), "a released slot is free again")

	var none *Slots = NewSlots(0)
	assert.Nil(t, none)
	for range 3 {
		assert.True(t, none.TryAcquire(), "no bound")
		none.Release()
	}
}

func TestTemporaryAcceptError(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{syscall.EMFILE, true},
		{syscall.ENFILE, true},
		{syscall.ECONNABORTED, true},
		{&timeoutErr{}, true},
		{syscall.EBADF, false},
		{syscall.EINVAL, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, TemporaryAcceptError(tt.err), "%v", tt.err)
	}
}

type timeoutErr struct{}

func (*timeoutErr) Error() string   { return "timeout" }
func (*timeoutErr) Timeout() bool   { return true }
func (*timeoutErr) Temporary() bool { return true }
