package aws_test

import (
	"reflect"
	"testing"

	_ "github.com/phoenix-iac/phoenix/platforms"
	"github.com/phoenix-iac/phoenix/platforms/aws"
	"github.com/phoenix-iac/phoenix/stacks"
	"github.com/phoenix-iac/phoenix/stacks/configtest"
)

func TestSettings(t *testing.T) {
	c, err := stacks.ParseConfig(configtest.Getter(map[string]string{
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
	configtest.Refuses(t, []configtest.Refusal{
		configtest.Case("aws without region", configtest.With(nil, stacks.KeyPlatform, "aws"), aws.KeyRegion, "required"),
		configtest.Case("vpc too small", configtest.With(region, aws.KeyVPCCIDR, "10.0.0.0/26"), aws.KeyVPCCIDR, "/16 to /24"),
		configtest.Case("vpc not a network address", configtest.With(region, aws.KeyVPCCIDR, "10.0.0.1/16"), aws.KeyVPCCIDR, "first address"),
		configtest.Case("one availability zone", configtest.With(region, aws.KeyAZCount, "1"), aws.KeyAZCount, "from 2 to 6"),
		configtest.Case("allowed CIDRs empty", configtest.With(region, aws.KeyAllowedCIDRs, `[]`), aws.KeyAllowedCIDRs, "non-empty list"),
		configtest.Case("allowed CIDR invalid", configtest.With(region, aws.KeyAllowedCIDRs, `["everyone"]`), aws.KeyAllowedCIDRs, "IPv4 network"),
		configtest.Case("certificate not an ARN", configtest.With(region, aws.KeyCertificateARN, "my-cert"), aws.KeyCertificateARN, "ACM certificate ARN"),
		configtest.Case("certificate without a hostname", configtest.With(region, aws.KeyCertificateARN, "arn:aws:acm:eu-west-1:123456789012:certificate/abc-123"), aws.KeyCertificateARN, "needs phoenix:hostname"),
		configtest.Case("the example's certificate placeholder", configtest.With(region, aws.KeyCertificateARN, "arn:aws:acm:eu-west-1:123456789012:certificate/"+aws.CertificatePlaceholder, aws.KeyHostname, "app.example.com"), aws.KeyCertificateARN, "example's placeholder"),
		configtest.Case("permissions boundary not a policy ARN", configtest.With(region, aws.KeyPermissionsBoundary, "arn:aws:iam::123456789012:role/x"), aws.KeyPermissionsBoundary, "IAM policy ARN"),
		configtest.Case("hostname with a scheme", configtest.With(region, aws.KeyHostname, "https://app.example.com"), aws.KeyHostname, "DNS name"),
		configtest.Case("fargate cpu", configtest.With(region, aws.KeyCPU, "300"), aws.KeyCPU, "Fargate CPU is one of"),
		configtest.Case("fargate memory", configtest.With(region, aws.KeyCPU, "256", aws.KeyMemory, "4096"), aws.KeyMemory, "512, 1024 or 2048"),
		configtest.Case("fargate memory step", configtest.With(region, aws.KeyCPU, "1024", aws.KeyMemory, "2500"), aws.KeyMemory, "2048 to 8192 MiB"),
		configtest.Case("log retention", configtest.With(region, aws.KeyLogRetentionDays, "10"), aws.KeyLogRetentionDays, "CloudWatch accepts"),
		configtest.Case("keep images, retired", configtest.With(region, aws.KeyKeepImages, "30"), aws.KeyKeepImages, "retired"),
		configtest.Case("retention beyond the ALB quotas", configtest.With(region, stacks.KeyRetention, "96"), stacks.KeyRetention, "at most 95"),
	})
}

// TestExample: the example config, with the platform named, is an env's
// whole config on aws; without it the region is refused as missing.
func TestExample(t *testing.T) {
	example := aws.Platform{}.Example()
	example[stacks.KeyPlatform] = "aws"
	c, err := stacks.ParseConfig(configtest.Getter(example))
	if err != nil {
		t.Fatalf("the example config is refused: %v", err)
	}
	if got := c.Settings.(aws.Config).Region; got != example[aws.KeyRegion] {
		t.Errorf("region %q, want the example's %q", got, example[aws.KeyRegion])
	}
	var _ stacks.Exampled = aws.Platform{}
}
