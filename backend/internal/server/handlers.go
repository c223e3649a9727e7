package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lblab/lblab/backend/internal/settings"
)

// Limits on query parameters.
const (
	maxChunks   = 100_000
	maxInterval = time.Minute
	maxSleep    = 10 * time.Minute
)

// timeFormat is RFC 3339 with a fixed nine-digit fraction, so that answers
// keep one length from request to request.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// info is the JSON answer naming the backend.
type info struct {
	Backend    string `json:"backend"`
	Path       string `json:"path"`
	Method     string `json:"method"`
	Host       string `json:"host"`
	RemoteAddr string `json:"remote_addr"`
	Time       string `json:"time"`
	Status     int    `json:"status,omitempty"`
	Error      string `json:"error,omitempty"`
}

type errorBody struct {
	Error  string   `json:"error"`
	Fields []string `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// workload wraps the handlers that model real work: it counts the request,
// applies the capacity limit, the latency and the error rate, in that order, so
// latency holds a capacity slot as service time does. The error-rate decision
// draws one Float64 per request, and only when the rate is above 0.
func (s *Server) workload(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if rec.status != 0 {
				s.stats.record(rec.status)
			}
			s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
				"duration", s.now().Sub(start), "remote", r.RemoteAddr)
		}()
		s.stats.requests.Add(1)

		cur := s.settings.Load()
		arrived := time.Now()
		if err := s.lim.acquire(r.Context(), cur.Overflow == settings.OverflowReject); err != nil {
			if errors.Is(err, errOverCapacity) {
				s.stats.rejected.Add(1)
				s.writeInfo(rec, r, http.StatusServiceUnavailable, "over capacity", 0)
			}
			return // otherwise the client went away while queued
		}
		admitted := time.Now()
		defer func() {
			s.lim.release()
			s.stats.served(admitted.Sub(arrived), time.Since(admitted))
		}()

		cur = s.settings.Load() // settings may have changed while queued
		if d := s.sampleLatency(cur.Latency); d > 0 {
			took, ok := s.clock.sleep(r.Context(), d)
			if !ok {
				return
			}
			s.stats.slept(d, took)
		}
		if cur.ErrorRate > 0 && s.float64() < cur.ErrorRate {
			s.stats.injected.Add(1)
			s.writeInfo(rec, r, cur.ErrorStatus, "injected error", 0)
			return
		}
		next(rec, r)
	})
}

// sleep waits for d or until ctx is done, and reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func bodyAllowed(code int) bool {
	return code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}

// writeInfo answers with the info JSON, padded to size bytes when size is
// larger than the JSON: first with a "padding" string field, or with spaces
// when the gap is too small for the field. The body ends in a newline.
func (s *Server) writeInfo(w http.ResponseWriter, r *http.Request, code int, errMsg string, size settings.Size) {
	in := info{
		Backend:    s.name,
		Path:       r.URL.Path,
		Method:     r.Method,
		Host:       r.Host,
		RemoteAddr: r.RemoteAddr,
		Time:       s.now().UTC().Format(timeFormat),
		Error:      errMsg,
	}
	if code != http.StatusOK {
		in.Status = code
	}
	b, err := json.Marshal(in)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if !bodyAllowed(code) {
		w.WriteHeader(code)
		return
	}
	// Padding field: `,"padding":"` + pad + `"` inserted before the closing brace.
	const field = `,"padding":"`
	n, want := int64(len(b))+1, int64(size) // n counts the trailing newline
	fieldCost := int64(len(field)) + 1
	useField := want >= n+fieldCost
	w.Header().Set("Content-Length", strconv.FormatInt(max(n, want), 10))
	w.WriteHeader(code)
	if r.Method == http.MethodHead {
		return
	}
	if !useField {
		_, _ = w.Write(b)
		_ = s.writeRepeat(w, ' ', want-n) // no-op unless 0 < want-n < fieldCost
		_, _ = io.WriteString(w, "\n")
		return
	}
	_, _ = w.Write(b[:len(b)-1])
	_, _ = io.WriteString(w, field)
	if err := s.writeRepeat(w, 'x', want-n-fieldCost); err != nil {
		return
	}
	_, _ = io.WriteString(w, "\"}\n")
}

// writeRepeat writes n copies of c ('x' from the shared padding buffer, other
// bytes from a small local one).
func (s *Server) writeRepeat(w io.Writer, c byte, n int64) error {
	if n <= 0 {
		return nil
	}
	buf := s.padding
	if c != 'x' {
		buf = make([]byte, min(n, int64(len(s.padding))))
		for i := range buf {
			buf[i] = c
		}
	}
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := w.Write(buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	s.writeInfo(w, r, http.StatusOK, "", s.settings.Load().ResponseSize)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	s.stats.healthChecks.Add(1)
	if s.settings.Load().Healthy {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "failing"})
}

// handleEcho answers POST, PUT and PATCH with the request body, byte for byte,
// and the request's Content-Type; other methods get the info JSON.
func (s *Server) handleEcho(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		s.handleInfo(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.writeInfo(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", tooBig.Limit), 0)
			return
		}
		s.writeInfo(w, r, http.StatusBadRequest, "read body: "+err.Error(), 0)
		return
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// streamChunk is one line of /stream's newline-delimited JSON.
type streamChunk struct {
	Backend string `json:"backend"`
	Chunk   int    `json:"chunk"`
	Of      int    `json:"of"`
	Time    string `json:"time"`
}

// handleStream writes ?chunks=N (default 10) JSON lines, flushing each, with
// ?interval=D (default 10ms) between them.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	chunks, err := intParam(q, "chunks", 10, 0, maxChunks)
	if err == nil {
		var interval time.Duration
		interval, err = durationParam(q, "interval", 10*time.Millisecond, maxInterval)
		if err == nil {
			s.stream(w, r, chunks, interval)
			return
		}
	}
	s.writeInfo(w, r, http.StatusBadRequest, err.Error(), 0)
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, chunks int, interval time.Duration) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	for i := range chunks {
		if i > 0 && interval > 0 && !sleep(r.Context(), interval) {
			return
		}
		c := streamChunk{Backend: s.name, Chunk: i + 1, Of: chunks, Time: s.now().UTC().Format(timeFormat)}
		if err := enc.Encode(c); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// handleSleep waits ?d=DURATION (required, up to 10m), then answers with the info JSON.
func (s *Server) handleSleep(w http.ResponseWriter, r *http.Request) {
	if !r.URL.Query().Has("d") {
		s.writeInfo(w, r, http.StatusBadRequest, "d: missing (want e.g. /sleep?d=200ms)", 0)
		return
	}
	d, err := durationParam(r.URL.Query(), "d", 0, maxSleep)
	if err != nil {
		s.writeInfo(w, r, http.StatusBadRequest, err.Error(), 0)
		return
	}
	if _, ok := s.clock.sleep(r.Context(), d); !ok {
		return
	}
	s.handleInfo(w, r)
}

// handleStatus answers /status/{code} with that status (200-599) and the info JSON.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("code")
	code, err := strconv.Atoi(raw)
	if err != nil || code < 200 || code > 599 {
		s.writeInfo(w, r, http.StatusBadRequest, fmt.Sprintf("status %q: must be a number between 200 and 599", raw), 0)
		return
	}
	s.writeInfo(w, r, code, "", s.settings.Load().ResponseSize)
}

// handleWS echoes WebSocket messages, text or binary, until the client closes
// or the server shuts down.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	conn, err := s.upgrader.Upgrade(w, r, http.Header{"X-Backend": {s.name}})
	if err != nil {
		return // Upgrade has answered with an HTTP error
	}
	s.stats.websockets.Add(1)
	defer s.stats.websockets.Add(-1)
	defer conn.Close()
	stop := context.AfterFunc(s.hijacked, func() {
		msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")
		_ = conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		_ = conn.Close()
	})
	defer stop()
	conn.SetReadLimit(s.maxBody)
	for {
		mt, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if err := conn.WriteMessage(mt, msg); err != nil {
			return
		}
	}
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s %q: must be a whole number between %d and %d", name, v, lo, hi)
	}
	return n, nil
}

func durationParam(q url.Values, name string, def, hi time.Duration) (time.Duration, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if v == "0" {
		d, err = 0, nil
	}
	if err != nil || d < 0 || d > hi {
		return 0, fmt.Errorf("%s %q: must be a duration between 0 and %s (e.g. 200ms)", name, v, hi)
	}
	return d, nil
}
