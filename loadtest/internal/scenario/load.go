package scenario

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults applied by Load and SetDefaults.
const (
	DefaultMethod   = "GET"
	DefaultTimeout  = 10 * time.Second
	DefaultPhase    = "steady"
	DefaultAdminURL = "http://127.0.0.1:9090"
	DefaultService  = "backend"
	DefaultSettle   = time.Second
	DefaultSlow     = time.Second
	// DefaultWaitTimeout bounds wait_healthy.
	DefaultWaitTimeout = 30 * time.Second
	// DefaultStopTimeout is the grace period of stop and restart.
	DefaultStopTimeout = 10 * time.Second
	// ArrivalsConstant and ArrivalsPoisson are the arrival processes.
	ArrivalsConstant = "constant"
	ArrivalsPoisson  = "poisson"
	// WarmupPhase names the warm-up phase.
	WarmupPhase = "warm-up"
)

// Load reads, decodes, completes with defaults and validates a scenario file.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes a scenario from data (YAML or JSON); file names it in errors.
// Unknown fields are errors. It applies defaults and validates, and reports
// every problem at once (unknown keys, bad values, and what the values mean
// together), one a line in line order, each as "file:line: field: message".
func Parse(file string, data []byte) (*Scenario, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, syntaxError(file, data, err)
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty scenario file", file)
	}
	doc := root.Content[0]
	if doc.Kind == yaml.AliasNode && doc.Alias != nil {
		doc = doc.Alias
	}
	if doc.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: a scenario is a mapping of fields (name, target, rate, ...)", file, doc.Line)
	}
	s := &Scenario{File: file, root: &root}
	d := &decoder{}
	d.mapping(doc, reflect.ValueOf(s).Elem(), nil)
	s.SetDefaults()
	v := &validator{s: s, problems: d.problems, bad: d.bad}
	s.validate(v)
	if err := v.err(); err != nil {
		return nil, err
	}
	return s, nil
}

var lineRe = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// SetDefaults fills the fields left empty with their defaults.
func (s *Scenario) SetDefaults() {
	if s.Name == "" && s.File != "" {
		s.Name = strings.TrimSuffix(filepath.Base(s.File), filepath.Ext(s.File))
	}
	if s.Method == "" {
		s.Method = DefaultMethod
	}
	if s.Timeout == 0 {
		s.Timeout = Duration(DefaultTimeout)
	}
	if s.Phase == "" {
		s.Phase = DefaultPhase
	}
	if s.Admin.URL == "" {
		s.Admin.URL = DefaultAdminURL
	}
	if s.Admin.Token == "" {
		s.Admin.Token = os.Getenv("LBLAB_ADMIN_TOKEN")
	}
	if s.Lab.Service == "" {
		s.Lab.Service = DefaultService
	}
	for i := range s.Variants {
		s.Variants[i].Target = ExpandEnv(s.Variants[i].Target)
		s.Variants[i].Admin = ExpandEnv(s.Variants[i].Admin)
	}
	if s.Settle == 0 {
		s.Settle = Duration(DefaultSettle)
	}
	if s.Slow == 0 {
		s.Slow = Duration(DefaultSlow)
	}
	if sm := s.Supermarket; sm != nil {
		if s.Arrivals == "" {
			s.Arrivals = ArrivalsPoisson
		}
		if sm.Calibrate == 0 {
			sm.Calibrate = Duration(10 * time.Second)
		}
		if sm.CalibrateRho == 0 {
			sm.CalibrateRho = 0.5
		}
		if sm.Simulate == 0 {
			sm.Simulate = 2_000_000
		}
	}
}

// MaxReplicas bounds the replicas a scale action or a lab shape asks for.
const MaxReplicas = 50

// shape checks the lab shape.
func (v *validator) shape(sh *Shape) {
	if len(sh.Services) == 0 && sh.Backend == nil && !v.isBad("lab", "shape", "services") && !v.isBad("lab", "shape", "backend") {
		v.add("shape needs services (running containers per Compose service) or backend (settings)", "lab", "shape")
	}
	for _, name := range slices.Sorted(maps.Keys(sh.Services)) {
		n := sh.Services[name]
		if !nameRe.MatchString(name) {
			v.add(fmt.Sprintf("service name %q is not a Compose service name", name), "lab", "shape", "services", name)
		}
		if n < 0 || n > MaxReplicas {
			v.add(fmt.Sprintf("service %s: %d replicas is out of range 0..%d", name, n, MaxReplicas), "lab", "shape", "services", name)
		}
	}
	if b := sh.Backend; b != nil {
		if b.Capacity == nil && b.Latency == nil {
			v.add("backend needs capacity or latency", "lab", "shape", "backend")
		}
		if b.Capacity != nil && *b.Capacity < 0 {
			v.add(fmt.Sprintf("capacity %d is negative", *b.Capacity), "lab", "shape", "backend", "capacity")
		}
		if b.Latency != nil && strings.TrimSpace(*b.Latency) == "" {
			v.add(`latency is empty; no latency is written "0s"`, "lab", "shape", "backend", "latency")
		}
	}
}

// SupermarketAlgorithms lists the algorithms the supermarket experiment
// has a theory for (queuesim's policies).
var SupermarketAlgorithms = []string{"random", "round_robin", "power_of_two", "least_connections"}

// supermarket checks the supermarket section.
func (v *validator) supermarket(sm *Supermarket) {
	s := v.s
	if len(sm.Rho) == 0 {
		v.add("rho is required: the utilisations to run at, e.g. [0.5, 0.8, 0.9]", "supermarket", "rho")
	}
	for i, rho := range sm.Rho {
		if !(rho > 0 && rho < 1) {
			v.add(fmt.Sprintf("rho %v: want 0 < rho < 1 (at 1 or more the queues grow without bound)", rho), "supermarket", "rho", i)
		}
	}
	if sm.Servers < 1 {
		v.add(fmt.Sprintf("servers %d: want the number of backends, at least 1", sm.Servers), "supermarket", "servers")
	}
	if sm.Calibrate < 0 {
		v.add("calibrate is negative", "supermarket", "calibrate")
	}
	if !(sm.CalibrateRho > 0 && sm.CalibrateRho < 1) {
		v.add(fmt.Sprintf("calibrate_rho %v: want 0 < rho < 1", sm.CalibrateRho), "supermarket", "calibrate_rho")
	}
	if sm.Simulate < 1000 {
		v.add(fmt.Sprintf("simulate %d: want at least 1000 arrivals", sm.Simulate), "supermarket", "simulate")
	}
	if s.Rate != 0 || s.Concurrency != 0 {
		v.add("the supermarket works out the rate from rho and the measured service time: leave rate and concurrency out", "rate")
	}
	if s.Arrivals != ArrivalsPoisson {
		v.add(fmt.Sprintf("the supermarket model has Poisson arrivals (got arrivals %q)", s.Arrivals), "arrivals")
	}
	if len(s.Algorithms) == 0 {
		v.add("the supermarket needs algorithms, from: "+strings.Join(SupermarketAlgorithms, ", "), "algorithms")
	}
	for i, a := range s.Algorithms {
		if !slices.Contains(SupermarketAlgorithms, a) {
			v.add(fmt.Sprintf("algorithm %q has no theory in the supermarket model; use: %s", a, strings.Join(SupermarketAlgorithms, ", ")), "algorithms", i)
		}
	}
	if len(s.Timeline) > 0 {
		v.add("the supermarket runs without a timeline", "timeline")
	}
	if s.Duration == 0 {
		v.add("the supermarket needs a duration per run", "duration")
	}
}

// Validate checks the scenario and returns every problem found, each naming
// the file, line and field where known.
func (s *Scenario) Validate() error {
	v := &validator{s: s}
	s.validate(v)
	return v.err()
}

// validate adds the scenario's problems to v.
func (s *Scenario) validate(v *validator) {
	if s.Name == "" {
		v.add("name is required", "name")
	} else if strings.ContainsAny(s.Name, `/\`) {
		v.add(fmt.Sprintf("name %q must not contain slashes (it becomes a file name)", s.Name), "name")
	}
	switch {
	case s.Target == "":
		v.add("target is required: the URL to send requests to, e.g. http://127.0.0.1:8080/", "target")
	default:
		u, err := url.Parse(s.Target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(fmt.Sprintf("target %q is not an http(s) URL with a host", s.Target), "target")
		}
	}
	if s.Rate < 0 {
		v.add(fmt.Sprintf("rate %d is negative", s.Rate), "rate")
	}
	if s.Concurrency < 0 {
		v.add(fmt.Sprintf("concurrency %d is negative", s.Concurrency), "concurrency")
	}
	if s.Requests < 0 {
		v.add(fmt.Sprintf("requests %d is negative", s.Requests), "requests")
	}
	switch s.Arrivals {
	case "", ArrivalsConstant:
	case ArrivalsPoisson:
		if s.Rate <= 0 && s.Supermarket == nil && !v.isBad("rate") {
			v.add(fmt.Sprintf("arrivals poisson needs a rate above 0 requests per second (got %d); a closed model (concurrency) has no arrivals", s.Rate), "arrivals")
		}
	default:
		v.add(fmt.Sprintf("unknown arrivals %q; known: %s, %s", s.Arrivals, ArrivalsConstant, ArrivalsPoisson), "arrivals")
	}
	if s.Supermarket != nil {
		v.supermarket(s.Supermarket)
	} else if s.Rate == 0 && s.Concurrency == 0 && !v.isBad("concurrency") && !v.isBad("supermarket") {
		v.add("set rate (requests per second, open model) or concurrency (workers, closed model)", "rate")
	}
	if s.Duration < 0 {
		v.add(fmt.Sprintf("duration %s is negative", s.Duration), "duration")
	}
	if s.Duration == 0 && s.Requests == 0 && !v.isBad("requests") {
		v.add("duration is required (e.g. 60s) unless requests is set", "duration")
	}
	if s.Warmup < 0 {
		v.add(fmt.Sprintf("warmup %s is negative", s.Warmup), "warmup")
	} else if s.Duration > 0 && s.Warmup >= s.Duration {
		v.add(fmt.Sprintf("warmup %s leaves nothing of the duration %s", s.Warmup, s.Duration), "warmup")
	}
	if s.Timeout < 0 {
		v.add(fmt.Sprintf("timeout %s is negative", s.Timeout), "timeout")
	}
	if s.Slow < 0 {
		v.add(fmt.Sprintf("slow %s is negative", s.Slow), "slow")
	}
	if s.Settle < 0 {
		v.add(fmt.Sprintf("settle %s is negative", s.Settle), "settle")
	}
	if s.Phase == WarmupPhase {
		v.add(fmt.Sprintf("phase %q is reserved for the warm-up", s.Phase), "phase")
	}
	if u, err := url.Parse(s.Admin.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(fmt.Sprintf("admin url %q is not an http(s) URL with a host", s.Admin.URL), "admin", "url")
	}
	seenAlg := map[string]bool{}
	for i, a := range s.Algorithms {
		if !slices.Contains(Algorithms, a) {
			v.add(fmt.Sprintf("unknown algorithm %q%s; known: %s", a, didYouMean(a, Algorithms, ""), strings.Join(Algorithms, ", ")), "algorithms", i)
		} else if seenAlg[a] {
			v.add(fmt.Sprintf("algorithm %q is listed twice", a), "algorithms", i)
		}
		seenAlg[a] = true
	}
	seenVar := map[string]bool{}
	for i, vr := range s.Variants {
		if vr.Name == "" || strings.ContainsAny(vr.Name, `/\`) {
			v.add(fmt.Sprintf("variant name %q: give a name without slashes", vr.Name), "variants", i, "name")
		} else if seenVar[vr.Name] {
			v.add(fmt.Sprintf("variant %q is listed twice", vr.Name), "variants", i, "name")
		}
		seenVar[vr.Name] = true
		for _, f := range []struct{ key, val string }{{"target", vr.Target}, {"admin", vr.Admin}} {
			if f.val == "" {
				continue
			}
			if u, err := url.Parse(f.val); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.add(fmt.Sprintf("%s %q is not an http(s) URL with a host", f.key, f.val), "variants", i, f.key)
			}
		}
	}
	if len(s.Variants) > 0 && len(s.Algorithms) > 0 {
		v.add("use algorithms or variants, not both", "variants")
	}
	if s.Requests > 0 && s.Duration == 0 && len(s.Timeline) > 0 {
		v.add("a timeline needs a duration", "timeline")
	}
	phases := map[string]bool{s.Phase: true}
	var prev time.Duration
	for i, a := range s.Timeline {
		v.action(i, a, prev)
		if a.At.D() > prev {
			prev = a.At.D()
		}
		if a.Phase != "" {
			if a.Phase == WarmupPhase {
				v.add(fmt.Sprintf("phase %q is reserved for the warm-up", a.Phase), "timeline", i, "phase")
			} else if phases[a.Phase] {
				v.add(fmt.Sprintf("phase %q is used twice", a.Phase), "timeline", i, "phase")
			}
			phases[a.Phase] = true
		}
	}
	if sh := s.Lab.Shape; sh != nil {
		v.shape(sh)
	}
	v.limits(s.Expect.Limits, "expect")
	if d := s.Expect.MaxTimeToDetect; d != nil && *d < 0 {
		v.add("max_time_to_detect is negative", "expect", "max_time_to_detect")
	}
	if d := s.Expect.MaxTimeToRecover; d != nil && *d < 0 {
		v.add("max_time_to_recover is negative", "expect", "max_time_to_recover")
	}
	names := make([]string, 0, len(s.Expect.Phases))
	for name := range s.Expect.Phases {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		pe := s.Expect.Phases[name]
		if !phases[name] && !v.badUnder("timeline") && !v.isBad("phase") {
			v.add(fmt.Sprintf("no phase %q; phases: %s", name, strings.Join(s.Phases(), ", ")), "expect", "phases", name)
		}
		v.limits(pe.Limits, "expect", "phases", name)
		for i, t := range pe.NoTrafficTo {
			if _, err := ParseTarget(t, s.Lab.Service); err != nil {
				v.add(err.Error(), "expect", "phases", name, "no_traffic_to", i)
			}
		}
		for i, t := range pe.TrafficTo {
			if _, err := ParseTarget(t, s.Lab.Service); err != nil {
				v.add(err.Error(), "expect", "phases", name, "traffic_to", i)
			}
		}
	}
}

// action checks one timeline entry.
func (v *validator) action(i int, a Action, prev time.Duration) {
	s := v.s
	switch {
	case a.Action == "":
		v.missing("action", "action is required; one of: "+strings.Join(Actions, ", "), "timeline", i)
		return
	case !slices.Contains(Actions, a.Action):
		v.add(fmt.Sprintf("unknown action %q%s; known: %s", a.Action, didYouMean(a.Action, Actions, ""), strings.Join(Actions, ", ")), "timeline", i, "action")
		return
	}
	switch {
	case a.At < 0:
		v.add(fmt.Sprintf("at %s is negative", a.At), "timeline", i, "at")
	case s.Duration > 0 && a.At > s.Duration:
		v.add(fmt.Sprintf("at %s is past the duration %s", a.At, s.Duration), "timeline", i, "at")
	case a.At.D() < prev:
		v.add(fmt.Sprintf("at %s comes before the previous action (%s); list actions in time order", a.At, Duration(prev)), "timeline", i, "at")
	}
	if NeedsTarget(a.Action) {
		if a.Target == "" {
			v.missing("target", fmt.Sprintf("%s needs a target (a replica number like 2, service:number, or a container name)", a.Action), "timeline", i)
		} else if _, err := ParseTarget(a.Target, s.Lab.Service); err != nil {
			v.add(err.Error(), "timeline", i, "target")
		}
	} else if a.Target != "" {
		v.add(fmt.Sprintf("%s takes no target", a.Action), "timeline", i, "target")
	}
	switch a.Action {
	case Scale:
		if a.Replicas == nil {
			v.missing("replicas", "scale needs replicas", "timeline", i)
		} else if *a.Replicas < 0 || *a.Replicas > MaxReplicas {
			v.add(fmt.Sprintf("replicas %d is out of range 0..%d", *a.Replicas, MaxReplicas), "timeline", i, "replicas")
		}
	case SetAlgorithm:
		if !slices.Contains(Algorithms, a.Algorithm) {
			v.add(fmt.Sprintf("set_algorithm needs algorithm, one of: %s (got %q)", strings.Join(Algorithms, ", "), a.Algorithm), "timeline", i, "algorithm")
		}
	case Mark:
		if a.Phase == "" {
			v.missing("phase", "mark needs phase: the name of the phase it starts", "timeline", i)
		}
	case Configure:
		if len(a.Settings) == 0 {
			v.missing("settings", "configure needs settings, e.g. {latency: 200ms} or {error_rate: 30%}; known: "+strings.Join(BackendSettings, ", "), "timeline", i)
		}
		_, errs := ConfigurePatch(a.Settings)
		for _, err := range errs {
			v.add(err.Error(), "timeline", i, "settings")
		}
		if a.Port < 0 || a.Port > 65535 {
			v.add(fmt.Sprintf("port %d is out of range", a.Port), "timeline", i, "port")
		}
	case Drain:
		if a.Node == "" {
			v.missing("node", "drain needs node: the Swarm node to drain (its host name or ID, see docker node ls)", "timeline", i)
		}
	}
	if len(a.Settings) > 0 && a.Action != Configure {
		v.add(fmt.Sprintf("%s takes no settings", a.Action), "timeline", i, "settings")
	}
	if a.Port != 0 && a.Action != Configure {
		v.add(fmt.Sprintf("%s takes no port", a.Action), "timeline", i, "port")
	}
	if a.Node != "" && a.Action != Drain {
		v.add(fmt.Sprintf("%s takes no node", a.Action), "timeline", i, "node")
	}
	if a.Replicas != nil && a.Action != Scale {
		v.add(fmt.Sprintf("%s takes no replicas", a.Action), "timeline", i, "replicas")
	}
	if a.Algorithm != "" && a.Action != SetAlgorithm {
		v.add(fmt.Sprintf("%s takes no algorithm", a.Action), "timeline", i, "algorithm")
	}
	if a.Timeout < 0 {
		v.add("timeout is negative", "timeline", i, "timeout")
	}
}

func (v *validator) limits(l Limits, path ...any) {
	p := func(f string) []any { return append(slices.Clone(path), f) }
	if l.MaxErrors != nil && *l.MaxErrors < 0 {
		v.add("max_errors is negative", p("max_errors")...)
	}
	for name, d := range map[string]*Duration{"max_p50": l.MaxP50, "max_p95": l.MaxP95, "max_p99": l.MaxP99} {
		if d != nil && *d <= 0 {
			v.add(name+" must be positive", p(name)...)
		}
	}
	if l.MinRate != nil && *l.MinRate < 0 {
		v.add("min_rate is negative", p("min_rate")...)
	}
}

// Target is a parsed action target.
type Target struct {
	// Service and Number select a replica (com.docker.compose.container-number).
	Service string
	Number  int
	// Name selects a container by name (or ID prefix) when Number is 0.
	Name string
}

// String formats the target as written in scenario files.
func (t Target) String() string {
	if t.Number > 0 {
		return t.Service + ":" + strconv.Itoa(t.Number)
	}
	return t.Name
}

var nameRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ParseTarget parses "2" (replica 2 of defaultService), "svc:2", or a
// container name.
func ParseTarget(s, defaultService string) (Target, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 {
			return Target{}, fmt.Errorf("target %q: replica numbers start at 1", s)
		}
		return Target{Service: defaultService, Number: n}, nil
	}
	if svc, num, ok := strings.Cut(s, ":"); ok {
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || !nameRe.MatchString(svc) {
			return Target{}, fmt.Errorf("target %q: want service:number, e.g. backend:2", s)
		}
		return Target{Service: svc, Number: n}, nil
	}
	if !nameRe.MatchString(strings.TrimPrefix(s, "/")) {
		return Target{}, fmt.Errorf("target %q: want a replica number (2), service:number (backend:2) or a container name", s)
	}
	return Target{Name: strings.TrimPrefix(s, "/")}, nil
}

type validator struct {
	s        *Scenario
	problems []problem
	// bad holds the fields that did not decode (see decoder.bad): a
	// problem about one of them, or about a field inside one, is not
	// reported again.
	bad map[string]bool
}

func (v *validator) add(msg string, path ...any) {
	if v.isBad(path...) {
		return
	}
	v.problems = append(v.problems, problem{line: lineOf(v.s.root, path), field: fieldPath(path), msg: msg})
}

// missing reports msg at path, that field is missing, unless the field
// is there but did not decode.
func (v *validator) missing(field, msg string, path ...any) {
	if !v.isBad(append(slices.Clone(path), field)...) {
		v.add(msg, path...)
	}
}

// badUnder reports whether a field at or under the top-level key did not
// decode.
func (v *validator) badUnder(key string) bool {
	for f := range v.bad {
		if f == key || strings.HasPrefix(f, key+".") || strings.HasPrefix(f, key+"[") {
			return true
		}
	}
	return false
}

// isBad reports whether the field at path, or one that holds it, did not
// decode.
func (v *validator) isBad(path ...any) bool {
	for i := 1; i <= len(path); i++ {
		if v.bad[fieldPath(path[:i])] {
			return true
		}
	}
	return false
}

// err returns the problems, one a line in line order (those with no line
// last), as "file:line: field: message"; nil when there are none.
func (v *validator) err() error {
	file := v.s.File
	if file == "" {
		file = "scenario"
	}
	slices.SortStableFunc(v.problems, func(a, b problem) int {
		if a.line == 0 || b.line == 0 {
			return cmp.Compare(b.line, a.line) // 0 after the rest
		}
		return cmp.Compare(a.line, b.line)
	})
	errs := make([]error, 0, len(v.problems))
	for _, p := range v.problems {
		if p.line > 0 {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %s", file, p.line, p.field, p.msg))
		} else {
			errs = append(errs, fmt.Errorf("%s: %s: %s", file, p.field, p.msg))
		}
	}
	return errors.Join(errs...)
}

// fieldPath formats a path like timeline[2].at.
func fieldPath(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		}
	}
	return b.String()
}

// lineOf finds the line of the node at path, or of its deepest existing
// ancestor (a missing field is reported where it belongs); 0 when unknown.
func lineOf(root *yaml.Node, path []any) int {
	if root == nil || len(root.Content) == 0 {
		return 0
	}
	n := root.Content[0]
	line := 0
	for _, p := range path {
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						line = n.Content[i].Line // the key's line
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
				line = next.Line
			}
		}
		if next == nil {
			if line == 0 {
				line = n.Line
			}
			return line
		}
		n = next
	}
	return line
}

// ExpandEnv replaces ${NAME} and ${NAME:-default} in a variant's URLs with
// the environment's value (the default when NAME is unset or empty), so that
// a scenario can follow the lab's ports (LB_PORT, LB_GRAY_PORT, ...).
func ExpandEnv(s string) string {
	return os.Expand(s, func(v string) string {
		name, def, _ := strings.Cut(v, ":-")
		if val := os.Getenv(name); val != "" {
			return val
		}
		return def
	})
}
