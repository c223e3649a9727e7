package h1safety

import (
	"strings"
	"time"
)

// Issue 17's classes 1 to 10, its "less severe" list and the list it
// shares with the reverseproxy forwarder, each with several vectors.
func issueVectors() []*Vector {
	var vs []*Vector
	for _, group := range [][]*Vector{class1(), class2(), class3(), class4(), class5(), class6(),
		class7(), class8(), class9(), class10(), lessSevere(), shared()} {
		vs = append(vs, group...)
	}
	return vs
}

// Class 1: a backend connection goes back to the pool with bytes still
// unread, and the next client gets them as its response. The victim's own
// answer is right; the sentinel and the two clients after it catch a
// poisoned connection.
func class1() []*Vector {
	const src = "issue 17 class 1; DESIGN 6.1, 6.2"
	v := func(name, method, reply string, act *Act) *Vector {
		return &Vector{Name: name, Class: "c1", Source: src, Method: method, Reply: reply, Act: act, Want: relay()}
	}
	late := func(bytes string, then Then) *Act {
		return &Act{Late: bytes, Delay: 20 * time.Millisecond, Then: then}
	}
	return []*Vector{
		v("head-cl-body-is-a-response", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 56\r\n\r\n"+smug, nil),
		v("head-cl-0-then-response", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"+smug, nil),
		v("head-chunked-then-response", "HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+smug, nil),
		v("head-chunked-body-sent", "HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+chunks("hello"), nil),
		v("head-cl-body-comes-late", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 56\r\n\r\n", late(smug, ThenServe)),
		v("204-cl-body", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 56\r\n\r\n"+smug, nil),
		v("204-chunked-body", "GET", "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"+chunks(smug), nil),
		v("204-no-framing-then-response", "GET", "HTTP/1.1 204 No Content\r\n\r\n"+smug, nil),
		v("304-cl-body", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 56\r\n\r\n"+smug, nil),
		v("304-chunked-body", "GET", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"+chunks(smug), nil),
		v("more-bytes-than-cl", "GET", resp("200 OK", "ok")+smug, nil),
		v("more-bytes-than-cl-post", "POST", resp("200 OK", "ok")+smug, nil),
		v("bytes-after-last-chunk", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+chunks("ok")+smug, nil),
		v("bytes-after-trailers", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n"+smug, nil),
		v("crlf-after-response", "GET", resp("200 OK", "ok")+"\r\n", nil),
		v("unsolicited-408-then-close", "GET", resp("200 OK", "ok"),
			late("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", ThenClose)),
		v("unsolicited-408-kept-open", "GET", resp("200 OK", "ok"),
			late("HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n", ThenServe)),
		v("unsolicited-response-on-idle", "GET", resp("200 OK", "ok"), late(smug, ThenServe)),
		v("unsolicited-garbage-on-idle", "GET", resp("200 OK", "ok"), late("garbage\r\n", ThenServe)),
		v("unsolicited-after-head", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 56\r\n\r\n", late(smug, ThenServe)),
		v("interim-then-final-then-extra", "GET", "HTTP/1.1 100 Continue\r\n\r\n"+resp("200 OK", "ok")+smug, nil),
		{Name: "103-with-cl-body", Class: "c1", Source: src + "; a 1xx has no body: the bytes after it are the next response",
			Reply: "HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\n\r\nhello" + resp("200 OK", "ok"), Want: reject()},
		{Name: "100-with-chunked-body", Class: "c1", Source: src + "; a 1xx has no body",
			Reply: "HTTP/1.1 100 Continue\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks("hi") + resp("200 OK", "ok"), Want: reject()},
		// Valid bodiless answers whose framing fields promise a body: the
		// proxy must neither wait for it nor lose the connection's framing.
		v("head-cl-no-body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", nil),
		v("head-chunked-no-body", "HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", nil),
		v("304-cl-no-body", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", nil),
		{Name: "pipelined-after-leftover", Class: "c1", Source: src,
			Client: []string{get("/v") + get("/z")}, Reply: resp("200 OK", "ok") + smug, Want: relay()},
	}
}

// Class 2: a pipelined response is dropped when the next request is handed
// to net/http. The victim goes first; what follows it takes the hand-off.
func class2() []*Vector {
	const src = "issue 17 class 2; DESIGN 6.4"
	v := func(name string, next string, w Want) *Vector {
		return &Vector{Name: name, Class: "c2", Source: src, Client: []string{get("/v") + next}, Want: w}
	}
	return []*Vector{
		v("then-http10", head("GET /z HTTP/1.0"), forward()),
		v("then-http10-keep-alive", head("GET /z HTTP/1.0", "Connection: keep-alive"), forward()),
		v("then-empty-line", "\r\n"+get("/z"), forward()),
		v("then-health", get("/__health__"), forward()),
		v("then-status", get("/__status__")+get("/z"), forward()),
		v("then-expect-100", head("POST /z HTTP/1.1", "Host: lb.test", "Expect: 100-continue", "Content-Length: 2")+"hi", forward()),
		v("then-malformed", "GET /a b c\r\nHost: lb.test\r\n\r\n", forward()),
		v("then-chunked-post", chunkedReq("POST", "/z", chunks("hello")), forward()),
		v("then-upgrade", head("GET /z HTTP/1.1", "Host: lb.test", "Connection: Upgrade", "Upgrade: websocket",
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"), forward()),
		v("then-absolute-form", head("GET http://lb.test/z HTTP/1.1", "Host: lb.test"), forward()),
		v("then-big-head", head("GET /z HTTP/1.1", "Host: lb.test", "Cookie: "+strings.Repeat("c", 9000)), forward()),
		v("then-options-star", head("OPTIONS * HTTP/1.1", "Host: lb.test"), forward()),
		v("then-lowercase-method", head("get /z HTTP/1.1", "Host: lb.test"), forward()),
		later(v("then-bare-lf", "GET /z HTTP/1.1\nHost: lb.test\n\n", forward()), 400),                                                                       // RFC 9112 2.2: a recipient MAY accept a bare LF
		later(v("then-te-and-cl", head("POST /z HTTP/1.1", "Host: lb.test", "Content-Length: 5", "Transfer-Encoding: chunked")+"0\r\n\r\n", forward()), 400), // DESIGN 6.1: refused, or served and closed
		v("then-connection-token", head("GET /z HTTP/1.1", "Host: lb.test", "Connection: X-Drop", "X-Drop: 1"), forward()),
		{Name: "head-then-http10", Class: "c2", Source: src,
			Client: []string{head("HEAD /v HTTP/1.1", "Host: lb.test") + head("GET /z HTTP/1.0")}, Want: forward()},
		{Name: "post-then-http10", Class: "c2", Source: src,
			Client: []string{post("/v", "hello") + head("GET /z HTTP/1.0")}, Want: forward()},
	}
}

// later lets the proxy refuse, with one of codes, the requests after v's
// victim.
func later(v *Vector, codes ...int) *Vector {
	v.LaterMay = codes
	return v
}

// Class 3: a response is withheld while the next pipelined request is
// incomplete. The client sends the rest only once the victim's response
// has come, so a proxy that waits for it never answers.
func class3() []*Vector {
	const src = "issue 17 class 3; DESIGN 6.4"
	v := func(name, first, rest string) *Vector {
		return &Vector{Name: name, Class: "c3", Source: src, Client: []string{first, rest}, Want: forward()}
	}
	z := get("/z")
	return []*Vector{
		v("mid-target", get("/v")+"GET /z", z[len("GET /z"):]),
		v("first-byte", get("/v")+"G", z[1:]),
		v("mid-fields", get("/v")+"GET /z HTTP/1.1\r\nHo", z[len("GET /z HTTP/1.1\r\nHo"):]),
		v("before-last-crlf", get("/v")+"GET /z HTTP/1.1\r\nHost: lb.test\r\n", "\r\n"),
		v("between-cr-and-lf", get("/v")+"GET /z HTTP/1.1\r\nHost: lb.test\r\n\r", "\n"),
		v("after-post", post("/v", "hello")+"GET /z HTT", z[len("GET /z HTT"):]),
		v("after-head", head("HEAD /v HTTP/1.1", "Host: lb.test")+"GET /z", z[len("GET /z"):]),
		v("next-body-incomplete", get("/v")+post("/z", "hello")[:len(post("/z", "hello"))-3], "llo"),
		v("next-chunked-incomplete", get("/v")+chunkedReq("POST", "/z", "5\r\nhel"), "lo\r\n0\r\n\r\n"),
		v("third-incomplete", get("/v")+get("/y")+"GET /z", z[len("GET /z"):]),
	}
}

// Class 4: a request the backend read is sent again. Warm-up requests put
// a connection in the pool first, so the victim rides a reused one.
func class4() []*Vector {
	const src = "issue 17 class 4; DESIGN 6.3"
	v := func(name, method string, act *Act, warm int) *Vector {
		return &Vector{Name: name, Class: "c4", Source: src, Method: method, Act: act, Warm: warm, Want: reject()}
	}
	closeRead, resetRead, closeHead := &Act{Do: CloseAfterRead}, &Act{Do: ResetAfterRead}, &Act{Do: CloseAfterHead}
	return []*Vector{
		v("post-close-after-read-reused", "POST", closeRead, 1),
		v("post-reset-after-read-reused", "POST", resetRead, 1),
		v("post-close-after-head-reused", "POST", closeHead, 1),
		v("post-close-after-read-fresh", "POST", closeRead, 0),
		v("patch-close-after-read-reused", "PATCH", closeRead, 1),
		v("get-close-after-read-reused", "GET", closeRead, 1),
		v("delete-reset-after-read-reused", "DELETE", resetRead, 1),
		{Name: "post-close-after-read-two-backends", Class: "c4", Source: src, Method: "POST", Act: closeRead,
			Warm: 2, Backends: 2, Want: reject()},
		{Name: "post-reset-after-read-two-backends", Class: "c4", Source: src, Method: "POST", Act: resetRead,
			Warm: 2, Backends: 2, Want: reject()},
		{Name: "post-hang", Class: "c4", Source: src, Method: "POST", Act: &Act{Do: HangAfterRead}, Warm: 1,
			Want: rejectWith(504)},
		{Name: "custom-method-close-after-read", Class: "c4", Source: src, Warm: 1, Act: closeRead,
			Client: []string{head("PAY /v HTTP/1.1", "Host: lb.test", "Content-Length: 3") + "abc"}, Want: rejectWith(502)},
		{Name: "post-idempotency-key", Class: "c4", Source: src + "; an Idempotency-Key makes a retry fine", Warm: 1, Act: closeRead,
			Client: []string{post("/v", "abc", "Idempotency-Key: k1")}, Want: rejectWith(502)},
		{Name: "post-big-body-close-after-read", Class: "c4", Source: src, Warm: 1, Act: closeRead,
			Client: []string{post("/v", strings.Repeat("b", 20000))}, Want: rejectWith(502)},
		// The backend closed the pooled connection before the request
		// came: nothing of it was read, so it may go on a new connection.
		{Name: "post-after-idle-close", Class: "c4", Source: src + " (the allowed re-send)", Warm: 1,
			Acts: map[string]*Act{"/warm-0": {Then: ThenClose}}, Client: []string{post("/v", "abc")}, Want: forward()},
	}
}

// Class 5: a backend's Connection field names a framing field. The framing
// must survive (DESIGN 6.5); only the option goes.
func class5() []*Vector {
	const src = "issue 17 class 5; DESIGN 6.5"
	v := func(name, reply string) *Vector {
		return &Vector{Name: name, Class: "c5", Source: src, Reply: reply, Want: relay()}
	}
	return []*Vector{
		v("connection-content-length", "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nhello"),
		v("connection-transfer-encoding", "HTTP/1.1 200 OK\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n"+chunks("hello")),
		v("connection-keep-alive-and-cl", "HTTP/1.1 200 OK\r\nConnection: keep-alive, Content-Length\r\nContent-Length: 5\r\n\r\nhello"),
		v("connection-close-and-cl", "HTTP/1.1 200 OK\r\nConnection: close, content-length\r\nContent-Length: 5\r\n\r\nhello"),
		v("connection-cl-lowercase", "HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\nhello"),
		{Name: "connection-names-x-field", Class: "c5", Source: src + "; RFC 9110 7.6.1",
			Reply: "HTTP/1.1 200 OK\r\nConnection: X-Secret\r\nX-Secret: 1\r\nContent-Length: 2\r\n\r\nok",
			Want:  relay().checkResp(respLacks("X-Secret"))},
		{Name: "request-connection-content-length", Class: "c5", Source: src,
			Client: []string{post("/v", "hello", "Connection: Content-Length")}, Want: forward()},
		{Name: "request-connection-transfer-encoding", Class: "c5", Source: src,
			Client: []string{chunkedReq("POST", "/v", chunks("hello"), "Connection: Transfer-Encoding")}, Want: forward()},
		{Name: "request-connection-host", Class: "c5", Source: src,
			Client: []string{head("GET /v HTTP/1.1", "Host: lb.test", "Connection: Host")}, Want: forward().check(hostIs("lb.test"))},
		{Name: "request-connection-x-field", Class: "c5", Source: src + "; RFC 9110 7.6.1",
			Client: []string{head("GET /v HTTP/1.1", "Host: lb.test", "Connection: X-Secret", "X-Secret: 1")},
			Want:   forward().check(lacks("X-Secret"))},
	}
}

// Class 6: bare CR or LF (and other bytes a strict reader refuses) in a
// backend's head must not reach the client as they are.
func class6() []*Vector {
	const src = "issue 17 class 6; DESIGN 6.5"
	v := func(name, reply string, w Want) *Vector {
		return &Vector{Name: name, Class: "c6", Source: src, Reply: reply, Want: w}
	}
	return []*Vector{
		v("status-line-bare-lf-set-cookie", "HTTP/1.1 200 OK\nSet-Cookie: injected=1\r\nContent-Length: 2\r\n\r\nok", relayOr502()),
		v("status-line-bare-cr-set-cookie", "HTTP/1.1 200 OK\rSet-Cookie: injected=1\r\nContent-Length: 2\r\n\r\nok", relayOr502()),
		v("field-bare-lf", "HTTP/1.1 200 OK\r\nX-A: 1\nX-B: 2\r\nContent-Length: 2\r\n\r\nok", relayOr502()),
		v("field-bare-cr", "HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\nContent-Length: 2\r\n\r\nok", reject()),
		v("field-cr-cr-lf", "HTTP/1.1 200 OK\r\nX-A: 1\r\r\nContent-Length: 2\r\n\r\nok", reject()),
		v("field-nul", "HTTP/1.1 200 OK\r\nX-A: 1\x002\r\nContent-Length: 2\r\n\r\nok", reject()),
		v("obs-fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 2\r\n\r\nok", relayOr502()),
		v("reason-nul", "HTTP/1.1 200 O\x00K\r\nContent-Length: 2\r\n\r\nok", relayOr502()),
		v("reason-control-byte", "HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\n\r\nok", relayOr502()),
		v("space-before-colon", "HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 2\r\n\r\nok", relayOr502()),
		v("cl-space-before-colon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", relayOr502()),
		v("leading-space-first-field", "HTTP/1.1 200 OK\r\n X-A: 1\r\nContent-Length: 2\r\n\r\nok", reject()),
		v("field-without-colon", "HTTP/1.1 200 OK\r\nX-A\r\nContent-Length: 2\r\n\r\nok", reject()),
		v("last-line-bare-lf", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nok", relayOr502()),
	}
}

// Class 7: two Content-Length fields (or one rewritten beside the
// client's) on the forwarded request.
func class7() []*Vector {
	const src = "issue 17 class 7; DESIGN 6.5"
	v := func(name, req string, w Want) *Vector {
		return &Vector{Name: name, Class: "c7", Source: src, Client: []string{req}, Want: w}
	}
	return []*Vector{
		v("http10-cl-leading-zeros", head("POST /v HTTP/1.0", "Content-Length: 003")+"abc", forward()),
		v("http11-cl-leading-zeros", head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: 003")+"abc", forward()),
		v("put-cl-zeros-then-field", head("PUT /v HTTP/1.1", "Host: lb.test", "Content-Length: 003", "Ohai: world")+"abc", forward()),
		v("cl-ows", head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length:  3 ")+"abc", forward()),
		v("cl-duplicate-same", head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: 3", "Content-Length: 3")+"abc", either(400)),
		v("cl-zeros-with-expect", head("POST /v HTTP/1.1", "Host: lb.test", "Expect: 100-continue", "Content-Length: 003")+"abc", forward()),
		v("cl-zeros-big-head", head("POST /v HTTP/1.1", "Host: lb.test", "Cookie: "+strings.Repeat("c", 9000), "Content-Length: 003")+"abc", forward()),
		v("cl-zeros-connection-field", head("POST /v HTTP/1.1", "Host: lb.test", "Connection: X-A", "Content-Length: 003")+"abc", forward()),
		v("http10-cl-0", head("POST /v HTTP/1.0", "Content-Length: 0"), forward()),
		v("http10-cl-zeros-keep-alive", head("POST /v HTTP/1.0", "Connection: keep-alive", "Content-Length: 03")+"abc"+get("/z"), forward()),
	}
}

// Class 8: the proxy's own error answer to HEAD must have no body. The
// sentinel after it reads a body as a broken next response.
func class8() []*Vector {
	const src = "issue 17 class 8; DESIGN 6.6"
	v := func(name, reply string, act *Act, w Want) *Vector {
		return &Vector{Name: name, Class: "c8", Source: src, Method: "HEAD", Reply: reply, Act: act, Want: w}
	}
	return []*Vector{
		v("backend-closes", "", &Act{Do: CloseAfterRead}, reject()),
		v("backend-resets", "", &Act{Do: ResetAfterRead}, reject()),
		v("malformed-answer", "garbage\r\n\r\n", nil, reject()),
		v("cut-off-head", "", &Act{Reply: "HTTP/1.1 200 OK\r\nContent-Le", Then: ThenClose}, reject()),
		v("backend-hangs", "", &Act{Do: HangAfterRead}, rejectWith(504)),
		v("answers-101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n", nil, reject()),
		{Name: "dead-backend", Class: "c8", Source: src, Method: "HEAD", Dead: true, Act: &Act{}, Want: rejectWith(502, 503)},
		{Name: "pipelined-after-502", Class: "c8", Source: src, Act: &Act{Do: CloseAfterRead},
			Client: []string{head("HEAD /v HTTP/1.1", "Host: lb.test") + get("/z")}, Want: reject()},
	}
}

// Class 9: a large request on a pooled connection the backend had closed
// must be sent on a new connection, not answered with 502.
func class9() []*Vector {
	const src = "issue 17 class 9; DESIGN 6.3"
	v := func(name, req string) *Vector {
		w := forward()
		if len(req) > 16<<10 {
			w = either(400, 431) // HAProxy's 16 KiB buffer; never a 502
		}
		return &Vector{Name: name, Class: "c9", Source: src, Warm: 1,
			Acts: map[string]*Act{"/warm-0": {Then: ThenClose}}, Client: []string{req}, Want: w}
	}
	cookie := func(n int) string { return head("GET /v HTTP/1.1", "Host: lb.test", "Cookie: "+strings.Repeat("c", n)) }
	return []*Vector{
		v("small-get", get("/v")),
		v("cookie-5k", cookie(5000)),
		v("cookie-9k", cookie(9000)),
		v("cookie-20k", cookie(20000)),
		v("cookie-60k", cookie(60000)),
		v("post-9k-body", post("/v", strings.Repeat("b", 9000))),
		v("head-9k-cookie", head("HEAD /v HTTP/1.1", "Host: lb.test", "Cookie: "+strings.Repeat("c", 9000))),
	}
}

// Class 10: a backend head with bare LF line ends must be answered at
// once (normalised, or 502), never with a 504 after request_timeout.
func class10() []*Vector {
	const src = "issue 17 class 10; RFC 9112 2.2; DESIGN 6.5"
	v := func(name, method, reply string) *Vector {
		return &Vector{Name: name, Class: "c10", Source: src, Method: method, Reply: reply, Want: relayOr502()}
	}
	return []*Vector{
		v("all-bare-lf", "GET", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok"),
		v("all-bare-lf-more-fields", "GET", "HTTP/1.1 200 OK\nX-A: 1\nX-B: 2\nContent-Length: 2\n\nok"),
		v("all-bare-lf-chunked", "GET", "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\r\nok\r\n0\r\n\r\n"),
		v("all-bare-lf-head", "HEAD", "HTTP/1.1 200 OK\nContent-Length: 2\n\n"),
		v("crlf-then-lf-end", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nok"),
		v("lf-then-crlf-end", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nok"),
		v("bare-lf-no-fields", "GET", "HTTP/1.1 204 No Content\n\n"),
	}
}

// The "less severe" list: slow heads (408), chunk lines with junk after the
// size and trailer lines without a colon (502), invalid %-escapes (400).
func lessSevere() []*Vector {
	const src = "issue 17 less severe"
	slow := func(name, partial string) *Vector {
		return &Vector{Name: name, Class: "less", Source: src + "; DESIGN 6.6 (HAProxy: 408)", Client: []string{partial}, Want: refuse(408)}
	}
	chunkJunk := func(name, body string) *Vector {
		return &Vector{Name: name, Class: "less", Source: src + "; RFC 9112 7.1 (HAProxy: 502)",
			Reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body, Want: relay()}
	}
	target := func(name, t string) *Vector {
		return &Vector{Name: name, Class: "less", Source: src + "; RFC 3986 2.1",
			Client: []string{head("GET "+t+" HTTP/1.1", "Host: lb.test")}, Want: refuse(400)}
	}
	return []*Vector{
		slow("slow-head-fields", "GET /v HTTP/1.1\r\nHost: lb.test\r\n"),
		slow("slow-head-request-line", "GET /v HT"),
		slow("slow-head-one-byte", "G"),
		slow("slow-head-after-response", get("/a")+"GET /v HTTP/1.1\r\n"),
		chunkJunk("chunk-size-junk", "2 junk\r\nok\r\n0\r\n\r\n"),
		chunkJunk("chunk-size-no-semicolon", "2 erfrferferf\r\nok\r\n0 rrrr\r\n\r\n"),
		chunkJunk("chunk-size-0x", "0x2\r\nok\r\n0\r\n\r\n"),
		chunkJunk("chunk-size-plus", "+2\r\nok\r\n0\r\n\r\n"),
		chunkJunk("chunk-size-leading-space", " 2\r\nok\r\n0\r\n\r\n"),
		chunkJunk("trailer-without-colon", "2\r\nok\r\n0\r\nnocolon\r\n\r\n"),
		chunkJunk("trailer-leading-space", "2\r\nok\r\n0\r\n X-T: 1\r\n\r\n"),
		target("escape-short", "/%0"),
		target("escape-not-hex", "/%zz"),
		target("escape-lone-percent", "/v%"),
		target("escape-half-hex", "/a%0g"),
		target("escape-in-query-path", "/%0?x=1"),
	}
}

// Shared with the reverseproxy forwarder: TE with CL keeps the connection
// open; huge chunk sizes are accepted and waited on; header lines are
// unbounded.
func shared() []*Vector {
	const src = "issue 17 shared"
	tecl := func(name, req string) *Vector {
		return &Vector{Name: name, Class: "shared", Source: src + "; RFC 9112 6.1; DESIGN 6.1 (400, or serve and close)",
			Client: []string{req}, Want: either(400).closing()}
	}
	huge := func(name, size string) *Vector {
		return &Vector{Name: name, Class: "shared", Source: src + "; DESIGN 6.5 (400 at once)",
			Client: []string{chunkedReq("POST", "/v", size+"\r\nab")}, Want: refuse(400)}
	}
	lines := func(name string, n int, w Want) *Vector {
		fields := append([]string{"GET /v HTTP/1.1", "Host: lb.test"}, manyFields(n, func(i int) string { return "a:b" })...)
		return &Vector{Name: name, Class: "shared", Source: src + "; DESIGN 6.5 (HAProxy: 101 fields)", Client: []string{head(fields...)}, Want: w}
	}
	return []*Vector{
		tecl("te-then-cl", chunkedReq("POST", "/v", "0\r\n\r\n", "Content-Length: 5")),
		tecl("cl-then-te", head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: 5", "Transfer-Encoding: chunked")+"0\r\n\r\n"),
		tecl("te-cl-smuggled-get", head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: 40", "Transfer-Encoding: chunked")+
			"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: lb.test\r\n\r\n"),
		tecl("te-cl-then-pipelined", chunkedReq("POST", "/v", chunks("hi"), "Content-Length: 2")+get("/z")),
		tecl("te-cl-http10", head("POST /v HTTP/1.0", "Content-Length: 5", "Transfer-Encoding: chunked")+"0\r\n\r\n"),
		tecl("te-cl-zero-length", chunkedReq("POST", "/v", chunks("hello"), "Content-Length: 0")),
		huge("chunk-size-16-f", "ffffffffffffffff"),
		huge("chunk-size-2-63", "8000000000000000"),
		huge("chunk-size-17-digits", "10000000000000000"),
		lines("fields-10000", 10000, refuse(400, 431)),
		lines("fields-1000", 1000, refuse(400, 431)),
		lines("fields-150", 150, either(400, 431)),
		lines("fields-99", 99, forward()),
	}
}
