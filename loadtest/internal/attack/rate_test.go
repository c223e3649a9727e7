package attack

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr string
	}{
		{in: "100", want: 100},
		{in: "100/1s", want: 100},
		{in: "100/s", want: 100},
		{in: "50/500ms", want: 100},
		{in: "6000/1m", want: 100},
		{in: " 7 / 1s ", want: 7},
		{in: "0", want: 0},
		{in: "infinity", want: 0},
		{in: "Infinity", want: 0},
		{in: "0/1s", want: 0},
		{in: "", wantErr: `bad rate "": want`},
		{in: "fast", wantErr: `bad rate "fast": want`},
		{in: "-5", wantErr: `bad rate "-5": want`},
		{in: "100/fortnight", wantErr: `bad rate "100/fortnight": "fortnight" is not a duration`},
		{in: "100/0s", wantErr: `bad rate "100/0s": the duration must be above 0`},
		{in: "100/-1s", wantErr: `bad rate "100/-1s": the duration must be above 0`},
		{in: "1/3s", wantErr: `bad rate "1/3s": 0.333 requests per second; the rate must come to a whole number of requests per second`},
		{in: "1.5", wantErr: `bad rate "1.5": want`},
		{in: "99999999999", wantErr: `bad rate "99999999999": above the most, 1000000 requests per second`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
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
