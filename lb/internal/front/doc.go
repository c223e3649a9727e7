// Package front serves HTTP on the proxy port. It owns every client
// connection: it reads each request head into the connection's buffer,
// checks it with h1's rules (refusing what HAProxy refuses, with HAProxy's
// statuses, and closing after), and either forwards it itself — the fast
// path, for plain HTTP/1.1 requests without a body or with a small
// Content-Length body: the head is written on as it came less its
// hop-by-hop lines, plus X-Forwarded-*, over the backend's upstream pool,
// and the response head and body are relayed as they come, all on the
// connection's goroutine without allocating — or hands that one request to
// net/http's server and the proxy's ReverseProxy path (handoff.go), then
// carries on with the connection.
//
// Responses leave in request order: each is flushed before a hand-off, and
// none is held back waiting for a next request that has not fully arrived.
// A backend connection goes back to its pool only when its response ended
// exactly on its framing (lb/internal/upstream). A request is sent again
// only when no byte of it can have been acted on.
//
// Unlike net/http, the fast path does not notice a client that goes away
// while the backend is still working on its request (HAProxy's default
// too): it finds out when it writes the response.
package front
