// Command backend is lblab's configurable test backend: an HTTP server that
// names itself in every answer (header X-Backend, JSON "backend") and whose
// latency, error rate, response size, capacity and health are set by flags,
// environment variables, or at run time through /__backend__/ control endpoints.
//
//	backend --port 8001 --name backend-1 [--host 0.0.0.0] [flags]
//	backend healthcheck [--url http://127.0.0.1:8000/health] [--timeout 2s]
//
// See README.md for the flags, the distribution syntax and the endpoints.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/lblab/lblab/backend/internal/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit status. 0 is a clean
// stop, 1 a run-time failure, 2 bad flags or environment variables.
func run(ctx context.Context, args []string, env lookupEnv, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(ctx, args[1:], env, stdout, stderr)
	}
	opts, err := parseOptions(args, env, os.Hostname)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout)
		return 0
	case err != nil:
		for line := range strings.SplitSeq(err.Error(), "\n") {
			fmt.Fprintln(stderr, "backend: "+line)
		}
		return 2
	case opts.version:
		fmt.Fprintln(stdout, "backend", version)
		return 0
	}

	level := slog.LevelInfo
	if opts.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	seed := opts.seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	srv, err := server.New(server.Config{
		Name:            opts.name,
		Settings:        &opts.settings,
		Rand:            rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		Logger:          logger,
		ShutdownTimeout: opts.shutdownTimeout,
	})
	if err != nil {
		fmt.Fprintln(stderr, "backend: "+err.Error())
		return 2
	}
	addr := net.JoinHostPort(opts.host, strconv.Itoa(opts.port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "backend: listen %s: %v\n", addr, err)
		return 1
	}
	logger.Info("starting", "version", version, "backend", opts.name, "seed", seed,
		"latency", opts.settings.Latency.String(), "error_rate", opts.settings.ErrorRate,
		"capacity", opts.settings.Capacity, "overflow", opts.settings.Overflow, "healthy", opts.settings.Healthy)
	if err := srv.Serve(ctx, ln); err != nil {
		logger.Error("server stopped", "err", err)
		return 1
	}
	return 0
}
