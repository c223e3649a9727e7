// Command tinybackend stands in for bin/backend in the lab tests when the
// real one cannot be built: any path answers 200 with X-Backend (default:
// the host name), /health answers 200, and "tinybackend healthcheck --url U"
// exits 0 when U answers 200.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		fs := flag.NewFlagSet("healthcheck", flag.ExitOnError)
		u := fs.String("url", "http://127.0.0.1:8000/health", "URL to check")
		_ = fs.Parse(os.Args[2:])
		c := &http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get(*u)
		if err != nil || resp.StatusCode != http.StatusOK {
			os.Exit(1)
		}
		os.Exit(0)
	}
	host, _ := os.Hostname()
	port := flag.Int("port", 8000, "port")
	bind := flag.String("host", "0.0.0.0", "address")
	name := flag.String("name", host, "name")
	flag.Parse()
	srv := &http.Server{
		Addr:              net.JoinHostPort(*bind, fmt.Sprint(*port)),
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Backend", *name)
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Path == "/health" {
				fmt.Fprint(w, `{"status":"ok"}`)
				return
			}
			fmt.Fprintf(w, `{"backend":%q,"path":%q,"method":%q}`, *name, r.URL.Path, r.Method)
		}),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
