package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// schemaFile is the JSON Schema of the result files, beside results/README.md.
const schemaFile = "../results/schema.json"

// TestResultSchema writes results by real runs against a server on
// 127.0.0.1 (attacks of both models, scenarios with a warm-up, phases, a
// timeline, expectations, variants and errors) and checks each against
// results/schema.json, which also fixes the precision of every figure
// (multipleOf). The examples in results/examples/ are checked too.
func TestResultSchema(t *testing.T) {
	isolate(t)
	c := jsonschema.NewCompiler()
	sch, err := c.Compile(schemaFile)
	require.NoError(t, err)

	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		if i%7 == 0 {
			http.Error(w, "no backend", http.StatusServiceUnavailable) // the balancer's own error: no X-Backend
			return
		}
		w.Header().Set("X-Backend", []string{"b1", "b2", "b3"}[i%3])
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	body := filepath.Join(t.TempDir(), "body.json")
	require.NoError(t, os.WriteFile(body, []byte(`{"x":1}`), 0o644))
	scen := func(name, doc string) string {
		p := filepath.Join(dir, name+".yaml")
		require.NoError(t, os.WriteFile(p, []byte("name: "+name+"\ntarget: "+srv.URL+"/info\n"+doc), 0o644))
		return p
	}

	tests := []struct {
		name string
		args []string
	}{
		{"attack, closed model", []string{"attack", "--url", srv.URL, "-n", "300", "-c", "4", "-H", "X-A: 1", "--body", body, "--method", "POST", "-o", filepath.Join(dir, "closed.json")}},
		{"attack, open model", []string{"attack", "--url", srv.URL, "-rate", "100/1s", "-n", "60", "-o", filepath.Join(dir, "open.json")}},
		{"attack, poisson", []string{"attack", "--url", srv.URL, "-rate", "200", "--arrivals", "poisson", "--seed", "7", "-n", "60", "-o", filepath.Join(dir, "poisson.json")}},
		// slow: 1ns makes every success slow, so the seconds carry their
		// slow fields.
		{"scenario with a warm-up, phases and expectations", []string{"run", "--out", dir, scen("phases",
			"rate: 100\nduration: 1500ms\nwarmup: 300ms\nslow: 1ns\ntimeline:\n  - at: 700ms\n    action: mark\n    phase: later\n    note: half way\n"+
				"expect:\n  max_error_rate: 50%\n  max_p99: 1ns\n  phases:\n    later:\n      min_success_rate: 10%\n      traffic_to: [1]\n")}},
		{"scenario with variants", []string{"run", "--out", dir, scen("variants",
			"concurrency: 2\nrequests: 100\nvariants:\n  - name: a\n  - name: b\n")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, append(tt.args, "--quiet")...)
			require.Contains(t, []int{exitOK, exitExpectation}, code, stderr+stdout)
		})
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	require.Len(t, files, len(tests))
	examples, err := filepath.Glob("../results/examples/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, examples, "results/examples/ holds a real result")
	for _, f := range append(files, examples...) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			validate(t, sch, f)
		})
	}
}

func validate(t *testing.T, sch *jsonschema.Schema, path string) {
	t.Helper()
	fh, err := os.Open(path)
	require.NoError(t, err)
	defer fh.Close()
	doc, err := jsonschema.UnmarshalJSON(fh)
	require.NoError(t, err)
	require.NoError(t, sch.Validate(doc))
}

// checkResultSchema checks one result file against results/schema.json.
func checkResultSchema(t *testing.T, path string) {
	t.Helper()
	sch, err := jsonschema.NewCompiler().Compile(schemaFile)
	require.NoError(t, err)
	validate(t, sch, path)
}
