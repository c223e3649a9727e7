package h1safety

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// Fuzzing with the oracles. Each fuzz worker process runs one balancer and
// one scripted backend and sends every input through them, so an input
// costs a few round trips on loopback. The forwarder is the lean one;
// H1SAFETY_FORWARDER=reverseproxy picks the other.
//
//	go test -run '^$' -fuzz FuzzResponsePath -fuzztime 10m ./lb/test/h1safety/
//	go test -run '^$' -fuzz FuzzRequestPath -fuzztime 10m ./lb/test/h1safety/
//
// The seeds are the corpus's vectors, in testdata/fuzz (TestFuzzSeeds keeps
// them in step with the corpus; -h1safety.update rewrites them). go test
// runs them as tests, each on a balancer of its own; when fuzzing, a
// failing seed stops the run before it starts.

var updateSeeds = flag.Bool("h1safety.update", false, "rewrite testdata/fuzz from the corpus")

// fuzzMethods are the victim's methods a response input picks from.
var fuzzMethods = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete}

// fixture runs a fuzz target's inputs. In a fuzzing worker one balancer
// and its backend serve every input in turn; otherwise (go test running
// the seeds) each input runs in parallel on a balancer of its own, as
// TestSafety's vectors do.
type fixture struct {
	fwd    string
	shared bool
	bs     *backends
	lb     *balancer
	n      atomic.Int64
}

func newFixture(f *testing.F) *fixture {
	fwd := os.Getenv("H1SAFETY_FORWARDER")
	if fwd == "" {
		fwd = "lean"
	}
	fx := &fixture{fwd: fwd}
	if w := flag.Lookup("test.fuzzworker"); (w == nil || w.Value.String() != "true") && os.Getenv("H1SAFETY_SHARED") == "" {
		return fx
	}
	fx.shared = true
	fx.bs = startBackends(f, 1, false)
	fx.lb = startBalancer(f, lbConfig{Forwarder: fwd, Backends: fx.bs.addrs, Retries: 1})
	f.Cleanup(func() {
		fx.lb.stop()
		fx.bs.close()
	})
	return fx
}

// run runs v and fails t with the report on a violation.
func (fx *fixture) run(t *testing.T, v *Vector) {
	if !fx.shared {
		t.Parallel()
		if o := runVector(t, v, fx.fwd); len(o.violations) > 0 {
			t.Fatal(o.report)
		}
		return
	}
	m := fx.bs.mark()
	o := runOn(t, v, fx.fwd, fx.bs, fx.lb)
	if len(o.violations) > 0 {
		t.Fatal(o.report)
	}
	if fx.n.Add(1)%256 == 0 {
		fx.bs.forget(m)
	}
}

// FuzzResponsePath sends a request through the balancer (sel picks its
// method and whether a second request is pipelined behind it) and has the
// backend answer it with reply. The client must get what http.ReadResponse
// reads from reply (status, body, X- fields, no body where none is
// allowed), or a 502, or, when reply's body is broken, a cut-off response;
// nothing malformed may reach it, and new clients afterwards must get their
// own answers.
func FuzzResponsePath(f *testing.F) {
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, sel byte, reply []byte) {
		if len(reply) > 64<<10 {
			return
		}
		fx.run(t, responseInput(fx.n.Add(1), sel, string(reply)))
	})
}

// responseInput makes the vector for one FuzzResponsePath input.
func responseInput(n int64, sel byte, reply string) *Vector {
	method := fuzzMethods[sel%4]
	path := "/fz-" + strconv.FormatInt(n, 10)
	req := method + " " + path + " HTTP/1.1\r\nHost: lb.test\r\n"
	if method == http.MethodPost {
		req += "Content-Length: 4\r\n\r\nbody"
	} else {
		req += "\r\n"
	}
	if sel&4 != 0 {
		req += get(path + "-next")
	}
	v := &Vector{Name: "fuzz", Class: "fuzz", Source: "FuzzResponsePath", Victim: path, Method: method,
		Client: []string{req}, Act: &Act{Reply: reply}}
	if reply == "" {
		v.Act = &Act{Do: CloseAfterRead}
	}
	v.Want = relayOr502()
	if rp := readReply([]byte(reply), method); rp.HeadErr != nil || rp.Final.StatusCode == http.StatusSwitchingProtocols {
		v.Want = reject()
	}
	return v
}

// FuzzRequestPath sends data as one client's bytes. The backend may only
// ever get requests net/http's server reads from data, in order, each at
// most once unless idempotent; the client gets their echoes in order, or
// the proxy's own refusals; nothing malformed may reach either side; new
// clients afterwards must get their own answers.
func FuzzRequestPath(f *testing.F) {
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		fx.run(t, &Vector{Name: "fuzz", Class: "fuzz", Source: "FuzzRequestPath", Client: []string{string(data)}})
	})
}

type responseSeed struct {
	name  string
	sel   byte
	reply string
}

// responseSeeds are the corpus's response vectors whose backend simply
// answers, as FuzzResponsePath inputs.
func responseSeeds() []responseSeed {
	var out []responseSeed
	for _, v := range corpus() {
		a := v.victimAct()
		if !v.isResponse() || a == nil || a.Do != Answer || a.Late != "" || len(v.Client) > 0 || len(a.Reply) > 16<<10 {
			continue
		}
		sel := byte(0)
		for i, m := range fuzzMethods {
			if m == v.method() {
				sel = byte(i)
			}
		}
		out = append(out, responseSeed{v.Class + "-" + v.Name, sel, a.Reply})
	}
	return out
}

// requestSeeds are the corpus's request vectors' bytes.
func requestSeeds() map[string]string {
	out := map[string]string{}
	for _, v := range corpus() {
		if v.isResponse() || len(v.Client) == 0 {
			continue
		}
		data := strings.Join(v.Client, "")
		if len(data) > 12<<10 {
			continue
		}
		out[v.Class+"-"+v.Name] = data
	}
	return out
}

// seedFiles returns testdata/fuzz's files as the corpus makes them.
func seedFiles() map[string]string {
	files := map[string]string{}
	for _, s := range responseSeeds() {
		files[filepath.Join("FuzzResponsePath", s.name)] = fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", s.sel, s.reply)
	}
	for name, data := range requestSeeds() {
		files[filepath.Join("FuzzRequestPath", name)] = fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
	}
	return files
}

// TestFuzzSeeds checks that testdata/fuzz holds the corpus's vectors as
// seeds (with -h1safety.update, writes them).
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz")
	want := seedFiles()
	if *updateSeeds {
		for _, sub := range []string{"FuzzResponsePath", "FuzzRequestPath"} {
			if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for name, content := range want {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, content := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		switch {
		case err != nil:
			t.Errorf("testdata/fuzz/%s: %v (run go test -run TestFuzzSeeds -h1safety.update if it is missing)", name, err)
		case string(got) != content:
			t.Errorf("testdata/fuzz/%s is stale: run go test -run TestFuzzSeeds -h1safety.update", name)
		}
	}
	if len(want) < 300 {
		t.Errorf("only %d seeds", len(want))
	}
}
