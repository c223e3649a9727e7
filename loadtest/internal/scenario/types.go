// Package scenario defines the scenario file: the load to send, a timeline of
// actions on the lab (kill, pause, scale, ...) at given times, and the
// expectations a run must meet. Files are YAML (JSON is YAML too), meant to be
// written and edited by hand; Load reports every problem with the file name,
// line and field before anything starts.
package scenario

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Scenario is one scenario file. Zero values mean "default" as documented on
// each field; Load applies the defaults and validates.
type Scenario struct {
	// Name names the scenario in results and file names; default: the file name
	// without extension.
	Name string `yaml:"name" json:"name"`
	// Description says what the scenario shows, for people.
	Description string `yaml:"description" json:"description,omitempty"`
	// Target is the URL every request goes to (scheme, host, port, path).
	Target string `yaml:"target" json:"target"`
	// Method is the HTTP method; default GET.
	Method string `yaml:"method" json:"method,omitempty"`
	// Headers are added to every request.
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	// Body is the body of every request (loadtest attack --body; not a
	// key of scenario files).
	Body []byte `yaml:"-" json:"-"`
	// Rate is the constant request rate per second (open model: requests are
	// sent on schedule whether or not earlier ones have returned).
	Rate int `yaml:"rate" json:"rate,omitempty"`
	// Arrivals is the arrival process of the open model: "constant" (the
	// default: evenly spaced sends) or "poisson" (exponential gaps of mean
	// 1/rate, as independent users arrive; latency is then measured from the
	// time each request was due). Needs rate.
	Arrivals string `yaml:"arrivals" json:"arrivals,omitempty"`
	// Seed seeds the Poisson arrival times (0: random). The same seed sends
	// at the same times.
	Seed uint64 `yaml:"seed" json:"seed,omitempty"`
	// Concurrency is the number of workers, each sending its next request when
	// the previous one returns (closed model). With Rate it caps the workers.
	Concurrency int `yaml:"concurrency" json:"concurrency,omitempty"`
	// Requests stops the load after this many requests (0: no limit).
	Requests int `yaml:"requests" json:"requests,omitempty"`
	// KeepAlive reuses connections between requests; default true. With
	// false every request opens (and closes) its own TCP connection, so that
	// a layer-4 (TCP mode) balancer balances each request on its own.
	KeepAlive *Bool `yaml:"keepalive" json:"keepalive,omitempty"`
	// Duration is the length of one run, warm-up included.
	Duration Duration `yaml:"duration" json:"duration"`
	// Warmup is the first part of the run, left out of totals and expectations.
	Warmup Duration `yaml:"warmup" json:"warmup,omitempty"`
	// Timeout bounds each request; default 10s.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Slow is the latency from which a successful request counts as slow:
	// caught by a fault and answered late (after a retry, say); default 1s.
	Slow Duration `yaml:"slow" json:"slow,omitempty"`
	// Phase names the phase that starts after the warm-up; default "steady".
	Phase string `yaml:"phase" json:"phase,omitempty"`
	// Admin is the balancer's admin API, used by set_algorithm, wait_healthy
	// and the algorithms list.
	Admin Admin `yaml:"admin" json:"admin"`
	// Lab names the Compose service the actions apply to by default.
	Lab Lab `yaml:"lab" json:"lab"`
	// Algorithms, when set, runs the whole scenario once per algorithm, switching
	// the balancer through its admin API before each run.
	Algorithms []string `yaml:"algorithms" json:"algorithms,omitempty"`
	// Variants, when set, runs the whole scenario once per variant: the same
	// load and timeline against another balancer (e.g. one with try_timeout,
	// hedging or outlier ejection on), one row each in the tables.
	Variants []Variant `yaml:"variants" json:"variants,omitempty"`
	// Supermarket, when set, runs the supermarket experiment: Poisson
	// arrivals at each utilisation of Rho (the rate worked out from the
	// backends' measured service time), once per algorithm, with the
	// queueing theory beside the measured time in system.
	Supermarket *Supermarket `yaml:"supermarket" json:"supermarket,omitempty"`
	// Settle is the pause after switching the algorithm before a run; default 1s.
	Settle Duration `yaml:"settle" json:"settle,omitempty"`
	// Timeline lists the actions, in time order.
	Timeline []Action `yaml:"timeline" json:"timeline,omitempty"`
	// Expect lists what a run must achieve; a failed expectation makes the
	// command exit non-zero.
	Expect Expect `yaml:"expect" json:"expect"`

	// File is the path the scenario was loaded from ("" when built in code).
	File string `yaml:"-" json:"file,omitempty"`

	root *yaml.Node // the parsed document, for line numbers; nil when built in code
}

// Variant is one balancer a scenario runs against (see Scenario.Variants).
type Variant struct {
	// Name labels the variant's row, e.g. "defaults" or "try_timeout".
	Name string `yaml:"name" json:"name"`
	// Target replaces the scenario's target (default: the scenario's).
	// ${NAME:-default} is replaced from the environment (see ExpandEnv).
	Target string `yaml:"target" json:"target,omitempty"`
	// Admin replaces the admin API URL (default: the scenario's).
	Admin string `yaml:"admin" json:"admin,omitempty"`
}

// Supermarket describes the supermarket experiment: N backends that serve
// one request at a time with exponential service times, behind the balancer
// (the supermarket model of Mitzenmacher's "The Power of Two Choices in
// Randomized Load Balancing").
type Supermarket struct {
	// Rho lists the utilisations to run at, each in (0, 1).
	Rho []float64 `yaml:"rho" json:"rho"`
	// Servers is the number of backends the balancer must have; the lab is
	// refused otherwise.
	Servers int `yaml:"servers" json:"servers"`
	// Calibrate is the length of the run that measures the service time
	// before the others (at CalibrateRho of the backends' configured
	// latency); default 10s.
	Calibrate Duration `yaml:"calibrate" json:"calibrate,omitempty"`
	// CalibrateRho is the utilisation the calibration run aims at; default 0.5.
	CalibrateRho float64 `yaml:"calibrate_rho" json:"calibrate_rho,omitempty"`
	// Simulate is the number of arrivals each simulation measures; default
	// 2,000,000.
	Simulate int `yaml:"simulate" json:"simulate,omitempty"`
}

// Admin locates the balancer's admin API.
type Admin struct {
	// URL of the admin listener; default http://127.0.0.1:9090.
	URL string `yaml:"url" json:"url,omitempty"`
	// Token is sent as a bearer token; default $LBLAB_ADMIN_TOKEN.
	Token string `yaml:"token" json:"-"`
}

// Lab names the Compose service that actions without an explicit service use,
// and the shape the lab must be in for the scenario to measure what it says.
type Lab struct {
	// Service is the default service for targets like "2"; default "backend".
	Service string `yaml:"service" json:"service,omitempty"`
	// Shape, when set, is checked before any load is sent: a lab in another
	// shape (a backend-slow left running by another scenario, a replica
	// short, backends with another capacity) is refused, naming what differs.
	Shape *Shape `yaml:"shape" json:"shape,omitempty"`
}

// Shape is the lab a scenario needs.
type Shape struct {
	// Services maps each Compose service of the project to the number of its
	// containers that must be running. A service not listed must have none
	// running. Needs Docker.
	Services map[string]int `yaml:"services" json:"services,omitempty"`
	// Backend lists settings every backend the balancer lists must report on
	// its /__backend__/config. Needs the admin API.
	Backend *BackendShape `yaml:"backend" json:"backend,omitempty"`
}

// BackendShape holds backend settings, written as the backend reports them.
type BackendShape struct {
	// Capacity is the number of requests served at once (0: no limit).
	Capacity *int `yaml:"capacity" json:"capacity,omitempty"`
	// Latency is the latency setting, e.g. "0s" (none), "40ms", "exp:10ms".
	Latency *string `yaml:"latency" json:"latency,omitempty"`
}

// Action is one step of the timeline.
type Action struct {
	// At is the time since the start of the run (warm-up included).
	At Duration `yaml:"at" json:"at"`
	// Action is what to do; see Actions.
	Action string `yaml:"action" json:"action"`
	// Target selects one container: a replica number of the default service
	// ("2"), service and number ("backend-slow:1"), or a container name.
	Target string `yaml:"target" json:"target,omitempty"`
	// Service is the service to scale or wait for; default Lab.Service.
	Service string `yaml:"service" json:"service,omitempty"`
	// Replicas is the replica count for scale.
	Replicas *int `yaml:"replicas" json:"replicas,omitempty"`
	// Node is the Swarm node for drain: its host name or ID.
	Node string `yaml:"node" json:"node,omitempty"`
	// Algorithm is the algorithm for set_algorithm.
	Algorithm string `yaml:"algorithm" json:"algorithm,omitempty"`
	// Timeout bounds wait_healthy (default 30s) and the grace period of stop and
	// restart (default 10s).
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Settings are the backend settings configure sets (latency,
	// error_rate, error_status, capacity, overflow, healthy).
	Settings map[string]any `yaml:"settings" json:"settings,omitempty"`
	// Port is the port of the backend's control API for configure; default 8000.
	Port int `yaml:"port" json:"port,omitempty"`
	// Phase, when set, starts a phase of that name at this action: results are
	// summed per phase and expectations can name it.
	Phase string `yaml:"phase" json:"phase,omitempty"`
	// Note is free text shown when the action runs.
	Note string `yaml:"note" json:"note,omitempty"`
}

// Action names.
const (
	Kill         = "kill"          // SIGKILL the target container
	Stop         = "stop"          // stop it gracefully (SIGTERM, then SIGKILL after timeout)
	Start        = "start"         // start a stopped or killed container
	Restart      = "restart"       // stop and start it
	Pause        = "pause"         // freeze its processes: a hung server
	Unpause      = "unpause"       // thaw it
	Disconnect   = "disconnect"    // cut it off its networks: a partition
	Reconnect    = "reconnect"     // put it back on the networks it was cut from
	Scale        = "scale"         // set the service's replica count
	Drain        = "drain"         // drain a Swarm node: Swarm moves its tasks to the other nodes
	SetAlgorithm = "set_algorithm" // switch the balancer's algorithm
	WaitHealthy  = "wait_healthy"  // wait until containers and balancer report healthy
	Mark         = "mark"          // do nothing; start a phase
)

// Actions lists every action name, in the order the documentation gives them.
var Actions = []string{Kill, Stop, Start, Restart, Pause, Unpause, Disconnect, Reconnect,
	Configure, Scale, Drain, SetAlgorithm, WaitHealthy, Mark}

// Algorithms lists the balancer's algorithms.
var Algorithms = []string{"round_robin", "weighted_round_robin", "least_connections",
	"ip_hash", "random", "power_of_two", "least_latency"}

// NeedsTarget reports whether the action acts on one container.
func NeedsTarget(action string) bool {
	switch action {
	case Kill, Stop, Start, Restart, Pause, Unpause, Disconnect, Reconnect, Configure:
		return true
	}
	return false
}

// IsFault reports whether the action takes a backend out of service.
func IsFault(action string) bool {
	switch action {
	case Kill, Stop, Pause, Disconnect:
		return true
	}
	return false
}

// IsRecovery reports whether the action brings a backend back.
func IsRecovery(action string) bool {
	switch action {
	case Start, Restart, Unpause, Reconnect:
		return true
	}
	return false
}

// UsesDocker reports whether the action needs the Docker daemon.
func UsesDocker(action string) bool {
	return NeedsTarget(action) || action == Scale || action == WaitHealthy || action == Drain
}

// Expect holds the expectations of a run. Limits at the top level apply to the
// whole run after the warm-up.
type Expect struct {
	Limits `yaml:",inline"`
	// MaxTimeToDetect bounds, for every fault, the time from the fault to the
	// last request the faulty backend served or that failed.
	MaxTimeToDetect *Duration `yaml:"max_time_to_detect" json:"max_time_to_detect,omitempty"`
	// MaxTimeToRecover bounds, for every recovery, the time from the action to
	// the first request the backend served again.
	MaxTimeToRecover *Duration `yaml:"max_time_to_recover" json:"max_time_to_recover,omitempty"`
	// Phases holds limits for named phases.
	Phases map[string]PhaseExpect `yaml:"phases" json:"phases,omitempty"`
}

// Limits are bounds on a set of requests; nil means no bound.
type Limits struct {
	MaxErrors      *int      `yaml:"max_errors" json:"max_errors,omitempty"`
	MaxErrorRate   *Percent  `yaml:"max_error_rate" json:"max_error_rate,omitempty"`
	MinSuccessRate *Percent  `yaml:"min_success_rate" json:"min_success_rate,omitempty"`
	MaxP50         *Duration `yaml:"max_p50" json:"max_p50,omitempty"`
	MaxP95         *Duration `yaml:"max_p95" json:"max_p95,omitempty"`
	MaxP99         *Duration `yaml:"max_p99" json:"max_p99,omitempty"`
	// MinRate is the least achieved rate, in requests per second.
	MinRate *float64 `yaml:"min_rate" json:"min_rate,omitempty"`
}

// Empty reports whether no limit is set.
func (l Limits) Empty() bool {
	return l.MaxErrors == nil && l.MaxErrorRate == nil && l.MinSuccessRate == nil &&
		l.MaxP50 == nil && l.MaxP95 == nil && l.MaxP99 == nil && l.MinRate == nil
}

// PhaseExpect holds the expectations of one phase.
type PhaseExpect struct {
	Limits `yaml:",inline"`
	// NoTrafficTo lists targets (as in actions) that must serve no request in
	// the phase, e.g. the killed backend once the balancer has noticed.
	NoTrafficTo []string `yaml:"no_traffic_to" json:"no_traffic_to,omitempty"`
	// TrafficTo lists targets that must serve at least one request.
	TrafficTo []string `yaml:"traffic_to" json:"traffic_to,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("1m30s",
// "250ms") or a number of seconds (2, 0.5).
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration as Go does.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML accepts "1m30s", "250ms" and plain numbers of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration (e.g. 30s, 1m30s, 250ms or a number of seconds), not %s", n.Line, kindName(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: bad duration %q: want e.g. 30s, 1m30s, 250ms or a number of seconds", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the Go duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText writes the Go duration string (used by encoding/json).
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a Go duration string or a number of seconds.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses a Go duration string or a number of seconds.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e9 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

// Bool is a boolean written true or false (YAML's yes/no/on/off are refused:
// a hand-edited file says what it means).
type Bool bool

// UnmarshalYAML accepts true and false.
func (b *Bool) UnmarshalYAML(n *yaml.Node) error {
	switch v := strings.ToLower(strings.TrimSpace(n.Value)); {
	case n.Kind == yaml.ScalarNode && v == "true":
		*b = true
	case n.Kind == yaml.ScalarNode && v == "false":
		*b = false
	default:
		return fmt.Errorf("line %d: bad boolean %q: want true or false", n.Line, n.Value)
	}
	return nil
}

// Percent is a percentage written as "2%", "0.5 %" or a plain number of
// percent (2 means 2%). It holds the fraction (0.02).
type Percent float64

// UnmarshalYAML accepts "2%" and plain numbers of percent.
func (p *Percent) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(n.Value), "%"))
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || n.Kind != yaml.ScalarNode || math.IsNaN(f) || f < 0 || f > 100 {
		return fmt.Errorf("line %d: bad percentage %q: want e.g. 2%% or 99.5%% (0 to 100)", n.Line, n.Value)
	}
	*p = Percent(f / 100)
	return nil
}

// String formats the percentage, e.g. "2%".
func (p Percent) String() string {
	return strconv.FormatFloat(float64(p)*100, 'f', -1, 64) + "%"
}

// Phases returns the phase names in the order they start: the one after the
// warm-up, then those the timeline names.
func (s *Scenario) Phases() []string {
	out := []string{s.Phase}
	for _, a := range s.Timeline {
		if a.Phase != "" {
			out = append(out, a.Phase)
		}
	}
	return out
}

// KeepsAlive reports whether connections are reused between requests
// (KeepAlive unset or true).
func (s *Scenario) KeepsAlive() bool { return s.KeepAlive == nil || bool(*s.KeepAlive) }

// UsesDocker reports whether any action needs the Docker daemon.
func (s *Scenario) UsesDocker() bool {
	return slices.ContainsFunc(s.Timeline, func(a Action) bool { return UsesDocker(a.Action) })
}

// UsesAdmin reports whether the scenario needs the balancer's admin API.
func (s *Scenario) UsesAdmin() bool {
	return len(s.Algorithms) > 0 || slices.ContainsFunc(s.Timeline, func(a Action) bool {
		return a.Action == SetAlgorithm
	})
}
