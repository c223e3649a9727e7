package h1safety

import "strings"

// corpus returns every vector, in file order: issue 17's classes, then the
// request side, then the response side.
func corpus() []*Vector {
	var vs []*Vector
	vs = append(vs, issueVectors()...)
	return vs
}

// head joins lines with CRLF and ends the head with an empty line.
func head(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n\r\n" }

// get is a plain GET for path.
func get(path string) string { return head("GET "+path+" HTTP/1.1", "Host: lb.test") }

func issueVectors() []*Vector {
	return []*Vector{
		{Name: "head-cl-body-is-a-response", Class: "c1", Source: "issue 17 class 1", Method: "HEAD",
			Reply: "HTTP/1.1 200 OK\r\nContent-Length: 54\r\n\r\n" + "HTTP/1.1 200 OK\r\nX-Seq: 1\r\nContent-Length: 8\r\n\r\nsmuggled",
			Want:  relay()},
		{Name: "pipelined-then-http10", Class: "c2", Source: "issue 17 class 2",
			Client: []string{get("/first") + head("GET /v HTTP/1.0")}, Want: forward()},
		{Name: "post-twice", Class: "c4", Source: "issue 17 class 4", Method: "POST", Warm: 1,
			Act: &Act{Do: CloseAfterRead}, Want: reject()},
		{Name: "te-cl", Class: "shared", Source: "RFC 9112 6.1",
			Client: []string{head("POST /v HTTP/1.1", "Host: lb.test", "Content-Length: 5", "Transfer-Encoding: chunked") + "0\r\n\r\n"},
			Want:   either(400).closing()},
	}
}
