// Package config loads and validates the balancer's JSON configuration.
//
// The seed format (proxy_port, backend_servers, durations in seconds, ...) loads
// unchanged; new keys sit beside the seed's, each with a default. Loading is strict:
// every unknown key, wrongly typed value and impossible combination is reported,
// one line per problem, naming the key and the value.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Algorithms lists the balancing algorithms, in documentation order.
var Algorithms = []string{
	"round_robin", "weighted_round_robin", "least_connections", "ip_hash",
	"random", "power_of_two", "least_latency",
}

// Config is the balancer's configuration. Zero values are never used directly:
// Load starts from Default and overwrites the keys present in the file.
type Config struct {
	// Seed keys.
	ProxyPort           int       `json:"proxy_port"`
	ProxyHost           string    `json:"proxy_host"`
	Algorithm           string    `json:"algorithm"`
	BackendServers      []Backend `json:"backend_servers"`
	HealthCheckInterval Duration  `json:"health_check_interval"`
	HealthCheckTimeout  Duration  `json:"health_check_timeout"`
	MaxConnections      int       `json:"max_connections"`
	ConnectionTimeout   Duration  `json:"connection_timeout"`
	RequestTimeout      Duration  `json:"request_timeout"`
	EnableLogging       bool      `json:"enable_logging"`
	EnableMetrics       bool      `json:"enable_metrics"`

	// Mode is "http" (layer 7, the default) or "tcp" (layer 4). In tcp mode the
	// proxy port relays raw TCP connections; the status endpoints, Prometheus
	// /metrics and the runtime API are served only on the admin listener, so
	// admin_port is required. connection_timeout bounds a connect to a backend,
	// idle_timeout closes a connection with no data either way for that long,
	// max_connections bounds open client connections and health checks are TCP
	// connects unless health_check_path is given.
	Mode string `json:"mode"`

	// Admin listener: status endpoints, Prometheus /metrics and the runtime API.
	AdminHost  string `json:"admin_host"`
	AdminPort  int    `json:"admin_port"`
	AdminToken string `json:"admin_token"`
	// EnablePprof serves net/http/pprof under /debug/pprof/ on the admin
	// listener (behind admin_token when set), to profile the balancer under load.
	EnablePprof bool `json:"enable_pprof"`

	// Active health checks.
	HealthCheckPath    string `json:"health_check_path"`
	HealthCheckStatus  string `json:"health_check_status"`
	HealthyThreshold   int    `json:"healthy_threshold"`
	UnhealthyThreshold int    `json:"unhealthy_threshold"`

	// Passive health checks (outlier detection).
	MaxFails     int      `json:"max_fails"`
	FailTimeout  Duration `json:"fail_timeout"`
	PassiveOn5xx bool     `json:"passive_5xx"`
	// PassiveMinAvailablePercent: passive failures never take a backend
	// down when that would leave fewer than this share of the backends
	// (not draining or disabled) available (0: no such guard).
	PassiveMinAvailablePercent Percent `json:"passive_min_available_percent"`

	// Retries and recovery.
	Retries        int      `json:"retries"`
	RetryBodyLimit int64    `json:"retry_body_limit"`
	SlowStart      Duration `json:"slow_start"`

	// Gray failures (docs/gray-failures.md): backends that answer slowly,
	// hang or fail a share of requests while their health checks pass.
	// TryTimeout gives each try of an idempotent request this long for its
	// response head before it is abandoned and sent elsewhere (0: off).
	TryTimeout Duration `json:"try_timeout"`
	// HedgeAfter sends an idempotent request still unanswered after this
	// delay (or percentile of recent response times) to a second backend.
	HedgeAfter HedgeDelay `json:"hedge_after"`
	// RetryBudget bounds retries and hedges to this share of the requests
	// of the last RetryBudgetWindow, but allows at least
	// RetryBudgetMinPerSecond per second.
	RetryBudget             Percent `json:"retry_budget"`
	RetryBudgetMinPerSecond int     `json:"retry_budget_min_per_second"`
	// Outlier ejection: a backend whose error rate or latency stands far
	// above the others' over OutlierInterval is taken out of rotation.
	OutlierDetection        bool     `json:"outlier_detection"`
	OutlierInterval         Duration `json:"outlier_interval"`
	OutlierErrorPercent     Percent  `json:"outlier_error_percent"`
	OutlierLatencyFactor    float64  `json:"outlier_latency_factor"`
	OutlierSlowPercent      Percent  `json:"outlier_slow_percent"`
	OutlierMinRequests      int      `json:"outlier_min_requests"`
	OutlierBaseEjectionTime Duration `json:"outlier_base_ejection_time"`
	OutlierMaxEjectionTime  Duration `json:"outlier_max_ejection_time"`
	MaxEjectionPercent      Percent  `json:"max_ejection_percent"`

	// Client side.
	TrustedProxies    []string `json:"trusted_proxies"`
	ReadHeaderTimeout Duration `json:"read_header_timeout"`
	IdleTimeout       Duration `json:"idle_timeout"`
	MaxHeaderBytes    int      `json:"max_header_bytes"`
	// MaxHeaderLines bounds the header lines of a request head and of a
	// backend's response head (HAProxy's tune.http.maxhdr): beyond it a
	// request gets 400, a response is a 502.
	MaxHeaderLines  int      `json:"max_header_lines"`
	ShutdownTimeout Duration `json:"shutdown_timeout"`
	// DeferAccept: the kernel hands the proxy a new client connection only
	// once its first bytes have come (TCP_DEFER_ACCEPT, Linux; HAProxy's
	// defer-accept, nginx's deferred). Default: on in HTTP mode, off in
	// TCP mode (where the backend may speak first). See DefersAccept.
	DeferAccept bool `json:"defer_accept"`

	// Backend side.
	// Forwarder is "lean" (the front end forwards plain HTTP/1.1 requests
	// itself; upgrades, Expect, chunked uploads, HTTP/1.0 and the like take
	// httputil.ReverseProxy) or "reverseproxy" (every request takes
	// httputil.ReverseProxy, after the same checks).
	Forwarder string `json:"forwarder"`
	// MaxIdleConnsPerBackend caps each backend's pool of idle keep-alive
	// connections: -1 (the default, as HAProxy's pool-max-conn) no cap, 0
	// none kept.
	MaxIdleConnsPerBackend int `json:"max_idle_conns_per_backend"`
	// MaxConnsPerBackend bounds each backend's connections, busy and idle,
	// as HAProxy's maxconn on a server line: a request beyond it waits for
	// one to come free, up to connection_timeout, then is answered 503. 0
	// (the default): no bound. HTTP mode only; both forwarders, and what the
	// lean one hands to net/http, count against it.
	MaxConnsPerBackend int      `json:"max_conns_per_backend"`
	ResolveInterval    Duration `json:"resolve_interval"`

	// keys holds the top-level keys present in the file (see IsSet).
	keys map[string]bool
}

// IsSet reports whether the file gave key (a top-level JSON key such as
// "health_check_path") rather than leaving it to its default. A Config not
// made by Parse or Load has no key set.
func (c *Config) IsSet(key string) bool { return c.keys[key] }

// DefersAccept reports whether the proxy port defers accepting a
// connection until its first bytes: defer_accept when the file gives it,
// else true in HTTP mode.
func (c *Config) DefersAccept() bool {
	if c.IsSet("defer_accept") {
		return c.DeferAccept
	}
	return c.Mode == "http"
}

// Backend is one backend_servers entry. A host that is a DNS name resolving to
// several addresses stands for one backend per address (see ResolveInterval).
type Backend struct {
	Host   string `json:"host"`
	Port   int    `json:"port"`
	Weight int    `json:"weight"`
	// Name is an optional display name; the default is host:port.
	Name string `json:"name"`
}

func (b *Backend) setDefaults() { b.Weight = 1 }

// Address returns host:port.
func (b Backend) Address() string { return net.JoinHostPort(b.Host, strconv.Itoa(b.Port)) }

// Default returns the configuration used for every key the file leaves out.
func Default() Config {
	return Config{
		ProxyPort:                  8080,
		ProxyHost:                  "0.0.0.0",
		Algorithm:                  "round_robin",
		HealthCheckInterval:        Duration(10 * time.Second),
		HealthCheckTimeout:         Duration(2 * time.Second),
		MaxConnections:             10000,
		ConnectionTimeout:          Duration(5 * time.Second),
		RequestTimeout:             Duration(30 * time.Second),
		EnableLogging:              false,
		EnableMetrics:              true,
		Mode:                       "http",
		AdminHost:                  "127.0.0.1",
		HealthCheckPath:            "/health",
		HealthCheckStatus:          "200-399",
		HealthyThreshold:           2,
		UnhealthyThreshold:         3,
		MaxFails:                   3,
		PassiveMinAvailablePercent: 50,
		FailTimeout:                Duration(10 * time.Second),
		Retries:                    2,
		RetryBodyLimit:             1 << 20,
		ReadHeaderTimeout:          Duration(10 * time.Second),
		IdleTimeout:                Duration(120 * time.Second),
		MaxHeaderBytes:             64 << 10,
		MaxHeaderLines:             100,
		ShutdownTimeout:            Duration(15 * time.Second),
		Forwarder:                  "lean",
		MaxIdleConnsPerBackend:     -1,
		ResolveInterval:            Duration(5 * time.Second),

		RetryBudget:             20,
		RetryBudgetMinPerSecond: 10,
		OutlierInterval:         Duration(2 * time.Second),
		OutlierErrorPercent:     20,
		OutlierLatencyFactor:    5,
		OutlierSlowPercent:      20,
		OutlierMinRequests:      20,
		OutlierBaseEjectionTime: Duration(30 * time.Second),
		OutlierMaxEjectionTime:  Duration(300 * time.Second),
		MaxEjectionPercent:      50,
	}
}

// Load reads, decodes and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data)
}

// Parse decodes and validates a JSON configuration. The error, when not nil,
// joins one error per problem found.
func Parse(data []byte) (*Config, error) {
	c := Default()
	if errs := decodeStrict(data, &c, ""); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err == nil { // decodeStrict checked it is an object
		c.keys = make(map[string]bool, len(top))
		for k := range top {
			c.keys[k] = true
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate reports every bad value and impossible combination, one error each.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key string, val any, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %v: %s", key, val, fmt.Sprintf(format, args...)))
	}
	port := func(key string, p int, zeroOK bool) {
		if p < 0 || p > 65535 || (p == 0 && !zeroOK) {
			bad(key, p, "port must be between 1 and 65535")
		}
	}
	port("proxy_port", c.ProxyPort, false)
	port("admin_port", c.AdminPort, true)
	if c.AdminPort != 0 && c.AdminPort == c.ProxyPort && c.AdminHost == c.ProxyHost {
		bad("admin_port", c.AdminPort, "must differ from proxy_port")
	}
	if c.ProxyHost == "" {
		bad("proxy_host", `""`, "must not be empty (use 0.0.0.0 for every interface)")
	}
	if !slices.Contains(Algorithms, c.Algorithm) {
		bad("algorithm", strconv.Quote(c.Algorithm), "unknown algorithm; use one of %s", strings.Join(Algorithms, ", "))
	}
	if c.Mode != "http" && c.Mode != "tcp" {
		bad("mode", strconv.Quote(c.Mode), `must be "http" or "tcp"`)
	}
	if c.EnablePprof && c.AdminPort == 0 {
		bad("enable_pprof", c.EnablePprof, "profiles are served on the admin listener; set admin_port (e.g. 9090)")
	}
	if c.Mode == "tcp" && c.AdminPort == 0 {
		bad("admin_port", c.AdminPort, `"mode": "tcp" serves status, metrics and the runtime API only on the admin listener; set admin_port (e.g. 9090)`)
	}
	if len(c.BackendServers) == 0 {
		errs = append(errs, errors.New("backend_servers: no backends: give at least one {\"host\", \"port\"}"))
	}
	seen := map[string]int{}
	for i, b := range c.BackendServers {
		key := fmt.Sprintf("backend_servers[%d]", i)
		if strings.TrimSpace(b.Host) == "" {
			bad(key+".host", `""`, "must not be empty")
		} else if strings.ContainsAny(b.Host, "/ :") && net.ParseIP(b.Host) == nil {
			bad(key+".host", strconv.Quote(b.Host), "must be a host name or IP address, without scheme, port or path")
		}
		port(key+".port", b.Port, false)
		if b.Weight < 1 || b.Weight > 1000 {
			bad(key+".weight", b.Weight, "must be between 1 and 1000")
		}
		if j, dup := seen[b.Address()]; dup {
			bad(key, b.Address(), "duplicate of backend_servers[%d]", j)
		}
		seen[b.Address()] = i
	}
	positive := func(key string, d Duration) {
		if d <= 0 {
			bad(key, d, "must be greater than 0")
		}
	}
	nonNegative := func(key string, d Duration) {
		if d < 0 {
			bad(key, d, "must not be negative")
		}
	}
	nonNegative("health_check_interval", c.HealthCheckInterval)
	positive("health_check_timeout", c.HealthCheckTimeout)
	// The interval runs from the end of a check, so a timeout as long as
	// the interval is HAProxy's default (inter bounds the check too).
	if c.HealthCheckInterval > 0 && c.HealthCheckTimeout > c.HealthCheckInterval {
		bad("health_check_timeout", c.HealthCheckTimeout, "must not be longer than health_check_interval (%s)", c.HealthCheckInterval)
	}
	positive("connection_timeout", c.ConnectionTimeout)
	positive("request_timeout", c.RequestTimeout)
	positive("fail_timeout", c.FailTimeout)
	nonNegative("slow_start", c.SlowStart)
	positive("read_header_timeout", c.ReadHeaderTimeout)
	positive("idle_timeout", c.IdleTimeout)
	positive("shutdown_timeout", c.ShutdownTimeout)
	positive("resolve_interval", c.ResolveInterval)
	if c.MaxConnections < 0 {
		bad("max_connections", c.MaxConnections, "must not be negative (0 means no limit)")
	}
	if !strings.HasPrefix(c.HealthCheckPath, "/") || strings.ContainsAny(c.HealthCheckPath, " \t\r\n#") {
		bad("health_check_path", strconv.Quote(c.HealthCheckPath), `must be a URL path starting with "/"`)
	}
	if _, err := ParseStatusSet(c.HealthCheckStatus); err != nil {
		bad("health_check_status", strconv.Quote(c.HealthCheckStatus), "%v", err)
	}
	if c.HealthyThreshold < 1 {
		bad("healthy_threshold", c.HealthyThreshold, "must be at least 1")
	}
	if c.UnhealthyThreshold < 1 {
		bad("unhealthy_threshold", c.UnhealthyThreshold, "must be at least 1")
	}
	if c.MaxFails < 0 {
		bad("max_fails", c.MaxFails, "must not be negative (0 turns passive checks off)")
	}
	if c.PassiveMinAvailablePercent < 0 || c.PassiveMinAvailablePercent > 100 {
		bad("passive_min_available_percent", c.PassiveMinAvailablePercent, "must be between 0%% and 100%% of the backends (0 turns the guard off)")
	}
	if c.Retries < 0 || c.Retries > 10 {
		bad("retries", c.Retries, "must be between 0 and 10")
	}
	if c.RetryBodyLimit < 0 {
		bad("retry_body_limit", c.RetryBodyLimit, "must not be negative")
	}
	if c.MaxHeaderBytes < 1024 {
		bad("max_header_bytes", c.MaxHeaderBytes, "must be at least 1024")
	}
	if c.MaxHeaderLines < 1 || c.MaxHeaderLines > 10000 {
		bad("max_header_lines", c.MaxHeaderLines, "must be between 1 and 10000")
	}
	if c.Forwarder != "lean" && c.Forwarder != "reverseproxy" {
		bad("forwarder", strconv.Quote(c.Forwarder), `must be "lean" or "reverseproxy"`)
	}
	if c.MaxIdleConnsPerBackend < -1 {
		bad("max_idle_conns_per_backend", c.MaxIdleConnsPerBackend, "must be -1 (no limit), 0 (no keep-alive) or more")
	}
	if c.MaxConnsPerBackend < 0 {
		bad("max_conns_per_backend", c.MaxConnsPerBackend, "must be 0 (no limit) or more")
	} else if c.MaxConnsPerBackend > 0 && c.Mode == "tcp" {
		bad("max_conns_per_backend", c.MaxConnsPerBackend, `bounds backend connections in HTTP mode only; "mode": "tcp" has no queue (use max_connections)`)
	}
	c.validateGray(bad)
	for i, p := range c.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			bad(fmt.Sprintf("trusted_proxies[%d]", i), strconv.Quote(p), "must be an IP address or CIDR prefix")
		}
	}
	return errors.Join(errs...)
}

// ParsePrefix parses an IP address or CIDR prefix; a bare address is a /32 or /128.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// StatusSet is a set of HTTP status codes, parsed from "200-399" or "200,204".
type StatusSet []struct{ Lo, Hi int }

// Contains reports whether code is in the set.
func (s StatusSet) Contains(code int) bool {
	for _, r := range s {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

// ParseStatusSet parses a comma-separated list of codes and lo-hi ranges.
func ParseStatusSet(spec string) (StatusSet, error) {
	var set StatusSet
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
			return nil, fmt.Errorf("%q is not a status code or range like 200-399", part)
		}
		set = append(set, struct{ Lo, Hi int }{a, b})
	}
	return set, nil
}
