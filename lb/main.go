// Command lb is lblab's load balancer: an HTTP (layer 7) reverse proxy or a TCP
// (layer 4) balancer, configured by a JSON file.
//
//	lb --config config.json [--verbose]
//	lb --check --config config.json     validate the config and exit
//	lb healthcheck [--url URL]          exit 0 when the balancer answers healthy
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/lblab/lblab/lb/internal/config"
	"github.com/lblab/lblab/lb/internal/server"
)

var version = "dev"

func main() {
	tuneGC()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// defaultGOGC is the GC target lb runs with unless GOGC is set: a proxy's
// live heap is small and its garbage is per-request, so collecting at 5x the
// live heap instead of 2x spends less CPU at the cost of a few MB.
const defaultGOGC = 400

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGOGC)
	}
}

// run is main without the exit, for tests. Exit codes: 0 ok, 1 runtime
// failure, 2 bad flags or config.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(args[1:], stderr)
	}
	fs := flag.NewFlagSet("lb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "config.json", "path of the JSON config file")
	verbose := fs.Bool("verbose", false, "debug logs (routing, health checks, retries)")
	check := fs.Bool("check", false, "validate the config and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "lb: unexpected argument %q (use --config FILE)\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "lb", version)
		return 0
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		for line := range strings.SplitSeq(err.Error(), "\n") {
			fmt.Fprintf(stderr, "lb: %s: %s\n", *cfgPath, line)
		}
		return 2
	}
	if *check {
		fmt.Fprintf(stdout, "%s: ok\n", *cfgPath)
		return 0
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	access := slog.New(slog.NewJSONHandler(stdout, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(cfg, server.Options{Logger: logger, AccessLog: access, Version: version})
	if err != nil {
		logger.Error("start", "error", err)
		return 1
	}
	if err := srv.Run(ctx); err != nil {
		logger.Error("stopped with error", "error", err)
		return 1
	}
	return 0
}

// healthcheck GETs the balancer's /__health__ and exits 0 on 200; Compose
// uses it in a FROM scratch image, which has no shell or curl.
func healthcheck(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("lb healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080/__health__", "URL to check")
	timeout := fs.Duration("timeout", 2*time.Second, "timeout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	client := &http.Client{Timeout: *timeout}
	resp, err := client.Get(*url)
	if err != nil {
		fmt.Fprintf(stderr, "lb healthcheck: %v\n", errors.Unwrap(err))
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "lb healthcheck: %s answered %d\n", *url, resp.StatusCode)
		return 1
	}
	return 0
}
