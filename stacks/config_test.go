package stacks

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func getter(m map[string]string) Getter {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig(getter(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Platform:           PlatformDocker,
		AppPath:            "app",
		AppPort:            8080,
		Replicas:           2,
		Environment:        map[string]string{},
		HealthCheckPath:    "/healthz",
		HealthCheckCommand: DefaultHealthCheckCommand,
		Retention:          2,
		Docker:             DockerConfig{Port: 8080, ListenAddress: "127.0.0.1", CaddyImage: DefaultCaddyImage},
		Analysis:           Analysis{MaxErrorRate: 0.01, MaxErrorRateRatio: 2, MaxLatencyRatio: 1.2, MinRequests: 100},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

func TestParseConfigAWS(t *testing.T) {
	c, err := ParseConfig(getter(map[string]string{
		KeyPlatform:        "aws",
		KeyAWSRegion:       "eu-west-1",
		KeyAllowedCIDRs:    `["203.0.113.0/24"]`,
		KeyCPU:             "1024",
		KeyMemory:          "4096",
		KeyEnvironment:     `{"LOG_LEVEL":"debug"}`,
		KeyLive:            "v1",
		KeyCandidate:       "v2",
		KeyCandidateWeight: "10",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.AWS.CPU != 1024 || c.AWS.Memory != 4096 || c.AWS.Region != "eu-west-1" || c.AWS.AZCount != 2 {
		t.Errorf("got %+v", c.AWS)
	}
	if !reflect.DeepEqual(c.AWS.AllowedCIDRs, []string{"203.0.113.0/24"}) {
		t.Errorf("got allowed CIDRs %v", c.AWS.AllowedCIDRs)
	}
	if c.Environment["LOG_LEVEL"] != "debug" {
		t.Errorf("got environment %v", c.Environment)
	}
	if !c.Traffic.Canary() {
		t.Errorf("got Canary() = false for %+v", c.Traffic)
	}
}

func TestParseConfigRefuses(t *testing.T) {
	aws := map[string]string{KeyPlatform: "aws", KeyAWSRegion: "eu-west-1"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		config  map[string]string
		wantKey string
		wantMsg string
	}{
		{"unknown platform", with(nil, KeyPlatform, "k8s"), KeyPlatform, "use one of docker, aws"},
		{"port not a number", with(nil, KeyAppPort, "http"), KeyAppPort, "whole number from 1 to 65535"},
		{"port out of range", with(nil, KeyAppPort, "70000"), KeyAppPort, "whole number from 1 to 65535"},
		{"no replicas", with(nil, KeyReplicas, "0"), KeyReplicas, "from 1 to 100"},
		{"listen address not an IP", with(nil, KeyListenAddress, "localhost"), KeyListenAddress, "IP address of this host"},
		{"negative retention", with(nil, KeyRetention, "-1"), KeyRetention, "from 0 to 100"},
		{"relative health path", with(nil, KeyHealthCheckPath, "healthz"), KeyHealthCheckPath, "absolute URL path"},
		{"health command not CMD", with(nil, KeyHealthCheck, `["curl","x"]`), KeyHealthCheck, "CMD or CMD-SHELL"},
		{"environment not an object", with(nil, KeyEnvironment, `["A=1"]`), KeyEnvironment, "object of string values"},
		{"environment sets PORT", with(nil, KeyEnvironment, `{"PORT":"1"}`), KeyEnvironment, "Phoenix sets PORT"},
		{"environment bad name", with(nil, KeyEnvironment, `{"1X":"1"}`), KeyEnvironment, "letters, digits and underscores"},
		{"bad live version", with(nil, KeyLive, "V1"), KeyLive, "lowercase"},
		{"bad candidate version", with(nil, KeyCandidate, "a.b"), KeyCandidate, "must not contain a dot"},
		{"weight over 100", with(nil, KeyLive, "v1", KeyCandidate, "v2", KeyCandidateWeight, "150"), KeyCandidateWeight, "from 0 to 100"},
		{"weight without candidate", with(nil, KeyLive, "v1", KeyCandidateWeight, "10"), KeyCandidateWeight, "needs both phoenix:live and phoenix:candidate"},
		{"caddy image latest", with(nil, KeyCaddyImage, "caddy:latest"), KeyCaddyImage, "pinned"},
		{"caddy image untagged", with(nil, KeyCaddyImage, "caddy"), KeyCaddyImage, "pinned"},
		{"analysis not an object", with(nil, KeyAnalysis, `[1]`), KeyAnalysis, "use an object"},
		{"analysis error rate as a percentage", with(nil, KeyAnalysis, `{"maxErrorRate":5}`), KeyAnalysis + ".maxErrorRate", "fraction from 0 to 1"},
		{"analysis latency ratio below 1", with(nil, KeyAnalysis, `{"maxLatencyRatio":0.5}`), KeyAnalysis + ".maxLatencyRatio", "multiple of 1 or more"},
		{"analysis no requests", with(nil, KeyAnalysis, `{"minRequests":0}`), KeyAnalysis + ".minRequests", "from 1 to 1000000"},
		{"analysis bake not a duration", with(nil, KeyAnalysis, `{"bake":"5"}`), KeyAnalysis + ".bake", "duration such as 5m"},
		{"analysis unknown field", with(nil, KeyAnalysis, `{"maxErrors":1}`), KeyAnalysis + ".maxErrors", "the settings are maxErrorRate"},
		{"aws without region", with(nil, KeyPlatform, "aws"), KeyAWSRegion, "required"},
		{"vpc too small", with(aws, KeyVPCCIDR, "10.0.0.0/26"), KeyVPCCIDR, "/16 to /24"},
		{"vpc not a network address", with(aws, KeyVPCCIDR, "10.0.0.1/16"), KeyVPCCIDR, "first address"},
		{"one availability zone", with(aws, KeyAZCount, "1"), KeyAZCount, "from 2 to 6"},
		{"allowed CIDRs empty", with(aws, KeyAllowedCIDRs, `[]`), KeyAllowedCIDRs, "non-empty list"},
		{"allowed CIDR invalid", with(aws, KeyAllowedCIDRs, `["everyone"]`), KeyAllowedCIDRs, "IPv4 network"},
		{"certificate not an ARN", with(aws, KeyCertificateARN, "my-cert"), KeyCertificateARN, "ACM certificate ARN"},
		{"certificate without a hostname", with(aws, KeyCertificateARN, "arn:aws:acm:eu-west-1:123456789012:certificate/abc-123"), KeyCertificateARN, "needs phoenix:hostname"},
		{"hostname with a scheme", with(aws, KeyHostname, "https://app.example.com"), KeyHostname, "DNS name"},
		{"fargate cpu", with(aws, KeyCPU, "300"), KeyCPU, "Fargate CPU is one of"},
		{"fargate memory", with(aws, KeyCPU, "256", KeyMemory, "4096"), KeyMemory, "512, 1024 or 2048"},
		{"fargate memory step", with(aws, KeyCPU, "1024", KeyMemory, "2500"), KeyMemory, "2048 to 8192 MiB"},
		{"log retention", with(aws, KeyLogRetentionDays, "10"), KeyLogRetentionDays, "CloudWatch accepts"},
		{"keep images below retention", with(aws, KeyRetention, "10", KeyKeepImages, "5"), KeyKeepImages, "versions that still run"},
		{"keep images one short of live, previous and candidate", with(aws, KeyRetention, "10", KeyKeepImages, "12"), KeyKeepImages, "at least phoenix:retention+3 = 13"},
		{"retention beyond the ALB quotas", with(aws, KeyRetention, "96", KeyKeepImages, "200"), KeyRetention, "at most 95"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(getter(tt.config))
			if err == nil {
				t.Fatalf("ParseConfig(%v) succeeded, want an error", tt.config)
			}
			for _, want := range []string{tt.wantKey, tt.wantMsg} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

func TestParseAnalysis(t *testing.T) {
	a, err := ParseAnalysis(getter(map[string]string{KeyAnalysis: `{"maxErrorRate":"0.05","minRequests":20,"bake":"2m"}`}))
	if err != nil {
		t.Fatal(err)
	}
	want := Analysis{MaxErrorRate: 0.05, MaxErrorRateRatio: 2, MaxLatencyRatio: 1.2, MinRequests: 20, Bake: 2 * time.Minute}
	if a != want {
		t.Errorf("got %+v, want %+v (unset fields keep their defaults)", a, want)
	}
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	_, err := ParseConfig(getter(map[string]string{KeyAppPort: "x", KeyReplicas: "0", KeyPlatform: "gcp"}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, key := range []string{KeyAppPort, KeyReplicas, KeyPlatform} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
}

// TestPulumiYAMLDocumentsEveryKey keeps Pulumi.yaml and the program in step:
// every key the program reads is documented there, with the program's default.
func TestPulumiYAMLDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../Pulumi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var project struct {
		Config map[string]struct {
			Type        string `yaml:"type"`
			Description string `yaml:"description"`
			Default     any    `yaml:"default"`
		} `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &project); err != nil {
		t.Fatal(err)
	}
	// Every key read when all of them are set.
	read := map[string]bool{}
	_, _ = ParseConfig(func(k string) (string, bool) { read[k] = true; return "", false })
	_, _ = ParseConfig(func(k string) (string, bool) {
		read[k] = true
		if k == KeyPlatform {
			return "aws", true
		}
		return "", false
	})
	for k := range read {
		if k == KeyAWSRegion || k == KeyExpectTraffic || slices.Contains(TrafficKeys, k) {
			// The AWS provider's key, and the traffic keys, which must not
			// get defaults: documented in the file's comment.
			if !strings.Contains(string(b), "#   "+k) && k != KeyAWSRegion {
				t.Errorf("Pulumi.yaml's comment does not document %s", k)
			}
			if _, declared := project.Config[k]; declared && k != KeyAWSRegion {
				t.Errorf("Pulumi.yaml declares the traffic key %s: Pulumi would give it a default, and a plain pulumi up would move traffic", k)
			}
			continue
		}
		decl, ok := project.Config[k]
		if !ok {
			t.Errorf("Pulumi.yaml does not document %s", k)
			continue
		}
		if decl.Type == "" || decl.Description == "" {
			t.Errorf("Pulumi.yaml: %s needs a type and a description", k)
		}
	}
	for k := range project.Config {
		if !read[k] {
			t.Errorf("Pulumi.yaml documents %s, which the program does not read", k)
		}
	}

	// The defaults in Pulumi.yaml are the program's: parse them as if set.
	fromYAML := map[string]string{KeyPlatform: "aws", KeyAWSRegion: "eu-west-1"}
	for k, decl := range project.Config {
		if decl.Default == nil || k == KeyPlatform {
			continue
		}
		switch d := decl.Default.(type) {
		case []any:
			var parts []string
			for _, x := range d {
				parts = append(parts, `"`+x.(string)+`"`)
			}
			fromYAML[k] = "[" + strings.Join(parts, ",") + "]"
		case map[string]any:
			j, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			fromYAML[k] = string(j)
		default:
			fromYAML[k] = strings.TrimSpace(strings.Trim(strings.TrimSpace(toString(d)), `"`))
		}
	}
	got, err := ParseConfig(getter(fromYAML))
	if err != nil {
		t.Fatalf("Pulumi.yaml defaults do not parse: %v", err)
	}
	want, err := ParseConfig(getter(map[string]string{KeyPlatform: "aws", KeyAWSRegion: "eu-west-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Pulumi.yaml defaults differ from the program's:\n got %+v\nwant %+v", got, want)
	}
	if d := project.Config[KeyPlatform].Default; d != string(PlatformDocker) {
		t.Errorf("Pulumi.yaml: platform default is %v, want docker", d)
	}
}

func toString(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}

// TestTrafficGiven tells a plain pulumi up (no traffic keys) from the CLI
// saying "nothing live" (keys set, empty).
func TestTrafficGiven(t *testing.T) {
	tests := []struct {
		name   string
		config map[string]string
		want   bool
	}{
		{"no traffic keys", nil, false},
		{"live set", map[string]string{KeyLive: "v1"}, true},
		{"set to none", map[string]string{KeyLive: "", KeyCandidate: "", KeyCandidateWeight: "0"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig(getter(tt.config))
			if err != nil {
				t.Fatal(err)
			}
			if c.TrafficGiven != tt.want {
				t.Errorf("got TrafficGiven %v, want %v", c.TrafficGiven, tt.want)
			}
		})
	}
}

func TestTrafficStringRoundTrips(t *testing.T) {
	for _, tr := range []Traffic{{}, {Live: "v1"}, {Live: "v1", Candidate: "v2", CandidateWeight: 10}} {
		got, err := ParseTraffic(tr.String())
		if err != nil || got != tr {
			t.Errorf("ParseTraffic(%q) = %+v, %v; want %+v", tr.String(), got, err, tr)
		}
	}
	for _, bad := range []string{"", "live=v1", "live=v1 candidate=- weight=101", "candidate=- live=- weight=0", "live=../x candidate=- weight=0"} {
		if _, err := ParseTraffic(bad); err == nil {
			t.Errorf("ParseTraffic(%q) accepted", bad)
		}
	}
}
