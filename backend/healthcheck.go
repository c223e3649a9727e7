package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthcheck GETs a URL and returns 0 on a 2xx answer, else 1, printing one
// line. It is the Compose health check of a FROM scratch image (no shell, no curl).
func healthcheck(ctx context.Context, args []string, env lookupEnv, stdout, stderr io.Writer) int {
	port := "8000"
	if v, ok := env("BACKEND_PORT"); ok && v != "" {
		port = v
	}
	fs := flag.NewFlagSet("backend healthcheck", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", "http://127.0.0.1:"+port+"/health", "URL to GET")
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintln(stderr, "backend healthcheck: "+err.Error())
		return 1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "backend healthcheck: unexpected argument %q\n", fs.Arg(0))
		return 1
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "backend healthcheck: --timeout %s: must be above 0\n", *timeout)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "backend healthcheck: --url %s: %v\n", *url, err)
		return 1
	}
	// No proxy from the environment: the check is about this container.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "backend healthcheck: %v\n", err)
		return 1
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(stderr, "backend healthcheck: GET %s: %s\n", *url, resp.Status)
		return 1
	}
	fmt.Fprintf(stdout, "backend healthcheck: GET %s: %s\n", *url, resp.Status)
	return 0
}
