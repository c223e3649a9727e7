package report

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackendColor(t *testing.T) {
	// The same label, the same colour, whatever else is in the run.
	assert.Equal(t, palette[0], BackendColor("backend_1"))
	assert.Equal(t, palette[1], BackendColor("backend-2"))
	assert.Equal(t, palette[2], BackendColor("backend.3.ab12cd"))
	assert.Equal(t, BackendColor("backend-slow_1"), BackendColor("backend-slow_1"))
	assert.NotEqual(t, BackendColor("backend_1"), BackendColor("backend-slow_1"), "another service starts elsewhere")
	seen := map[string]string{}
	for i := 1; i <= len(palette); i++ {
		c := BackendColor("backend_" + string(rune('0'+i%10)))
		if i < 10 {
			assert.NotContains(t, seen, c, "backend_%d", i)
		}
		seen[c] = "x"
	}
}

// TestLabelRows: labels 4 s apart on a 60 s chart (about 64 px apart) do
// not overlap: "kill backend:2" and "detected" once ran into each other.
func TestLabelRows(t *testing.T) {
	xs := []float64{100, 164, 228, 600}
	texts := []string{"kill backend:2", "detected", "start backend:2", "recovered"}
	rows := labelRows(xs, texts, 4)
	type span struct{ row, from, to int }
	var spans []span
	for i := range xs {
		spans = append(spans, span{rows[i], int(xs[i]), int(xs[i]) + len(texts[i])*6})
	}
	for i := range spans {
		for j := range i {
			a, b := spans[i], spans[j]
			if a.row == b.row {
				assert.False(t, a.from < b.to && b.from < a.to, "%q and %q overlap on row %d", texts[i], texts[j], a.row)
			}
		}
	}
	assert.Equal(t, []int{0, 1, 0, 0}, rows)
}

func TestComparisonView(t *testing.T) {
	r := sampleResult("algorithms", 20, 1)
	second := sampleResult("b", 40, 2).Runs[0]
	second.Total.Errors, second.Total.ErrorRate = 7, 0.0035
	r.Runs[0].Label, second.Label = "round_robin", "least_connections"
	r.Runs = append(r.Runs, second)
	var buf bytes.Buffer
	require.NoError(t, WriteHTML(&buf, r))
	out := buf.String()
	head := out[:strings.Index(out, "<h2>Run ")]
	assert.Contains(t, head, "<h2>Comparison</h2>", "the comparison comes before the runs")
	assert.Contains(t, head, "round_robin")
	assert.Contains(t, head, "least_connections")
	assert.Contains(t, head, "7 (0.35%)")
	assert.Contains(t, head, BackendColor("backend_1"))
	assert.Contains(t, head, "p99 40.0ms")

	one := sampleResult("failover", 20, 1)
	buf.Reset()
	require.NoError(t, WriteHTML(&buf, one))
	assert.NotContains(t, buf.String(), "<h2>Comparison</h2>", "one run: nothing to compare")
}

// TestComparisonViewHoldsEveryBackend: with ten backends the colour key
// takes four rows; the picture is tall enough for all of them (once the
// fourth row, backend_9, was drawn below its bottom edge), and replicas come
// in their numbers' order.
func TestComparisonViewHoldsEveryBackend(t *testing.T) {
	r := sampleResult("supermarket", 20, 1)
	r.Runs = append(r.Runs, sampleResult("supermarket", 30, 2).Runs[0])
	for i := range r.Runs {
		run := &r.Runs[i]
		run.Total.Backends = map[string]int{}
		run.Containers = map[string]string{}
		for n := 1; n <= 10; n++ {
			key := fmt.Sprintf("b%d", n)
			run.Total.Backends[key] = 100
			run.Containers[key] = fmt.Sprintf("lblab_backend_%d", n)
		}
	}
	view := string(comparisonHTML(r))
	m := regexp.MustCompile(`<svg width="\d+" height="(\d+)"`).FindStringSubmatch(view)
	require.NotNil(t, m, "no picture")
	height, _ := strconv.Atoi(m[1])
	var order []string
	for _, lm := range regexp.MustCompile(`<text x="[0-9.]+" y="([0-9.]+)" font-size="10">(backend_\d+)</text>`).FindAllStringSubmatch(view, -1) {
		y, _ := strconv.ParseFloat(lm[1], 64)
		assert.LessOrEqual(t, y+3, float64(height), "%s is drawn at y=%v, below the picture's height %d", lm[2], y, height)
		order = append(order, lm[2])
	}
	want := []string{"backend_1", "backend_2", "backend_3", "backend_4", "backend_5", "backend_6", "backend_7", "backend_8", "backend_9", "backend_10"}
	assert.Equal(t, want, order)
}

func TestCompareBackendLabels(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"backend_2", "backend_10", -1},
		{"backend_10", "backend_9", 1},
		{"backend_3", "backend_3", 0},
		{"backend-slow_1", "backend_1", -1}, // another service: by text
		{"10.0.0.2:8000", "10.0.0.10:8000", 1},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, CompareBackendLabels(tc.a, tc.b), "%s vs %s", tc.a, tc.b)
	}
}

func TestComparable(t *testing.T) {
	same := func() []*Result { return []*Result{sampleResult("failover", 20, 1), sampleResult("failover", 22, 2)} }
	names := []string{"a.json", "b.json"}
	assert.NoError(t, Comparable(names, same()), "the same scenario and load")

	rs := same()
	rs[1].Settings.Target = "http://10.0.0.1:18080/" // another lab, the same load
	assert.NoError(t, Comparable(names, rs))

	tests := []struct {
		name string
		mod  func(*Result)
		want string
	}{
		{"another scenario", func(r *Result) { r.Scenario.Name = "hang" }, `b.json is of scenario "hang", a.json of "failover"`},
		{"another rate", func(r *Result) { r.Settings.Rate = 200 }, "b.json: rate 200, not 100"},
		{"poisson against constant", func(r *Result) { r.Settings.Model, r.Settings.Arrivals = "open", "poisson" }, "arrivals poisson, not"},
		{"another path", func(r *Result) { r.Settings.Target = "http://127.0.0.1:8080/sleep?d=50ms" }, "target path /sleep?d=50ms, not /"},
		{"another duration", func(r *Result) { r.Settings.DurationS = 60 }, "duration 60, not 21"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := same()
			tt.mod(rs[1])
			err := Comparable(names, rs)
			require.Error(t, err)
			assert.ErrorContains(t, err, tt.want)
			assert.ErrorContains(t, err, "--force")
		})
	}
}

func TestSupermarketReport(t *testing.T) {
	r := sampleResult("supermarket", 20, 1)
	r.Runs[0].Algorithm, r.Runs[0].Label = "random", "random rho=0.80"
	r.Runs[0].Queue = &Queue{Servers: 10, RhoTarget: 0.8, Rho: 0.79, ServiceMs: 20.5, Mean: 5.2, TheoryMean: 4.76,
		P99: 24, TheoryP99: 21.9, AtBackends: 4.9, Theory: "M/M/1"}
	r.Calibration = &Calibration{LatencySetting: "exp:20ms", NominalMs: 20, Rate: 250, ServiceMs: 20.5}
	var buf bytes.Buffer
	require.NoError(t, WriteHTML(&buf, r))
	assert.Contains(t, buf.String(), "Supermarket: time in system against queueing theory")
	assert.Contains(t, buf.String(), "<td>&#43;9.2%</td>", "mean 5.2 against 4.76")
	buf.Reset()
	require.NoError(t, WriteTables(&buf, r))
	assert.Contains(t, buf.String(), "+9.2%")
	assert.Contains(t, buf.String(), "M/M/1")
}

// TestNoWarmupNotes: tables and the comparison say "after warm-up" only
// when the runs had one.
func TestNoWarmupNotes(t *testing.T) {
	for _, warm := range []float64{0, 2000} {
		r := sampleResult("variants", 20, 1)
		second := sampleResult("b", 40, 2).Runs[0]
		r.Runs = append(r.Runs, second)
		r.Settings.WarmupS = warm / 1000
		for i := range r.Runs {
			r.Runs[i].WarmupMs = warm
		}
		var buf bytes.Buffer
		require.NoError(t, WriteHTML(&buf, r))
		head := buf.String()[:strings.Index(buf.String(), "<h2>Run ")]
		buf.Reset()
		require.NoError(t, WriteTables(&buf, r))
		tables := buf.String()
		if warm == 0 {
			assert.NotContains(t, head, "warm-up")
			assert.Contains(t, tables, "\nRuns\n")
		} else {
			assert.Contains(t, head, "after warm-up")
			assert.Contains(t, head, "after its warm-up")
			assert.Contains(t, tables, "\nRuns (after warm-up)\n")
		}
	}
}
