package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// PlatformName names where an env runs: a registered Platform.
type PlatformName string

// DefaultPlatform is phoenix:platform when unset: the docker platform,
// the local Docker engine behind Caddy.
const DefaultPlatform PlatformName = "docker"

// Config keys every platform reads, all in the "phoenix" namespace. Each
// platform declares its own (its Settings reads them); Pulumi.yaml
// documents every one.
const (
	KeyPlatform        = "phoenix:platform"
	KeyAppPath         = "phoenix:appPath"
	KeyAppPort         = "phoenix:appPort"
	KeyReplicas        = "phoenix:replicas"
	KeyEnvironment     = "phoenix:environment"
	KeyHealthCheckPath = "phoenix:healthCheckPath"
	KeyHealthCheck     = "phoenix:healthCheckCommand"
	KeyRetention       = "phoenix:retention"
	KeyLive            = "phoenix:live"
	KeyCandidate       = "phoenix:candidate"
	KeyCandidateWeight = "phoenix:candidateWeight"
	KeyAnalysis        = "phoenix:analysis"
	// KeyImage is the image a version stack runs instead of building the
	// app: set by phoenix promote in the version's own config (never in
	// an env's config file), pinned by digest (ImageByDigest).
	KeyImage = "phoenix:image"
	// KeyExpectTraffic makes an update of the env stack a compare-and-swap:
	// it fails, before any resource changes, unless the traffic the env
	// stack last exported is this one (Traffic.String's form). The phoenix
	// CLI sets it on every traffic write; a plain pulumi up does not.
	KeyExpectTraffic = "phoenix:expectTraffic"
)

// TrafficKeys are the config keys that move traffic. They are excluded from a
// version's content hash: changing them changes the env stack's traffic
// pointer and nothing else.
var TrafficKeys = []string{KeyLive, KeyCandidate, KeyCandidateWeight}

// OperationKeys are the config keys that tell phoenix how to move traffic
// and judge a version, not what a version is: like the traffic keys they
// are left out of a version's content hash.
var OperationKeys = append([]string{KeyAnalysis, KeyExpectTraffic}, TrafficKeys...)

// DefaultHealthCheckCommand is the sample app's own health probe.
var DefaultHealthCheckCommand = []string{"CMD", "/phoenix-app", "-healthcheck"}

// Config is the typed configuration of one env, read once per stack.
type Config struct {
	// Platform is where the env runs.
	Platform PlatformName
	// AppPath is the Docker build context of the app, relative to the project.
	AppPath string
	// AppPort is the port the app listens on inside its container.
	AppPort int
	// Replicas is the number of app containers or Fargate tasks per version.
	Replicas int
	// Environment holds extra environment variables for the app.
	Environment map[string]string
	// EnvironmentSecret is true when phoenix:environment is (or holds) a
	// secret: then the variables are kept encrypted in state and previews.
	EnvironmentSecret bool
	// HealthCheckPath is the app's health endpoint.
	HealthCheckPath string
	// HealthCheckCommand is the container health check of the docker
	// platform, in Docker's form (["CMD", ...] or ["CMD-SHELL", "..."]).
	HealthCheckCommand []string
	// Retention is how many non-live versions gc keeps warm.
	Retention int
	// Traffic is where the env stack sends requests.
	Traffic Traffic
	// TrafficGiven is false when none of the traffic keys is set at all (a
	// plain `pulumi up` of the env stack): the env stack then keeps the
	// traffic where it last put it. The phoenix CLI always sets all three.
	TrafficGiven bool
	// ExpectTraffic, when set (phoenix:expectTraffic), is the traffic the
	// env stack must hold for this update to run.
	ExpectTraffic *Traffic
	// Settings are the platform's own settings, as its Settings method
	// read them from its keys: each platform's package gives them their
	// type.
	Settings any
	// Analysis holds the thresholds of the canary analysis.
	Analysis Analysis
	// Image, when set (phoenix:image), is the image the version runs,
	// by digest, instead of one built from AppPath: a promoted version's.
	Image string
}

// Analysis is the env's phoenix:analysis: how phoenix deploy judges a new
// version on the production traffic it serves during each canary step and
// the bake period after its promotion (internal/analysis).
type Analysis struct {
	// MaxErrorRate is the error rate (5xx answers, the load balancer's
	// own included) a new version may always have, 0 to 1.
	MaxErrorRate float64 `json:"maxErrorRate"`
	// MaxErrorRateRatio lets a new version have up to this multiple of
	// the error rate of what it is compared with, when that is higher.
	MaxErrorRateRatio float64 `json:"maxErrorRateRatio"`
	// MaxLatencyRatio bounds the new version's p50 and p99 latency to
	// this multiple of its comparison's (plus 5 ms).
	MaxLatencyRatio float64 `json:"maxLatencyRatio"`
	// MinRequests is how many requests each side needs for a verdict.
	MinRequests int `json:"minRequests"`
	// Bake is how long the new live version is watched after its
	// promotion; 0 turns the bake period off.
	Bake time.Duration `json:"bake"`
}

// DefaultAnalysis is phoenix:analysis when unset; each field unset takes
// its value from here.
var DefaultAnalysis = Analysis{MaxErrorRate: 0.01, MaxErrorRateRatio: 2, MaxLatencyRatio: 1.2, MinRequests: 100}

// Traffic is the traffic pointer of an env: the only configuration a
// cut-over or a rollback changes.
type Traffic struct {
	// Live is the version receiving production traffic; empty when none.
	Live string
	// Candidate is the version on the candidate route; empty when none. It
	// may equal Live right after a promotion, which then has no effect.
	Candidate string
	// CandidateWeight is the percentage of production traffic sent to the
	// candidate (canary), 0 to 100. It is ignored when Candidate equals Live.
	CandidateWeight int
}

// String is the traffic in one line, "live=V candidate=V weight=N", with
// "-" for no version: the form of phoenix:expectTraffic and of the errors
// that name a traffic.
func (t Traffic) String() string {
	dash := func(v string) string {
		if v == "" {
			return "-"
		}
		return v
	}
	return fmt.Sprintf("live=%s candidate=%s weight=%d", dash(t.Live), dash(t.Candidate), t.CandidateWeight)
}

// ParseTraffic reads Traffic.String's form.
func ParseTraffic(s string) (Traffic, error) {
	var t Traffic
	fields := strings.Fields(s)
	if len(fields) != 3 {
		return t, fmt.Errorf("want \"live=V candidate=V weight=N\" (\"-\" for no version)")
	}
	for i, want := range []string{"live", "candidate", "weight"} {
		k, v, ok := strings.Cut(fields[i], "=")
		if !ok || k != want {
			return t, fmt.Errorf("field %d is %q, want %s=...", i+1, fields[i], want)
		}
		if v == "-" {
			v = ""
		}
		switch k {
		case "live", "candidate":
			if v != "" {
				if err := ValidateVersion(v); err != nil {
					return t, fmt.Errorf("%s: %w", k, err)
				}
			}
			if k == "live" {
				t.Live = v
			} else {
				t.Candidate = v
			}
		case "weight":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 100 {
				return t, fmt.Errorf("weight %q is not an integer from 0 to 100", v)
			}
			t.CandidateWeight = n
		}
	}
	return t, nil
}

// Canary reports whether production traffic is split between live and candidate.
func (t Traffic) Canary() bool {
	return t.Candidate != "" && t.Candidate != t.Live && t.CandidateWeight > 0
}

// Getter looks up a fully qualified config key such as "phoenix:platform".
type Getter func(key string) (string, bool)

// LoadConfig reads and validates the stack's configuration.
func LoadConfig(ctx *pulumi.Context) (*Config, error) {
	c, err := ParseConfig(ctx.GetConfig)
	if err != nil {
		return nil, err
	}
	c.EnvironmentSecret = ctx.IsConfigSecret(KeyEnvironment)
	return c, nil
}

// ParseConfig reads and validates configuration from get. Every problem is
// reported, each naming its key, the bad value and what is allowed.
func ParseConfig(get Getter) (*Config, error) {
	p := &ConfigParser{get: get}
	c := &Config{
		Platform:           PlatformName(p.oneOf(KeyPlatform, string(DefaultPlatform), PlatformNames()...)),
		AppPath:            p.nonEmpty(KeyAppPath, "app"),
		AppPort:            p.Int(KeyAppPort, 8080, 1, 65535),
		Replicas:           p.Int(KeyReplicas, 2, 1, 100),
		Environment:        p.environment(KeyEnvironment),
		HealthCheckPath:    p.path(KeyHealthCheckPath, "/healthz"),
		HealthCheckCommand: p.healthCheck(KeyHealthCheck, DefaultHealthCheckCommand),
		Retention:          p.Int(KeyRetention, 2, 0, 100),
		Analysis:           p.analysis(KeyAnalysis),
		Image:              p.imageByDigest(KeyImage),
		Traffic: Traffic{
			Live:            p.version(KeyLive),
			Candidate:       p.version(KeyCandidate),
			CandidateWeight: p.Int(KeyCandidateWeight, 0, 0, 100),
		},
	}
	for _, k := range TrafficKeys {
		if _, ok := get(k); ok {
			c.TrafficGiven = true
		}
	}
	if v, ok := p.Lookup(KeyExpectTraffic); ok {
		t, err := ParseTraffic(v)
		if err != nil {
			p.Fail(KeyExpectTraffic, v, err.Error())
		} else {
			c.ExpectTraffic = &t
		}
	}
	if c.Traffic.CandidateWeight > 0 && (c.Traffic.Candidate == "" || c.Traffic.Live == "") {
		p.Fail(KeyCandidateWeight, strconv.Itoa(c.Traffic.CandidateWeight),
			"a canary weight needs both phoenix:live and phoenix:candidate; set it to 0 or set both versions")
	}
	if pl, err := LookupPlatform(c.Platform); err == nil {
		c.Settings = pl.Settings(p, c)
	}
	if len(p.errs) > 0 {
		return nil, fmt.Errorf("invalid configuration:\n  %w", joinIndented(p.errs))
	}
	return c, nil
}

// ParseAnalysis reads and validates phoenix:analysis alone, as phoenix
// deploy does; the program validates it with the rest (ParseConfig).
func ParseAnalysis(get Getter) (Analysis, error) {
	p := &ConfigParser{get: get}
	a := p.analysis(KeyAnalysis)
	if len(p.errs) > 0 {
		return a, fmt.Errorf("invalid configuration:\n  %w", joinIndented(p.errs))
	}
	return a, nil
}

// analysis reads phoenix:analysis, an object of optional fields.
func (p *ConfigParser) analysis(key string) Analysis {
	a := DefaultAnalysis
	v, ok := p.Lookup(key)
	if !ok {
		return a
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		p.Fail(key, v, "use an object such as {maxErrorRate: 0.01, maxErrorRateRatio: 2, maxLatencyRatio: 1.2, minRequests: 100, bake: 5m}")
		return a
	}
	field := func(name string) (string, bool) {
		b, ok := raw[name]
		if !ok {
			return "", false
		}
		delete(raw, name)
		var s string
		if json.Unmarshal(b, &s) == nil {
			return s, true
		}
		return string(b), true
	}
	number := func(name string, into *float64, lo, hi float64, what string) {
		if s, ok := field(name); ok {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || f < lo || f > hi {
				p.Fail(key+"."+name, s, what)
				return
			}
			*into = f
		}
	}
	number("maxErrorRate", &a.MaxErrorRate, 0, 1, "a fraction from 0 to 1, e.g. 0.01 for 1%")
	number("maxErrorRateRatio", &a.MaxErrorRateRatio, 1, 1000, "a multiple of 1 or more, e.g. 2")
	number("maxLatencyRatio", &a.MaxLatencyRatio, 1, 1000, "a multiple of 1 or more, e.g. 1.2 for 20% slower at most")
	if s, ok := field("minRequests"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1_000_000 {
			p.Fail(key+".minRequests", s, "a whole number from 1 to 1000000")
		} else {
			a.MinRequests = n
		}
	}
	if s, ok := field("bake"); ok {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > 24*time.Hour {
			p.Fail(key+".bake", s, "a duration such as 5m, at most 24h; 0 turns the bake period off")
		} else {
			a.Bake = d
		}
	}
	for _, name := range sortedKeysOf(raw) {
		p.Fail(key+"."+name, string(raw[name]), "not a setting of phoenix:analysis; the settings are maxErrorRate, maxErrorRateRatio, maxLatencyRatio, minRequests and bake")
	}
	return a
}

func sortedKeysOf[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ConfigParser reads config keys and accumulates their validation errors,
// so that one run reports them all, each naming its key, the bad value and
// what is allowed. A platform reads its own keys with it (Settings).
type ConfigParser struct {
	get  Getter
	errs []error
	bad  map[string]bool
}

// Fail records that key's value is not valid, and what is allowed.
func (p *ConfigParser) Fail(key, value, allowed string) {
	if p.bad == nil {
		p.bad = map[string]bool{}
	}
	p.bad[key] = true
	p.errs = append(p.errs, fmt.Errorf("%s: %q is not valid: %s", key, value, allowed))
}

// Add records a problem that involves more than one key.
func (p *ConfigParser) Add(err error) { p.errs = append(p.errs, err) }

// OK reports whether key's value passed its check.
func (p *ConfigParser) OK(key string) bool { return !p.bad[key] }

// Lookup returns key's value, trimmed; false when it is unset or blank.
func (p *ConfigParser) Lookup(key string) (string, bool) {
	v, ok := p.get(key)
	if !ok || strings.TrimSpace(v) == "" {
		return "", false
	}
	return strings.TrimSpace(v), true
}

// Required returns key's value, and fails when it is unset; what says
// what the value is.
func (p *ConfigParser) Required(key, what string) string {
	v, ok := p.Lookup(key)
	if !ok {
		p.Fail(key, "", "it is required: "+what+" (pulumi config set "+key+" <value>)")
	}
	return v
}

func (p *ConfigParser) nonEmpty(key, def string) string {
	if v, ok := p.Lookup(key); ok {
		return v
	}
	return def
}

func (p *ConfigParser) oneOf(key, def string, allowed ...string) string {
	v, ok := p.Lookup(key)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.Fail(key, v, "use one of "+strings.Join(allowed, ", "))
	return def
}

// Int returns key's whole number, from lo to hi; def when unset.
func (p *ConfigParser) Int(key string, def, lo, hi int) int {
	v, ok := p.Lookup(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.Fail(key, v, fmt.Sprintf("use a whole number from %d to %d (default %d)", lo, hi, def))
		return def
	}
	return n
}

func (p *ConfigParser) version(key string) string {
	v, ok := p.Lookup(key)
	if !ok {
		return ""
	}
	if err := ValidateVersion(v); err != nil {
		p.Fail(key, v, err.Error())
		return ""
	}
	return v
}

func (p *ConfigParser) path(key, def string) string {
	v, ok := p.Lookup(key)
	if !ok {
		return def
	}
	if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " ?#") {
		p.Fail(key, v, "use an absolute URL path without query, such as /healthz")
		return def
	}
	return v
}

func (p *ConfigParser) healthCheck(key string, def []string) []string {
	v, ok := p.Lookup(key)
	if !ok {
		return def
	}
	var cmd []string
	if err := json.Unmarshal([]byte(v), &cmd); err != nil || len(cmd) < 2 || (cmd[0] != "CMD" && cmd[0] != "CMD-SHELL") {
		p.Fail(key, v, `use a list starting with CMD or CMD-SHELL, e.g. ["CMD-SHELL", "wget -qO- localhost:8080/healthz"]`)
		return def
	}
	return cmd
}

var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedEnvironment are set by Phoenix on every app container.
var reservedEnvironment = map[string]bool{"PORT": true, "PHOENIX_ENV": true, "PHOENIX_VERSION": true}

func (p *ConfigParser) environment(key string) map[string]string {
	v, ok := p.Lookup(key)
	if !ok {
		return map[string]string{}
	}
	var env map[string]string
	if err := json.Unmarshal([]byte(v), &env); err != nil {
		p.Fail(key, v, "use an object of string values, e.g. pulumi config set --path 'phoenix:environment.LOG_LEVEL' debug")
		return map[string]string{}
	}
	names := make([]string, 0, len(env))
	for name := range env {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		switch {
		case !envNamePattern.MatchString(name):
			p.Fail(key, name, "environment variable names hold letters, digits and underscores and do not start with a digit")
		case reservedEnvironment[name]:
			p.Fail(key, name, "Phoenix sets PORT, PHOENIX_ENV and PHOENIX_VERSION itself; remove it")
		}
	}
	return env
}

var imagePattern = regexp.MustCompile(`^[a-z0-9]+([._/:-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$`)

// Image returns key's image reference, pinned to a tag other than latest
// or to a digest; def when unset.
func (p *ConfigParser) Image(key, def string) string {
	v, ok := p.Lookup(key)
	if !ok {
		return def
	}
	if !imagePattern.MatchString(v) || strings.HasSuffix(v, ":latest") {
		p.Fail(key, v, "use an image pinned to a tag other than latest or to a digest, such as "+def)
		return def
	}
	return v
}

// imageDigestPattern is an image by digest: a Docker image id, or a
// registry reference pinned to a digest.
var imageDigestPattern = regexp.MustCompile(`^([a-z0-9]+([._/:-][a-z0-9]+)*@)?sha256:[a-f0-9]{64}$`)

// ImageByDigest reports whether ref names an image by its digest: a
// Docker image id (sha256:<64 hex>) or <repository>@sha256:<64 hex>.
func ImageByDigest(ref string) bool { return imageDigestPattern.MatchString(ref) }

// imageByDigest returns key's image, which must be pinned by digest; ""
// when unset.
func (p *ConfigParser) imageByDigest(key string) string {
	v, ok := p.Lookup(key)
	if !ok {
		return ""
	}
	if !ImageByDigest(v) {
		p.Fail(key, v, "phoenix promote sets it to an image by digest (sha256:<64 hex digits>, or <repository>@sha256:<64 hex digits>); remove it to build the app")
		return ""
	}
	return v
}

// IP returns key's IP address of this host; def when unset.
func (p *ConfigParser) IP(key, def string) string {
	v, ok := p.Lookup(key)
	if !ok {
		return def
	}
	if net.ParseIP(v) == nil {
		p.Fail(key, v, "use an IP address of this host: 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one interface's address")
		return def
	}
	return v
}

// CIDRList returns key's non-empty list of IPv4 networks; def when unset.
func (p *ConfigParser) CIDRList(key string, def []string) []string {
	v, ok := p.Lookup(key)
	if !ok {
		return def
	}
	var list []string
	if err := json.Unmarshal([]byte(v), &list); err != nil || len(list) == 0 {
		p.Fail(key, v, `use a non-empty list of CIDRs, e.g. pulumi config set --path 'phoenix:allowedCidrs[0]' 203.0.113.0/24`)
		return def
	}
	for _, c := range list {
		if ip, n, err := net.ParseCIDR(c); err != nil || ip.To4() == nil || !ip.Equal(n.IP) {
			p.Fail(key, c, "each entry must be an IPv4 network written with its first address, such as 203.0.113.0/24")
		}
	}
	return list
}

// hostnamePattern is a DNS name of two or more labels (RFC 1123).
var hostnamePattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Hostname returns key's DNS name; empty when unset.
func (p *ConfigParser) Hostname(key string) string {
	v, ok := p.Lookup(key)
	if !ok {
		return ""
	}
	if len(v) > 253 || !hostnamePattern.MatchString(v) {
		p.Fail(key, v, "use a lower-case DNS name such as app.example.com, without scheme, port or path")
		return ""
	}
	return v
}

func joinIndented(errs []error) error {
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}
