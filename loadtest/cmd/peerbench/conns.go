package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// clientConn is one connection of the idle and crowd cases: a raw TCP
// connection and the reader its responses are parsed from (nil once the
// connection only idles).
type clientConn struct {
	net.Conn
	br *bufio.Reader
}

// openConfig says how openConns opens its connections.
type openConfig struct {
	Addr string // host:port of the proxy (or backend)
	Host string // the Host header
	N    int
	// Keep the reader of each connection (the crowd reads more responses
	// on it); without, only the net.Conn stays.
	KeepReader bool
	// Timeout bounds each connection's dial and first exchange.
	Timeout time.Duration
}

// openParallel is how many connections openConns opens at once: enough to
// open thousands in seconds, few enough not to overflow a listen backlog.
const openParallel = 32

// readerSize is the read buffer of a crowd connection: the backend's
// responses are a few hundred bytes.
const readerSize = 1024

// getRequest returns the GET that the idle and crowd cases send to host.
func getRequest(host string) []byte {
	return []byte("GET /bench HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: peerbench\r\n\r\n")
}

// openConns opens cfg.N connections to cfg.Addr, openParallel at a time;
// each sends one GET and reads its response, which must be 2xx. It returns
// the connections that got their response, the number that did not and the
// first error of those. It stops early when ctx is done (the connections
// opened so far are returned, to be closed by the caller).
func openConns(ctx context.Context, cfg openConfig) ([]*clientConn, int, error) {
	req := getRequest(cfg.Host)
	var (
		mu       sync.Mutex
		conns    = make([]*clientConn, 0, cfg.N)
		failed   int
		firstErr error
	)
	next := make(chan struct{})
	var wg sync.WaitGroup
	for range min(openParallel, cfg.N) {
		wg.Go(func() {
			for range next {
				c, err := openOne(cfg, req)
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		})
	}
	sent := 0
feed:
	for ; sent < cfg.N; sent++ {
		select {
		case next <- struct{}{}:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	failed += cfg.N - sent
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return conns, failed, firstErr
}

// openOne dials one connection and makes its first exchange.
func openOne(cfg openConfig, req []byte) (*clientConn, error) {
	conn, err := net.DialTimeout("tcp", cfg.Addr, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	c := &clientConn{Conn: conn, br: bufio.NewReaderSize(conn, readerSize)}
	_ = conn.SetDeadline(time.Now().Add(cfg.Timeout))
	if _, err := c.exchange(req); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	if !cfg.KeepReader {
		if c.br.Buffered() > 0 {
			conn.Close()
			return nil, fmt.Errorf("%s: %d bytes after the response", cfg.Addr, c.br.Buffered())
		}
		c.br = nil
	}
	return c, nil
}

// exchange writes req and reads one response to its end, returning its
// status code; a status other than 2xx is an error, and so is a response
// that closes the connection. The caller sets the deadline.
func (c *clientConn) exchange(req []byte) (int, error) {
	if _, err := c.Write(req); err != nil {
		return 0, fmt.Errorf("write request: %w", err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, fmt.Errorf("read response: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read response body: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("status %s", resp.Status)
	}
	if resp.Close {
		return resp.StatusCode, errors.New("the response closes the connection")
	}
	return resp.StatusCode, nil
}

// peerClosed reports whether the other end has closed the connection (or
// reset it), without blocking: a peek that reads end of file or fails with
// anything but "would block" means closed; unread bytes mean open.
func (c *clientConn) peerClosed() bool {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(err, syscall.EAGAIN):
		case err != nil || n == 0:
			closed = true
		}
		return true // one look only: never wait for readiness
	})
	return closed || err != nil
}

// closeAll closes every connection.
func closeAll(conns []*clientConn) {
	for _, c := range conns {
		c.Close()
	}
}
