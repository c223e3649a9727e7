package netx

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

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

// TestRetryShort: only a full file table is tried again; a reclaim that
// freed something is tried again at once; the retries end with the first
// success, the first other error, the time limit or the context.
func TestRetryShort(t *testing.T) {
	emfile := os.NewSyscallError("socket", syscall.EMFILE)
	refused := os.NewSyscallError("connect", syscall.ECONNREFUSED)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		first     error
		results   []error // what each try returns; past the end, the last again
		reclaimed int     // what reclaim returns (-1: no reclaim)
		wantErr   error
		wantTries int
	}{
		{"success needs no retry", context.Background(), nil, nil, -1, nil, 0},
		{"another error is not retried", context.Background(), refused, nil, -1, syscall.ECONNREFUSED, 0},
		{"a descriptor freed on the third try", context.Background(), emfile, []error{emfile, emfile, nil}, -1, nil, 3},
		{"ENFILE too", context.Background(), os.NewSyscallError("fcntl", syscall.ENFILE), []error{nil}, -1, nil, 1},
		{"another error ends the retries", context.Background(), emfile, []error{emfile, refused}, -1, syscall.ECONNREFUSED, 2},
		{"reclaimed: tried again", context.Background(), emfile, []error{nil}, 2, nil, 1},
		{"the limit ends the retries", context.Background(), emfile, []error{emfile}, 0, syscall.EMFILE, -1},
		{"a canceled context ends them", canceled, emfile, []error{nil}, -1, syscall.EMFILE, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tries := 0
			try := func() error {
				tries++
				return tt.results[min(tries, len(tt.results))-1]
			}
			var reclaim func() int
			if tt.reclaimed >= 0 {
				reclaim = func() int { return tt.reclaimed }
			}
			err := RetryShort(tt.ctx, tt.first, 20*time.Millisecond, reclaim, try)
			if tt.wantErr == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.wantErr)
			}
			if tt.wantTries >= 0 {
				assert.Equal(t, tt.wantTries, tries, "tries")
			} else {
				assert.Greater(t, tries, 1, "tried more than once before the limit")
			}
		})
	}
}
