// Package balancer talks to the balancer under test: its admin API (switch
// the algorithm) and its status endpoint.
package balancer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client calls the balancer's admin API. The zero value is not usable; set
// Admin. It is safe for concurrent use.
type Client struct {
	// Admin is the admin listener's base URL, e.g. http://127.0.0.1:9090.
	Admin string
	// Token, when set, is sent as "Authorization: Bearer <token>".
	Token string
	// HTTP is the client to use; default: one with a 5 s timeout.
	HTTP *http.Client
}

// Status is the balancer's /__status__ document (the fields the load tester uses).
type Status struct {
	Algorithm string    `json:"algorithm"`
	Backends  []Backend `json:"backends"`
	// Gray holds the balancer's gray-failure figures (retries, try
	// timeouts, hedges, budget refusals, ejections); nil from a balancer
	// without them.
	Gray *struct {
		Counts map[string]float64 `json:"counts"`
	} `json:"gray_failures,omitempty"`
}

// GrayCounts returns the gray-failure counters (nil when not reported).
func (s Status) GrayCounts() map[string]float64 {
	if s.Gray == nil {
		return nil
	}
	return s.Gray.Counts
}

// Backend is one backend in Status.
type Backend struct {
	Name              string `json:"name"`
	Address           string `json:"address"`
	Healthy           bool   `json:"healthy"`
	State             string `json:"state"`
	Weight            int    `json:"weight"`
	ActiveConnections int64  `json:"active_connections"`
	TotalRequests     int64  `json:"total_requests"`
	TotalErrors       int64  `json:"total_errors"`
	// Ejected: taken out of rotation as an outlier.
	Ejected bool `json:"ejected"`
}

// Healthy returns how many backends are healthy and up.
func (s Status) Healthy() int {
	n := 0
	for _, b := range s.Backends {
		if b.Healthy && (b.State == "" || b.State == "up") {
			n++
		}
	}
	return n
}

// Down returns how many backends are unhealthy (disabled ones left out).
func (s Status) Down() int {
	n := 0
	for _, b := range s.Backends {
		if !b.Healthy && b.State != "disabled" {
			n++
		}
	}
	return n
}

// Algorithm returns the balancer's current algorithm.
func (c *Client) Algorithm(ctx context.Context) (string, error) {
	var out struct {
		Algorithm string `json:"algorithm"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/algorithm", nil, &out); err != nil {
		return "", fmt.Errorf("get algorithm: %w", err)
	}
	return out.Algorithm, nil
}

// SetAlgorithm switches the balancer's algorithm.
func (c *Client) SetAlgorithm(ctx context.Context, name string) error {
	in := map[string]string{"algorithm": name}
	var out struct {
		Algorithm string `json:"algorithm"`
	}
	if err := c.do(ctx, http.MethodPut, "/api/algorithm", in, &out); err != nil {
		return fmt.Errorf("set algorithm %s: %w", name, err)
	}
	if out.Algorithm != "" && out.Algorithm != name {
		return fmt.Errorf("set algorithm %s: balancer answered %q", name, out.Algorithm)
	}
	return nil
}

// Status reads /__status__ from the admin listener.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	if err := c.do(ctx, http.MethodGet, "/__status__", nil, &st); err != nil {
		return Status{}, fmt.Errorf("get status: %w", err)
	}
	return st, nil
}

// WaitHealthy polls the status until at least min (and at least one)
// backends are healthy and none is down, or ctx ends.
func (c *Client) WaitHealthy(ctx context.Context, min int) (Status, error) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last Status
	var lastErr error
	for {
		st, err := c.Status(ctx)
		if err == nil {
			last, lastErr = st, nil
			h := st.Healthy()
			if h > 0 && h >= min && st.Down() == 0 {
				return st, nil
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return last, fmt.Errorf("wait for healthy backends: %w (last error: %v)", ctx.Err(), lastErr)
			}
			return last, fmt.Errorf("wait for healthy backends: %w (%d of %d healthy, want %d)", ctx.Err(), last.Healthy(), len(last.Backends), min)
		case <-tick.C:
		}
	}
}

// do sends one request and decodes a 2xx JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Admin, "/")+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin API at %s not reachable: %w", c.Admin, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Error)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}
