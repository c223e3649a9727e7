package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"

	"github.com/lblab/lblab/lb/internal/upstream"
	"github.com/stretchr/testify/assert"
)

func TestClassifyAndStatus(t *testing.T) {
	dial := func(errno error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", errno)}
	}
	tests := []struct {
		name       string
		err        error
		clientGone bool
		kind       failure
		status     int
	}{
		{"refused", dial(syscall.ECONNREFUSED), false, failConnect, http.StatusBadGateway},
		// The proxy's own file table full: not the backend's failure (no
		// passive failure, no retry against another backend), and no room
		// rather than a bad gateway.
		{"no descriptor (process)", dial(syscall.EMFILE), false, failNone, http.StatusServiceUnavailable},
		{"no descriptor (system)", dial(syscall.ENFILE), false, failNone, http.StatusServiceUnavailable},
		// No connection to the backend came free in its queue
		// (max_conns_per_backend): the proxy's limit, likewise.
		{"queue timeout", upstream.ErrQueueTimeout, false, failNone, http.StatusServiceUnavailable},
		// Its backend removed while it waited in the queue: nothing was
		// sent, so it may be tried on another backend.
		{"backend removed while queued", &net.OpError{Op: "dial", Net: "tcp", Err: upstream.ErrBackendRemoved}, false, failConnect, http.StatusBadGateway},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), false, failReset, http.StatusBadGateway},
		{"eof", io.ErrUnexpectedEOF, false, failReset, http.StatusBadGateway},
		{"client gone", io.EOF, true, failNone, http.StatusBadGateway},
		{"canceled", context.Canceled, false, failNone, http.StatusBadGateway},
		{"deadline", context.DeadlineExceeded, false, failTimeout, http.StatusGatewayTimeout},
		{"no backend", ErrNoBackend, false, failOther, http.StatusServiceUnavailable},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.kind, classify(tc.err, tc.clientGone), tc.name)
		assert.Equal(t, tc.status, StatusFor(tc.err), tc.name)
	}
}
