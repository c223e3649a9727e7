package proxy

import "net/http"

// recorder wraps the client's ResponseWriter for one request: it notes the
// status and bytes for the access log and metrics, and receives the backend
// error from the ReverseProxy's ErrorHandler instead of letting it write, so
// ServeHTTP can retry on another backend. Unwrap keeps Flush and Hijack (used
// for streaming and WebSocket upgrades) reachable through
// http.ResponseController.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	err         error
	wroteHeader bool
}

func (r *recorder) WriteHeader(code int) {
	// 1xx informational responses (other than 101) may precede the final one.
	if !r.wroteHeader && (code >= 200 || code == http.StatusSwitchingProtocols) {
		r.status = code
		r.wroteHeader = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if !r.wroteHeader {
		r.status = http.StatusOK
		r.wroteHeader = true
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Unwrap returns the client's ResponseWriter, for http.ResponseController.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
