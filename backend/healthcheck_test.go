package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/lblab/lblab/testkit/ports"
)

func TestHealthcheck(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// A port where connections are refused, held for the test: no other
	// test's listener can take it and answer.
	closed := ports.Refused(t)

	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		code       int
		wantOutput string // in stdout on success, stderr otherwise
	}{
		{name: "2xx", args: []string{"--url", srv.URL + "/ok"}, code: 0, wantOutput: "204 No Content"},
		{name: "503", args: []string{"-url", srv.URL + "/fail"}, code: 1, wantOutput: "503 Service Unavailable"},
		{name: "refused", args: []string{"--url", "http://" + closed + "/health"}, code: 1, wantOutput: "connection refused"},
		{name: "timeout", args: []string{"--url", srv.URL + "/slow", "--timeout", "100ms"}, code: 1, wantOutput: "deadline exceeded"},
		{name: "default url uses BACKEND_PORT", env: map[string]string{"BACKEND_PORT": strings.Split(closed, ":")[1]}, code: 1,
			wantOutput: "http://127.0.0.1:" + strings.Split(closed, ":")[1] + "/health"},
		{name: "bad url", args: []string{"--url", "::nope"}, code: 1, wantOutput: "--url ::nope"},
		{name: "stray argument", args: []string{"now"}, code: 1, wantOutput: `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := healthcheck(t.Context(), tt.args, envMap(tt.env), &stdout, &stderr)
			assert.Equal(t, tt.code, code)
			out := stdout.String()
			if code != 0 {
				out = stderr.String()
			}
			assert.Contains(t, out, tt.wantOutput)
			assert.Equal(t, 1, strings.Count(out, "\n"), "one line: %q", out)
			assert.True(t, strings.HasPrefix(out, "backend healthcheck: "))
		})
	}
}
