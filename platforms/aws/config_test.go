package aws_test

import (
	"reflect"
	"strings"
	"testing"

	_ "github.com/phoenix-iac/phoenix/platforms"
	"github.com/phoenix-iac/phoenix/platforms/aws"
	"github.com/phoenix-iac/phoenix/stacks"
)

func TestSettings(t *testing.T) {
	c, err := stacks.ParseConfig(getter(map[string]string{
		stacks.KeyPlatform:        "aws",
		aws.KeyRegion:             "eu-west-1",
		aws.KeyAllowedCIDRs:       `["203.0.113.0/24"]`,
		aws.KeyCPU:                "1024",
		aws.KeyMemory:             "4096",
		stacks.KeyEnvironment:     `{"LOG_LEVEL":"debug"}`,
		stacks.KeyLive:            "v1",
		stacks.KeyCandidate:       "v2",
		stacks.KeyCandidateWeight: "10",
	}))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Settings.(aws.Config)
	if a.CPU != 1024 || a.Memory != 4096 || a.Region != "eu-west-1" || a.AZCount != 2 {
		t.Errorf("got %+v", a)
	}
	if !reflect.DeepEqual(a.AllowedCIDRs, []string{"203.0.113.0/24"}) {
		t.Errorf("got allowed CIDRs %v", a.AllowedCIDRs)
	}
	if c.Environment["LOG_LEVEL"] != "debug" {
		t.Errorf("got environment %v", c.Environment)
	}
	if !c.Traffic.Canary() {
		t.Errorf("got Canary() = false for %+v", c.Traffic)
	}
}

func TestSettingsRefuse(t *testing.T) {
	region := map[string]string{stacks.KeyPlatform: "aws", aws.KeyRegion: "eu-west-1"}
	refuses(t, []refusal{
		{"aws without region", with(nil, stacks.KeyPlatform, "aws"), aws.KeyRegion, "required"},
		{"vpc too small", with(region, aws.KeyVPCCIDR, "10.0.0.0/26"), aws.KeyVPCCIDR, "/16 to /24"},
		{"vpc not a network address", with(region, aws.KeyVPCCIDR, "10.0.0.1/16"), aws.KeyVPCCIDR, "first address"},
		{"one availability zone", with(region, aws.KeyAZCount, "1"), aws.KeyAZCount, "from 2 to 6"},
		{"allowed CIDRs empty", with(region, aws.KeyAllowedCIDRs, `[]`), aws.KeyAllowedCIDRs, "non-empty list"},
		{"allowed CIDR invalid", with(region, aws.KeyAllowedCIDRs, `["everyone"]`), aws.KeyAllowedCIDRs, "IPv4 network"},
		{"certificate not an ARN", with(region, aws.KeyCertificateARN, "my-cert"), aws.KeyCertificateARN, "ACM certificate ARN"},
		{"certificate without a hostname", with(region, aws.KeyCertificateARN, "arn:aws:acm:eu-west-1:123456789012:certificate/abc-123"), aws.KeyCertificateARN, "needs phoenix:hostname"},
		{"hostname with a scheme", with(region, aws.KeyHostname, "https://app.example.com"), aws.KeyHostname, "DNS name"},
		{"fargate cpu", with(region, aws.KeyCPU, "300"), aws.KeyCPU, "Fargate CPU is one of"},
		{"fargate memory", with(region, aws.KeyCPU, "256", aws.KeyMemory, "4096"), aws.KeyMemory, "512, 1024 or 2048"},
		{"fargate memory step", with(region, aws.KeyCPU, "1024", aws.KeyMemory, "2500"), aws.KeyMemory, "2048 to 8192 MiB"},
		{"log retention", with(region, aws.KeyLogRetentionDays, "10"), aws.KeyLogRetentionDays, "CloudWatch accepts"},
		{"keep images below retention", with(region, stacks.KeyRetention, "10", aws.KeyKeepImages, "5"), aws.KeyKeepImages, "versions that still run"},
		{"keep images one short of live, previous and candidate", with(region, stacks.KeyRetention, "10", aws.KeyKeepImages, "12"), aws.KeyKeepImages, "at least phoenix:retention+3 = 13"},
		{"retention beyond the ALB quotas", with(region, stacks.KeyRetention, "96", aws.KeyKeepImages, "200"), stacks.KeyRetention, "at most 95"},
	})
}

// with is base with the key-value pairs kv set.
func with(base map[string]string, kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func getter(m map[string]string) stacks.Getter {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// refuses checks that each config fails, naming its key and the problem.
func refuses(t *testing.T, tests []refusal) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stacks.ParseConfig(getter(tt.config))
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

type refusal struct {
	name    string
	config  map[string]string
	wantKey string
	wantMsg string
}
