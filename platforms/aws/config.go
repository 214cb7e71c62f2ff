package aws

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/phoenix-iac/phoenix/stacks"
)

// Name is the aws platform's phoenix:platform value.
const Name stacks.PlatformName = "aws"

// The aws platform's config keys; Pulumi.yaml documents each one but the
// AWS provider's own aws:region.
const (
	KeyRegion           = "aws:region"
	KeyVPCCIDR          = "phoenix:vpcCidr"
	KeyAZCount          = "phoenix:azCount"
	KeyAllowedCIDRs     = "phoenix:allowedCidrs"
	KeyCertificateARN   = "phoenix:certificateArn"
	KeyHostname         = "phoenix:hostname"
	KeyCPU              = "phoenix:cpu"
	KeyMemory           = "phoenix:memory"
	KeyLogRetentionDays = "phoenix:logRetentionDays"
	// KeyKeepImages is retired: the lifecycle policy it sized could
	// expire the image of a version that still runs.
	KeyKeepImages = "phoenix:keepImages"
	// KeyPermissionsBoundary is the IAM policy every role of the env's
	// versions carries as its permissions boundary.
	KeyPermissionsBoundary = "phoenix:permissionsBoundary"
)

// MaxRetention bounds phoenix:retention on aws by the ALB's quotas.
const MaxRetention = 95

// Config holds the aws platform's settings.
type Config struct {
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
	// PermissionsBoundary, when set, is the ARN of the IAM policy that
	// bounds the versions' roles; the deploy role can then be allowed
	// iam:CreateRole only with it (docs/aws-roles.md).
	PermissionsBoundary string
}

// Example implements stacks.Exampled: the region is the one key without
// a default.
func (Platform) Example() map[string]string {
	return map[string]string{KeyRegion: "eu-west-1"}
}

// Settings implements stacks.Platform.
func (Platform) Settings(p *stacks.ConfigParser, c *stacks.Config) any {
	a := Config{
		Region:              p.Required(KeyRegion, "the AWS region, for example eu-west-1"),
		VPCCIDR:             vpcCIDR(p, KeyVPCCIDR, "10.0.0.0/16"),
		AZCount:             p.Int(KeyAZCount, 2, 2, 6),
		AllowedCIDRs:        p.CIDRList(KeyAllowedCIDRs, []string{"0.0.0.0/0"}),
		CertificateARN:      certificateARN(p, KeyCertificateARN),
		Hostname:            p.Hostname(KeyHostname),
		CPU:                 p.Int(KeyCPU, 256, 256, 16384),
		Memory:              p.Int(KeyMemory, 512, 512, 122880),
		LogRetentionDays:    logRetention(p, KeyLogRetentionDays, 30),
		PermissionsBoundary: policyARN(p, KeyPermissionsBoundary),
	}
	if p.OK(KeyCPU) && p.OK(KeyMemory) {
		if err := validateFargateSize(a.CPU, a.Memory); err != nil {
			p.Add(err)
		}
	}
	if a.CertificateARN != "" && a.Hostname == "" && p.OK(KeyHostname) {
		p.Fail(KeyCertificateARN, a.CertificateARN,
			"HTTPS needs phoenix:hostname too: the name the certificate covers, with a DNS record (CNAME or alias) pointing at the load balancer; the env's URL and the health gate use it, verifying the certificate (the load balancer's own name is not on it)")
	}
	// Each version holds a target group and a listener rule; at once an env
	// has its warm versions plus live, previous and a new candidate, and
	// the candidate rule: within the ALB's quotas of 100 rules per
	// listener and 100 target groups per load balancer.
	if c.Retention > MaxRetention && p.OK(stacks.KeyRetention) {
		p.Fail(stacks.KeyRetention, strconv.Itoa(c.Retention),
			fmt.Sprintf("on aws at most %d: each version holds a target group and a listener rule, and an ALB has at most 100 of each (live, previous, the candidate and the candidate rule come on top)", MaxRetention))
	}
	// An ECR lifecycle rule that counts tagged images expires the oldest
	// ones whether a version still runs them or not (a rollback target is
	// old by nature): the policy now expires only untagged images, and a
	// version's image leaves with the version.
	if v, ok := p.Lookup(KeyKeepImages); ok && v != "0" {
		p.Fail(KeyKeepImages, v,
			"the key is retired: a count of images to keep could expire the image of a version that still runs. Images now leave ECR with their versions (phoenix gc, and each deploy, destroy the versions beyond phoenix:retention); remove the key from the env's config file")
	}
	return a
}

// settings are c's aws settings.
func settings(c *stacks.Config) Config {
	s, _ := c.Settings.(Config)
	return s
}

func vpcCIDR(p *stacks.ConfigParser, key, def string) string {
	v, ok := p.Lookup(key)
	if !ok {
		return def
	}
	ip, n, err := net.ParseCIDR(v)
	if err != nil || ip.To4() == nil || !ip.Equal(n.IP) || !prefixWithin(n, 16, 24) {
		p.Fail(key, v, "use an IPv4 network from /16 to /24 written with its first address, such as 10.0.0.0/16")
		return def
	}
	return v
}

var policyARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}|aws):policy/[\w+=,.@/-]+$`)

func policyARN(p *stacks.ConfigParser, key string) string {
	return arn(p, key, policyARNPattern, "use an IAM policy ARN such as arn:aws:iam::123456789012:policy/phoenix-boundary")
}

// arn returns key's value if it matches pattern; "" when it is unset, or
// (failing with what is allowed) when it does not.
func arn(p *stacks.ConfigParser, key string, pattern *regexp.Regexp, allowed string) string {
	v, ok := p.Lookup(key)
	if !ok {
		return ""
	}
	if !pattern.MatchString(v) {
		p.Fail(key, v, allowed)
		return ""
	}
	return v
}

// CertificatePlaceholder ends the example env's certificate ARN, which a
// user must replace: phoenix refuses it.
const CertificatePlaceholder = "REPLACE-ME"

var certificateARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$`)

func certificateARN(p *stacks.ConfigParser, key string) string {
	v := arn(p, key, certificateARNPattern, "use an ACM certificate ARN such as arn:aws:acm:eu-west-1:123456789012:certificate/0b1c...")
	if strings.HasSuffix(v, "/"+CertificatePlaceholder) {
		p.Fail(key, v, "this is the example's placeholder: set the ARN of your ACM certificate, in aws:region, that covers phoenix:hostname")
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

func logRetention(p *stacks.ConfigParser, key string, def int) int {
	v, ok := p.Lookup(key)
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
	p.Fail(key, v, fmt.Sprintf("CloudWatch accepts %s days", strings.Trim(fmt.Sprint(logRetentionDays), "[]")))
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
