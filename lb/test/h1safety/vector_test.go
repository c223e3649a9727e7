package h1safety

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A Vector is one case of the corpus: what one client connection sends
// (request vectors) or what the backend answers to it (response vectors),
// and the outcome expected for its victim request, the one with path "/v"
// (or, when net/http cannot read it, the malformed request itself).
type Vector struct {
	Name   string // unique within the corpus; with Class, the subtest name
	Class  string // issue 17's class ("c1".."c10", "less", "shared") or a family ("req-...", "resp-...")
	Source string // where the case comes from: issue 17, RFC 9112, llhttp, Go net/http, PortSwigger, DESIGN.md

	// Client is what the victim connection sends: each element is one
	// write; the next one is written once the responses to every request
	// the earlier elements complete have arrived. Trickle, when set, sends
	// each element byte by byte, Trickle apart.
	Client  []string
	Trickle time.Duration

	// Response vectors: the backend answers the victim request (Method,
	// default GET, path /v) with Reply. Act scripts the backend's handling
	// of /v further (how Reply is written, closing, late bytes, or no
	// answer at all); Acts scripts other paths (the warm-ups are
	// /warm-0, /warm-1, ...).
	Method string
	Reply  string
	Act    *Act
	Acts   map[string]*Act

	// Victim is the victim's path when it is not "/v" (OPTIONS *, say).
	Victim string
	// LaterMay lists the statuses the proxy may answer itself to the
	// requests after the victim (a pipelined request that the proxy may
	// refuse though net/http reads it: bare-LF lines, TE with CL).
	LaterMay []int

	// Warm is how many requests go first, each on a connection of its own,
	// so that the vector rides pooled backend connections.
	Warm int
	// Backends is how many backends the balancer has (default 1; with 2
	// the balancer retries on the other one). Dead: the only backend's
	// port refuses connections.
	Backends int
	Dead     bool

	Want Want
}

// WantKind is the kind of outcome expected for the victim request.
type WantKind int

const (
	// Forward: the victim reaches the backend, as net/http reads it from
	// the client's bytes, and its echo reaches the client.
	Forward WantKind = iota + 1
	// Refuse: the proxy answers one of Codes itself, nothing of the victim
	// reaches the backend, and the connection closes after the answer.
	Refuse
	// Either: Forward or Refuse.
	Either
	// Relay: the client gets what http.ReadResponse reads from the
	// backend's Reply (status, de-chunked body, X- fields), with no body
	// for HEAD, 1xx, 204 and 304; or a 502 when Or502 is set or the
	// backend's body is malformed or cut off (then a client that got the
	// head must see the body cut off).
	Relay
	// Reject: the proxy answers one of Codes itself (default 502).
	Reject
)

var wantNames = [...]string{"", "forward", "refuse", "forward or refuse", "relay", "reject"}

// Want is the outcome a vector expects.
type Want struct {
	Kind  WantKind
	Codes []int
	// Close: the connection must close after the victim's response.
	Close bool
	// Or502: Relay may also answer 502 (a proxy stricter than net/http).
	Or502 bool
	// OrClose: closing the connection without an answer is acceptable too.
	OrClose bool
	// Check looks at the backend's copy of a forwarded victim; CheckResp
	// at the client's response; each returns "" or what is wrong.
	Check     func(*seen) string
	CheckResp func(*got) string
}

func (w Want) String() string {
	s := wantNames[w.Kind]
	if len(w.Codes) > 0 {
		s += fmt.Sprintf(" %v", w.Codes)
	}
	if w.Or502 {
		s += " (or 502)"
	}
	if w.Close {
		s += ", then close"
	}
	if w.OrClose {
		s += " (or close without answering)"
	}
	return s
}

func forward() Want                            { return Want{Kind: Forward} }
func refuse(codes ...int) Want                 { return Want{Kind: Refuse, Codes: codes} }
func either(codes ...int) Want                 { return Want{Kind: Either, Codes: codes} }
func relay() Want                              { return Want{Kind: Relay} }
func relayOr502() Want                         { return Want{Kind: Relay, Or502: true} }
func reject() Want                             { return Want{Kind: Reject, Codes: []int{http.StatusBadGateway}} }
func rejectWith(codes ...int) Want             { return Want{Kind: Reject, Codes: codes} }
func (w Want) closing() Want                   { w.Close = true; return w }
func (w Want) orClose() Want                   { w.OrClose = true; return w }
func (w Want) check(f func(*seen) string) Want { w.Check = f; return w }
func (w Want) checkResp(f func(*got) string) Want {
	w.CheckResp = f
	return w
}

// victimPath is the victim request's path, its token.
func (v *Vector) victimPath() string {
	if v.Victim != "" {
		return v.Victim
	}
	return "/v"
}

// isResponse reports whether v is about the backend's answer.
func (v *Vector) isResponse() bool { return v.Want.Kind == Relay || v.Want.Kind == Reject }

func (v *Vector) method() string {
	if v.Method == "" {
		return http.MethodGet
	}
	return v.Method
}

// client returns the victim connection's writes (response vectors: one
// plain request for /v).
func (v *Vector) client() []string {
	if len(v.Client) > 0 {
		return v.Client
	}
	req := v.method() + " /v HTTP/1.1\r\nHost: lb.test\r\n"
	switch v.method() {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		req += "Content-Length: 4\r\n\r\nbody"
	default:
		req += "\r\n"
	}
	return []string{req}
}

// victimAct is the script for /v.
func (v *Vector) victimAct() *Act {
	if v.Act == nil && v.Reply == "" {
		return nil
	}
	a := &Act{}
	if v.Act != nil {
		*a = *v.Act
	}
	if v.Reply != "" {
		a.Reply = v.Reply
	}
	return a
}

// reserved paths the harness's own requests use.
var reservedPaths = []string{"/sentinel", "/after-1", "/after-2"}

// statusPaths are answered by the proxy itself (enable_metrics is on).
var statusPaths = []string{"/__health__", "/__status__", "/__metrics__"}

// outcome is what one run of a vector through one forwarder came to.
type outcome struct {
	v          *Vector
	fwd        string
	violations []string
	report     string
}

// runner runs one vector through one forwarder.
type runner struct {
	t   testing.TB
	v   *Vector
	fwd string
	bs  *backends
	lb  *balancer

	start  mark   // where this run begins in the backends' record
	st     stream // the victim connection's bytes as net/http reads them
	victim int    // index of the victim in st.Reqs (len(st.Reqs): the malformed tail)
	gots   []*got
	cl     *client
	notes  []string // what happened besides the responses
	viol   []string
	follow []*got
}

func (r *runner) fail(format string, args ...any) {
	r.viol = append(r.viol, fmt.Sprintf(format, args...))
}

// runVector runs v through the forwarder fwd on a balancer and backends of
// its own and returns the violations found.
func runVector(t testing.TB, v *Vector, fwd string) outcome {
	bs := startBackends(t, max(v.Backends, 1), v.Dead)
	lb := startTarget(t, lbConfig{Forwarder: fwd, Backends: bs.addrs, Retries: 1})
	defer bs.close()
	defer lb.stop() // first: the balancer stops while the backends still answer
	return runOn(t, v, fwd, bs, lb)
}

// runOn runs v on a running balancer and its backends, which may have
// served earlier runs (the fuzz targets reuse them): only what the
// backends saw from now on counts.
func runOn(t testing.TB, v *Vector, fwd string, bs *backends, lb *balancer) outcome {
	r := &runner{t: t, v: v, fwd: fwd, bs: bs, lb: lb, start: bs.mark()}
	if a := v.victimAct(); a != nil {
		r.bs.script(v.victimPath(), a)
	}
	for p, a := range v.Acts {
		r.bs.script(p, a)
	}

	for i := range v.Warm {
		path := "/warm-" + strconv.Itoa(i)
		g, _ := simple(r.lb.addr, path)
		if p := r.ownEcho(g, http.MethodGet, path); p != "" {
			r.fail("warm-up %s: %s", path, p)
		}
		if !r.bs.settle(readTimeout) {
			r.notes = append(r.notes, "the backend's script for "+path+" did not finish")
		}
	}
	r.victimConn()
	if !r.bs.settle(readTimeout) {
		r.notes = append(r.notes, "the backend's script for /v did not finish")
	}
	for _, path := range reservedPaths[1:] {
		g, _ := simple(r.lb.addr, path)
		r.follow = append(r.follow, g)
		if p := r.expectOwn(g, http.MethodGet, path); p != "" {
			r.fail("a new client afterwards (GET %s on a new connection) got %s: %s", path, g, p)
		}
	}
	r.checkBackend()
	r.checkWant()
	return outcome{v: v, fwd: fwd, violations: r.viol, report: r.report()}
}

// expectOwn is ownEcho, except that with a dead backend the proxy's own
// 502 (or 503) is the answer to expect.
func (r *runner) expectOwn(g *got, method, path string) string {
	if !r.v.Dead {
		return r.ownEcho(g, method, path)
	}
	switch {
	case g.Resp == nil:
		return fmt.Sprintf("no response (%v)", g.Err)
	case len(g.Problems) > 0:
		return "malformed: " + strings.Join(g.Problems, "; ")
	case g.seq() != 0 || (g.Resp.StatusCode != http.StatusBadGateway && g.Resp.StatusCode != http.StatusServiceUnavailable):
		return "want the proxy's 502 or 503 (the backend refuses connections)"
	case g.BodyErr != nil:
		return fmt.Sprintf("a body cut off (%v)", g.BodyErr)
	}
	return ""
}

// ownEcho returns "" when g is the backend's echo of method path.
func (r *runner) ownEcho(g *got, method, path string) string {
	if g.Resp == nil {
		return fmt.Sprintf("no response (%v)", g.Err)
	}
	if len(g.Problems) > 0 {
		return "malformed: " + strings.Join(g.Problems, "; ")
	}
	seq := g.seq()
	if seq == 0 {
		return fmt.Sprintf("status %d that is not the backend's echo", g.Resp.StatusCode)
	}
	s := r.bs.bySeq(seq)
	if s == nil {
		return fmt.Sprintf("X-Seq %d, which the backend never sent (bytes from elsewhere)", seq)
	}
	if s.Req.Path() != path || s.Req.Method != method {
		return fmt.Sprintf("the answer to another request (backend #%d: %s %q)", seq, s.Req.Method, s.Req.Path())
	}
	if method != http.MethodHead && string(g.Body) != echoBody(s) {
		return fmt.Sprintf("an echo with the wrong body %q", trunc(g.Body, 80))
	}
	if g.BodyErr != nil {
		return fmt.Sprintf("a body cut off (%v)", g.BodyErr)
	}
	return ""
}

func (r *runner) victimConn() {
	v := r.v
	writes := v.client()
	all := []byte(strings.Join(writes, ""))
	r.st = readStream(all)
	r.victim = len(r.st.Reqs)
	for i, q := range r.st.Reqs {
		if q.Path() == v.victimPath() {
			r.victim = i
			break
		}
	}
	cl, err := dial(r.lb.addr)
	if err != nil {
		r.fail("%v", err)
		return
	}
	r.cl = cl
	defer cl.close()
	// A proxy may answer a pipeline once it has served all of it (each
	// answer in order): allow for the round trips before the first.
	cl.wait = readTimeout + time.Duration(len(r.st.Reqs))*250*time.Millisecond
	broken := false
	readUpTo := func(n int) {
		for len(r.gots) < n && !cl.closed && !broken {
			broken = !r.readOne()
		}
	}
	var sofar []byte
	for k, w := range writes {
		sofar = append(sofar, w...)
		if err := cl.send([]byte(w), v.Trickle); err != nil {
			r.notes = append(r.notes, fmt.Sprintf("write %d failed: %v", k+1, err))
			break
		}
		if k < len(writes)-1 {
			readUpTo(len(readStream(sofar).Reqs))
		}
	}
	readUpTo(len(r.st.Reqs))
	// A refusal of the malformed tail is waited for only where the vector
	// expects one: fuzzing inputs accept a proxy that waits for more bytes
	// (net/http's server waits for four before it reads a next request).
	malformedTail := r.st.Tail != nil && !errors.Is(r.st.Tail, errIncomplete) && v.Want.Kind != 0
	waitRefusal := (v.Want.Kind == Refuse || v.Want.Kind == Either) && r.victim == len(r.st.Reqs)
	if len(r.gots) == len(r.st.Reqs) && (malformedTail || waitRefusal) {
		readUpTo(len(r.st.Reqs) + 1)
	}
	if broken || cl.closed {
		return
	}
	switch {
	case r.mustClose():
		if p := cl.expectClosed(); p != "" {
			r.fail("the connection must close after %s: %s", r.closeReason(), p)
		}
	case r.st.Tail != nil && (errors.Is(r.st.Tail, errIncomplete) || v.Want.Kind == 0):
		// the client's bytes end inside a request (or in one a fuzzed
		// proxy may wait on): nothing to add
	default:
		// Late bytes from the backend come first: the sentinel checks that
		// the proxy did not take them for its answer.
		r.bs.settle(readTimeout)
		r.sentinel()
	}
}

// readOne reads the response at the next position and checks it; it
// reports whether reading can go on.
func (r *runner) readOne() bool {
	i := len(r.gots)
	method := http.MethodGet
	if i < len(r.st.Reqs) {
		method = r.st.Reqs[i].Method
	}
	g := r.cl.read(method)
	if g.Err == errClosed {
		return false
	}
	r.gots = append(r.gots, g)
	r.checkResponse(i, g)
	return g.Resp != nil && g.BodyErr == nil
}

// sentinel sends one more request on the victim connection: it must get
// its own echo or find the connection closed. Anything else is bytes left
// over from the vector (a body on a bodiless response, say).
func (r *runner) sentinel() {
	req := "GET /sentinel HTTP/1.1\r\nHost: lb.test\r\n\r\n"
	if err := r.cl.send([]byte(req), 0); err != nil {
		return // closed
	}
	g := r.cl.read(http.MethodGet)
	if g.Err == errClosed {
		return
	}
	if r.st.TrailingBlank && g.seq() == 0 && g.status() == http.StatusBadRequest {
		return // the proxy refused the empty lines before it (RFC 9112 2.2)
	}
	if p := r.expectOwn(g, http.MethodGet, "/sentinel"); p != "" {
		r.fail("the next request on the same connection (GET /sentinel) got %s: %s (bytes left over from the vector?)", g, p)
	}
}

// mustClose reports whether the victim connection must be closed by now.
func (r *runner) mustClose() bool { return r.closeReason() != "" }

func (r *runner) closeReason() string {
	if g := r.at(r.victim); g != nil && r.isRefusal(g) && g.status() >= 400 && r.v.Want.Kind != Relay && r.v.Want.Kind != Reject {
		return fmt.Sprintf("refusing the request with %d", g.status())
	}
	if len(r.gots) > len(r.st.Reqs) {
		return "refusing the malformed request"
	}
	if r.v.Want.Close && r.at(r.victim) != nil {
		return "the victim's response (" + r.v.Want.String() + ")"
	}
	if n := len(r.st.Reqs); n > 0 && len(r.gots) == n && r.st.Reqs[n-1].Close {
		return "a request that closes the connection (HTTP/1.0 or Connection: close)"
	}
	return ""
}

func (r *runner) at(i int) *got {
	if i < len(r.gots) {
		return r.gots[i]
	}
	return nil
}

// isRefusal reports whether g is an answer the proxy made itself.
func (r *runner) isRefusal(g *got) bool { return g.Resp != nil && g.seq() == 0 }

// refusalCodes are the statuses a proxy refuses a request with (DESIGN.md
// section 6.6, HAProxy).
var refusalCodes = []int{400, 408, 413, 414, 417, 422, 431, 501, 505}

func (r *runner) checkResponse(i int, g *got) {
	what := fmt.Sprintf("response %d", i+1)
	if i < len(r.st.Reqs) {
		what += fmt.Sprintf(" (to %s %q)", r.st.Reqs[i].Method, r.st.Reqs[i].Path())
	}
	for _, p := range g.Problems {
		r.fail("%s is malformed: %s", what, p)
	}
	if g.Resp == nil {
		r.fail("%s: %v; the client got %s", what, g.Err, quote(g.Raw, 160))
		return
	}
	if i == r.victim && r.v.isResponse() {
		r.checkRelay(g)
		return
	}
	if seq := g.seq(); seq > 0 {
		if i >= len(r.st.Reqs) {
			r.fail("%s: an echo (#%d) for a request the client's bytes do not hold", what, seq)
			return
		}
		if p := r.ownEcho(g, r.st.Reqs[i].Method, r.st.Reqs[i].Path()); p != "" {
			r.fail("%s got %s: %s", what, g, p)
		}
		return
	}
	status := g.Resp.StatusCode
	switch {
	case i == r.victim && (r.v.Want.Kind == Refuse || r.v.Want.Kind == Either):
		options := i < len(r.st.Reqs) && r.st.Reqs[i].Method == http.MethodOptions && r.st.Reqs[i].RequestURI == "*"
		if !slices.Contains(r.v.Want.Codes, status) && !(options && status == http.StatusOK) {
			r.fail("%s: the proxy answered %d; want %s", what, status, r.v.Want)
		}
	case i >= len(r.st.Reqs):
		if !slices.Contains(refusalCodes, status) {
			r.fail("%s: the proxy answered %d to a request net/http refuses (%v); want one of %v", what, status, r.st.Tail, refusalCodes)
		}
	case r.st.Reqs[i].Method == http.MethodOptions && r.st.Reqs[i].RequestURI == "*" && status == http.StatusOK:
		// a server may answer OPTIONS * about itself (RFC 9110 9.3.7)
	case i > r.victim && slices.Contains(r.v.LaterMay, status):
		// this vector allows the proxy to refuse what follows its victim
	case r.st.Reqs[i].AfterBlank && status == http.StatusBadRequest:
		// refusing the empty line before it is allowed (RFC 9112 2.2)
	case r.v.Want.Kind == 0 && slices.Contains(refusalCodes, status):
		// no expectation (fuzzing): a proxy stricter than net/http may
		// refuse (a status path's request too); checkBackend makes sure
		// nothing refused got through
	case slices.Contains(statusPaths, r.st.Reqs[i].Path()):
		if status != http.StatusOK && status != http.StatusServiceUnavailable &&
			!(status == http.StatusMethodNotAllowed && r.st.Reqs[i].Method != http.MethodGet && r.st.Reqs[i].Method != http.MethodHead) {
			r.fail("%s: the proxy's status endpoint answered %d", what, status)
		}
	default:
		a := r.v.Acts[r.st.Reqs[i].Path()]
		if i == r.victim {
			a = r.v.victimAct()
		}
		if a == nil || a.Do == Answer || (status != http.StatusBadGateway && status != http.StatusGatewayTimeout) {
			r.fail("%s: the proxy answered %d itself to a valid request the backend echoes: %s", what, status, quote(g.Raw, 160))
		}
	}
}

// checkRelay checks the client's response to a response vector's victim
// against http.ReadResponse's reading of the backend's bytes.
func (r *runner) checkRelay(g *got) {
	v := r.v
	act := v.victimAct()
	method := v.method()
	if r.victim < len(r.st.Reqs) {
		method = r.st.Reqs[r.victim].Method
	}
	if seq := g.seq(); seq > 0 {
		if s := r.bs.bySeq(seq); s != nil && s.Req.Path() == v.victimPath() && s.Req.Method == method {
			// A second copy is fine where the backend gave no final answer
			// (RFC 9110 9.2.2, DESIGN 6.3: an idempotent request may be sent
			// again after a connection ends without a response); a non-
			// idempotent one reaching the backend twice is caught below.
			noAnswer := act == nil || act.Do != Answer || readReply([]byte(act.Reply), method).HeadErr != nil
			if !noAnswer {
				r.fail("the victim got the echo of a second copy (#%d): the proxy sent the request again although the backend had answered", seq)
			} else if p := r.ownEcho(g, method, v.victimPath()); p != "" {
				r.fail("the victim got %s: %s", g, p)
			}
			return
		}
	}
	status := g.Resp.StatusCode
	if v.Want.Kind == Reject {
		if !slices.Contains(v.Want.Codes, status) || g.seq() != 0 {
			r.fail("the victim got %s; want %s from the proxy", g, v.Want)
		}
		if v.Want.CheckResp != nil {
			if p := v.Want.CheckResp(g); p != "" {
				r.fail("the victim's response: %s", p)
			}
		}
		return
	}
	rp := readReply([]byte(act.Reply), method)
	if rp.HeadErr != nil {
		r.fail("corpus: http.ReadResponse refuses the reply (%v): want reject, not relay", rp.HeadErr)
		return
	}
	if status == http.StatusBadGateway && g.seq() == 0 && rp.Final.StatusCode != http.StatusBadGateway && (v.Want.Or502 || rp.BodyErr != nil) {
		return
	}
	if status != rp.Final.StatusCode {
		r.fail("the victim got %s; http.ReadResponse reads status %d from the backend's answer%s", g, rp.Final.StatusCode, or502(v.Want.Or502))
		return
	}
	if rp.BodyErr != nil {
		if g.BodyErr == nil {
			r.fail("the backend's body is broken (%v) but the client got a complete response %s", rp.BodyErr, quote(g.Raw, 160))
		} else if !bytes.HasPrefix(rp.Body, g.Body) {
			r.fail("the client got body %s, which is not a start of the backend's %s", quote(g.Body, 80), quote(rp.Body, 80))
		}
	} else {
		if g.BodyErr != nil {
			r.fail("the victim's body was cut off: %v (got %s)", g.BodyErr, quote(g.Raw, 160))
		} else if !bytes.Equal(g.Body, rp.Body) {
			r.fail("the victim got body %s; http.ReadResponse reads %s from the backend's answer", quote(g.Body, 120), quote(rp.Body, 120))
		}
	}
	dropped := map[string]bool{}
	for _, c := range rp.Final.Header.Values("Connection") {
		for _, t := range strings.Split(c, ",") {
			dropped[http.CanonicalHeaderKey(strings.TrimSpace(t))] = true
		}
	}
	for k, vv := range rp.Final.Header {
		if strings.HasPrefix(k, "X-") && isToken(k) && !dropped[k] && !slices.Equal(squash(g.Resp.Header.Values(k)), squash(vv)) {
			r.fail("the backend's field %s: %q reached the client as %q", k, vv, g.Resp.Header.Values(k))
		}
	}
	if v.Want.CheckResp != nil {
		if p := v.Want.CheckResp(g); p != "" {
			r.fail("the victim's response: %s", p)
		}
	}
}

// squash collapses runs of whitespace in field values (a folded line may
// be joined with one space or several).
func squash(vv []string) []string {
	out := make([]string, len(vv))
	for i, v := range vv {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return out
}

func or502(b bool) string {
	if b {
		return " (or a 502)"
	}
	return ""
}

// checkWant checks that the victim's outcome is one the vector allows.
func (r *runner) checkWant() {
	w := r.v.Want
	if w.Kind == 0 {
		return // no expectation beyond the invariants (fuzzing)
	}
	g := r.at(r.victim)
	if g == nil || g.Resp == nil {
		if w.OrClose || r.brokenReply() {
			return // no answer, the connection closed: acceptable here
		}
		what := "no response"
		if r.cl != nil && r.cl.closed {
			what = "the connection closed"
		}
		if g != nil {
			what = g.Err.Error()
		}
		r.fail("want %s for the victim; got %s", w, what)
		return
	}
	echoed := g.seq() > 0
	switch w.Kind {
	case Forward:
		if !echoed {
			r.fail("want the victim forwarded and its echo returned; got %s", g)
		}
	case Refuse:
		if echoed {
			r.fail("want %s; the victim was forwarded instead (%s)", w, g)
		}
	}
	if echoed && w.Check != nil {
		if s := r.bs.bySeq(g.seq()); s != nil {
			if p := w.Check(s); p != "" {
				r.fail("the backend's copy of the victim: %s", p)
			}
		}
	}
}

// brokenReply reports whether the backend's answer to the victim has a
// head net/http reads and a body it cannot (cut off or malformed): then a
// proxy that had not sent anything yet may close the client connection.
func (r *runner) brokenReply() bool {
	a := r.v.victimAct()
	if r.v.Want.Kind != Relay || a == nil {
		return false
	}
	rp := readReply([]byte(a.Reply), r.v.method())
	return rp.HeadErr == nil && rp.BodyErr != nil
}

// checkBackend checks what the backends saw against what the clients sent.
func (r *runner) checkBackend() {
	seen, junk := r.bs.since(r.start)
	for _, j := range junk {
		r.fail("backend %d could not read what the proxy sent on conn %d (%v): %s", j.Backend, j.Conn, j.Err, quote(j.Raw, 200))
	}
	known := map[string]*request{}
	for _, p := range reservedPaths {
		known[p] = nil
	}
	for i := range r.v.Warm {
		known["/warm-"+strconv.Itoa(i)] = nil
	}
	sent := map[string]int{} // how many requests of each path the clients sent
	for _, q := range r.st.Reqs {
		sent[q.Path()]++
		if _, dup := known[q.Path()]; !dup {
			known[q.Path()] = q
		}
	}
	count := map[string]int{}
	for _, s := range seen {
		path := s.Req.Path()
		for _, p := range s.Problems {
			r.fail("the proxy forwarded %s %q malformed: %s", s.Req.Method, path, p)
		}
		q, ok := known[path]
		if slices.Contains(statusPaths, path) {
			r.fail("the proxy forwarded its own status endpoint %s %q to the backend", s.Req.Method, path)
			continue
		}
		if !ok {
			r.fail("the backend got %s %q, which no client sent (as net/http reads the bytes): smuggled or mangled: %s", s.Req.Method, path, quote(s.Req.Raw, 200))
			continue
		}
		count[path]++
		if q == nil {
			continue
		}
		switch {
		case s.Req.Method != q.Method:
			r.fail("the backend got %s %q; the client sent %s", s.Req.Method, path, q.Method)
		case s.Req.URL.RawQuery != q.URL.RawQuery:
			r.fail("the backend got %s %q with query %q; the client sent %q", s.Req.Method, path, s.Req.URL.RawQuery, q.URL.RawQuery)
		case !s.BodyCut && s.Act == nil && !bytes.Equal(s.Req.Body, q.Body):
			r.fail("the backend got %s %q with body %s; the client sent body %s", s.Req.Method, path, quote(s.Req.Body, 80), quote(q.Body, 80))
		}
	}
	for path, n := range count {
		q := known[path]
		if n > max(sent[path], 1) && q != nil && !idempotent(q) {
			r.fail("%s %q reached the backend %d times, sent %d times; it is not idempotent and must be sent at most once each", q.Method, path, n, sent[path])
		}
	}
	// A request the proxy refused, and everything after it on the
	// connection, must not reach the backend; after a victim that had to
	// close the connection, nothing later may.
	before := map[string]bool{}
	for i, q := range r.st.Reqs {
		g := r.at(i)
		if g != nil && r.isRefusal(g) && slices.Contains(refusalCodes, g.status()) && !(i == r.victim && r.v.isResponse()) {
			for _, q := range r.st.Reqs[i:] {
				if count[q.Path()] > 0 && !before[q.Path()] {
					r.fail("the proxy refused %s %q with %d, yet the backend got %s %q, which came with or after it", r.st.Reqs[i].Method, r.st.Reqs[i].Path(), g.status(), q.Method, q.Path())
				}
			}
			break
		}
		if i == r.victim && r.v.Want.Close && g != nil {
			for _, q := range r.st.Reqs[i+1:] {
				if count[q.Path()] > 0 && !before[q.Path()] {
					r.fail("%s %q came after the victim on a connection that had to close, yet it reached the backend", q.Method, q.Path())
				}
			}
		}
		before[q.Path()] = true
	}
	// Every echo the backend wrote for the victim connection reached it.
	for _, s := range seen {
		q := known[s.Req.Path()]
		if q == nil || !s.Answered || s.Act != nil || r.gotEchoFor(s.Req.Path()) {
			continue
		}
		r.fail("the backend answered %s %q (#%d) but the client never got that answer (dropped)", s.Req.Method, s.Req.Path(), s.Seq)
	}
}

func (r *runner) gotEchoFor(path string) bool {
	for _, g := range r.gots {
		if s := r.bs.bySeq(g.seq()); s != nil && s.Req.Path() == path {
			return true
		}
	}
	return false
}

// idempotent reports whether q may reach the backend more than once (RFC
// 9110 9.2.2, or an Idempotency-Key).
func idempotent(q *request) bool {
	if q.Header.Get("Idempotency-Key") != "" {
		return true
	}
	switch q.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// report describes the run for a failure message.
func (r *runner) report() string {
	var b strings.Builder
	v := r.v
	fmt.Fprintf(&b, "vector %s/%s [%s] through the %s forwarder: want %s\n", v.Class, v.Name, v.Source, r.fwd, v.Want)
	if len(r.viol) > 0 {
		b.WriteString("  violations:\n")
		for _, s := range r.viol {
			b.WriteString("    - " + s + "\n")
		}
	}
	if a := v.victimAct(); a != nil {
		fmt.Fprintf(&b, "  backend script for %s: %s", v.victimPath(), a.Do)
		if a.Reply != "" {
			fmt.Fprintf(&b, " %s", quote([]byte(a.Reply), 200))
		}
		b.WriteString("\n")
	}
	if r.cl != nil {
		fmt.Fprintf(&b, "  victim connection sent: %s\n", quote(r.cl.sent, 300))
		fmt.Fprintf(&b, "  victim connection got:  %s\n", quote(r.cl.m.tape.bytes(), 400))
	}
	for _, n := range r.notes {
		b.WriteString("  note: " + n + "\n")
	}
	seen, junk := r.bs.since(r.start)
	b.WriteString("  backend saw:\n")
	if len(seen) == 0 {
		b.WriteString("    nothing\n")
	}
	for _, s := range seen {
		b.WriteString("    " + s.String() + "\n")
	}
	for _, j := range junk {
		fmt.Fprintf(&b, "    unreadable on backend %d conn %d (%v): %s\n", j.Backend, j.Conn, j.Err, quote(j.Raw, 200))
	}
	if os.Getenv("H1SAFETY_LOG") != "" {
		b.WriteString("  balancer log:\n" + r.lb.logs.String())
	}
	return b.String()
}
