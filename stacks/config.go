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

const (
	// PlatformDocker runs an env on the local Docker engine behind Caddy.
	PlatformDocker PlatformName = "docker"
	// PlatformAWS runs an env on ECS Fargate behind an ALB.
	PlatformAWS PlatformName = "aws"
	// DefaultPlatform is phoenix:platform when unset.
	DefaultPlatform = PlatformDocker
)

// Config keys, all in the "phoenix" namespace unless they name another.
// Pulumi.yaml documents each one.
const (
	KeyPlatform         = "phoenix:platform"
	KeyAppPath          = "phoenix:appPath"
	KeyAppPort          = "phoenix:appPort"
	KeyReplicas         = "phoenix:replicas"
	KeyEnvironment      = "phoenix:environment"
	KeyHealthCheckPath  = "phoenix:healthCheckPath"
	KeyHealthCheck      = "phoenix:healthCheckCommand"
	KeyRetention        = "phoenix:retention"
	KeyLive             = "phoenix:live"
	KeyCandidate        = "phoenix:candidate"
	KeyCandidateWeight  = "phoenix:candidateWeight"
	KeyPort             = "phoenix:port"
	KeyListenAddress    = "phoenix:listenAddress"
	KeyCaddyImage       = "phoenix:caddyImage"
	KeyVPCCIDR          = "phoenix:vpcCidr"
	KeyAZCount          = "phoenix:azCount"
	KeyAllowedCIDRs     = "phoenix:allowedCidrs"
	KeyCertificateARN   = "phoenix:certificateArn"
	KeyHostname         = "phoenix:hostname"
	KeyCPU              = "phoenix:cpu"
	KeyMemory           = "phoenix:memory"
	KeyLogRetentionDays = "phoenix:logRetentionDays"
	KeyKeepImages       = "phoenix:keepImages"
	KeyAWSRegion        = "aws:region"
	KeyAnalysis         = "phoenix:analysis"
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

// DefaultCaddyImage is the pinned Caddy image the docker platform's load
// balancer image is built on. Its version matches the Caddy that lb/
// requires, which the image ships and the data-plane tests run.
const DefaultCaddyImage = "caddy:2.11.9-alpine"

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
	// Docker holds the docker platform's settings.
	Docker DockerConfig
	// AWS holds the aws platform's settings.
	AWS AWSConfig
	// Analysis holds the thresholds of the canary analysis.
	Analysis Analysis
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

// DockerConfig holds the docker platform's settings.
type DockerConfig struct {
	// Port is the host port Caddy publishes.
	Port int
	// ListenAddress is the host address the port is published on:
	// 127.0.0.1 unless the env is meant to be reached from other machines.
	ListenAddress string
	// CaddyImage is the Caddy image reference, pinned to a tag or digest.
	CaddyImage string
}

// AWSConfig holds the aws platform's settings.
type AWSConfig struct {
	// Region is the AWS region (config aws:region).
	Region string
	// VPCCIDR is the VPC's address range.
	VPCCIDR string
	// AZCount is the number of availability zones, one public subnet each.
	AZCount int
	// AllowedCIDRs may reach the load balancer on ports 80 and 443.
	AllowedCIDRs []string
	// CertificateARN, when set, turns on HTTPS and the HTTP redirect.
	CertificateARN string
	// Hostname is the env's public DNS name, pointed at the load balancer;
	// required with CertificateARN, which must cover it. The env's URL
	// uses it, so the health gate verifies the certificate for it.
	Hostname string
	// CPU is the Fargate task CPU in units (256 = 0.25 vCPU).
	CPU int
	// Memory is the Fargate task memory in MiB.
	Memory int
	// LogRetentionDays is how long CloudWatch keeps app logs.
	LogRetentionDays int
	// KeepImages is how many images the ECR lifecycle policy keeps.
	KeepImages int
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

// MaxAWSRetention bounds phoenix:retention on aws by the ALB's quotas.
const MaxAWSRetention = 95

// ParseConfig reads and validates configuration from get. Every problem is
// reported, each naming its key, the bad value and what is allowed.
func ParseConfig(get Getter) (*Config, error) {
	p := parser{get: get}
	c := &Config{
		Platform:           PlatformName(p.oneOf(KeyPlatform, string(DefaultPlatform), PlatformNames()...)),
		AppPath:            p.nonEmpty(KeyAppPath, "app"),
		AppPort:            p.intRange(KeyAppPort, 8080, 1, 65535),
		Replicas:           p.intRange(KeyReplicas, 2, 1, 100),
		Environment:        p.environment(KeyEnvironment),
		HealthCheckPath:    p.path(KeyHealthCheckPath, "/healthz"),
		HealthCheckCommand: p.healthCheck(KeyHealthCheck, DefaultHealthCheckCommand),
		Retention:          p.intRange(KeyRetention, 2, 0, 100),
		Analysis:           p.analysis(KeyAnalysis),
		Traffic: Traffic{
			Live:            p.version(KeyLive),
			Candidate:       p.version(KeyCandidate),
			CandidateWeight: p.intRange(KeyCandidateWeight, 0, 0, 100),
		},
		Docker: DockerConfig{
			Port:          p.intRange(KeyPort, 8080, 1, 65535),
			ListenAddress: p.ip(KeyListenAddress, "127.0.0.1"),
			CaddyImage:    p.image(KeyCaddyImage, DefaultCaddyImage),
		},
	}
	for _, k := range TrafficKeys {
		if _, ok := get(k); ok {
			c.TrafficGiven = true
		}
	}
	if v, ok := p.lookup(KeyExpectTraffic); ok {
		t, err := ParseTraffic(v)
		if err != nil {
			p.fail(KeyExpectTraffic, v, err.Error())
		} else {
			c.ExpectTraffic = &t
		}
	}
	if c.Traffic.CandidateWeight > 0 && (c.Traffic.Candidate == "" || c.Traffic.Live == "") {
		p.fail(KeyCandidateWeight, strconv.Itoa(c.Traffic.CandidateWeight),
			"a canary weight needs both phoenix:live and phoenix:candidate; set it to 0 or set both versions")
	}
	if c.Platform == PlatformAWS {
		c.AWS = AWSConfig{
			Region:           p.required(KeyAWSRegion, "the AWS region, for example eu-west-1"),
			VPCCIDR:          p.vpcCIDR(KeyVPCCIDR, "10.0.0.0/16"),
			AZCount:          p.intRange(KeyAZCount, 2, 2, 6),
			AllowedCIDRs:     p.cidrList(KeyAllowedCIDRs, []string{"0.0.0.0/0"}),
			CertificateARN:   p.arn(KeyCertificateARN),
			Hostname:         p.hostname(KeyHostname),
			CPU:              p.intRange(KeyCPU, 256, 256, 16384),
			Memory:           p.intRange(KeyMemory, 512, 512, 122880),
			LogRetentionDays: p.logRetention(KeyLogRetentionDays, 30),
			KeepImages:       p.intRange(KeyKeepImages, 30, 1, 1000),
		}
		if p.ok(KeyCPU) && p.ok(KeyMemory) {
			if err := validateFargateSize(c.AWS.CPU, c.AWS.Memory); err != nil {
				p.errs = append(p.errs, err)
			}
		}
		if c.AWS.CertificateARN != "" && c.AWS.Hostname == "" && p.ok(KeyHostname) {
			p.fail(KeyCertificateARN, c.AWS.CertificateARN,
				"HTTPS needs phoenix:hostname too: the name the certificate covers, with a DNS record (CNAME or alias) pointing at the load balancer; the env's URL and the health gate use it, verifying the certificate (the load balancer's own name is not on it)")
		}
		// Each version holds a target group and a listener rule; at once
		// an env has its warm versions plus live, previous and a new
		// candidate, and the candidate rule: within the ALB's quotas of
		// 100 rules per listener and 100 target groups per load balancer.
		if c.Retention > MaxAWSRetention && p.ok(KeyRetention) {
			p.fail(KeyRetention, strconv.Itoa(c.Retention),
				fmt.Sprintf("on aws at most %d: each version holds a target group and a listener rule, and an ALB has at most 100 of each (live, previous, the candidate and the candidate rule come on top)", MaxAWSRetention))
		}
		// The lifecycle policy expires the oldest tagged images beyond
		// keepImages; destroyed versions delete their tags, so the images
		// are those of the versions that exist: retention + 3.
		if c.AWS.KeepImages < c.Retention+3 && p.ok(KeyKeepImages) && p.ok(KeyRetention) {
			p.fail(KeyKeepImages, strconv.Itoa(c.AWS.KeepImages),
				fmt.Sprintf("the ECR lifecycle policy would expire images of versions that still run; keep at least phoenix:retention+3 = %d (warm versions, live, previous and a new candidate)", c.Retention+3))
		}
	}
	if len(p.errs) > 0 {
		return nil, fmt.Errorf("invalid configuration:\n  %w", joinIndented(p.errs))
	}
	return c, nil
}

// ParseAnalysis reads and validates phoenix:analysis alone, as phoenix
// deploy does; the program validates it with the rest (ParseConfig).
func ParseAnalysis(get Getter) (Analysis, error) {
	p := parser{get: get}
	a := p.analysis(KeyAnalysis)
	if len(p.errs) > 0 {
		return a, fmt.Errorf("invalid configuration:\n  %w", joinIndented(p.errs))
	}
	return a, nil
}

// analysis reads phoenix:analysis, an object of optional fields.
func (p *parser) analysis(key string) Analysis {
	a := DefaultAnalysis
	v, ok := p.lookup(key)
	if !ok {
		return a
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		p.fail(key, v, "use an object such as {maxErrorRate: 0.01, maxErrorRateRatio: 2, maxLatencyRatio: 1.2, minRequests: 100, bake: 5m}")
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
				p.fail(key+"."+name, s, what)
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
			p.fail(key+".minRequests", s, "a whole number from 1 to 1000000")
		} else {
			a.MinRequests = n
		}
	}
	if s, ok := field("bake"); ok {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > 24*time.Hour {
			p.fail(key+".bake", s, "a duration such as 5m, at most 24h; 0 turns the bake period off")
		} else {
			a.Bake = d
		}
	}
	for _, name := range sortedKeysOf(raw) {
		p.fail(key+"."+name, string(raw[name]), "not a setting of phoenix:analysis; the settings are maxErrorRate, maxErrorRateRatio, maxLatencyRatio, minRequests and bake")
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

// parser accumulates validation errors so that one run reports them all.
type parser struct {
	get  Getter
	errs []error
	bad  map[string]bool
}

func (p *parser) fail(key, value, allowed string) {
	if p.bad == nil {
		p.bad = map[string]bool{}
	}
	p.bad[key] = true
	p.errs = append(p.errs, fmt.Errorf("%s: %q is not valid: %s", key, value, allowed))
}

func (p *parser) ok(key string) bool { return !p.bad[key] }

func (p *parser) lookup(key string) (string, bool) {
	v, ok := p.get(key)
	if !ok || strings.TrimSpace(v) == "" {
		return "", false
	}
	return strings.TrimSpace(v), true
}

func (p *parser) required(key, what string) string {
	v, ok := p.lookup(key)
	if !ok {
		p.fail(key, "", "it is required: "+what+" (pulumi config set "+key+" <value>)")
	}
	return v
}

func (p *parser) nonEmpty(key, def string) string {
	if v, ok := p.lookup(key); ok {
		return v
	}
	return def
}

func (p *parser) oneOf(key, def string, allowed ...string) string {
	v, ok := p.lookup(key)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(key, v, "use one of "+strings.Join(allowed, ", "))
	return def
}

func (p *parser) intRange(key string, def, lo, hi int) int {
	v, ok := p.lookup(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.fail(key, v, fmt.Sprintf("use a whole number from %d to %d (default %d)", lo, hi, def))
		return def
	}
	return n
}

func (p *parser) version(key string) string {
	v, ok := p.lookup(key)
	if !ok {
		return ""
	}
	if err := ValidateVersion(v); err != nil {
		p.fail(key, v, err.Error())
		return ""
	}
	return v
}

func (p *parser) path(key, def string) string {
	v, ok := p.lookup(key)
	if !ok {
		return def
	}
	if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " ?#") {
		p.fail(key, v, "use an absolute URL path without query, such as /healthz")
		return def
	}
	return v
}

func (p *parser) healthCheck(key string, def []string) []string {
	v, ok := p.lookup(key)
	if !ok {
		return def
	}
	var cmd []string
	if err := json.Unmarshal([]byte(v), &cmd); err != nil || len(cmd) < 2 || (cmd[0] != "CMD" && cmd[0] != "CMD-SHELL") {
		p.fail(key, v, `use a list starting with CMD or CMD-SHELL, e.g. ["CMD-SHELL", "wget -qO- localhost:8080/healthz"]`)
		return def
	}
	return cmd
}

var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedEnvironment are set by Phoenix on every app container.
var reservedEnvironment = map[string]bool{"PORT": true, "PHOENIX_ENV": true, "PHOENIX_VERSION": true}

func (p *parser) environment(key string) map[string]string {
	v, ok := p.lookup(key)
	if !ok {
		return map[string]string{}
	}
	var env map[string]string
	if err := json.Unmarshal([]byte(v), &env); err != nil {
		p.fail(key, v, "use an object of string values, e.g. pulumi config set --path 'phoenix:environment.LOG_LEVEL' debug")
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
			p.fail(key, name, "environment variable names hold letters, digits and underscores and do not start with a digit")
		case reservedEnvironment[name]:
			p.fail(key, name, "Phoenix sets PORT, PHOENIX_ENV and PHOENIX_VERSION itself; remove it")
		}
	}
	return env
}

var imagePattern = regexp.MustCompile(`^[a-z0-9]+([._/:-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$`)

func (p *parser) image(key, def string) string {
	v, ok := p.lookup(key)
	if !ok {
		return def
	}
	if !imagePattern.MatchString(v) || strings.HasSuffix(v, ":latest") {
		p.fail(key, v, "use an image pinned to a tag other than latest or to a digest, such as "+def)
		return def
	}
	return v
}

func (p *parser) ip(key, def string) string {
	v, ok := p.lookup(key)
	if !ok {
		return def
	}
	if net.ParseIP(v) == nil {
		p.fail(key, v, "use an IP address of this host: 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one interface's address")
		return def
	}
	return v
}

func (p *parser) vpcCIDR(key, def string) string {
	v, ok := p.lookup(key)
	if !ok {
		return def
	}
	ip, n, err := net.ParseCIDR(v)
	if err != nil || ip.To4() == nil || !ip.Equal(n.IP) || !prefixWithin(n, 16, 24) {
		p.fail(key, v, "use an IPv4 network from /16 to /24 written with its first address, such as 10.0.0.0/16")
		return def
	}
	return v
}

func (p *parser) cidrList(key string, def []string) []string {
	v, ok := p.lookup(key)
	if !ok {
		return def
	}
	var list []string
	if err := json.Unmarshal([]byte(v), &list); err != nil || len(list) == 0 {
		p.fail(key, v, `use a non-empty list of CIDRs, e.g. pulumi config set --path 'phoenix:allowedCidrs[0]' 203.0.113.0/24`)
		return def
	}
	for _, c := range list {
		if ip, n, err := net.ParseCIDR(c); err != nil || ip.To4() == nil || !ip.Equal(n.IP) {
			p.fail(key, c, "each entry must be an IPv4 network written with its first address, such as 203.0.113.0/24")
		}
	}
	return list
}

var certificateARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$`)

func (p *parser) arn(key string) string {
	v, ok := p.lookup(key)
	if !ok {
		return ""
	}
	if !certificateARNPattern.MatchString(v) {
		p.fail(key, v, "use an ACM certificate ARN such as arn:aws:acm:eu-west-1:123456789012:certificate/0b1c...")
		return ""
	}
	return v
}

// hostnamePattern is a DNS name of two or more labels (RFC 1123).
var hostnamePattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (p *parser) hostname(key string) string {
	v, ok := p.lookup(key)
	if !ok {
		return ""
	}
	if len(v) > 253 || !hostnamePattern.MatchString(v) {
		p.fail(key, v, "use a lower-case DNS name such as app.example.com, without scheme, port or path")
		return ""
	}
	return v
}

func prefixWithin(n *net.IPNet, lo, hi int) bool {
	ones, _ := n.Mask.Size()
	return ones >= lo && ones <= hi
}

// logRetentionDays are the values CloudWatch Logs accepts.
var logRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

func (p *parser) logRetention(key string, def int) int {
	v, ok := p.lookup(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err == nil {
		for _, d := range logRetentionDays {
			if n == d {
				return n
			}
		}
	}
	p.fail(key, v, fmt.Sprintf("CloudWatch accepts %s days", strings.Trim(fmt.Sprint(logRetentionDays), "[]")))
	return def
}

// validateFargateSize checks a CPU and memory pair against the combinations
// Fargate supports.
func validateFargateSize(cpu, memory int) error {
	type span struct{ lo, hi, step int }
	sizes := map[int]span{
		512:   {1024, 4096, 1024},
		1024:  {2048, 8192, 1024},
		2048:  {4096, 16384, 1024},
		4096:  {8192, 30720, 1024},
		8192:  {16384, 61440, 4096},
		16384: {32768, 122880, 8192},
	}
	if cpu == 256 {
		// The smallest size is not a regular series: 512 MiB, 1 GiB or 2 GiB.
		if memory == 512 || memory == 1024 || memory == 2048 {
			return nil
		}
		return fmt.Errorf("%s: %q is not valid: with %s 256 Fargate takes 512, 1024 or 2048 MiB", KeyMemory, strconv.Itoa(memory), KeyCPU)
	}
	s, ok := sizes[cpu]
	if !ok {
		return fmt.Errorf("%s: %q is not valid: Fargate CPU is one of 256, 512, 1024, 2048, 4096, 8192, 16384", KeyCPU, strconv.Itoa(cpu))
	}
	if memory < s.lo || memory > s.hi || (memory-s.lo)%s.step != 0 {
		return fmt.Errorf("%s: %q is not valid: with %s %d Fargate takes %d to %d MiB in steps of %d", KeyMemory, strconv.Itoa(memory), KeyCPU, cpu, s.lo, s.hi, s.step)
	}
	return nil
}

func joinIndented(errs []error) error {
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}
