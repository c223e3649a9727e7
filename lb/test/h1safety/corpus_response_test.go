package h1safety

import (
	"fmt"
	"strings"
	"time"
)

// The response side: what a backend answers. Sources: RFC 9112 sections 4
// to 7, llhttp's test/response cases, Go's response_test.go and
// chunked_test.go, HAProxy's handling of malformed backend answers (502).
func responseVectors() []*Vector {
	var vs []*Vector
	for _, group := range [][]*Vector{respStatus(), respFields(), respLength(), respTE(), respChunks(),
		respBodiless(), respConnection(), respInterim(), respFaults(), respPieces()} {
		vs = append(vs, group...)
	}
	return vs
}

// pv is a response vector: the backend answers GET /v with reply.
func pv(class, name, src, reply string, w Want) *Vector {
	return &Vector{Name: name, Class: class, Source: src, Reply: reply, Want: w}
}

// RFC 9112 section 4: the status line.
func respStatus() []*Vector {
	c := "resp-status"
	src := "RFC 9112 4"
	st := func(name, src, line string, w Want) *Vector {
		return pv(c, name, src, line+"\r\nContent-Length: 2\r\n\r\nok", w)
	}
	return []*Vector{
		st("plain", src, "HTTP/1.1 200 OK", relay()),
		st("no-reason", "llhttp sample (no reason phrase)", "HTTP/1.1 200", relay()),
		st("empty-reason", "llhttp sample (empty reason after space)", "HTTP/1.1 200 ", relay()),
		st("reason-spaces", src, "HTTP/1.1 200 All  Very   Fine", relay()),
		st("reason-obs-text", "llhttp sample (non-ASCII in the status line)", "HTTP/1.1 500 Ori\xc3\xabntatieprobleem", relay()),
		st("status-404", src, "HTTP/1.1 404 Not Found", relay()),
		st("status-599", "RFC 9110 15", "HTTP/1.1 599 Custom", relay()),
		st("http10", src, "HTTP/1.0 200 OK", relay()),
		st("http12", "RFC 9112 2.3; Go response_test (HTTP/1.2)", "HTTP/1.2 200 OK", relayOr502()),
		st("status-999", "RFC 9110 15 (100-599: a client treats others as 5xx); Go response_test (999)", "HTTP/1.1 999 Done", relayOr502()),
		st("status-000", "Go response_test (000); HAProxy refuses", "HTTP/1.1 000 OK", reject()),
		st("status-099", "RFC 9110 15", "HTTP/1.1 099 Low", reject()),
		st("status-4-digits", "Go response_test (1000)", "HTTP/1.1 2000 OK", reject()),
		st("status-2-digits", "Go response_test (20); llhttp invalid (one digit)", "HTTP/1.1 20 OK", reject()),
		st("status-hex", "Go response_test (0x12d)", "HTTP/1.1 0x12d Moved", reject()),
		st("status-negative", "Go response_test (-200)", "HTTP/1.1 -200 OK", reject()),
		st("version-2.0", "Go response_test (HTTP/2.0)", "HTTP/2.0 200 OK", relayOr502()),
		st("version-0.9", "llhttp sample (HTTP/0.9)", "HTTP/0.9 200 OK", relayOr502()),
		st("version-5.6", "llhttp invalid", "HTTP/5.6 200 OK", relayOr502()),
		st("version-01.1", "llhttp invalid (extra digit in major)", "HTTP/01.1 200 OK", reject()),
		st("version-1.01", "llhttp invalid (extra digit in minor)", "HTTP/1.01 200 OK", reject()),
		st("version-lowercase", "Go response_test (http/1.1)", "http/1.1 200 OK", reject()),
		st("version-no-minor", "Go response_test (HTTP/1)", "HTTP/1 200 OK", reject()),
		st("protocol-ice", "llhttp sample (ICE)", "ICE/1.1 200 OK", reject()),
		st("protocol-rtsp", "llhttp sample (RTSP)", "RTSP/1.1 200 OK", reject()),
		st("protocol-htp", "llhttp invalid (incomplete protocol)", "HTP/1.1 200 OK", reject()),
		st("protocol-httper", "llhttp sample (invalid start)", "HTTPER/1.1 200 OK", reject()),
		st("tab-after-version", "llhttp invalid", "HTTP/1.1\t200 OK", reject()),
		st("two-spaces-after-version", "llhttp invalid", "HTTP/1.1  200 OK", relayOr502()),
		st("two-spaces-before-reason", "llhttp invalid (extra space before the reason)", "HTTP/1.1 200  OK", relay()),
		st("leading-space", src, " HTTP/1.1 200 OK", reject()),
		pv(c, "leading-crlf", "llhttp sample (response starting with CRLF)", "\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", reject()),
		pv(c, "leading-cr-tab", "llhttp invalid (CR before the response)", "\rHTTP/1.1\t200 OK\r\nContent-Length: 2\r\n\r\nok", reject()),
		pv(c, "status-line-only-then-close", "llhttp sample (no headers and no body)", "HTTP/1.1 404 Not Found\r\n\r\n", relay()),
	}
}

// RFC 9112 section 5 and RFC 9110 section 5: fields.
func respFields() []*Vector {
	c := "resp-field"
	src := "RFC 9112 5"
	fv := func(name, src string, fields []string, w Want) *Vector {
		lines := append([]string{"HTTP/1.1 200 OK"}, fields...)
		return pv(c, name, src, head(append(lines, "Content-Length: 2")...)+"ok", w)
	}
	one := func(s string) []string { return []string{s} }
	return []*Vector{
		fv("x-fields", src, []string{"X-A: 1", "X-B: two words", "X-C:\t tabbed"}, relay()),
		fv("underscore-name", "llhttp sample (underscore in a name)", one("X_Imp: v7;x;114750856"), relay()),
		fv("odd-names", "llhttp sample (names starting with . and _)", []string{".et-Cookie: a=b", "_eep-Alive: timeout=45"}, relay()),
		fv("space-in-name", "llhttp sample (spaces in a name)", one("en-US Content-Type: text/xml"), relayOr502()),
		fv("empty-name", src, one(": empty"), reject()),
		fv("name-nul", src, one("X-\x00A: 1"), reject()),
		fv("value-control", "RFC 9110 5.5", one("X-A: 1\x012"), reject()),
		fv("value-del", "RFC 9110 5.5", one("X-A: 1\x7f2"), reject()),
		fv("value-obs-text", "RFC 9110 5.5", one("X-A: caf\xe9"), relay()),
		fv("value-empty", "llhttp sample (empty value)", one("X-Pragma: "), relay()),
		fv("value-trailing-ows", src, one("X-A: 1 \t "), relay()),
		fv("duplicate-x-fields", "RFC 9110 5.3", []string{"X-A: 1", "X-A: 2", "Set-Cookie: a=1", "Set-Cookie: b=2"}, relay()),
		fv("proxy-connection", "llhttp connection (Proxy-Connection)", one("Proxy-Connection: close"), relay()),
		fv("keep-alive-field", "RFC 9110 7.6.1", []string{"Connection: keep-alive", "Keep-Alive: timeout=5"}, relay()),
		fv("upgrade-on-200", "llhttp connection (200 with Upgrade)", []string{"Connection: upgrade", "Upgrade: h2c"}, relay()),
		fv("trailer-field-on-cl", "RFC 9110 6.6.2", one("Trailer: X-T"), relay()),
		fv("fields-100", "HAProxy (101 fields)", manyFields(98, func(i int) string { return fmt.Sprintf("X-F%d: %d", i, i) }), relay()),
		fv("fields-300", "HAProxy (101 fields)", manyFields(300, func(i int) string { return fmt.Sprintf("X-F%d: %d", i, i) }), relayOr502()),
		fv("head-20k", "HAProxy (16 KiB buffer)", one("X-Big: "+strings.Repeat("b", 20000)), relayOr502()),
		fv("head-12k", "HAProxy (16 KiB buffer)", one("X-Big: "+strings.Repeat("b", 12000)), relay()),
		fv("head-100k", "HAProxy (16 KiB buffer)", one("X-Big: "+strings.Repeat("b", 100000)), relayOr502()),
	}
}

// RFC 9112 section 6.3 and RFC 9110 8.6: Content-Length on responses.
func respLength() []*Vector {
	c := "resp-length"
	src := "RFC 9112 6.3"
	return []*Vector{
		pv(c, "ows", "llhttp sample (Google 301: spaces around the length)", "HTTP/1.1 301 Moved\r\nLocation: /\r\nContent-Length:  2  \r\n\r\nok", relay()),
		pv(c, "tabs", "llhttp content-length (tabs)", "HTTP/1.1 200 OK\r\nContent-Length:\t2\t\r\n\r\nok", relay()),
		pv(c, "zero", src, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", relay()),
		pv(c, "leading-zeros", src, "HTTP/1.1 200 OK\r\nContent-Length: 002\r\n\r\nok", relay()),
		pv(c, "two-same", "Go response_test (identical lengths)", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", relayOr502()),
		pv(c, "two-different", "Go response_test (multiple lengths)", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 2\r\n\r\nok", reject()),
		pv(c, "list-same", src, "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", reject()),
		pv(c, "plus-sign", src, "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", reject()),
		pv(c, "negative", src, "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok", reject()),
		pv(c, "hex", src, "HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nok", reject()),
		pv(c, "empty", "Go response_test (empty Content-Length)", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nok", reject()),
		pv(c, "overflow", "llhttp content-length (overflow)", "HTTP/1.1 200 OK\r\nContent-Length: 100000000000000000000\r\n\r\nok", reject()),
		pv(c, "longer-than-body-then-close", src+" (incomplete message)", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok", relay()),
		pv(c, "no-length-body-until-close", "llhttp sample (no Content-Length, no Transfer-Encoding)", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello world", relay()),
		pv(c, "no-length-connection-close", "llhttp content-length (body without Content-Length)", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n<xml>body</xml>", relay()),
		pv(c, "content-length-x", "llhttp content-length (Content-Length-X)", "HTTP/1.1 200 OK\r\nContent-Length-X: 0\r\nTransfer-Encoding: chunked\r\n\r\n"+chunks("OK"), relay()),
		pv(c, "big-body-1m", src, resp("200 OK", strings.Repeat("x", 1<<20)), relay()),
		{Name: "post-victim", Class: c, Source: src, Method: "POST", Reply: resp("201 Created", "made"), Want: relay()},
	}
}

// RFC 9112 section 6.1: Transfer-Encoding on responses.
func respTE() []*Vector {
	c := "resp-te"
	src := "RFC 9112 6.1"
	te := func(name, src, value, body string, w Want) *Vector {
		return pv(c, name, src, "HTTP/1.1 200 OK\r\nTransfer-Encoding: "+value+"\r\n\r\n"+body, w)
	}
	body := chunks("hello", " world")
	return []*Vector{
		te("chunked", src, "chunked", body, relay()),
		te("chunked-uppercase", src, "Chunked", body, relay()),
		te("chunked-ows", src, " chunked ", body, relay()),
		te("chunked-comma-deflate", "llhttp transfer-encoding (chunked before another coding)", "chunked, deflate", "World", reject()),
		te("deflate-chunked", src+" (chunked last; net/http reads no other coding)", "deflate, chunked", body, reject()),
		te("chunkedchunked", "llhttp transfer-encoding (chunkedchunked)", "chunkedchunked", body, reject()),
		te("identity", src, "identity", "hello", reject()),
		pv(c, "two-fields", "llhttp transfer-encoding (chunked not last)", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\nWorld", reject()),
		pv(c, "two-fields-chunked", "Go transfer.go (too many transfer encodings)", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"+body, reject()),
		pv(c, "te-and-cl", src+" (Transfer-Encoding overrides Content-Length)", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n"+body, relay()),
		pv(c, "cl-and-te", src, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"+body, relay()),
		pv(c, "http10-chunked", src+" (an HTTP/1.0 message with Transfer-Encoding has faulty framing)", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+body, relayOr502()),
		pv(c, "obs-fold-after-chunked", "llhttp transfer-encoding (obs-fold after chunked)", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n  abc\r\n\r\n"+body, reject()),
		pv(c, "amazon-301", "llhttp sample (amazon.com)", "HTTP/1.1 301 MovedPermanently\r\nServer: Server\r\nLocation: http://lb.test/\r\nVary: Accept-Encoding,User-Agent\r\nContent-Type: text/html; charset=ISO-8859-1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n\n\r\n0\r\n\r\n", relay()),
	}
}

// RFC 9112 section 7.1: chunked response bodies.
func respChunks() []*Vector {
	c := "resp-chunk"
	src := "RFC 9112 7.1"
	ch := func(name, src, body string, w Want) *Vector {
		return pv(c, name, src, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+body, w)
	}
	return []*Vector{
		ch("extensions", "llhttp transfer-encoding (chunk extensions)", "5;ilovew3;somuchlove=aretheseparametersfor\r\nhello\r\n6;blahblah;blah\r\n world\r\n0\r\n\r\n", relay()),
		ch("extension-quoted", "llhttp transfer-encoding (quoting)", "5;ilovew3=\"I love; extensions\";somuchlove=\"aretheseparametersfor\";blah;foo=bar\r\nhello\r\n0\r\n\r\n", relay()),
		ch("extension-unbalanced-quote", "llhttp transfer-encoding (unbalanced quoting)", "5;a=\"abc\";b=\"def; ghi\r\nhello\r\n0\r\n\r\n", relayOr502()),
		ch("extension-empty", "llhttp transfer-encoding (no extension after semicolon)", "2;\r\naa\r\n0\r\n\r\n", relayOr502()),
		ch("size-trailing-spaces", "llhttp transfer-encoding (trailing space)", "25  \r\nThis is the data in the first chunk\r\n\r\n1C\r\nand this is the second one\r\n\r\n0  \r\n\r\n", relayOr502()),
		ch("size-uppercase", src, "A\r\n0123456789\r\n0\r\n\r\n", relay()),
		ch("size-leading-zeros", src, "0005\r\nhello\r\n0000\r\n\r\n", relay()),
		ch("empty-body", src, "0\r\n\r\n", relay()),
		ch("trailers", src+".2", "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n", relay()),
		ch("size-bare-lf", "Go chunked.go (bare LF)", "5\nhello\r\n0\r\n\r\n", relay()),
		ch("all-bare-lf", "llhttp invalid (only LFs)", "5\nhello\n0\n\n", relay()),
		ch("data-longer-than-size", src, "3\r\nhello\r\n0\r\n\r\n", relay()),
		ch("data-no-crlf", src, "5\r\nhello0\r\n\r\n", relay()),
		ch("size-16-f", "issue 17 (ffffffffffffffff)", "ffffffffffffffff\r\nhello", relay()),
		ch("size-17-digits", "Go chunked.go (chunk length too large)", "10000000000000000\r\nhello", relay()),
		ch("size-negative", src, "-5\r\nhello\r\n0\r\n\r\n", relay()),
		ch("missing-last-chunk", "llhttp transfer-encoding (missing last chunk)", "5\r\nhello\r\n", relay()),
		ch("cut-in-chunk", src+" (incomplete message)", "a\r\nhello", relay()),
		ch("trailer-bare-lf", src, "5\r\nhello\r\n0\r\nX-T: 1\n\r\n", relayOr502()),
		ch("many-chunks", src, chunks(strings.Split(strings.Repeat("abcdefgh", 64), "h")...), relay()),
	}
}

// RFC 9112 section 6.3 rules 1 and 2: bodiless answers.
func respBodiless() []*Vector {
	c := "resp-bodiless"
	src := "RFC 9112 6.3; DESIGN 6.1"
	return []*Vector{
		pv(c, "204", src, "HTTP/1.1 204 No Content\r\n\r\n", relay()),
		pv(c, "204-close", "llhttp connection (204 with keep-alive disabled)", "HTTP/1.1 204 No content\r\nConnection: close\r\n\r\n", relay()),
		pv(c, "304", src, "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", relay()),
		pv(c, "304-te-no-body", "llhttp connection (304 with Transfer-Encoding)", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", relay()),
		pv(c, "205-cl-0", "RFC 9110 15.3.6", "HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n", relay()),
		{Name: "head-200-cl", Class: c, Source: src, Method: "HEAD", Reply: "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", Want: relay()},
		{Name: "head-404-no-framing", Class: c, Source: src, Method: "HEAD", Reply: "HTTP/1.1 404 Not Found\r\n\r\n", Want: relay()},
		{Name: "head-http10", Class: c, Source: src, Method: "HEAD", Reply: "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", Want: relay()},
		{Name: "http10-keep-alive-204", Class: c, Source: "llhttp connection (HTTP/1.0 keep-alive 204)",
			Reply: "HTTP/1.0 204 No content\r\nConnection: keep-alive\r\n\r\n", Want: relay()},
	}
}

// RFC 9112 section 9: persistence on the backend side.
func respConnection() []*Vector {
	c := "resp-conn"
	src := "RFC 9112 9.3, 9.6"
	return []*Vector{
		pv(c, "close-with-cl", src, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", relay()),
		pv(c, "close-with-cl-extra-bytes", "llhttp connection (data after close)", "HTTP/1.1 200 No content\r\nContent-Length: 5\r\nConnection: close\r\n\r\n2ad731e3-4dcd-4f70-b871-0ad284b29ffc", relay()),
		pv(c, "http10-keep-alive-eof-body", "llhttp connection (HTTP/1.0 keep-alive, EOF-terminated)", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nHTTP/1.0 200 OK", relay()),
		pv(c, "http10-keep-alive-cl", src, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", relay()),
		pv(c, "http10-no-keep-alive-cl", src, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", relay()),
		pv(c, "http11-eof-body", "llhttp connection (HTTP/1.1 EOF-terminated)", "HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK", relay()),
		pv(c, "upgrade-with-cl", "llhttp connection (200 with Upgrade and Content-Length)", "HTTP/1.1 200 OK\r\nConnection: upgrade\r\nUpgrade: h2c\r\nContent-Length: 4\r\n\r\nbody", relay()),
		pv(c, "upgrade-with-chunked", "llhttp connection (200 with Upgrade and Transfer-Encoding)", "HTTP/1.1 200 OK\r\nConnection: upgrade\r\nUpgrade: h2c\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nbo\r\n2\r\ndy\r\n0\r\n\r\n", relay()),
		pv(c, "101-with-cl", "llhttp connection (101 with Content-Length)", "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\nContent-Length: 4\r\n\r\nbody", reject()),
		pv(c, "101-with-chunked", "llhttp connection (101 with Transfer-Encoding)", "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nbo\r\n0\r\n\r\n", reject()),
		pv(c, "keep-alive-uppercase", src, "HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok", relay()),
		pv(c, "close-then-more-bytes", src, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"+smug, relay()),
	}
}

// RFC 9110 15.2: interim answers.
func respInterim() []*Vector {
	c := "resp-interim"
	src := "RFC 9110 15.2"
	return []*Vector{
		pv(c, "100-then-404", "llhttp connection (100 first, then 400)", "HTTP/1.1 100 Continue\r\n\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 14\r\n\r\n404: Not Found", reject()),
		pv(c, "100-then-200", src, "HTTP/1.1 100 Continue\r\n\r\n"+resp("200 OK", "ok"), relay()),
		pv(c, "103-then-200", "llhttp connection (103 first, then 200)", "HTTP/1.1 103 Early Hints\r\nLink: </styles.css>; rel=preload; as=style\r\n\r\nHTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 17\r\n\r\nresponse content\n", relay()),
		pv(c, "two-100s", src, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"+resp("200 OK", "ok"), relay()),
		pv(c, "199-then-200", src, "HTTP/1.1 199 Misc\r\n\r\n"+resp("200 OK", "ok"), relay()),
		pv(c, "101-to-get", "RFC 9110 15.2.2 (no Upgrade was asked)", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", reject()),
		pv(c, "100-bare-lf", "RFC 9112 2.2", "HTTP/1.1 100 Continue\n\n"+resp("200 OK", "ok"), relayOr502()),
		pv(c, "100-only-then-close", src, "HTTP/1.1 100 Continue\r\n\r\n", reject()),
		{Name: "100-to-post", Class: c, Source: src, Method: "POST", Reply: "HTTP/1.1 100 Continue\r\n\r\n" + resp("201 Created", "made"), Want: relay()},
	}
}

// A backend that fails: closes, resets, hangs, stops in the middle.
func respFaults() []*Vector {
	c := "resp-fault"
	src := "DESIGN 6.3, 6.6 (502 for a failed backend, 504 for a slow one)"
	fv := func(name string, act *Act, w Want) *Vector {
		return &Vector{Name: name, Class: c, Source: src, Act: act, Want: w}
	}
	return []*Vector{
		fv("close-without-answer", &Act{Do: CloseAfterRead}, reject()),
		fv("reset-without-answer", &Act{Do: ResetAfterRead}, reject()),
		fv("hang", &Act{Do: HangAfterRead}, rejectWith(504)),
		fv("close-after-head", &Act{Do: CloseAfterHead}, reject()),
		fv("partial-status-then-close", &Act{Reply: "HTTP/1.1 20", Then: ThenClose}, reject()),
		fv("partial-head-then-close", &Act{Reply: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", Then: ThenClose}, reject()),
		fv("partial-head-then-reset", &Act{Reply: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", Then: ThenReset}, reject()),
		fv("partial-head-then-hang", &Act{Reply: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", Then: ThenHang}, rejectWith(504)),
		fv("cl-body-cut-then-reset", &Act{Reply: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", Then: ThenReset}, relay()),
		fv("chunked-cut-then-close", &Act{Reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", Then: ThenClose}, relay()),
		fv("garbage", &Act{Reply: "garbage\r\n\r\n"}, reject()),
		fv("empty-line-only", &Act{Reply: "\r\n", Then: ThenClose}, reject()),
		fv("binary", &Act{Reply: "\x00\x01\x02\x03\xff\r\n\r\n"}, reject()),
		{Name: "dead-backend", Class: c, Source: src, Dead: true, Act: &Act{}, Want: rejectWith(502, 503)},
		{Name: "close-without-answer-two-backends", Class: c, Source: src + " (an idempotent GET may go to the other backend)",
			Act: &Act{Do: CloseAfterRead}, Backends: 2, Want: reject()},
	}
}

// The answer arrives in pieces: the proxy must put them together.
func respPieces() []*Vector {
	c := "resp-pieces"
	src := "RFC 9112 (a message may arrive in any number of reads)"
	whole := "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 5\r\n\r\nhello"
	at := func(name string, cuts ...int) *Vector {
		return &Vector{Name: name, Class: c, Source: src, Reply: whole, Act: &Act{Split: cuts, Gap: gap}, Want: relay()}
	}
	ch := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
	return []*Vector{
		at("inside-version", 6),
		at("inside-status", 10),
		at("between-cr-and-lf", 16),
		at("inside-field-name", 20),
		at("before-last-lf", len(whole)-6),
		at("inside-final-crlf-crlf", len(whole)-8, len(whole)-7, len(whole)-6),
		at("inside-body", len(whole)-3),
		at("byte-by-byte-head", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20),
		{Name: "chunked-lines", Class: c, Source: src, Reply: ch, Act: &Act{Split: []int{49, 50, 52, 55, 58, 60}, Gap: gap}, Want: relay()},
		{Name: "interim-then-final", Class: c, Source: src, Reply: "HTTP/1.1 100 Continue\r\n\r\n" + whole,
			Act: &Act{Split: []int{10, 25, 30}, Gap: gap}, Want: relay()},
		{Name: "slow-body", Class: c, Source: src, Reply: resp("200 OK", strings.Repeat("s", 2000)),
			Act: &Act{Split: []int{100, 500, 1000, 1500}, Gap: 20 * time.Millisecond}, Want: relay()},
	}
}
