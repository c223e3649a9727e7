package l4_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lblab/lblab/lb/internal/config"
	"github.com/lblab/lblab/lb/internal/server"
)

// Benchmarks compare, in one run, a client talking to a backend directly,
// through the balancer's tcp mode and through its http mode (all in this
// process, on 127.0.0.1):
//
//	go test -run '^$' -bench . -benchtime 3000x ./lb/internal/l4/
//
// BenchmarkConnections reports new connections per second (each op: connect,
// read a 2-byte answer, close); BenchmarkThroughput reports MB/s over one
// long connection (each op: 1 MiB sent to a backend that discards it; in
// http mode: one keep-alive POST of 1 MiB).

// startHTTPModeLB runs the whole balancer in http mode in this process.
func startHTTPModeLB(b *testing.B, backendAddr string) string {
	b.Helper()
	host, port, _ := net.SplitHostPort(backendAddr)
	var p int
	fmt.Sscanf(port, "%d", &p)
	cfg := config.Default()
	cfg.BackendServers = []config.Backend{{Host: host, Port: p, Weight: 1}}
	cfg.HealthCheckInterval = 0
	cfg.MaxConnections = 0
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(&cfg, server.Options{Logger: quietLogger(), ProxyListener: ln})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	if err := server.WaitReady(ctx, srv); err != nil {
		b.Fatal(err)
	}
	return ln.Addr().String()
}

func BenchmarkConnections(b *testing.B) {
	raw := newTCPBackend(b, "ok", nameHandler("ok"))
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	b.Cleanup(hs.Close)
	tcpLB := startLB(b, lbOpts{backendsByName: []*tcpBackend{raw}, logger: quietLogger()})
	httpLB := startHTTPModeLB(b, hs.Listener.Addr().String())

	rawConn := func(addr string) func() error {
		return func() error {
			got, err := fetchName(addr)
			if err == nil && got != "ok" {
				err = fmt.Errorf("got %q", got)
			}
			return err
		}
	}
	httpConn := func(addr string) func() error {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
		url := "http://" + addr + "/"
		return func() error {
			resp, err := client.Get(url)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err == nil && string(body) != "ok" {
				err = fmt.Errorf("got %d %q", resp.StatusCode, body)
			}
			return err
		}
	}
	for _, tg := range []struct {
		name string
		op   func() error
	}{
		{"direct", rawConn(raw.addr)},
		{"lb-tcp", rawConn(tcpLB.addr)},
		{"direct-http", httpConn(hs.Listener.Addr().String())},
		{"lb-http", httpConn(httpLB)},
	} {
		b.Run(tg.name, func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := tg.op(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
		})
	}
}

func BenchmarkThroughput(b *testing.B) {
	const block = 1 << 20
	sink := newTCPBackend(b, "sink", func(c *net.TCPConn) {
		io.Copy(io.Discard, c)
		io.WriteString(c, "done")
	})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "done")
	}))
	b.Cleanup(hs.Close)
	tcpLB := startLB(b, lbOpts{backendsByName: []*tcpBackend{sink}, logger: quietLogger()})
	httpLB := startHTTPModeLB(b, hs.Listener.Addr().String())
	payload := bytes.Repeat([]byte("lblab-throughput"), block/16)

	stream := func(b *testing.B, addr string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.SetBytes(block)
		b.ResetTimer()
		for range b.N {
			if _, err := c.Write(payload); err != nil {
				b.Fatal(err)
			}
		}
		c.(*net.TCPConn).CloseWrite()
		if got, err := io.ReadAll(c); err != nil || string(got) != "done" {
			b.Fatalf("got %q, %v", got, err)
		}
	}
	post := func(b *testing.B, addr string) {
		client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
		defer client.CloseIdleConnections()
		url := "http://" + addr + "/upload"
		b.SetBytes(block)
		b.ResetTimer()
		for range b.N {
			resp, err := client.Post(url, "application/octet-stream", bytes.NewReader(payload))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	}
	b.Run("direct", func(b *testing.B) { stream(b, sink.addr) })
	b.Run("lb-tcp", func(b *testing.B) { stream(b, tcpLB.addr) })
	b.Run("direct-http", func(b *testing.B) { post(b, hs.Listener.Addr().String()) })
	b.Run("lb-http", func(b *testing.B) { post(b, httpLB) })
}
