package settings

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixedRand returns the same values every call.
type fixedRand struct{ f, norm, exp float64 }

func (r fixedRand) Float64() float64     { return r.f }
func (r fixedRand) NormFloat64() float64 { return r.norm }
func (r fixedRand) ExpFloat64() float64  { return r.exp }

func TestParseLatency(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Latency
		str     string
		wantErr string
	}{
		{name: "empty", in: "", want: Latency{}, str: "0s"},
		{name: "zero", in: "0", want: Latency{}, str: "0s"},
		{name: "none", in: "none", want: Latency{}, str: "0s"},
		{name: "plain duration", in: "20ms", want: Latency{Kind: LatencyFixed, A: 20 * time.Millisecond}, str: "20ms"},
		{name: "fixed kind", in: "fixed:1.5s", want: Latency{Kind: LatencyFixed, A: 1500 * time.Millisecond}, str: "1.5s"},
		{name: "normal", in: "normal:20ms,5ms", want: Latency{Kind: LatencyNormal, A: 20 * time.Millisecond, B: 5 * time.Millisecond}, str: "normal:20ms,5ms"},
		{name: "normal spaces and case", in: " Normal: 20ms , 5ms ", want: Latency{Kind: LatencyNormal, A: 20 * time.Millisecond, B: 5 * time.Millisecond}, str: "normal:20ms,5ms"},
		{name: "normal no spread is fixed", in: "normal:20ms,0", want: Latency{Kind: LatencyFixed, A: 20 * time.Millisecond}, str: "20ms"},
		{name: "uniform", in: "uniform:10ms,50ms", want: Latency{Kind: LatencyUniform, A: 10 * time.Millisecond, B: 50 * time.Millisecond}, str: "uniform:10ms,50ms"},
		{name: "exp", in: "exp:20ms", want: Latency{Kind: LatencyExp, A: 20 * time.Millisecond}, str: "exp:20ms"},
		{name: "tail", in: "tail:2ms,100ms", want: Latency{Kind: LatencyTail, A: 2 * time.Millisecond, B: 100 * time.Millisecond}, str: "tail:2ms,100ms"},
		{name: "exponential alias", in: "exponential:1s", want: Latency{Kind: LatencyExp, A: time.Second}, str: "exp:1s"},
		{name: "exp zero is none", in: "exp:0", want: Latency{}, str: "0s"},
		{name: "unknown kind", in: "pareto:1s", wantErr: `unknown distribution "pareto"`},
		{name: "too few", in: "normal:20ms", wantErr: "normal takes 2 duration(s), got 1"},
		{name: "too many", in: "exp:1s,2s", wantErr: "exp takes 1 duration(s), got 2"},
		{name: "bad duration", in: "20", wantErr: `bad duration "20"`},
		{name: "negative", in: "-5ms", wantErr: "out of range"},
		{name: "too long", in: "2h", wantErr: "out of range"},
		{name: "uniform reversed", in: "uniform:50ms,10ms", wantErr: "max 10ms is less than min 50ms"},
		{name: "empty param", in: "fixed:", wantErr: "bad duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLatency(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.str, got.String())
		})
	}
}

func TestLatencySample(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		spec string
		r    fixedRand
		want time.Duration
	}{
		{name: "none", spec: "0", want: 0},
		{name: "fixed", spec: "20ms", want: 20 * ms},
		{name: "normal +1 sd", spec: "normal:20ms,5ms", r: fixedRand{norm: 1}, want: 25 * ms},
		{name: "normal -2 sd", spec: "normal:20ms,5ms", r: fixedRand{norm: -2}, want: 10 * ms},
		{name: "normal clamped at 0", spec: "normal:20ms,5ms", r: fixedRand{norm: -10}, want: 0},
		{name: "uniform middle", spec: "uniform:10ms,50ms", r: fixedRand{f: 0.5}, want: 30 * ms},
		{name: "uniform low", spec: "uniform:10ms,50ms", r: fixedRand{f: 0}, want: 10 * ms},
		{name: "exp", spec: "exp:20ms", r: fixedRand{exp: 1.5}, want: 30 * ms},
		{name: "exp capped", spec: "exp:1h", r: fixedRand{exp: 50}, want: MaxLatency},
		{name: "tail, most requests", spec: "tail:2ms,100ms", r: fixedRand{f: 0.5}, want: 2 * ms},
		{name: "tail, the slow 1%", spec: "tail:2ms,100ms", r: fixedRand{f: 0.0099}, want: 100 * ms},
		{name: "tail, just past the 1%", spec: "tail:2ms,100ms", r: fixedRand{f: 0.01}, want: 2 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ParseLatency(tt.spec)
			require.NoError(t, err)
			assert.Equal(t, tt.want, l.Sample(tt.r))
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    Size
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "512", want: 512},
		{in: "512B", want: 512},
		{in: "64KiB", want: 64 << 10},
		{in: "64k", want: 64 << 10},
		{in: "64KB", want: 64000},
		{in: "1.5MiB", want: 3 << 19},
		{in: "2mb", want: 2_000_000},
		{in: "256MiB", want: MaxSize},
		{in: "257MiB", wantErr: "must be between 0 and"},
		{in: "1GiB", wantErr: "must be between 0 and"},
		{in: "", wantErr: "bad size"},
		{in: "KiB", wantErr: "bad size"},
		{in: "-1", wantErr: "bad size"},
		{in: "12XB", wantErr: "bad size"},
		{in: "1.2.3", wantErr: "bad size"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name       string
		patch      string
		want       func(*Settings)
		wantFields []string
		wantErr    string
	}{
		{name: "empty object changes nothing", patch: `{}`, want: func(*Settings) {}},
		{
			name:  "several fields",
			patch: `{"latency":"50ms","error_rate":0.1,"healthy":false,"capacity":4,"overflow":"reject","response_size":"1KiB","error_status":503}`,
			want: func(s *Settings) {
				s.Latency = Latency{Kind: LatencyFixed, A: 50 * time.Millisecond}
				s.ErrorRate, s.Healthy, s.Capacity, s.Overflow, s.ResponseSize, s.ErrorStatus = 0.1, false, 4, OverflowReject, 1024, 503
			},
		},
		{name: "latency distribution", patch: `{"latency":"uniform:1ms,2ms"}`, want: func(s *Settings) {
			s.Latency = Latency{Kind: LatencyUniform, A: time.Millisecond, B: 2 * time.Millisecond}
		}},
		{name: "tail latency", patch: `{"latency":"tail:2ms,100ms"}`, want: func(s *Settings) {
			s.Latency = Latency{Kind: LatencyTail, A: 2 * time.Millisecond, B: 100 * time.Millisecond}
		}},
		{name: "latency seconds number", patch: `{"latency":0.25}`, want: func(s *Settings) {
			s.Latency = Latency{Kind: LatencyFixed, A: 250 * time.Millisecond}
		}},
		{name: "size number", patch: `{"response_size":2048}`, want: func(s *Settings) { s.ResponseSize = 2048 }},
		{name: "error rate range", patch: `{"error_rate":1.5}`, wantFields: []string{"error_rate"}, wantErr: "error_rate: must be between 0 and 1 (got 1.5)"},
		{name: "error rate type", patch: `{"error_rate":"x"}`, wantFields: []string{"error_rate"}, wantErr: `error_rate: bad value "x": want a number`},
		{name: "status range", patch: `{"error_status":200}`, wantFields: []string{"error_status"}, wantErr: "between 400 and 599"},
		{name: "bad latency", patch: `{"latency":"soon"}`, wantFields: []string{"latency"}, wantErr: `latency: bad value "soon"`},
		{name: "bad overflow", patch: `{"overflow":"drop"}`, wantFields: []string{"overflow"}, wantErr: `must be "queue" or "reject"`},
		{name: "healthy type", patch: `{"healthy":"no"}`, wantFields: []string{"healthy"}, wantErr: "want true or false"},
		{name: "negative capacity", patch: `{"capacity":-1}`, wantFields: []string{"capacity"}, wantErr: "capacity: must be between 0"},
		{name: "unknown and bad together", patch: `{"bogus":1,"error_rate":2}`, wantFields: []string{"bogus", "error_rate"}, wantErr: "bogus: unknown setting"},
		{name: "not an object", patch: `[1]`, wantErr: "want a JSON object"},
		{name: "trailing data", patch: `{} {}`, wantErr: "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := Default()
			got, err := base.Apply([]byte(tt.patch))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Equal(t, tt.wantFields, Fields(err))
				assert.Equal(t, base, got, "settings unchanged on error")
				return
			}
			require.NoError(t, err)
			want := Default()
			tt.want(&want)
			assert.Equal(t, want, got)
		})
	}
}

func TestValidate(t *testing.T) {
	s := Settings{ErrorRate: -1, ErrorStatus: 99, Capacity: -3, Overflow: "x", ResponseSize: -1, Latency: Latency{Kind: "weird"}}
	err := s.Validate()
	require.Error(t, err)
	assert.ElementsMatch(t, []string{"error_rate", "error_status", "capacity", "overflow", "response_size", "latency"}, Fields(err))
	assert.Equal(t, 6, strings.Count(err.Error(), "\n")+1)
	assert.NoError(t, Default().Validate())
}

// FuzzParseLatency checks that the parser never panics, that accepted specs
// round-trip through String, and that samples stay in [0, MaxLatency].
func FuzzParseLatency(f *testing.F) {
	for _, s := range []string{"", "0", "20ms", "fixed:1s", "normal:20ms,5ms", "uniform:10ms,50ms",
		"exp:20ms", "EXPONENTIAL:1h", "normal:1h,1h", "uniform:0,0", " : , ", "x:1s", "1e3ms", "normal:,"} {
		f.Add(s, 0.5, 1.0, 1.0)
	}
	f.Fuzz(func(t *testing.T, spec string, u, norm, exp float64) {
		l, err := ParseLatency(spec)
		if err != nil {
			return
		}
		require.NoError(t, Settings{Latency: l, ErrorStatus: 500, Overflow: OverflowQueue}.Validate())
		again, err := ParseLatency(l.String())
		require.NoError(t, err, "String() %q must parse", l.String())
		require.Equal(t, l, again)
		if u < 0 || u >= 1 {
			u = 0
		}
		d := l.Sample(fixedRand{f: u, norm: norm, exp: exp})
		require.GreaterOrEqual(t, d, time.Duration(0))
		require.LessOrEqual(t, d, MaxLatency)
	})
}
