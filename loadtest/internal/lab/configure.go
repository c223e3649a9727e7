package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/moby/moby/client"
)

// configured is a backend whose settings Configure changed: where its
// control API is and the values to put back.
type configured struct {
	c    Container
	url  string
	orig map[string]json.RawMessage
}

var controlClient = &http.Client{Timeout: 5 * time.Second}

// Configure sets settings of the test backend in the container through its
// control API (PUT http://<container address>:port/__backend__/config) and
// remembers what they were, for Restore. patch holds the settings as the
// backend takes them (latency "200ms", error_rate 0.3, ...); a value the
// backend refuses is an error naming it, and nothing changes.
func (l *Lab) Configure(ctx context.Context, ref Ref, port int, patch map[string]any) (Container, error) {
	c, err := l.Find(ctx, ref)
	if err != nil {
		return c, err
	}
	res, err := l.cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
	if err != nil {
		return c, fmt.Errorf("configure %s: inspect: %w", c.Name, err)
	}
	host := ""
	if ns := res.Container.NetworkSettings; ns != nil {
		for _, name := range slices.Sorted(maps.Keys(ns.Networks)) {
			if ep := ns.Networks[name]; ep != nil && ep.IPAddress.IsValid() {
				host = ep.IPAddress.String()
				break
			}
		}
	}
	if host == "" {
		return c, fmt.Errorf("configure %s: the container has no network address (is it running and connected?)", c.Name)
	}
	url := "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/__backend__/config"

	cur, err := controlGet(ctx, url)
	if err != nil {
		return c, fmt.Errorf("configure %s: %w", c.Name, err)
	}
	l.mu.Lock()
	if l.configured == nil {
		l.configured = map[string]*configured{}
	}
	rec, ok := l.configured[c.ID]
	if !ok {
		rec = &configured{c: c, url: url, orig: map[string]json.RawMessage{}}
		l.configured[c.ID] = rec
	}
	for k := range patch {
		if _, had := rec.orig[k]; !had {
			if v, ok := cur[k]; ok {
				rec.orig[k] = v
			}
		}
	}
	l.mu.Unlock()
	if err := controlPut(ctx, url, patch); err != nil {
		return c, fmt.Errorf("configure %s: %w", c.Name, err)
	}
	l.cfg.Log.Info("configured", "container", c.Name, "settings", patch)
	return c, nil
}

func controlGet(ctx context.Context, url string) (map[string]json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := controlClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("control API: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("control API: GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("control API: GET %s: %w", url, err)
	}
	return out, nil
}

func controlPut(ctx context.Context, url string, patch any) error {
	b, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := controlClient.Do(req)
	if err != nil {
		return fmt.Errorf("control API: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("control API refused %s: %s: %s", b, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// restoreConfigured puts back the settings Configure changed.
func (l *Lab) restoreConfigured(ctx context.Context) []error {
	l.mu.Lock()
	recs := slices.Collect(maps.Values(l.configured))
	l.mu.Unlock()
	var errs []error
	for _, rec := range recs {
		if len(rec.orig) > 0 {
			if err := controlPut(ctx, rec.url, rec.orig); err != nil {
				errs = append(errs, fmt.Errorf("restore: settings of %s: %w", rec.c.Name, err))
				continue
			}
		}
		l.mu.Lock()
		delete(l.configured, rec.c.ID)
		l.mu.Unlock()
		l.cfg.Log.Info("restored: settings", "container", rec.c.Name)
	}
	return errs
}
