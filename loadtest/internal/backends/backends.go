// Package backends talks to the lab's test backends (bin/backend) directly,
// by the address the balancer lists them under: their settings
// (/__backend__/config) and what they actually did (/__backend__/stats), so
// that an experiment knows the service time and utilisation it ran at.
package backends

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Config is the part of GET /__backend__/config the load tester uses.
type Config struct {
	Name     string `json:"name"`
	Latency  string `json:"latency"`
	Capacity int    `json:"capacity"`
	Overflow string `json:"overflow"`
}

// Stats is the part of GET /__backend__/stats the load tester uses (see the
// backend's README for the meaning of each field).
type Stats struct {
	Backend            string   `json:"backend"`
	WindowSeconds      float64  `json:"window_seconds"`
	Served             int64    `json:"served_total"`
	MeanServiceMs      float64  `json:"mean_service_ms"`
	MeanQueueWaitMs    float64  `json:"mean_queue_wait_ms"`
	BusySeconds        float64  `json:"busy_seconds"`
	Utilization        *float64 `json:"utilization,omitempty"`
	Delays             int64    `json:"latency_delays_total"`
	MeanLatencyAskedMs float64  `json:"latency_asked_mean_ms"`
	MeanLatencyMs      float64  `json:"latency_mean_ms"`
}

// Client calls backends at host:port addresses. The zero value uses a client
// with a 5 s timeout. Safe for concurrent use.
type Client struct {
	HTTP *http.Client
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 5 * time.Second}
}

// Config returns the settings of the backend at addr.
func (c *Client) Config(ctx context.Context, addr string) (Config, error) {
	var out Config
	err := c.do(ctx, http.MethodGet, addr, "/__backend__/config", &out)
	return out, err
}

// Stats returns what the backend at addr did since start or its last reset.
func (c *Client) Stats(ctx context.Context, addr string) (Stats, error) {
	var out Stats
	err := c.do(ctx, http.MethodGet, addr, "/__backend__/stats", &out)
	return out, err
}

// Reset zeroes the backend's counters and restarts its window.
func (c *Client) Reset(ctx context.Context, addr string) error {
	return c.do(ctx, http.MethodPost, addr, "/__backend__/stats/reset", nil)
}

func (c *Client) do(ctx context.Context, method, addr, path string, out any) error {
	url := "http://" + addr + path
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return fmt.Errorf("backend %s: %w", addr, err)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("backend %s: %w", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("backend %s: read %s: %w", addr, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("backend %s: %s %s: %s (is it a bin/backend?)", addr, method, path, resp.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("backend %s: decode %s: %w", addr, path, err)
	}
	return nil
}

// Total sums stats of several backends: served and busy time add up, the
// means are weighted by the requests served, utilisation is the mean over
// backends.
func Total(all []Stats) Stats {
	var t Stats
	var util float64
	var nUtil int
	var wait, lat, asked float64
	for _, s := range all {
		t.Served += s.Served
		t.BusySeconds += s.BusySeconds
		t.Delays += s.Delays
		t.WindowSeconds = max(t.WindowSeconds, s.WindowSeconds)
		wait += s.MeanQueueWaitMs * float64(s.Served)
		lat += s.MeanLatencyMs * float64(s.Delays)
		asked += s.MeanLatencyAskedMs * float64(s.Delays)
		if s.Utilization != nil {
			util += *s.Utilization
			nUtil++
		}
	}
	if t.Served > 0 {
		t.MeanServiceMs = t.BusySeconds * 1000 / float64(t.Served)
		t.MeanQueueWaitMs = wait / float64(t.Served)
	}
	if t.Delays > 0 {
		t.MeanLatencyMs = lat / float64(t.Delays)
		t.MeanLatencyAskedMs = asked / float64(t.Delays)
	}
	if nUtil > 0 {
		u := util / float64(nUtil)
		t.Utilization = &u
	}
	return t
}
