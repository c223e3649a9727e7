package gray

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// backendStatus is one backend as /__status__ shows it.
type backendStatus struct {
	Address string `json:"address"`
	State   string `json:"state"`
	Ejected bool   `json:"ejected"`
}

// status returns the backends /__status__ shows.
func (l *lab) status(t *testing.T) []backendStatus {
	t.Helper()
	resp, err := http.Get(l.lbURL + "/__status__")
	require.NoError(t, err)
	defer resp.Body.Close()
	var st struct {
		Backends []backendStatus `json:"backends"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	return st.Backends
}

// states returns each backend's state in /__status__, by address.
func (l *lab) states(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, b := range l.status(t) {
		out[b.Address] = b.State
	}
	return out
}

func (l *lab) countState(t *testing.T, state string) int {
	n := 0
	for _, s := range l.states(t) {
		if s == state {
			n++
		}
	}
	return n
}

// Every backend fails at once (all three answer 500, counted as passive
// failures): the passive checks take one of three down, and no more: with
// the default passive_min_available_percent (50) they never leave fewer
// than half the backends available, so the clients keep getting the
// backends' answers, not the balancer's 503 "no healthy backend". Before
// the guard, all three went down at once and every request got 503 until
// the active checks (every 30 s here) brought them back.
func TestPassiveFailuresNeverTakeEveryBackendDown(t *testing.T) {
	t.Parallel()
	l := newLab(t, 3, `, "max_fails": 1, "passive_5xx": true`)
	for i := range l.ports {
		l.configure(t, i, `{"error_rate": 1, "error_status": 500}`)
	}
	for range 9 {
		a := l.send(t, http.MethodGet, nil)
		assert.Equal(t, 500, a.status, "the backends' own 500, not the balancer's 503")
	}
	assert.Equal(t, 1, l.countState(t, "down"), "one backend taken down, the others kept: %v", l.states(t))
	assert.Positive(t, l.gray(t)["passive_guard_holds"], "the failures the guard did not act on are counted")

	for i := range l.ports {
		l.configure(t, i, `{"error_rate": 0}`)
	}
	for range 6 {
		assert.Equal(t, 200, l.send(t, http.MethodGet, nil).status)
	}
}

// A try the balancer itself gives up on is no failure of its backend:
// the loser of a hedge (cancelled when the other answered), a try
// abandoned by try_timeout, a request whose client went away. With
// max_fails 1 and the guard off, one such failure counted would take the
// slow backend down; it must stay up.
func TestAbandonedTriesAreNotPassiveFailures(t *testing.T) {
	for _, c := range []struct {
		name, extra   string
		clientTimeout time.Duration
	}{
		{"hedge loser", `, "hedge_after": 0.05`, 0},
		{"try_timeout lean", `, "try_timeout": 0.1`, 0},
		{"try_timeout reverseproxy", `, "try_timeout": 0.1, "forwarder": "reverseproxy"`, 0},
		{"client gone reverseproxy", `, "forwarder": "reverseproxy"`, 100 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, 2, `, "max_fails": 1, "passive_min_available_percent": 0`+c.extra)
			l.configure(t, 0, `{"latency": "600ms"}`)
			client := &http.Client{Timeout: c.clientTimeout}
			for range 6 {
				resp, err := client.Get(l.lbURL + "/info")
				if c.clientTimeout > 0 {
					if err == nil {
						resp.Body.Close()
					}
					continue
				}
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, 200, resp.StatusCode)
			}
			time.Sleep(700 * time.Millisecond) // the slow backend's tries end
			assert.Equal(t, 0, l.countState(t, "down"), "%v", l.states(t))
		})
	}
}

// ejected returns the addresses /__status__ shows ejected.
func (l *lab) ejected(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, b := range l.status(t) {
		if b.Ejected {
			out = append(out, b.Address)
		}
	}
	return out
}

// A slow backend whose every try loses to its hedge: the clients never
// wait for it, and its tries' times are those of the losers (cut off at
// the hedge delay), yet it is ejected: its first tries are all still out
// at the hedge delay, against none for the others (outlier_slow_percent).
// The mean-latency rule is off here to show the slow-share rule alone.
func TestBackendLosingEveryHedgeIsEjected(t *testing.T) {
	t.Parallel()
	l := newLab(t, 3, `, "hedge_after": 0.03, "outlier_detection": true, "outlier_interval": 1,
	  "outlier_min_requests": 10, "outlier_latency_factor": 0`)
	l.configure(t, 1, `{"latency": "500ms"}`)
	deadline := time.Now().Add(5 * time.Second)
	for len(l.ejected(t)) == 0 && time.Now().Before(deadline) {
		for range 10 {
			assert.Equal(t, 200, l.send(t, http.MethodGet, nil).status)
		}
	}
	assert.Equal(t, []string{fmt.Sprintf("127.0.0.1:%d", l.ports[1])}, l.ejected(t))
}
