// Command lb is lblab's load balancer: an HTTP (layer 7) reverse proxy or a TCP
// (layer 4) balancer, configured by a JSON file.
//
//	lb --config config.json [--verbose]
//	lb --check --config config.json     validate the config and exit
//	lb healthcheck [--url URL | --config FILE]   exit 0 when the balancer answers healthy
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lblab/lblab/lb/internal/config"
	"github.com/lblab/lblab/lb/internal/logbuf"
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
	// The access log is written off the request path: a slow reader of
	// stdout (Docker's log pipeline under load) must not hold responses.
	alog := logbuf.New(stdout, logbuf.DefaultMax)
	defer alog.Close() // what waits is written before lb exits
	access := slog.New(slog.NewJSONHandler(alog, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(cfg, server.Options{Logger: logger, AccessLog: access, AccessLogDropped: alog.Dropped, Version: version})
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
// uses it in a FROM scratch image, which has no shell or curl. Without
// --url it works out where to ask from the config (--config FILE, else the
// one the container's main process, PID 1, was started with): the admin
// listener's /__health__ when there is one (TCP mode always has one), else
// the proxy port's.
func healthcheck(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("lb healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "URL to check (default: from the config; else "+defaultHealthURL+")")
	cfgPath := fs.String("config", "", "config file of the balancer to check (default: PID 1's --config)")
	timeout := fs.Duration("timeout", 2*time.Second, "timeout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	target := *url
	if target == "" {
		path := *cfgPath
		if path == "" {
			path = configOfPID1()
		}
		if path != "" {
			cfg, err := config.Load(path)
			if err != nil {
				fmt.Fprintf(stderr, "lb healthcheck: %v\n", err)
				return 2
			}
			target = healthTarget(cfg)
		}
	}
	if target == "" {
		target = defaultHealthURL
	}
	client := &http.Client{Timeout: *timeout}
	resp, err := client.Get(target)
	if err != nil {
		fmt.Fprintf(stderr, "lb healthcheck: %v\n", errors.Unwrap(err))
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "lb healthcheck: %s answered %d\n", target, resp.StatusCode)
		return 1
	}
	return 0
}

const defaultHealthURL = "http://127.0.0.1:8080/__health__"

// healthTarget is the URL healthcheck asks for a balancer running cfg.
func healthTarget(cfg *config.Config) string {
	local := func(host string, port int) string {
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		return net.JoinHostPort(host, strconv.Itoa(port))
	}
	if cfg.AdminPort > 0 {
		return "http://" + local(cfg.AdminHost, cfg.AdminPort) + "/__health__"
	}
	return "http://" + local(cfg.ProxyHost, cfg.ProxyPort) + "/__health__"
}

// configOfPID1 returns the --config (or -config) argument of the process
// with PID 1, in a container the balancer itself; "" when there is none or
// /proc cannot tell.
func configOfPID1() string {
	b, err := os.ReadFile("/proc/1/cmdline")
	if err != nil {
		return ""
	}
	return configArg(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"))
}

// configArg finds the value of --config or -config (also --config=FILE) in
// a command line.
func configArg(argv []string) string {
	for i, a := range argv {
		switch {
		case (a == "--config" || a == "-config") && i+1 < len(argv):
			return argv[i+1]
		case strings.HasPrefix(a, "--config="):
			return strings.TrimPrefix(a, "--config=")
		case strings.HasPrefix(a, "-config="):
			return strings.TrimPrefix(a, "-config=")
		}
	}
	return ""
}
