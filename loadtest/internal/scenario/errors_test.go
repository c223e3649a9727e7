package scenario

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseReportsEverything checks that one Parse reports every problem of
// a file at once (unknown keys, bad values and semantic errors together),
// each on the line it is on, in line order, and nothing that only follows
// from another problem.
func TestParseReportsEverything(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // the whole error, one problem a line
	}{
		{
			name: "indentation error on the line it is on",
			doc: `name: x
target: http://127.0.0.1:8080/
rate: 10
duration: 10s
timeline:
  - at: 1s
    action: kill
   target: 2
`,
			want: []string{`x.yaml:8: did not find expected '-' indicator`},
		},
		{
			name: "over-indented key in a mapping",
			doc: `target: http://127.0.0.1:8080/
rate: 10
duration: 10s
expect:
  phases:
    steady:
      max_p99: 1s
       max_errors: 1
`,
			want: []string{`x.yaml:8: mapping values are not allowed in this context`},
		},
		{
			name: "unknown keys, bad values and semantic errors in one round",
			doc: `name: failover
target: http://127.0.0.1:8080/info
ratee: 100
rate: 100
duration: 10 parsecs
warmup: 2
timeline:
  - at: soon
    action: kill
    targt: 2
  - at: 5s
    action: explode
algorithms: [round_robin, fastest]
expect:
  max_error_rate: lots
  max_p999: 500ms
`,
			want: []string{
				`x.yaml:3: ratee: unknown key (did you mean "rate"?)`,
				`x.yaml:5: duration: bad duration "10 parsecs": want e.g. 30s, 1m30s, 250ms or a number of seconds`,
				`x.yaml:8: timeline[0].at: bad duration "soon": want e.g. 30s, 1m30s, 250ms or a number of seconds`,
				`x.yaml:10: timeline[0].targt: unknown key (did you mean "target"?)`,
				`x.yaml:12: timeline[1].action: unknown action "explode"; known: ` + strings.Join(Actions, ", "),
				`x.yaml:13: algorithms[1]: unknown algorithm "fastest"; known: ` + strings.Join(Algorithms, ", "),
				`x.yaml:15: expect.max_error_rate: bad percentage "lots": want e.g. 2% or 99.5% (0 to 100)`,
				`x.yaml:16: expect.max_p999: unknown key (did you mean "max_p99"?)`,
			},
		},
		{
			name: "a bad value is reported once, not again as missing",
			doc: `target: http://127.0.0.1:8080/
rate: lots
duration: [10s]
timeline:
  - at: 1s
    action: scale
    replicas: five
  - at: 2s
    action: {kill: 2}
`,
			want: []string{
				`x.yaml:2: rate: "lots" is not a whole number`,
				`x.yaml:3: duration: want a duration (e.g. 30s, 1m30s, 250ms or a number of seconds), not a list`,
				`x.yaml:7: timeline[0].replicas: "five" is not a whole number`,
				`x.yaml:9: timeline[1].action: want a string, not a mapping`,
			},
		},
		{
			name: "did you mean, deep in the file",
			doc: `target: http://127.0.0.1:8080/
rate: 10
duration: 10s
keep_alive: false
lab:
  servce: backend
  shape:
    service: {backend: 3}
timeline:
  - at: 1s
    action: mark
    phase: down
expect:
  phases:
    down:
      no_trafic_to: [2]
      colour: red
`,
			want: []string{
				`x.yaml:4: keep_alive: unknown key (did you mean "keepalive"?)`,
				`x.yaml:6: lab.servce: unknown key (did you mean "service"?)`,
				`x.yaml:8: lab.shape.service: unknown key (did you mean "services"?)`,
				`x.yaml:16: expect.phases.down.no_trafic_to: unknown key (did you mean "no_traffic_to"?)`,
				`x.yaml:17: expect.phases.down.colour: unknown key; known: max_errors, max_error_rate, min_success_rate, max_p50, max_p95, max_p99, min_rate, no_traffic_to, traffic_to`,
			},
		},
		{
			name: "a key set twice",
			doc:  "target: http://127.0.0.1:8080/\nrate: 10\nduration: 10s\nrate: 20\n",
			want: []string{`x.yaml:4: rate: set twice (first on line 2)`},
		},
		{
			name: "a setting set twice",
			doc:  "target: http://127.0.0.1:8080/\nrate: 10\nduration: 10s\ntimeline:\n  - at: 1s\n    action: configure\n    target: 2\n    settings:\n      latency: 1ms\n      latency: 2ms\n",
			want: []string{`x.yaml:10: timeline[0].settings.latency: set twice (first on line 9)`},
		},
		{
			name: "a list where a mapping belongs",
			doc:  "target: http://127.0.0.1:8080/\nrate: 10\nduration: 10s\nexpect: [max_errors]\n",
			want: []string{`x.yaml:4: expect: want a mapping, not a list`},
		},
		{
			name: "a section that is not a mapping is not checked as an empty one",
			doc:  "target: http://127.0.0.1:8080/\nduration: 10s\nalgorithms: [random]\nsupermarket: 0.8\nlab:\n  shape: [backend]\n",
			want: []string{
				`x.yaml:4: supermarket: want a mapping, not "0.8"`,
				`x.yaml:6: lab.shape: want a mapping, not a list`,
			},
		},
		{
			name: "configure's settings: did you mean and bad values together",
			doc: `target: http://127.0.0.1:8080/
rate: 10
duration: 10s
timeline:
  - at: 1s
    action: configure
    target: 2
    settings: {latancy: 200ms, error_rate: 130%}
`,
			want: []string{
				`x.yaml:8: timeline[0].settings: settings.error_rate: 130%: must be between 0 and 1 (0% and 100%)`,
				`x.yaml:8: timeline[0].settings: settings.latancy: unknown setting (did you mean "latency"?); known: ` + strings.Join(BackendSettings, ", "),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tt.doc))
			require.Error(t, err)
			assert.Equal(t, strings.Join(tt.want, "\n"), err.Error())
		})
	}
}

// TestSyntaxErrorLine checks the line of YAML syntax errors that the YAML
// library places on the line where the enclosing block starts.
func TestSyntaxErrorLine(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"sequence entry out of line", "a:\n  - 1\n  - 2\n - 3\n", "x.yaml:4: "},
		{"unclosed flow list", "name: [\n", "x.yaml:1: "},
		{"tab indentation", "a:\n\tb: 1\n", "x.yaml:2: "},
		{"unclosed quote", "a: 1\nb: \"x\nc: 2\n", "x.yaml:2: "},
		{"mapping in a scalar", "a: b: c\n", "x.yaml:1: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tt.doc))
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), tt.want), "got %q, want the prefix %q", err, tt.want)
		})
	}
}

// TestMergeKeys: YAML merge keys work as with yaml.v3's own decoder, the
// mapping's own keys winning.
func TestMergeKeys(t *testing.T) {
	doc := `target: http://127.0.0.1:8080/
rate: 10
duration: 10s
timeline:
  - &down {at: 1s, action: mark, phase: a, note: shared}
  - <<: *down
    at: 2s
    phase: b
`
	s, err := Parse("x.yaml", []byte(doc))
	require.NoError(t, err)
	require.Len(t, s.Timeline, 2)
	assert.Equal(t, Action{At: Duration(2 * time.Second), Action: Mark, Phase: "b", Note: "shared"}, s.Timeline[1])
}
