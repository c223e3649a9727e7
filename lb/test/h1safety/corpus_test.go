package h1safety

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The corpus. The vectors are written for this suite from the classes of
// issue 17 and from the cases of public suites (llhttp's test/request and
// test/response, Go's net/http tests, RFC 9112's grammar, PortSwigger's
// desync techniques); no code or text of those suites is copied.
//
// Expectations follow DESIGN.md section 6 and HAProxy's behaviour. Where
// more than one answer is right the Want says which set: either(...) for
// "forward (normalised) or refuse with one of these", relayOr502 for "relay
// what net/http reads, or refuse with 502" (a proxy stricter than net/http,
// as HAProxy is).

// corpus returns every vector: issue 17's classes, then the request side,
// then the response side.
func corpus() []*Vector {
	var vs []*Vector
	vs = append(vs, issueVectors()...)
	vs = append(vs, requestVectors()...)
	vs = append(vs, responseVectors()...)
	return vs
}

// head joins lines with CRLF and ends the head with an empty line.
func head(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n\r\n" }

// get is a plain GET for path.
func get(path string) string { return head("GET "+path+" HTTP/1.1", "Host: lb.test") }

// post is a POST for path with a Content-Length body and extra fields.
func post(path, body string, fields ...string) string {
	lines := append([]string{"POST " + path + " HTTP/1.1", "Host: lb.test"}, fields...)
	lines = append(lines, "Content-Length: "+strconv.Itoa(len(body)))
	return head(lines...) + body
}

// chunkedReq is a request for path with Transfer-Encoding: chunked, extra
// fields, and a raw chunked body.
func chunkedReq(method, path, body string, fields ...string) string {
	lines := append([]string{method + " " + path + " HTTP/1.1", "Host: lb.test"}, fields...)
	lines = append(lines, "Transfer-Encoding: chunked")
	return head(lines...) + body
}

// chunks is a well-formed chunked body of the given chunks.
func chunks(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue // an empty chunk would be the last one
		}
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(p), p)
	}
	return b.String() + "0\r\n\r\n"
}

// resp is a response with a status line, fields, and a body with its
// Content-Length.
func resp(status, body string, fields ...string) string {
	lines := append([]string{"HTTP/1.1 " + status}, fields...)
	lines = append(lines, "Content-Length: "+strconv.Itoa(len(body)))
	return head(lines...) + body
}

// smug is a complete response that claims to be the echo of request #1:
// a client that gets it got another client's answer.
var smug = resp("200 OK", "smuggled", "X-Seq: 1")

// withField returns a GET for /v with n extra field lines made by f.
func manyFields(n int, f func(i int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func hostIs(h string) func(*seen) string {
	return func(s *seen) string {
		if s.Req.Host != h {
			return fmt.Sprintf("Host is %q; want %q", s.Req.Host, h)
		}
		return ""
	}
}

func lacks(field string) func(*seen) string {
	return func(s *seen) string {
		if v := headerValues(s.Req.Raw[:s.Req.HeadLen], strings.ToLower(field)); len(v) > 0 {
			return fmt.Sprintf("the client's %s: %q reached the backend", field, v)
		}
		return ""
	}
}

func xffIsPeer(s *seen) string {
	if v := s.Req.Header.Values("X-Forwarded-For"); len(v) != 1 || v[0] != "127.0.0.1" {
		return fmt.Sprintf("X-Forwarded-For %q; want just the peer 127.0.0.1 (no trusted proxies)", v)
	}
	return ""
}

func respLacks(field string) func(*got) string {
	return func(g *got) string {
		if v := g.Resp.Header.Values(field); len(v) > 0 {
			return fmt.Sprintf("the backend's %s: %q reached the client", field, v)
		}
		return ""
	}
}

// gap is how long the backend waits between the pieces of a split answer.
const gap = 5 * time.Millisecond
