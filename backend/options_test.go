package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/backend/internal/settings"
)

// envMap is a lookupEnv over a map.
func envMap(m map[string]string) lookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func fakeHostname() (string, error) { return "host-abc", nil }

func TestParseOptions(t *testing.T) {
	def := settings.Default()
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, o options)
	}{
		{name: "defaults", check: func(t *testing.T, o options) {
			assert.Equal(t, options{host: "0.0.0.0", port: 8000, name: "host-abc", settings: def, shutdownTimeout: 10 * time.Second}, o)
		}},
		{name: "seed command line", args: []string{"--port", "8001", "--name", "backend-1"}, check: func(t *testing.T, o options) {
			assert.Equal(t, 8001, o.port)
			assert.Equal(t, "backend-1", o.name)
		}},
		{name: "single dash and equals", args: []string{"-port=9", "-host", "127.0.0.1", "-unhealthy", "-verbose"}, check: func(t *testing.T, o options) {
			assert.Equal(t, 9, o.port)
			assert.Equal(t, "127.0.0.1", o.host)
			assert.False(t, o.settings.Healthy)
			assert.True(t, o.verbose)
		}},
		{name: "every knob", args: []string{"--latency", "20ms", "--error-rate", "0.05", "--error-status", "503",
			"--response-size", "64KiB", "--capacity", "50", "--overflow", "reject", "--seed", "42", "--shutdown-timeout", "3s"},
			check: func(t *testing.T, o options) {
				assert.Equal(t, settings.Settings{
					Latency: settings.Latency{Kind: settings.LatencyFixed, A: 20 * time.Millisecond}, ErrorRate: 0.05,
					ErrorStatus: 503, ResponseSize: 64 << 10, Capacity: 50, Overflow: settings.OverflowReject, Healthy: true,
				}, o.settings)
				assert.Equal(t, uint64(42), o.seed)
				assert.Equal(t, 3*time.Second, o.shutdownTimeout)
			}},
		{name: "latency dist", args: []string{"--latency-dist", "normal:20ms,5ms"}, check: func(t *testing.T, o options) {
			assert.Equal(t, "normal:20ms,5ms", o.settings.Latency.String())
		}},
		{name: "env fills unset flags", env: map[string]string{
			"BACKEND_PORT": "8002", "BACKEND_NAME": "from-env", "BACKEND_LATENCY": "exp:30ms",
			"BACKEND_ERROR_RATE": "0.2", "BACKEND_UNHEALTHY": "true", "BACKEND_CAPACITY": "7", "BACKEND_OVERFLOW": "reject",
		}, check: func(t *testing.T, o options) {
			assert.Equal(t, 8002, o.port)
			assert.Equal(t, "from-env", o.name)
			assert.Equal(t, "exp:30ms", o.settings.Latency.String())
			assert.Equal(t, 0.2, o.settings.ErrorRate)
			assert.False(t, o.settings.Healthy)
			assert.Equal(t, 7, o.settings.Capacity)
			assert.Equal(t, settings.OverflowReject, o.settings.Overflow)
		}},
		{name: "flags win over env", args: []string{"--port", "8003", "--name", "flag"},
			env: map[string]string{"BACKEND_PORT": "8002", "BACKEND_NAME": "env"}, check: func(t *testing.T, o options) {
				assert.Equal(t, 8003, o.port)
				assert.Equal(t, "flag", o.name)
			}},
		{name: "empty env is unset", env: map[string]string{"BACKEND_PORT": "", "BACKEND_NAME": ""}, check: func(t *testing.T, o options) {
			assert.Equal(t, 8000, o.port)
			assert.Equal(t, "host-abc", o.name)
		}},
		{name: "env dist with flag-less latency", env: map[string]string{"BACKEND_LATENCY_DIST": "uniform:1ms,2ms"}, check: func(t *testing.T, o options) {
			assert.Equal(t, "uniform:1ms,2ms", o.settings.Latency.String())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, envMap(tt.env), fakeHostname)
			require.NoError(t, err)
			tt.check(t, o)
		})
	}
}

func TestParseOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "error rate range", args: []string{"--error-rate", "1.5"}, want: "--error-rate 1.5: must be between 0 and 1"},
		{name: "error rate not a number", args: []string{"-error-rate", "lots"}, want: "--error-rate lots: must be a number between 0 and 1"},
		{name: "error status", args: []string{"--error-status", "200"}, want: "--error-status 200: must be a whole number between 400 and 599"},
		{name: "port", args: []string{"--port", "70000"}, want: "--port 70000: must be a whole number between 0 and 65535"},
		{name: "latency", args: []string{"--latency", "fast"}, want: `--latency fast: bad duration "fast" (want e.g. 20ms)`},
		{name: "latency dist", args: []string{"--latency-dist", "normal:20ms"}, want: "--latency-dist normal:20ms: normal takes 2 duration(s), got 1"},
		{name: "both latencies", args: []string{"--latency", "1ms", "--latency-dist", "exp:1ms"}, want: "--latency 1ms and --latency-dist exp:1ms: give one, not both"},
		{name: "size", args: []string{"--response-size", "big"}, want: `--response-size big: bad size "big" (want e.g. 512, 64KiB, 1MB)`},
		{name: "capacity", args: []string{"--capacity", "-1"}, want: "--capacity -1: must be a whole number between 0 and 1000000"},
		{name: "overflow", args: []string{"--overflow", "drop"}, want: `--overflow drop: must be "queue" or "reject"`},
		{name: "shutdown timeout", args: []string{"--shutdown-timeout", "0s"}, want: "--shutdown-timeout 0s: must be a duration above 0 and at most 10m0s (e.g. 10s)"},
		{name: "seed", args: []string{"--seed", "-4"}, want: "--seed -4: must be a whole number >= 0"},
		{name: "unknown flag", args: []string{"--nope"}, want: "flag provided but not defined: -nope"},
		{name: "missing value", args: []string{"--port"}, want: "flag needs an argument: -port"},
		{name: "stray argument", args: []string{"serve"}, want: `unexpected argument "serve" (the only subcommand is healthcheck)`},
		{name: "env value named", env: map[string]string{"BACKEND_ERROR_RATE": "1.5"}, want: "BACKEND_ERROR_RATE=1.5: must be between 0 and 1"},
		{name: "env bool", env: map[string]string{"BACKEND_UNHEALTHY": "maybe"}, want: "BACKEND_UNHEALTHY=maybe: must be true or false"},
		{name: "two errors two lines", args: []string{"--capacity", "x", "--overflow", "y"},
			want: "--capacity x: must be a whole number between 0 and 1000000\n--overflow y: must be \"queue\" or \"reject\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOptions(tt.args, envMap(tt.env), fakeHostname)
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
	t.Run("no host name", func(t *testing.T) {
		_, err := parseOptions(nil, envMap(nil), func() (string, error) { return "", errors.New("boom") })
		assert.EqualError(t, err, "--name: not given, $BACKEND_NAME unset and no host name: boom")
	})
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		code       int
		wantStdout string
		wantStderr string
	}{
		{name: "bad flag is one line", args: []string{"--error-rate", "1.5"}, code: 2,
			wantStderr: "backend: --error-rate 1.5: must be between 0 and 1\n"},
		{name: "bad env", env: map[string]string{"BACKEND_LATENCY": "x"}, code: 2,
			wantStderr: "backend: BACKEND_LATENCY=x: bad duration \"x\" (want e.g. 20ms)\n"},
		{name: "version", args: []string{"--version"}, code: 0, wantStdout: "backend dev\n"},
		{name: "listen failure", args: []string{"--host", "256.0.0.1", "--port", "1", "--name", "x"}, code: 1},
		{name: "healthcheck bad flag", args: []string{"healthcheck", "--bogus"}, code: 1,
			wantStderr: "backend healthcheck: flag provided but not defined: -bogus\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, envMap(tt.env), &stdout, &stderr)
			assert.Equal(t, tt.code, code, "stderr: %s", stderr.String())
			if tt.wantStdout != "" {
				assert.Equal(t, tt.wantStdout, stdout.String())
			}
			if tt.wantStderr != "" {
				assert.Equal(t, tt.wantStderr, stderr.String())
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		assert.Equal(t, 0, run(t.Context(), []string{"-h"}, envMap(nil), &stdout, &stderr))
		assert.Contains(t, stdout.String(), "BACKEND_LATENCY_DIST")
		assert.Contains(t, stdout.String(), "backend healthcheck")
	})
	t.Run("serves until cancelled", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		var stdout, stderr bytes.Buffer
		code := run(ctx, []string{"--host", "127.0.0.1", "--port", "0", "--name", "x"}, envMap(nil), &stdout, &stderr)
		assert.Equal(t, 0, code, "stderr: %s", stderr.String())
		assert.Contains(t, stderr.String(), "msg=listening addr=127.0.0.1:")
		assert.Contains(t, stderr.String(), "msg=stopped")
	})
}
