package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/lblab/lblab/backend/internal/settings"
)

// lookupEnv is os.LookupEnv, injected for tests.
type lookupEnv func(string) (string, bool)

// options are the parsed command line of the server mode.
type options struct {
	host            string
	port            int
	name            string
	settings        settings.Settings
	seed            uint64 // 0 = random
	shutdownTimeout time.Duration
	verbose         bool
	version         bool
}

// maxShutdownTimeout bounds --shutdown-timeout.
const maxShutdownTimeout = 10 * time.Minute

// envName is the environment variable that stands in for a flag:
// --error-rate -> BACKEND_ERROR_RATE.
func envName(flagName string) string {
	return "BACKEND_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet declares the server flags. Values are strings (bools aside) so
// that parseOptions can name the flag or variable and the value in every error.
func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("host", "0.0.0.0", "address to listen on")
	fs.String("port", "8000", "TCP port to listen on (0 = any free port)")
	fs.String("name", "", "backend name for X-Backend and JSON (default $BACKEND_NAME, else the host name)")
	fs.String("latency", "0", "added latency: a duration (20ms) or a distribution (see --latency-dist)")
	fs.String("latency-dist", "", `latency distribution: "normal:MEAN,STDDEV", "uniform:MIN,MAX", "exp:MEAN", "fixed:D"`)
	fs.String("error-rate", "0", "fraction of requests answered with --error-status, 0 to 1")
	fs.String("error-status", "500", "status of injected errors, 400-599")
	fs.String("response-size", "0", "pad JSON answers to this size: 512, 64KiB, 1MB (0 = no padding)")
	fs.String("capacity", "0", "concurrent requests served at once (0 = unlimited)")
	fs.String("overflow", "queue", "beyond --capacity: queue (wait) or reject (503)")
	fs.Bool("unhealthy", false, "start with /health failing (503)")
	fs.String("seed", "0", "random seed for latency and errors (0 = random)")
	fs.String("shutdown-timeout", "10s", "how long a graceful shutdown waits for in-flight requests")
	fs.Bool("verbose", false, "log every request (debug level)")
	fs.Bool("version", false, "print the version and exit")
	return fs
}

// parseOptions parses args, then fills each flag not given on the command line
// from its environment variable (BACKEND_<FLAG>, empty means unset), then
// validates. Errors name the flag or variable and the value, one per line.
func parseOptions(args []string, env lookupEnv, hostname func() (string, error)) (options, error) {
	fs := newFlagSet()
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected argument %q (the only subcommand is healthcheck)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	// source says where each value came from, for error messages.
	source := map[string]string{}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		source[f.Name] = fmt.Sprintf("--%s %s", f.Name, f.Value)
		if given[f.Name] {
			return
		}
		if v, ok := env(envName(f.Name)); ok && v != "" {
			source[f.Name] = envName(f.Name) + "=" + v
			given[f.Name] = true
			if err := fs.Set(f.Name, v); err != nil { // only bool flags can fail here
				errs = append(errs, fmt.Errorf("%s: must be true or false", source[f.Name]))
			}
		}
	})
	if len(errs) > 0 {
		return options{}, errors.Join(errs...)
	}

	get := func(name string) string { return fs.Lookup(name).Value.String() }
	check := func(name string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source[name], err))
		}
	}
	o := options{
		host:     get("host"),
		name:     get("name"),
		settings: settings.Default(),
		verbose:  get("verbose") == "true",
		version:  get("version") == "true",
	}
	o.settings.Healthy = get("unhealthy") != "true"

	var err error
	o.port, err = parseInt(get("port"), 0, 65535)
	check("port", err)

	latencyFlag := "latency"
	if given["latency-dist"] {
		latencyFlag = "latency-dist"
		if given["latency"] {
			errs = append(errs, fmt.Errorf("%s and %s: give one, not both", source["latency"], source["latency-dist"]))
		}
	}
	o.settings.Latency, err = settings.ParseLatency(get(latencyFlag))
	check(latencyFlag, err)

	o.settings.ErrorRate, err = strconv.ParseFloat(strings.TrimSpace(get("error-rate")), 64)
	if err != nil {
		err = errors.New("must be a number between 0 and 1")
	} else {
		err = settings.CheckErrorRate(o.settings.ErrorRate)
	}
	check("error-rate", err)

	o.settings.ErrorStatus, err = parseInt(get("error-status"), 400, 599)
	check("error-status", err)

	o.settings.ResponseSize, err = settings.ParseSize(get("response-size"))
	check("response-size", err)

	o.settings.Capacity, err = parseInt(get("capacity"), 0, settings.MaxCapacity)
	check("capacity", err)

	o.settings.Overflow, err = settings.ParseOverflow(get("overflow"))
	check("overflow", err)

	o.seed, err = strconv.ParseUint(strings.TrimSpace(get("seed")), 10, 64)
	if err != nil {
		err = errors.New("must be a whole number >= 0")
	}
	check("seed", err)

	o.shutdownTimeout, err = time.ParseDuration(strings.TrimSpace(get("shutdown-timeout")))
	if err != nil || o.shutdownTimeout <= 0 || o.shutdownTimeout > maxShutdownTimeout {
		err = fmt.Errorf("must be a duration above 0 and at most %s (e.g. 10s)", maxShutdownTimeout)
	}
	check("shutdown-timeout", err)

	if o.name == "" {
		o.name, err = hostname()
		if err != nil || o.name == "" {
			errs = append(errs, fmt.Errorf("--name: not given, $BACKEND_NAME unset and no host name: %v", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return options{}, err
	}
	return o, nil
}

func parseInt(s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("must be a whole number between %d and %d", lo, hi)
	}
	return n, nil
}

// printUsage writes the help text, with each flag's environment variable.
func printUsage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  backend [flags]                 serve HTTP (any path answers JSON naming the backend)
  backend healthcheck [--url URL] [--timeout 2s]
                                  GET URL (default http://127.0.0.1:$BACKEND_PORT/health);
                                  exit 0 on 2xx, else 1

Flags (one or two dashes). Each may also be set by the environment variable
shown; a flag on the command line wins, an empty variable counts as unset.
`)
	newFlagSet().VisitAll(func(f *flag.Flag) {
		fmt.Fprintf(w, "  --%-18s %s\n  %-20s env %s, default %q\n", f.Name, f.Usage, "", envName(f.Name), f.DefValue)
	})
}
