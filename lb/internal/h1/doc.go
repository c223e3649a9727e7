// Package h1 holds the HTTP/1.1 wire rules of the balancer (RFC 9112, with
// HAProxy's behaviour where the RFC leaves room): request and response heads
// parsed in place, header-line validity, the one table of hop-by-hop and
// proxy-set header names, message framing (RFC 9112 section 6.3), chunk
// lines and trailers, and the writers of forwarded heads and of the proxy's
// own error answers. Every path that reads or writes HTTP/1.1 (the fast front
// end, its raw forwarder, the hand-off to net/http) asks this package, so
// each rule is written and tested once.
//
// The functions are pure: they work on byte slices that hold a complete
// head or line, never allocate on success, and import neither net nor time.
// What a parser refuses it reports as an *Error carrying the status the
// proxy answers with (400, 414, 417, 431, 501 and 505 towards clients; 502
// for a backend's response), so callers never choose a status themselves.
//
// The rules, as they are enforced here:
//
//   - A head is a start line and header lines, each ended by CRLF, then an
//     empty line. A bare CR or LF anywhere in it, NUL or another control
//     character in a field value, obs-fold, whitespace before a colon, a
//     line without a colon and a non-token field name are refused.
//   - At most Limits.MaxHeaders header lines (HAProxy's tune.http.maxhdr,
//     101 by default; here 100).
//   - Requests: a single Content-Length of digits (identical repeats are
//     folded into one), or Transfer-Encoding whose only coding is chunked;
//     both at once are refused (400), as are other codings (501) and
//     Transfer-Encoding in HTTP/1.0 (400). Exactly one valid Host in
//     HTTP/1.1. Targets in origin-form, absolute-form (http and https),
//     or "*" for OPTIONS; %-escapes must be complete; no '#'. HTTP/1.0 and
//     HTTP/1.1 only (505 for other versions).
//   - Responses (RFC 9112 6.3): a response to HEAD, and every 1xx, 204 and
//     304, has no body whatever its headers say; otherwise chunked when
//     Transfer-Encoding is exactly "chunked" (a Content-Length beside it is
//     dropped and the backend connection is not reused), the length of a
//     single valid Content-Length, else the body runs until the backend
//     closes. Anything else is a malformed response (502).
//   - Chunk lines: 1*HEXDIG (below 2^52, as HAProxy) then optional
//     whitespace and well-formed extensions, ended by CRLF. Trailer lines
//     are field lines.
//   - A header that frames the message (Content-Length,
//     Transfer-Encoding) is never dropped because Connection names it.
package h1
