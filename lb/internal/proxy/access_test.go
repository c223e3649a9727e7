package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/lblab/lblab/lb/internal/h1"
)

func TestTermination(t *testing.T) {
	dial := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	tests := []struct {
		name       string
		last       Outcome
		clientGone bool
		want       string
	}{
		{"served", Outcome{Status: 200, WroteHeader: true}, false, TermOK},
		{"backend 500 passed on", Outcome{Status: 500, WroteHeader: true}, false, TermOK},
		{"cut after the head", Outcome{Status: 200, WroteHeader: true, Aborted: true}, false, TermResponseCut},
		{"client gone", Outcome{Err: context.Canceled}, true, TermClientAborted},
		{"no backend", Outcome{Err: ErrNoBackend}, false, TermNoBackend},
		{"refused", Outcome{Err: dial(syscall.ECONNREFUSED)}, false, TermConnectFailed},
		{"connect timeout", Outcome{Err: dial(os.ErrDeadlineExceeded)}, false, TermConnectTimeout},
		{"response timeout", Outcome{Err: fmt.Errorf("read: %w", os.ErrDeadlineExceeded)}, false, TermBackendTimeout},
		{"reset", Outcome{Err: syscall.ECONNRESET}, false, TermBackendReset},
		{"closed early", Outcome{Err: io.ErrUnexpectedEOF}, false, TermBackendReset},
		{"malformed", Outcome{Err: h1.ErrMalformedResponse}, false, TermBackendError},
		{"other", Outcome{Err: errors.New("x")}, false, TermBackendError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Termination(tt.last, tt.clientGone))
		})
	}
}

func TestNewRequestID(t *testing.T) {
	var a, b [RequestIDLen]byte
	x, y := string(NewRequestID(&a)), string(NewRequestID(&b))
	assert.Regexp(t, `^[0-9a-f]{32}$`, x)
	assert.NotEqual(t, x, y)
	assert.Equal(t, x[:16], y[:16], "one process prefix")
	assert.Zero(t, testing.AllocsPerRun(100, func() { NewRequestID(&a) }), "no allocation")
}
