package h1safety

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/http/httpguts"
)

// The oracles: what net/http reads from a byte stream (requests as its
// server reads them, responses as http.ReadResponse reads them), and the
// strict RFC 9112 grammar checks applied to every head and chunked body the
// proxy emits on either side.

// msgReader reads messages from a stream and remembers every byte it took,
// so that each message's raw bytes can be shown and checked.
type msgReader struct {
	tape *tape
	br   *bufio.Reader
	// afterPost: the last request read was a POST, after which net/http's
	// server skips up to four CR or LF bytes (RFC 9112 section 2.2's
	// tolerance for old clients).
	afterPost bool
}

// skipAfterPost skips the CR and LF bytes net/http's server skips after a
// POST, waiting for them only as far as they have come.
func (m *msgReader) skipAfterPost() {
	if !m.afterPost {
		return
	}
	m.afterPost = false
	for range 4 {
		b, err := m.br.Peek(1)
		if err != nil || (b[0] != '\r' && b[0] != '\n') {
			return
		}
		m.br.Discard(1)
	}
}

// tape records what is read through it. It is safe for one reader and
// concurrent snapshots.
type tape struct {
	r io.Reader
	// mu guards buf: the reader appends while a failure report may copy it.
	mu  sync.Mutex
	buf []byte
}

func (t *tape) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.mu.Lock()
		t.buf = append(t.buf, p[:n]...)
		t.mu.Unlock()
	}
	return n, err
}

// bytes returns a copy of everything read so far.
func (t *tape) bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.buf)
}

func (t *tape) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.buf)
}

func newMsgReader(r io.Reader) *msgReader {
	t := &tape{r: r}
	return &msgReader{tape: t, br: bufio.NewReaderSize(t, 64<<10)}
}

// pos is the offset of the next unparsed byte in the stream.
func (m *msgReader) pos() int { return m.tape.len() - m.br.Buffered() }

// span returns the stream's bytes [from, to).
func (m *msgReader) span(from, to int) []byte {
	b := m.tape.bytes()
	if to > len(b) {
		to = len(b)
	}
	if from > to {
		from = to
	}
	return b[from:to]
}

// serverMaxHead is the head size net/http's server refuses with 431 at the
// balancer's default max_header_bytes (64 KiB, plus the 4 KiB net/http adds).
const serverMaxHead = 64<<10 + 4096

// errIncomplete marks a stream that ended inside a message.
var errIncomplete = errors.New("stream ends inside a message")

// request is one request as net/http's server reads it, with its raw bytes.
type request struct {
	*http.Request
	// AfterBlank: empty lines came before it, which a server may skip or
	// refuse (RFC 9112 section 2.2).
	AfterBlank bool
	Body       []byte
	Raw        []byte // head and body as they came
	HeadLen    int    // bytes of Raw that are the head
	HostSeen   []string
}

// Path is the request's path (its token in this suite).
func (r *request) Path() string {
	if r.URL == nil {
		return r.RequestURI
	}
	if r.URL.Path == "" && r.URL.Opaque != "" {
		return r.URL.Opaque
	}
	if r.Method == http.MethodConnect && r.URL.Path == "" {
		return r.URL.Host
	}
	if r.URL.Path == "" && r.URL.Host != "" {
		return "/" // an absolute-form target with an empty path means "/" (RFC 9110 4.2.3)
	}
	return r.URL.Path
}

// readServerRequest reads one request from m as net/http's server does:
// http.ReadRequest, then the checks its server adds (HTTP major version 1,
// a valid Host on HTTP/1.1, valid field names and values, the head size
// bound), then the whole body. On error the status is the one net/http's
// server answers (400, 431, 501, 505) or 0 when the stream ended inside the
// message (errIncomplete).
func readServerRequest(m *msgReader) (*request, int, error) {
	return readServerRequestHook(m, nil)
}

// readServerRequestHook is readServerRequest with a hook called once the
// head has passed the checks; when it returns false the body is left unread.
func readServerRequestHook(m *msgReader, hook func(*http.Request) bool) (*request, int, error) {
	m.skipAfterPost()
	p0 := m.pos()
	req, err := http.ReadRequest(m.br)
	head := m.span(p0, m.pos())
	if err != nil {
		switch {
		case len(head) > serverMaxHead:
			return nil, http.StatusRequestHeaderFieldsTooLarge, fmt.Errorf("head of %d bytes: %w", len(head), err)
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return nil, 0, fmt.Errorf("%w: %v", errIncomplete, err)
		case strings.Contains(err.Error(), "transfer encoding"):
			return nil, http.StatusNotImplemented, err
		}
		return nil, http.StatusBadRequest, err
	}
	r := &request{Request: req, HeadLen: len(head)}
	if len(head) > serverMaxHead {
		return nil, http.StatusRequestHeaderFieldsTooLarge, fmt.Errorf("head of %d bytes", len(head))
	}
	if req.ProtoMajor != 1 && !(req.ProtoMajor == 2 && req.ProtoMinor == 0 && req.Method == "PRI" && req.RequestURI == "*") {
		return nil, http.StatusHTTPVersionNotSupported, fmt.Errorf("unsupported protocol version %q", req.Proto)
	}
	r.HostSeen = headerValues(head, "host")
	h2Upgrade := req.Method == "PRI" && req.RequestURI == "*" && req.ProtoMajor == 2
	if req.ProtoAtLeast(1, 1) && len(r.HostSeen) == 0 && req.Method != http.MethodConnect && !h2Upgrade {
		return nil, http.StatusBadRequest, errors.New("missing required Host header")
	}
	if len(r.HostSeen) == 1 && !httpguts.ValidHostHeader(r.HostSeen[0]) {
		return nil, http.StatusBadRequest, fmt.Errorf("malformed Host header %q", r.HostSeen[0])
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, http.StatusBadRequest, fmt.Errorf("invalid header name %q", k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, http.StatusBadRequest, fmt.Errorf("invalid header value %q", v)
			}
		}
	}
	if hook != nil && !hook(req) {
		r.Raw = m.span(p0, m.pos())
		return r, 0, nil
	}
	body, err := io.ReadAll(req.Body)
	r.Body = body
	r.Raw = m.span(p0, m.pos())
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return r, 0, fmt.Errorf("%w: body: %v", errIncomplete, err)
		}
		return r, http.StatusBadRequest, fmt.Errorf("body: %w", err)
	}
	m.afterPost = req.Method == http.MethodPost
	return r, 0, nil
}

// headerValues returns the values of the header lines named name (lower
// case) in a raw head, trimmed, in order.
func headerValues(head []byte, name string) []string {
	var out []string
	lines := bytes.Split(head, []byte("\n"))
	for _, l := range lines[1:] {
		l = bytes.TrimSuffix(l, []byte("\r"))
		colon := bytes.IndexByte(l, ':')
		if colon < 0 || !strings.EqualFold(string(l[:colon]), name) {
			continue
		}
		out = append(out, strings.Trim(string(l[colon+1:]), " \t"))
	}
	return out
}

// stream is what a strict server reads from a client's bytes.
type stream struct {
	Reqs []*request
	// Tail is nil when the bytes end exactly after the last request (or
	// the last request asked to close the connection); errIncomplete when
	// they end inside a request; else why the next request is refused,
	// with TailStatus the status net/http's server answers.
	Tail       error
	TailStatus int
	// TrailingBlank: empty lines follow the last request, which a server
	// may skip (then a request sent after them is read) or refuse.
	TrailingBlank bool
}

// readStream reads b as net/http's server reads one connection: requests in
// order until the bytes end, a request is malformed, or a request closes the
// connection (HTTP/1.0 without keep-alive, Connection: close), after which
// nothing more is read.
func readStream(b []byte) stream {
	m := newMsgReader(bytes.NewReader(b))
	var s stream
	for {
		m.skipAfterPost()
		// RFC 9112 section 2.2: a server SHOULD ignore empty lines before
		// a request line (net/http's server does so only after a POST;
		// HAProxy always does). A proxy may forward the request or refuse
		// the empty line; it may never pass the empty line on.
		blank := false
		for {
			b, err := m.br.Peek(1)
			if err != nil || (b[0] != '\r' && b[0] != '\n') {
				break
			}
			m.br.Discard(1)
			blank = true
		}
		if _, err := m.br.Peek(1); err != nil {
			s.TrailingBlank = blank
			return s
		}
		p0 := m.pos()
		r, status, err := readServerRequest(m)
		if err != nil {
			s.Tail, s.TailStatus = err, status
			if !errors.Is(err, errIncomplete) && headIncomplete(b[p0:]) {
				s.Tail, s.TailStatus = fmt.Errorf("%w: %v", errIncomplete, err), 0
			}
			return s
		}
		r.AfterBlank = blank
		s.Reqs = append(s.Reqs, r)
		if r.Close {
			return s
		}
	}
}

// headIncomplete reports whether b, the start of a request that
// http.ReadRequest refused, only lacks its end: a server reading from a
// connection would wait for the rest of the line it stopped in.
// (ReadRequest takes an unterminated last line at the end of its input as
// a whole line.)
func headIncomplete(b []byte) bool {
	if bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\n\r\n")) {
		return false
	}
	cut := bytes.LastIndexByte(b, '\n') + 1
	if cut == 0 {
		return true
	}
	_, _, err := readServerRequest(newMsgReader(bytes.NewReader(b[:cut])))
	return errors.Is(err, errIncomplete)
}

// reply is what http.ReadResponse reads from a backend's bytes for a
// request with a given method: interim (1xx) responses, then the final one.
type reply struct {
	Interim []*http.Response
	Final   *http.Response // nil when the head is refused
	Body    []byte         // the final body, de-chunked
	// HeadErr: the head could not be parsed (the proxy must answer 502);
	// BodyErr: the head parsed but the body did not (cut off or malformed).
	HeadErr, BodyErr error
	// Rest are the bytes left after the final response's body (none for a
	// body delimited by close).
	Rest []byte
	// Delimited: the final response ended by its own framing (not by the
	// connection closing), so the connection could carry another exchange.
	Delimited bool
}

// readReply reads b as http.ReadResponse reads the response to a request
// with the given method.
func readReply(b []byte, method string) reply {
	var rp reply
	m := newMsgReader(bytes.NewReader(b))
	req := &http.Request{Method: method}
	for {
		resp, err := http.ReadResponse(m.br, req)
		if err != nil {
			rp.HeadErr = err
			return rp
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			rp.Interim = append(rp.Interim, resp)
			continue
		}
		rp.Final = resp
		break
	}
	rp.Body, rp.BodyErr = io.ReadAll(rp.Final.Body)
	rp.Delimited = rp.BodyErr == nil && (method == http.MethodHead || !bodyAllowed(rp.Final.StatusCode) ||
		rp.Final.ContentLength >= 0 || isChunked(rp.Final))
	if rp.Delimited {
		rp.Rest = m.span(m.pos(), len(b))
	}
	return rp
}

func bodyAllowed(status int) bool {
	return !(status >= 100 && status < 200) && status != http.StatusNoContent && status != http.StatusNotModified
}

func isChunked(r *http.Response) bool {
	return len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked"
}

// headProblems checks a raw message head (start line through the empty
// line) as a strict RFC 9112 recipient reads it and as DESIGN.md section 6
// requires of what the proxy forwards: CRLF line ends only, no bare CR or
// LF, NUL or other control bytes, no obs-fold, token field names, one
// Content-Length of digits, never both Content-Length and
// Transfer-Encoding, Transfer-Encoding ending in chunked, no hop-by-hop
// field, and no framing field on a 1xx or 204. isRequest selects the start
// line's grammar; status is the response's status (0 for requests).
func headProblems(head []byte, isRequest bool) []string {
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		add("head does not end in CRLF CRLF")
	}
	lines := strings.Split(strings.TrimSuffix(string(head), "\r\n\r\n"), "\r\n")
	for i, l := range lines {
		if strings.ContainsAny(l, "\r\n") {
			add("bare CR or LF in line %d %q", i, l)
		}
	}
	status := 0
	if isRequest {
		if p := requestLineProblem(lines[0]); p != "" {
			add("request line %q: %s", lines[0], p)
		}
	} else {
		var p string
		if status, p = statusLineProblem(lines[0]); p != "" {
			add("status line %q: %s", lines[0], p)
		}
	}
	var cls, tes, hosts, conn []string
	names := map[string]bool{}
	for _, l := range lines[1:] {
		if l == "" {
			add("empty line inside the head")
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			add("obs-fold or leading whitespace %q", l)
			continue
		}
		colon := strings.IndexByte(l, ':')
		if colon <= 0 {
			add("field line without a name and colon %q", l)
			continue
		}
		name, value := l[:colon], strings.Trim(l[colon+1:], " \t")
		if !isToken(name) {
			add("field name %q is not a token", name)
		}
		for _, c := range []byte(value) {
			if (c < ' ' && c != '\t') || c == 0x7f {
				add("control byte %#x in %s value %q", c, name, value)
				break
			}
		}
		lower := strings.ToLower(name)
		names[lower] = true
		switch lower {
		case "content-length":
			cls = append(cls, value)
		case "transfer-encoding":
			tes = append(tes, value)
		case "host":
			hosts = append(hosts, value)
		case "connection":
			for _, t := range strings.Split(value, ",") {
				if t = strings.ToLower(strings.Trim(t, " \t")); t != "" {
					conn = append(conn, t)
				}
			}
		case "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization":
			add("hop-by-hop field %s forwarded", name)
		case "te":
			if !isRequest || !strings.EqualFold(value, "trailers") {
				add("hop-by-hop field TE: %s forwarded", value)
			}
		}
	}
	if len(cls) > 1 {
		add("%d Content-Length fields %q", len(cls), cls)
	}
	for _, v := range cls {
		if v == "" || strings.Trim(v, "0123456789") != "" {
			add("Content-Length %q is not digits", v)
		}
	}
	if len(tes) > 0 && len(cls) > 0 {
		add("both Transfer-Encoding %q and Content-Length %q", tes, cls)
	}
	if len(tes) > 1 {
		add("%d Transfer-Encoding fields %q", len(tes), tes)
	}
	if len(tes) > 0 {
		codings := strings.Split(tes[len(tes)-1], ",")
		if !strings.EqualFold(strings.Trim(codings[len(codings)-1], " \t"), "chunked") {
			add("Transfer-Encoding %q does not end in chunked", tes)
		}
		if isRequest && !strings.EqualFold(tes[0], "chunked") {
			add("request Transfer-Encoding %q is not just chunked", tes)
		}
	}
	if isRequest && len(hosts) > 1 || isRequest && len(hosts) == 0 && strings.HasSuffix(lines[0], " HTTP/1.1") {
		add("%d Host fields", len(hosts))
	}
	if !isRequest && (status < 200 || status == http.StatusNoContent) && (len(cls) > 0 || len(tes) > 0) {
		add("framing field on a %d response (Content-Length %q, Transfer-Encoding %q)", status, cls, tes)
	}
	// Upgrade travels with "Connection: upgrade" on requests (a proxy
	// passes WebSocket upgrades on) and on 101 responses; elsewhere it is
	// a hop-by-hop field to drop.
	upgrade := (isRequest || status == http.StatusSwitchingProtocols) && slices.Contains(conn, "upgrade")
	if names["upgrade"] && !upgrade {
		add("hop-by-hop field Upgrade forwarded")
	}
	for _, t := range conn {
		switch {
		case t == "close" || t == "keep-alive":
		case t == "upgrade" && upgrade && names["upgrade"]:
		default:
			add("Connection names %q (its fields must be dropped and the option with them)", t)
		}
	}
	return probs
}

func requestLineProblem(l string) string {
	parts := strings.Split(l, " ")
	if len(parts) != 3 {
		return "not method SP target SP version"
	}
	if !isToken(parts[0]) {
		return "method is not a token"
	}
	if parts[1] == "" {
		return "empty target"
	}
	for _, c := range []byte(parts[1]) {
		if c <= ' ' || c >= 0x7f {
			return fmt.Sprintf("byte %#x in the target", c)
		}
	}
	if parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0" {
		return "version is not HTTP/1.1 or HTTP/1.0"
	}
	return ""
}

func statusLineProblem(l string) (int, string) {
	if len(l) < 12 || (l[:9] != "HTTP/1.1 " && l[:9] != "HTTP/1.0 ") {
		return 0, "not HTTP/1.x SP status"
	}
	code, err := strconv.Atoi(l[9:12])
	if err != nil || strings.Trim(l[9:12], "0123456789") != "" || code < 100 {
		return 0, "status is not three digits from 100"
	}
	if len(l) > 12 {
		if l[12] != ' ' {
			return code, "no SP after the status"
		}
		for _, c := range []byte(l[13:]) {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return code, fmt.Sprintf("control byte %#x in the reason", c)
			}
		}
	}
	return code, ""
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !httpguts.IsTokenRune(rune(c)) {
			return false
		}
	}
	return true
}

// chunkedProblems checks a chunked body as a strict RFC 9112 section 7.1
// recipient reads it: each chunk line a hex size (at most 16 digits, within
// int64) with optional whitespace and extensions, CRLF after each line and
// each chunk's data, the last chunk, trailer field lines and the final CRLF,
// and nothing after. When complete is false the body is known to be cut
// off, and only what came is checked.
func chunkedProblems(b []byte, complete bool) []string {
	var probs []string
	add := func(format string, args ...any) {
		if p := fmt.Sprintf(format, args...); complete || !strings.Contains(p, cutMark) {
			probs = append(probs, p)
		}
	}
	for {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			add("chunk line without CRLF %q"+cutMark, trunc(b, 40))
			return probs
		}
		line := string(b[:i])
		b = b[i+2:]
		if strings.ContainsAny(line, "\r\n") {
			add("bare CR or LF in chunk line %q", line)
		}
		size, p := chunkLine(line)
		if p != "" {
			add("chunk line %q: %s", line, p)
			return probs
		}
		if size == 0 {
			break
		}
		if int64(len(b)) < size+2 {
			if int64(len(b)) > size && b[size] != '\r' {
				add("chunk data not followed by CRLF: %q", trunc(b[size:], 20))
			}
			add("chunk of %d bytes"+cutMark, size)
			return probs
		}
		if string(b[size:size+2]) != "\r\n" {
			add("chunk data not followed by CRLF: %q", trunc(b[size:], 20))
			return probs
		}
		b = b[size+2:]
	}
	for { // trailer section
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			add("trailer section without its final CRLF %q"+cutMark, trunc(b, 40))
			return probs
		}
		line := string(b[:i])
		b = b[i+2:]
		if line == "" {
			break
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) || strings.ContainsAny(line, "\r\n\x00") {
			add("malformed trailer line %q", line)
		}
	}
	if len(b) > 0 {
		add("%d bytes after the chunked body: %q", len(b), trunc(b, 40))
	}
	return probs
}

// cutMark ends the problems that only mean the body was cut off; a body
// known to be incomplete is not blamed for them.
const cutMark = " (cut off)"

// chunkLine parses "size[ws][;ext...]" and returns the size.
func chunkLine(line string) (int64, string) {
	n := 0
	for n < len(line) && isHex(line[n]) {
		n++
	}
	if n == 0 {
		return 0, "no hex size"
	}
	digits := strings.TrimLeft(line[:n], "0")
	if len(digits) > 15 {
		return 0, "size too large"
	}
	size, _ := strconv.ParseInt("0"+digits, 16, 64)
	rest := strings.TrimLeft(line[n:], " \t")
	if rest != "" && rest[0] != ';' {
		return 0, "junk after the size"
	}
	for _, c := range []byte(rest) {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return 0, "control byte in an extension"
		}
	}
	return size, ""
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// trunc shortens b for a message.
func trunc(b []byte, n int) []byte {
	if len(b) > n {
		return append(bytes.Clone(b[:n]), "..."...)
	}
	return b
}

// quote quotes b for a failure message, at most n bytes of it.
func quote(b []byte, n int) string {
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + fmt.Sprintf("... (%d bytes)", len(b))
	}
	return strconv.Quote(string(b))
}
