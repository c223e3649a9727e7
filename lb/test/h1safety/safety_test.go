package h1safety

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
)

var reportFile = flag.String("h1safety.report", "", "write one line per vector and forwarder (pass/FAIL, class, name, first violation) to this file")

// TestSafety runs every vector of the corpus through both forwarders, each
// on a balancer and backends of its own, and checks the invariants and the
// vector's expectation (see doc.go).
func TestSafety(t *testing.T) {
	vs := corpus()
	sum := &summary{}
	t.Cleanup(func() { sum.log(t) })
	for _, fwd := range forwarders {
		t.Run(fwd, func(t *testing.T) {
			t.Parallel()
			for _, v := range vs {
				t.Run(v.Class+"/"+v.Name, func(t *testing.T) {
					t.Parallel()
					o := runVector(t, v, fwd)
					sum.add(o)
					if len(o.violations) > 0 {
						t.Error(o.report)
					}
				})
			}
		})
	}
}

// summary collects the outcomes for the closing log and -h1safety.report.
type summary struct {
	// mu guards outs.
	mu   sync.Mutex
	outs []outcome
}

func (s *summary) add(o outcome) {
	s.mu.Lock()
	s.outs = append(s.outs, o)
	s.mu.Unlock()
}

func (s *summary) log(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sort.Slice(s.outs, func(i, j int) bool {
		a, b := s.outs[i], s.outs[j]
		if a.fwd != b.fwd {
			return a.fwd < b.fwd
		}
		if a.v.Class != b.v.Class {
			return a.v.Class < b.v.Class
		}
		return a.v.Name < b.v.Name
	})
	type key struct{ fwd, class string }
	fails, runs := map[key]int{}, map[key]int{}
	var lines []string
	for _, o := range s.outs {
		k := key{o.fwd, o.v.Class}
		runs[k]++
		state, first := "pass", ""
		if len(o.violations) > 0 {
			fails[k]++
			state, first = "FAIL", o.violations[0]
		}
		lines = append(lines, fmt.Sprintf("%s\t%s\t%s\t%s\t%s", state, o.fwd, o.v.Class, o.v.Name, first))
	}
	var keys []key
	for k := range runs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].fwd != keys[j].fwd {
			return keys[i].fwd < keys[j].fwd
		}
		return keys[i].class < keys[j].class
	})
	var b strings.Builder
	b.WriteString("failing vectors by forwarder and class:\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-13s %-14s %3d of %3d\n", k.fwd, k.class, fails[k], runs[k])
	}
	t.Log(b.String())
	if *reportFile != "" {
		if err := os.WriteFile(*reportFile, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Errorf("write %s: %v", *reportFile, err)
		}
	}
}

// TestCorpus checks the corpus itself, without a balancer: its size, its
// names, and that each expectation is consistent with what net/http reads
// from the vector's bytes.
func TestCorpus(t *testing.T) {
	vs := corpus()
	if len(vs) < 300 {
		t.Errorf("the corpus has %d vectors; issue 17 asks for at least 300", len(vs))
	}
	names := map[string]bool{}
	byClass := map[string]int{}
	for _, v := range vs {
		id := v.Class + "/" + v.Name
		byClass[v.Class]++
		if names[id] {
			t.Errorf("%s: duplicate name", id)
		}
		names[id] = true
		if v.Name == "" || v.Class == "" || v.Source == "" || v.Want.Kind == 0 {
			t.Errorf("%s: name, class, source and want are required", id)
		}
		if strings.ContainsAny(v.Name, " /") {
			t.Errorf("%s: names have no spaces or slashes", id)
		}
		for _, p := range corpusProblems(v) {
			t.Errorf("%s: %s", id, p)
		}
	}
	var classes []string
	for c := range byClass {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	var b strings.Builder
	for _, c := range classes {
		fmt.Fprintf(&b, "%s=%d ", c, byClass[c])
	}
	t.Logf("%d vectors: %s", len(vs), b.String())
}

// corpusProblems checks one vector's expectation against the oracles.
func corpusProblems(v *Vector) []string {
	var probs []string
	st := readStream([]byte(strings.Join(v.client(), "")))
	victim := -1
	paths := map[string]bool{}
	for i, q := range st.Reqs {
		if paths[q.Path()] {
			probs = append(probs, fmt.Sprintf("two requests with path %q: paths are the tokens and must differ", q.Path()))
		}
		paths[q.Path()] = true
		for _, r := range reservedPaths {
			if q.Path() == r {
				probs = append(probs, "uses the reserved path "+r)
			}
		}
		if q.Path() == v.victimPath() && victim < 0 {
			victim = i
		}
	}
	w := v.Want
	switch w.Kind {
	case Forward:
		if victim < 0 {
			probs = append(probs, fmt.Sprintf("want forward, but net/http does not read a request for %s (%v)", v.victimPath(), st.Tail))
		}
	case Refuse, Either:
		if len(w.Codes) == 0 {
			probs = append(probs, "refuse needs its status codes")
		}
		if victim < 0 && st.Tail == nil {
			probs = append(probs, "no victim and nothing malformed: which request is refused?")
		}
	case Relay, Reject:
		if victim != 0 {
			probs = append(probs, "response vectors send the victim first")
		}
		a := v.victimAct()
		if a == nil {
			probs = append(probs, "response vectors need a Reply or an Act")
			break
		}
		if w.Kind == Relay {
			rp := readReply([]byte(a.Reply), v.method())
			if a.Do != Answer {
				probs = append(probs, "relay needs the backend to answer")
			} else if rp.HeadErr != nil {
				probs = append(probs, fmt.Sprintf("want relay, but http.ReadResponse refuses the reply: %v", rp.HeadErr))
			} else if rp.Final.StatusCode == http.StatusBadGateway {
				probs = append(probs, "a relayed 502 cannot be told from the proxy's own")
			}
		}
		if len(w.Codes) == 0 && w.Kind == Reject {
			probs = append(probs, "reject needs its status codes")
		}
	}
	return probs
}
