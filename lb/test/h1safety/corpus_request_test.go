package h1safety

import (
	"strconv"
	"strings"
	"time"
)

// The request side: what a client sends. Sources: RFC 9112 sections 2-7,
// llhttp's test/request cases, Go's readrequest_test.go and
// transfer/chunked tests, PortSwigger's request smuggling techniques.
func requestVectors() []*Vector {
	var vs []*Vector
	for _, group := range [][]*Vector{reqLine(), reqTarget(), reqFields(), reqHost(), reqLength(), reqTE(),
		reqChunks(), reqConnection(), reqExpect(), reqPipeline(), reqSmuggle(), reqLimits()} {
		vs = append(vs, group...)
	}
	return vs
}

// rv is a request vector of one write.
func rv(class, name, src, req string, w Want) *Vector {
	return &Vector{Name: name, Class: class, Source: src, Client: []string{req}, Want: w}
}

// RFC 9112 section 3: the request line.
func reqLine() []*Vector {
	c := "req-line"
	rfc := "RFC 9112 3"
	return []*Vector{
		rv(c, "plain-get", rfc, get("/v"), forward()),
		rv(c, "plain-head", rfc, head("HEAD /v HTTP/1.1", "Host: lb.test"), forward()),
		rv(c, "delete", rfc, head("DELETE /v HTTP/1.1", "Host: lb.test"), forward()),
		rv(c, "options-path", rfc, head("OPTIONS /v HTTP/1.1", "Host: lb.test"), forward()),
		rv(c, "trace", rfc, head("TRACE /v HTTP/1.1", "Host: lb.test"), either(405, 501)),
		rv(c, "method-report", "llhttp method", head("REPORT /v HTTP/1.1", "Host: lb.test"), forward()),
		rv(c, "method-purge", "llhttp method", head("PURGE /v HTTP/1.1", "Host: lb.test"), forward()),
		rv(c, "method-m-search", "llhttp method", head("M-SEARCH /v HTTP/1.1", "Host: lb.test"), forward()),
		rv(c, "method-lowercase", "RFC 9110 9.1 (methods are case-sensitive tokens)", head("get /v HTTP/1.1", "Host: lb.test"), forward()),
		rv(c, "method-long", "RFC 9110 9.1", head("VERYLONGMETHODNAMEXYZ /v HTTP/1.1", "Host: lb.test"), forward()),
		rv(c, "method-invalid-char", "RFC 9110 5.6.2", head("GE(T /v HTTP/1.1", "Host: lb.test"), refuse(400)),
		rv(c, "method-nul", "RFC 9110 5.6.2", head("G\x00T /v HTTP/1.1", "Host: lb.test"), refuse(400)),
		rv(c, "method-empty", rfc, head(" /v HTTP/1.1", "Host: lb.test"), refuse(400)),
		rv(c, "leading-space", rfc, head(" GET /v HTTP/1.1", "Host: lb.test"), refuse(400)),
		rv(c, "double-space", rfc, head("GET  /v HTTP/1.1", "Host: lb.test"), refuse(400)),
		rv(c, "tab-separator", rfc, head("GET\t/v HTTP/1.1", "Host: lb.test"), refuse(400)),
		rv(c, "trailing-space", "llhttp invalid", head("GET /v HTTP/1.1 ", "Host: lb.test"), refuse(400)),
		rv(c, "cr-in-request-line", "RFC 9112 2.2", head("GET /v\rHTTP/1.1", "Host: lb.test"), refuse(400)),
		rv(c, "no-version", "RFC 9112 2.3 (HTTP/0.9)", "GET /v\r\n\r\n", refuse(400)),
		rv(c, "version-1.0", rfc, head("GET /v HTTP/1.0"), forward()),
		rv(c, "version-1.2", "RFC 9112 2.3 (a higher minor version)", head("GET /v HTTP/1.2", "Host: lb.test"), either(400, 505)),
		rv(c, "version-2.0", "RFC 9112 2.3", head("GET /v HTTP/2.0", "Host: lb.test"), refuse(400, 505)),
		rv(c, "version-0.9", "RFC 9112 2.3", head("GET /v HTTP/0.9", "Host: lb.test"), refuse(400, 505)),
		rv(c, "version-5.6", "llhttp invalid", head("GET /v HTTP/5.6", "Host: lb.test"), refuse(400, 505)),
		rv(c, "version-lowercase", "RFC 9112 2.3 (case-sensitive)", head("GET /v http/1.1", "Host: lb.test"), refuse(400)),
		rv(c, "version-leading-zero", "llhttp invalid", head("GET /v HTTP/01.1", "Host: lb.test"), refuse(400, 505)),
		rv(c, "version-two-digit-minor", "llhttp invalid", head("GET /v HTTP/1.10", "Host: lb.test"), refuse(400, 505)),
		rv(c, "version-no-minor", "Go response_test (versions)", head("GET /v HTTP/1", "Host: lb.test"), refuse(400)),
		rv(c, "protocol-ice", "llhttp invalid", head("GET /v ICE/1.0", "Host: lb.test"), refuse(400)),
		rv(c, "protocol-rtsp", "llhttp invalid", head("PUT /v RTSP/1.0", "Host: lb.test"), refuse(400)),
		rv(c, "protocol-ihttp", "llhttp invalid", head("GET /v IHTTP/1.0", "Host: lb.test"), refuse(400)),
		rv(c, "leading-crlf", "llhttp sample; RFC 9112 2.2", "\r\n"+get("/v"), either(400)),
		rv(c, "leading-lf", "RFC 9112 2.2", "\n"+get("/v"), either(400)),
		rv(c, "bare-lf-line-ends", "RFC 9112 2.2 (a recipient MAY accept LF)", "GET /v HTTP/1.1\nHost: lb.test\n\n", either(400)),
		rv(c, "bare-lf-request-line-only", "RFC 9112 2.2", "GET /v HTTP/1.1\nHost: lb.test\r\n\r\n", either(400)),
		rv(c, "cr-only-line-ends", "RFC 9112 2.2 (bare CR)", "GET /v HTTP/1.1\rHost: lb.test\r\r", refuse(400)),
	}
}

// RFC 9112 section 3.2: request targets.
func reqTarget() []*Vector {
	c := "req-target"
	src := "RFC 9112 3.2"
	t := func(name, target, victim string, w Want) *Vector {
		v := rv(c, name, src, head("GET "+target+" HTTP/1.1", "Host: lb.test"), w)
		v.Victim = victim
		return v
	}
	return []*Vector{
		t("query", "/v?a=1&b=2", "", forward()),
		t("query-question-mark", "/v?foo=bar?baz", "", forward()),
		t("query-pipe", "/v?q=|", "", forward()),
		t("quotes", "/v?foo=\"bar\"", "", forward()),
		t("escaped-space", "/v%20x", "/v x", forward()),
		t("escaped-slash", "/v%2Fx", "/v/x", forward()),
		t("escaped-nul", "/v%00", "/v\x00", either(400)),
		t("escaped-crlf", "/v%0d%0aX-Injected:%201", "/v\r\nX-Injected: 1", either(400)),
		t("raw-utf8", "/v?q=\xce\xb4", "", either(400)),
		t("raw-space", "/v x", "", refuse(400)),
		t("raw-nul", "/v\x00", "", refuse(400)),
		t("raw-del", "/v\x7f", "", refuse(400)),
		t("backslash", "/v?a\\b", "", either(400)),
		t("dot-segments", "/x/../v", "/x/../v", either(400)),
		t("absolute-form", "http://lb.test/v", "", forward().check(hostIs("lb.test"))),
		t("absolute-form-https", "https://lb.test/v", "", either(400)),
		t("absolute-form-query", "http://lb.test/v?x=1", "", forward()),
		t("absolute-form-port", "http://lb.test:8080/v", "", either(400).check(hostIs("lb.test:8080"))),
		t("absolute-form-userinfo", "http://u:p@lb.test/v", "", either(400)),
		{Name: "absolute-form-other-host", Class: c, Source: src + ".2 (the target's host wins over Host; HAProxy refuses a mismatch)",
			Client: []string{head("GET http://other.test/v HTTP/1.1", "Host: lb.test")}, Want: either(400).check(hostIs("other.test"))},
		t("authority-form-get", "lb.test:80", "80", either(400)),
		t("asterisk-get", "*", "*", either(400)),
		{Name: "asterisk-options", Class: c, Source: src + ".4", Victim: "*",
			Client: []string{head("OPTIONS * HTTP/1.1", "Host: lb.test")}, Want: either(400)},
		{Name: "connect-authority", Class: c, Source: src + ".3; llhttp method", Victim: "lb.test:443",
			Client: []string{head("CONNECT lb.test:443 HTTP/1.1", "Host: lb.test:443")}, Want: either(400, 403, 405, 501)},
		t("long-target-9k", "/v?"+strings.Repeat("a", 9000), "", forward()),
		t("long-target-70k", "/v?"+strings.Repeat("a", 70000), "", refuse(400, 414, 431)),
		t("fragment", "/v?x#frag", "", either(400)),
	}
}

// RFC 9112 section 5, RFC 9110 section 5: field lines.
func reqFields() []*Vector {
	c := "req-field"
	src := "RFC 9112 5"
	f := func(name, src string, fields []string, w Want) *Vector {
		return rv(c, name, src, head(append([]string{"GET /v HTTP/1.1", "Host: lb.test"}, fields...)...), w)
	}
	one := func(s string) []string { return []string{s} }
	return []*Vector{
		f("no-colon", src, one("X-A b"), refuse(400)),
		f("space-before-colon", src+".1", one("X-A : b"), refuse(400)),
		f("tab-before-colon", src+".1", one("X-A\t: b"), refuse(400)),
		f("name-invalid-char", "llhttp invalid", one("Fo@: Failure"), refuse(400)),
		f("name-nul", "llhttp invalid", one("Foo\x00test: Bar"), refuse(400)),
		f("name-empty", "llhttp invalid", one(": Bar"), refuse(400)),
		f("name-underscore", "llhttp sample", one("X_Foo: 1"), forward()),
		f("value-nul", "RFC 9110 5.5", one("X-A: 1\x002"), refuse(400)),
		f("value-control", "RFC 9110 5.5", one("X-A: 1\x012"), refuse(400)),
		f("value-del", "RFC 9110 5.5", one("X-A: 1\x7f2"), refuse(400)),
		f("value-vertical-tab", "RFC 9110 5.5", one("X-A: 1\x0b2"), refuse(400)),
		f("value-obs-text", "RFC 9110 5.5; llhttp sample (255 in a value)", one("X-A: caf\xe9 \xff"), forward()),
		f("value-bare-cr", "RFC 9112 2.2", one("X-A: 1\rX-B: 2"), refuse(400)),
		f("value-bare-lf-splits", "llhttp invalid (LF between fields)", one("X-A: 1\nX-B: 2"), either(400)),
		f("empty-value-bare-cr", "llhttp invalid", one("X-A:\rX-B: 2"), refuse(400)),
		f("obs-fold", "RFC 9112 5.2; llhttp (line folding)", []string{"X-A: 1", " 2"}, either(400)),
		f("obs-fold-tab", "RFC 9112 5.2", []string{"X-A: 1", "\t2"}, either(400)),
		f("folded-name", "llhttp invalid (name line folding)", []string{"X-Name", " : value"}, refuse(400)),
		f("leading-space-first-field", "Go readrequest_test (leading space); RFC 9112 2.2", one(" X-A: 1"), refuse(400)),
		f("dummy-cr-line", "llhttp invalid (fields separated by dummy bytes)", one("\rZGET /evil: HTTP/1.1"), refuse(400)),
		f("corrupted-connection", "llhttp invalid", one("Connection\r\x1b\x35\xd5eep-Alive"), refuse(400)),
		f("long-value-20k", src+" (HAProxy: 16 KiB buffer)", one("X-A: "+strings.Repeat("a", 20000)), either(400, 431)),
		f("long-name", src, one(strings.Repeat("X", 300)+": 1"), either(400, 431)),
		f("value-trailing-ows", src, one("X-A: 1 \t "), forward()),
		f("x-forwarded-for-spoofed", "DESIGN 2 (X-Forwarded-For only from trusted proxies)", one("X-Forwarded-For: 1.2.3.4"),
			forward().check(xffIsPeer)),
		f("forwarded-spoofed", "RFC 7239; DESIGN 2", one("Forwarded: for=1.2.3.4"), forward().check(lacks("Forwarded"))),
		f("proxy-authorization", "RFC 9110 11.7.2 (hop-by-hop)", one("Proxy-Authorization: Basic eDp5"), forward()),
		f("keep-alive-field", "RFC 9110 7.6.1", []string{"Connection: keep-alive", "Keep-Alive: timeout=5"}, forward()),
		f("proxy-connection", "RFC 9110 7.6.1", one("Proxy-Connection: keep-alive"), forward()),
		f("te-trailers", "RFC 9110 10.1.4", one("TE: trailers"), forward()),
		f("te-gzip", "RFC 9110 10.1.4", one("TE: gzip"), forward()),
		f("trailer-field-no-body", "RFC 9110 6.6.2", one("Trailer: X-T"), forward()),
	}
}

// RFC 9112 section 3.2: Host.
func reqHost() []*Vector {
	c := "req-host"
	src := "RFC 9112 3.2; RFC 9110 7.2"
	h := func(name string, fields []string, w Want) *Vector {
		return rv(c, name, src, head(append([]string{"GET /v HTTP/1.1"}, fields...)...), w)
	}
	return []*Vector{
		h("missing", nil, refuse(400)),
		h("two-same", []string{"Host: lb.test", "Host: lb.test"}, refuse(400)),
		h("two-different", []string{"Host: lb.test", "Host: evil.test"}, refuse(400)),
		h("empty", []string{"Host:"}, either(400)),
		h("with-port", []string{"Host: lb.test:8080"}, forward().check(hostIs("lb.test:8080"))),
		h("ipv6", []string{"Host: [::1]:8080"}, forward().check(hostIs("[::1]:8080"))),
		h("space-inside", []string{"Host: lb test"}, refuse(400)),
		h("tab-inside", []string{"Host: lb\ttest"}, refuse(400)),
		h("slash", []string{"Host: lb.test/evil"}, refuse(400)),
		h("userinfo", []string{"Host: u@lb.test"}, refuse(400)),
		h("comma-list", []string{"Host: lb.test, evil.test"}, refuse(400)),
		h("underscore", []string{"Host: home_0.lb.test"}, forward()),
		h("lowercase-name", []string{"host: lb.test"}, forward()),
		{Name: "http10-no-host", Class: c, Source: src + " (optional in HTTP/1.0)", Client: []string{head("GET /v HTTP/1.0")}, Want: forward()},
		{Name: "absolute-form-empty-host", Class: c, Source: src, Client: []string{head("GET http://lb.test/v HTTP/1.1", "Host:")},
			Want: either(400)},
	}
}

// RFC 9112 section 6.2 and RFC 9110 8.6: Content-Length.
func reqLength() []*Vector {
	c := "req-length"
	src := "RFC 9110 8.6; RFC 9112 6.3"
	cl := func(name, src string, fields []string, body string, w Want) *Vector {
		return rv(c, name, src, head(append([]string{"POST /v HTTP/1.1", "Host: lb.test"}, fields...)...)+body, w)
	}
	one := func(s string) []string { return []string{s} }
	return []*Vector{
		cl("plain", src, one("Content-Length: 5"), "hello", forward()),
		cl("zero", src, one("Content-Length: 0"), "", forward()),
		cl("none-on-post", src+" (no body)", nil, "", forward()),
		cl("zeros", src, one("Content-Length: 000"), "", forward()),
		cl("plus-sign", src+"; PortSwigger", one("Content-Length: +5"), "hello", refuse(400)),
		cl("minus", src, one("Content-Length: -1"), "hello", refuse(400)),
		cl("hex", src, one("Content-Length: 0x5"), "hello", refuse(400)),
		cl("letters", src, one("Content-Length: five"), "hello", refuse(400)),
		cl("empty", "Go response_test (empty Content-Length)", one("Content-Length:"), "hello", refuse(400)),
		cl("space-inside", src, one("Content-Length: 1 0"), "helloworld", refuse(400)),
		cl("list-same", src+" (RFC 9110 8.6 also allows merging it; net/http refuses it, and the oracle with it)", one("Content-Length: 5, 5"), "hello", refuse(400)),
		cl("list-different", src, one("Content-Length: 5, 6"), "hello!", refuse(400)),
		cl("two-different", "llhttp content-length; Go readrequest_test", []string{"Content-Length: 1", "Content-Length: 2"}, "ab", refuse(400)),
		cl("two-different-head", "Go readrequest_test (HEAD with two lengths)", []string{"Content-Length: 4", "Content-Length: 5"}, "12345", refuse(400)),
		cl("overflow", "llhttp content-length (overflow)", one("Content-Length: 1000000000000000000000"), "", refuse(400, 413)),
		cl("tabs", "llhttp content-length (surrounding whitespace)", one("Content-Length:\t5\t"), "hello", forward()),
		cl("cr-for-dash", "llhttp content-length (CR instead of dash)", one("Content\rLength: 5"), "hello", refuse(400)),
		cl("underscore-name", "PortSwigger (a name proxies may read as Content-Length)", one("Content_Length: 5"), "", forward()),
		cl("body-holds-a-request", "PortSwigger (CL.0)", one("Content-Length: 38"), "GET /inner HTTP/1.1\r\nHost: lb.test\r\n\r\n", forward()),
		{Name: "on-get", Class: c, Source: src + " (a GET with a body)", Client: []string{head("GET /v HTTP/1.1", "Host: lb.test", "Content-Length: 5") + "hello"}, Want: forward()},
		{Name: "on-head", Class: c, Source: src, Client: []string{head("HEAD /v HTTP/1.1", "Host: lb.test", "Content-Length: 5") + "hello"}, Want: forward()},
		{Name: "on-delete", Class: c, Source: src, Client: []string{head("DELETE /v HTTP/1.1", "Host: lb.test", "Content-Length: 2") + "ab"}, Want: forward()},
		{Name: "missing-crlf-before-body", Class: c, Source: "llhttp content-length (missing CRLF CRLF)",
			Client: []string{"PUT /v HTTP/1.1\r\nHost: lb.test\r\nContent-Length: 3\r\nabc"}, Want: refuse(400, 408)},
		{Name: "put-64k-body", Class: c, Source: src, Client: []string{head("PUT /v HTTP/1.1", "Host: lb.test", "Content-Length: 65536") + strings.Repeat("p", 65536)}, Want: forward()},
	}
}

// RFC 9112 section 6.1: Transfer-Encoding on requests.
func reqTE() []*Vector {
	c := "req-te"
	src := "RFC 9112 6.1"
	te := func(name, src, value, body string, w Want) *Vector {
		return rv(c, name, src, head("POST /v HTTP/1.1", "Host: lb.test", "Transfer-Encoding: "+value)+body, w)
	}
	body := chunks("hello", " world")
	return []*Vector{
		te("chunked", src, "chunked", body, forward()),
		te("chunked-uppercase", src+" (case-insensitive)", "Chunked", body, forward()),
		te("chunked-ows", src, "  chunked  ", body, forward()),
		te("identity", "llhttp transfer-encoding; Go transfer.go", "identity", "hello", refuse(400, 422, 501)),
		te("gzip-chunked", src+"; llhttp (chunked last; HAProxy: 422)", "gzip, chunked", body, refuse(400, 422, 501)),
		te("chunked-gzip", src+"; llhttp (chunked before other codings)", "chunked, gzip", body, refuse(400, 422, 501)),
		te("chunkedchunked", "llhttp transfer-encoding", "chunkedchunked", body, refuse(400, 501)),
		te("xchunked", "PortSwigger (TE.TE)", "xchunked", body, refuse(400, 501)),
		te("chunked-comma", src, "chunked,", body, refuse(400, 501)),
		te("quoted", "PortSwigger (TE.TE)", "\"chunked\"", body, refuse(400, 501)),
		te("vertical-tab", "PortSwigger (TE.TE)", "\x0bchunked", body, refuse(400, 501)),
		te("nul-after", "PortSwigger (TE.TE)", "chunked\x00", body, refuse(400, 501)),
		te("empty", "llhttp transfer-encoding (empty)", "", body, refuse(400, 501)),
		te("pigeons", "llhttp transfer-encoding (unknown coding)", "pigeons", "", refuse(400, 501)),
		{Name: "two-fields", Class: c, Source: src + "; llhttp (duplicate transfer-encoding)",
			Client: []string{head("POST /v HTTP/1.1", "Host: lb.test", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked") + body}, Want: refuse(400, 501)},
		{Name: "two-fields-gzip-last", Class: c, Source: src + "; llhttp",
			Client: []string{head("POST /v HTTP/1.1", "Host: lb.test", "Transfer-Encoding: chunked", "Transfer-Encoding: gzip") + body}, Want: refuse(400, 501)},
		{Name: "space-before-colon", Class: c, Source: "PortSwigger (TE.TE)",
			Client: []string{head("POST /v HTTP/1.1", "Host: lb.test", "Transfer-Encoding : chunked") + body}, Want: refuse(400)},
		{Name: "obs-fold-value", Class: c, Source: "PortSwigger (TE.TE); RFC 9112 5.2",
			Client: []string{head("POST /v HTTP/1.1", "Host: lb.test", "Transfer-Encoding:", " chunked") + body}, Want: either(400, 501)},
		{Name: "obs-fold-after-value", Class: c, Source: "llhttp transfer-encoding (obs-fold after chunked)",
			Client: []string{head("POST /v HTTP/1.1", "Host: lb.test", "Transfer-Encoding: chunked", "  abc") + body}, Want: refuse(400, 501)},
		{Name: "underscore-name", Class: c, Source: "PortSwigger (a name proxies may read as Transfer-Encoding)",
			Client: []string{head("POST /v HTTP/1.1", "Host: lb.test", "Transfer_Encoding: chunked", "Content-Length: 0")}, Want: forward()},
		{Name: "http10", Class: c, Source: src + " (an HTTP/1.0 message with Transfer-Encoding has faulty framing)",
			Client: []string{head("POST /v HTTP/1.0", "Transfer-Encoding: chunked") + body}, Want: either(400).closing()},
		{Name: "on-get", Class: c, Source: src, Client: []string{chunkedReq("GET", "/v", chunks("hi"))}, Want: forward()},
		{Name: "bare-lf-before-te", Class: c, Source: "llhttp invalid (fields separated by LF)",
			Client: []string{"POST /v HTTP/1.1\r\nHost: lb.test\r\nX:x\nTransfer-Encoding: chunked\r\n\r\n1\r\nA\r\n0\r\n\r\n"}, Want: either(400)},
		{Name: "cr-before-te", Class: c, Source: "llhttp invalid (fields separated by CR)",
			Client: []string{"POST /v HTTP/1.1\r\nHost: lb.test\r\nX:\rTransfer-Encoding: chunked\r\n\r\n1\r\nA\r\n0\r\n\r\n"}, Want: refuse(400)},
	}
}

// RFC 9112 section 7.1: chunked request bodies.
func reqChunks() []*Vector {
	c := "req-chunk"
	src := "RFC 9112 7.1"
	ch := func(name, src, body string, w Want) *Vector {
		return rv(c, name, src, chunkedReq("POST", "/v", body), w)
	}
	return []*Vector{
		ch("lowercase-size", "llhttp transfer-encoding", "a\r\n0123456789\r\n0\r\n\r\n", forward()),
		ch("uppercase-size", "llhttp transfer-encoding", "A\r\n0123456789\r\n0\r\n\r\n", forward()),
		ch("leading-zeros", src, "0005\r\nhello\r\n0\r\n\r\n", forward()),
		ch("last-chunk-000", "llhttp transfer-encoding", "5\r\nhello\r\n000\r\n\r\n", forward()),
		ch("extensions", "llhttp transfer-encoding (chunk extensions)", "5;ilovew3;somuchlove=aretheseparametersfor\r\nhello\r\n6;blahblah;blah\r\n world\r\n0\r\n\r\n", forward()),
		ch("extension-quoted", "llhttp transfer-encoding (quoting)", "5;a=\"b;c\"\r\nhello\r\n0\r\n\r\n", forward()),
		ch("extension-unbalanced-quote", "llhttp transfer-encoding (unbalanced quoting)", "5;a=\"b;c\r\nhello\r\n0\r\n\r\n", either(400)),
		ch("extension-empty", "llhttp transfer-encoding (no extension after semicolon)", "2;\r\naa\r\n0\r\n\r\n", either(400)),
		ch("trailers", "llhttp transfer-encoding (trailing fields)", "5\r\nhello\r\n0\r\nVary: *\r\nContent-Type: text/plain\r\n\r\n", forward()),
		ch("size-junk", "llhttp transfer-encoding (no semicolon before extensions)", "2 erfrferferf\r\naa\r\n0 rrrr\r\n\r\n", refuse(400)),
		ch("size-trailing-space", "llhttp transfer-encoding (space after chunk header)", "5 \r\nhello\r\n0\r\n\r\n", either(400)),
		ch("size-leading-space", src, " 5\r\nhello\r\n0\r\n\r\n", refuse(400)),
		ch("size-0x", src, "0x5\r\nhello\r\n0\r\n\r\n", refuse(400)),
		ch("size-negative", src, "-5\r\nhello\r\n0\r\n\r\n", refuse(400)),
		ch("size-empty", src, "\r\nhello\r\n0\r\n\r\n", refuse(400)),
		ch("size-bare-lf", "RFC 9112 7.1; Go chunked.go (bare LF)", "5\nhello\r\n0\r\n\r\n", refuse(400)),
		ch("all-bare-lf", "llhttp invalid (only LFs)", "5\nhello\n0\n\n", refuse(400)),
		ch("size-cr-cr", "llhttp transfer-encoding (chunk header not ended by CRLF)", "5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\n", refuse(400)),
		ch("data-too-long", "llhttp transfer-encoding (chunk data not ended by CRLF)", "5\r\nABCDE0\r\n\r\n", refuse(400)),
		ch("data-bare-lf-after", src, "5\r\nhello\n0\r\n\r\n", refuse(400)),
		ch("trailer-no-colon", src, "5\r\nhello\r\n0\r\nnocolon\r\n\r\n", refuse(400)),
		ch("trailer-content-length", src+" (framing fields are not trailers)", "5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n", either(400)),
		ch("extension-control-byte", src, "5;a=\x01\r\nhello\r\n0\r\n\r\n", either(400)),
		ch("many-small-chunks", src, chunks(strings.Split("the quick brown fox jumps over the lazy dog", " ")...), forward()),
		ch("big-chunk-100k", src, chunks(strings.Repeat("z", 100000)), forward()),
	}
}

// RFC 9112 section 9 and RFC 9110 7.6.1: connection options, persistence.
func reqConnection() []*Vector {
	c := "req-conn"
	src := "RFC 9112 9.3, 9.6; RFC 9110 7.6.1"
	return []*Vector{
		rv(c, "close", src, head("GET /v HTTP/1.1", "Host: lb.test", "Connection: close"), forward()),
		rv(c, "close-then-pipelined", src+" (nothing after close is processed)",
			head("GET /v HTTP/1.1", "Host: lb.test", "Connection: close")+get("/z"), forward()),
		rv(c, "http10-then-pipelined", src, head("GET /v HTTP/1.0")+get("/z"), forward()),
		rv(c, "http10-keep-alive-then-pipelined", src, head("GET /v HTTP/1.0", "Connection: keep-alive")+get("/z"), forward()),
		rv(c, "keep-alive-and-close", src, head("GET /v HTTP/1.1", "Host: lb.test", "Connection: keep-alive, close")+get("/z"), forward()),
		rv(c, "close-uppercase", src, head("GET /v HTTP/1.1", "Host: lb.test", "Connection: CLOSE")+get("/z"), forward()),
		rv(c, "close-in-second-field", src, head("GET /v HTTP/1.1", "Host: lb.test", "Connection: keep-alive", "Connection: close")+get("/z"), forward()),
		rv(c, "names-x-fields", src, head("GET /v HTTP/1.1", "Host: lb.test", "Connection: X-A, X-B", "X-A: 1", "X-B: 2"),
			forward().check(func(s *seen) string { return lacks("X-A")(s) + lacks("X-B")(s) })),
		rv(c, "names-x-forwarded-for", src+" (a hop-by-hop trick to drop the proxy's field)",
			head("GET /v HTTP/1.1", "Host: lb.test", "Connection: X-Forwarded-For"), forward().check(xffIsPeer)),
		rv(c, "upgrade-websocket", "RFC 9110 7.8", head("GET /v HTTP/1.1", "Host: lb.test", "Connection: Upgrade", "Upgrade: websocket",
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"), forward()),
		rv(c, "upgrade-h2c", "RFC 9110 7.8", head("GET /v HTTP/1.1", "Host: lb.test", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
			"HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA"), forward()),
		rv(c, "upgrade-without-connection", "RFC 9110 7.8", head("GET /v HTTP/1.1", "Host: lb.test", "Upgrade: websocket"), forward()),
		{Name: "h2-preface", Class: c, Source: "RFC 9113 3.4 (HTTP/2 prior knowledge on an HTTP/1 port)", Victim: "*",
			Client: []string{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"}, Want: either(400, 505)},
	}
}

// RFC 9110 10.1.1: Expect.
func reqExpect() []*Vector {
	c := "req-expect"
	src := "RFC 9110 10.1.1"
	return []*Vector{
		rv(c, "100-continue-with-body", src, head("POST /v HTTP/1.1", "Host: lb.test", "Expect: 100-continue", "Content-Length: 5")+"hello", forward()),
		rv(c, "100-continue-no-body", src, head("GET /v HTTP/1.1", "Host: lb.test", "Expect: 100-continue"), forward()),
		rv(c, "100-continue-uppercase", src, head("POST /v HTTP/1.1", "Host: lb.test", "Expect: 100-Continue", "Content-Length: 5")+"hello", forward()),
		rv(c, "100-continue-http10", src+" (ignored in HTTP/1.0)", head("POST /v HTTP/1.0", "Expect: 100-continue", "Content-Length: 5")+"hello", forward()),
		rv(c, "100-continue-chunked", src, chunkedReq("POST", "/v", chunks("hello"), "Expect: 100-continue"), forward()),
		rv(c, "unknown-expectation", src+" (417, or ignore it)", head("GET /v HTTP/1.1", "Host: lb.test", "Expect: x-magic"), either(417)),
	}
}

// RFC 9112 section 9.3.2: pipelining.
func reqPipeline() []*Vector {
	c := "req-pipeline"
	src := "RFC 9112 9.3.2; llhttp pipelining"
	return []*Vector{
		rv(c, "three-gets", src, get("/a")+get("/v")+get("/z"), forward()),
		rv(c, "get-post-get", src, get("/a")+post("/v", "hello")+get("/z"), forward()),
		rv(c, "head-then-get", src, head("HEAD /v HTTP/1.1", "Host: lb.test")+get("/z"), forward()),
		rv(c, "post-crlf-get", src+"; Go server.go (CRLF after a POST)", post("/v", "hello")+"\r\n"+get("/z"), forward()),
		rv(c, "twenty-gets", src, func() string {
			var b strings.Builder
			for i := range 20 {
				b.WriteString(get("/p" + string(rune('a'+i))))
			}
			return b.String() + get("/v")
		}(), forward()),
		rv(c, "chunked-then-get", src, chunkedReq("POST", "/v", chunks("hello"))+get("/z"), forward()),
		rv(c, "malformed-in-the-middle", src, get("/a")+"GET /b c d\r\nHost: lb.test\r\n\r\n"+get("/z"), refuse(400)),
		rv(c, "http10-in-the-middle", src, get("/a")+head("GET /v HTTP/1.0")+get("/z"), forward()),
		rv(c, "big-bodies", src, post("/a", strings.Repeat("a", 5000))+post("/v", strings.Repeat("b", 5000))+get("/z"), forward()),
		{Name: "split-everywhere", Class: c, Source: src, Trickle: time.Microsecond,
			Client: []string{get("/v") + post("/z", "abc")}, Want: forward()},
	}
}

// PortSwigger's request smuggling techniques: CL.TE, TE.CL, TE.TE, CL.0.
func reqSmuggle() []*Vector {
	c := "req-smuggle"
	src := "PortSwigger request smuggling"
	return []*Vector{
		rv(c, "cl-te", src+" (CL.TE)", head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: 13", "Transfer-Encoding: chunked")+"0\r\n\r\nSMUGGLED", either(400).closing()),
		rv(c, "te-cl", src+" (TE.CL)", head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: 3", "Transfer-Encoding: chunked")+"8\r\nSMUGGLED\r\n0\r\n\r\n", either(400).closing()),
		rv(c, "te-cl-get-inside", src+" (TE.CL)", head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: 4", "Transfer-Encoding: chunked")+
			chunks(get("/smuggled")), either(400).closing()),
		rv(c, "te-te-xchunked-cl", src+" (TE.TE)", head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: 4", "Transfer-Encoding: xchunked")+"1\r\nZ\r\n0\r\n\r\n", refuse(400, 501)),
		rv(c, "te-te-two-fields-cl", src+" (TE.TE)", head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: 4", "Transfer-Encoding: chunked", "Transfer-Encoding: x")+"1\r\nZ\r\n0\r\n\r\n", refuse(400, 501)),
		rv(c, "te-te-space-before-colon-cl", src+" (TE.TE)", head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: 4", "Transfer-Encoding : chunked")+"1\r\nZ\r\n0\r\n\r\n", refuse(400)),
		rv(c, "te-te-tab-value-cl", src+" (TE.TE)", head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: 4", "Transfer-Encoding:\tchunked")+"1\r\nZ\r\n0\r\n\r\n", either(400).closing()),
		rv(c, "te-te-leading-space-cl", src+" (TE.TE)", head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: 4", " Transfer-Encoding: chunked")+"1\r\nZ\r\n0\r\n\r\n", refuse(400)),
		rv(c, "te-te-bare-lf-name-cl", src+" (TE.TE)", "POST /v HTTP/1.1\r\nHost: lb.test\r\nContent-Length: 4\r\nX: X\nTransfer-Encoding: chunked\r\n\r\n1\r\nZ\r\n0\r\n\r\n", either(400).closing()),
		rv(c, "te-te-newline-before-colon-cl", src+" (TE.TE)", "POST /v HTTP/1.1\r\nHost: lb.test\r\nContent-Length: 4\r\nTransfer-Encoding\n: chunked\r\n\r\n1\r\nZ\r\n0\r\n\r\n", refuse(400)),
		rv(c, "te-te-identity-chunked-cl", src+" (TE.TE; HAProxy: 422)", head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: 4", "Transfer-Encoding: identity, chunked")+"1\r\nZ\r\n0\r\n\r\n", refuse(400, 422, 501)),
		rv(c, "cl-cl", src+" (CL.CL)", head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: 6", "Content-Length: 5")+"12345G", refuse(400)),
		rv(c, "cl-0-get-body", src+" (CL.0)", head("GET /v HTTP/1.1", "Host: lb.test", "Content-Length: 32")+"GET /inner HTTP/1.1\r\nX-Ignore: X", forward()),
		rv(c, "cl-obs-fold", src+" (obs-fold in Content-Length)", head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: 5", " 5")+"hello", refuse(400)),
		rv(c, "cl-bare-cr-value", src, head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: 5\r6")+"hello", refuse(400)),
		rv(c, "get-te-smuggle", src+" (GET with a chunked body holding a request)", chunkedReq("GET", "/v", chunks(get("/smuggled"))), forward()),
		rv(c, "missing-cr-between-fields", "llhttp invalid (missing CR between fields)",
			"GET /v HTTP/1.1\r\nHost: lb.test\r\nDummy: x\nContent-Length: 23\r\n\r\nGET /inner HTTP/1.1\r\nDummy: GET /admin HTTP/1.1\r\nHost: lb.test\r\n\r\n", either(400)),
		rv(c, "spaces-before-fields", "llhttp invalid (spaces before fields)",
			"POST /v HTTP/1.1\r\nHost: lb.test\r\nFoo: bar\r\n Content-Length: 38\r\n\r\nGET /inner HTTP/1.1\r\nHost: lb.test\r\n\r\n", either(400)),
		rv(c, "chunk-header-cr-cr", "llhttp transfer-encoding (chunk header not ended by CRLF)",
			"GET /v HTTP/1.1\r\nHost: lb.test\r\nConnection: close \r\nTransfer-Encoding: chunked \r\n\r\n5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\nGET /inner HTTP/1.1 \r\nHost: lb.test\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", refuse(400)),
		rv(c, "chunk-data-unterminated", "llhttp transfer-encoding (chunk data not ended by CRLF)",
			"GET /v HTTP/1.1\r\nHost: lb.test\r\nConnection: close \r\nTransfer-Encoding: chunked \r\n\r\n5\r\nABCDE0\r\n\r\n", refuse(400)),
		rv(c, "absolute-form-host-confusion", src+" (absolute-form versus Host)", head("GET http://evil.test/v HTTP/1.1", "Host: lb.test"),
			either(400).check(hostIs("evil.test"))),
		rv(c, "refill-under-host", refill, slideHost(), forward()),
		rv(c, "refill-under-method", refill, slideMethod(), forward()),
	}
}

// refill is the source of the two vectors below, found while writing this
// corpus: a proxy that parses a head in its read buffer and then reads
// more of the message into the same buffer must not keep slices of the
// head across the read (a bufio.Reader slides its bytes to the front).
const refill = "this suite (a head's fields read after the buffer refilled under them)"

// padded returns a GET for path padded with a field to exactly n bytes.
func padded(path string, n int) string {
	g := head("GET "+path+" HTTP/1.1", "Host: lb.test", "X-Pad: ")
	return head("GET "+path+" HTTP/1.1", "Host: lb.test", "X-Pad: "+strings.Repeat("a", n-len(g)))
}

// place returns n filler bytes with s at offset off.
func place(n, off int, s string, filler string) string {
	b := []byte(strings.Repeat("f", n))
	copy(b, filler)
	copy(b[off:], s)
	return string(b)
}

// slideHost: a GET of 3000 bytes, then a POST whose head has a 60-byte Host
// and whose 6000-byte body holds, 3000 bytes after the Host value, a field
// break and Transfer-Encoding. A stale Host slice put into
// X-Forwarded-Host would smuggle GET /smuggled, which the body holds.
func slideHost() string {
	const sa, n = 3000, 6000
	host := strings.Repeat("h", 60)
	bhead := head("POST /v HTTP/1.1", "Host: "+host, "Content-Length: "+strconv.Itoa(n))
	hostAt := sa + len("POST /v HTTP/1.1\r\nHost: ")
	off := hostAt + sa - (sa + len(bhead))
	inject := "x\r\nTransfer-Encoding: chunked\r\nX-Pad: "
	inject += strings.Repeat("p", len(host)-len(inject))
	start := "0\r\n\r\n" + get("/smuggled") + "GET /tail HTTP/1.1\r\nHost: lb.test\r\nX-Pad: "
	return padded("/a", sa) + bhead + place(n, off, inject, start)
}

// slideMethod: the same shape, with "HEAD" where a stale method slice of
// the POST would read: a proxy that then takes the POST's answer for a
// HEAD's leaves its body on the backend connection.
func slideMethod() string {
	const sa, n = 3000, 6000
	bhead := head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: "+strconv.Itoa(n))
	off := sa + sa - (sa + len(bhead))
	return padded("/a", sa) + bhead + place(n, off, "HEAD", "")
}

// Bounds on heads (DESIGN 6.5; HAProxy: 101 fields, 16 KiB buffer).
func reqLimits() []*Vector {
	c := "req-limit"
	src := "DESIGN 6.5; max_header_bytes 64 KiB"
	big := func(name string, n int, w Want) *Vector {
		return rv(c, name, src, head("GET /v HTTP/1.1", "Host: lb.test", "X-Big: "+strings.Repeat("b", n)), w)
	}
	return []*Vector{
		big("head-16k", 16<<10, either(400, 431)),
		big("head-60k", 60<<10, either(400, 431)),
		big("head-70k", 70<<10, refuse(400, 431)),
		big("head-200k", 200<<10, refuse(400, 431)),
		rv(c, "cookies-100", src, head(append([]string{"GET /v HTTP/1.1", "Host: lb.test"}, manyFields(100, func(i int) string { return "Cookie: c=1" })...)...), either(400, 431)),
		rv(c, "fields-100-long", src, head(append([]string{"GET /v HTTP/1.1", "Host: lb.test"}, manyFields(99, func(i int) string { return "X-F: " + strings.Repeat("f", 100) })...)...), forward()),
	}
}
