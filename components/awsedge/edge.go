// Package awsedge provides the long-lived edge of an env on AWS: the network,
// the load balancer, the ECS cluster, the image registry and the log group.
// It lives in the env stack and is shared by every version of the env.
package awsedge

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// EdgeArgs configures an Edge. The fields are plain values rather than
// Pulumi inputs because they shape the resource graph (how many subnets,
// whether there is an HTTPS listener), which must be known when the program runs.
type EdgeArgs struct {
	// VPCCIDR is the VPC's address range, /16 to /24. Required.
	VPCCIDR string
	// AZCount is the number of availability zones, one public subnet in each.
	// Optional; default 2, the least an ALB accepts.
	AZCount int
	// AllowedCIDRs may reach the load balancer on ports 80 and 443. Required.
	AllowedCIDRs []string
	// AppPort is the port app tasks listen on; the load balancer may reach
	// the VPC on it and nothing else. Required.
	AppPort int
	// LogRetentionDays is how long app logs are kept. Optional; default 30.
	LogRetentionDays int
}

// Edge is the long-lived part of an env on AWS.
type Edge struct {
	pulumi.ResourceState

	// VPCID is the env's VPC.
	VPCID pulumi.StringOutput `pulumi:"vpcId"`
	// SubnetIDs are the public subnets, one per availability zone.
	SubnetIDs pulumi.StringArrayOutput `pulumi:"subnetIds"`
	// LoadBalancerARN is the ALB's ARN.
	LoadBalancerARN pulumi.StringOutput `pulumi:"loadBalancerArn"`
	// LoadBalancerDNSName is the ALB's DNS name.
	LoadBalancerDNSName pulumi.StringOutput `pulumi:"loadBalancerDnsName"`
	// LoadBalancerARNSuffix is the ALB's ARN suffix (app/<name>/<id>),
	// CloudWatch's LoadBalancer dimension, which the canary analysis reads.
	LoadBalancerARNSuffix pulumi.StringOutput `pulumi:"loadBalancerArnSuffix"`
	// LoadBalancerSecurityGroupID is the ALB's security group: the only
	// source app tasks admit.
	LoadBalancerSecurityGroupID pulumi.StringOutput `pulumi:"loadBalancerSecurityGroupId"`
	// ClusterARN is the ECS cluster every version runs in.
	ClusterARN pulumi.StringOutput `pulumi:"clusterArn"`
	// RepositoryURL is the ECR repository images are pushed to.
	RepositoryURL pulumi.StringOutput `pulumi:"repositoryUrl"`
	// RepositoryARN is the ECR repository's ARN.
	RepositoryARN pulumi.StringOutput `pulumi:"repositoryArn"`
	// RegistryID is the account ID of the registry.
	RegistryID pulumi.StringOutput `pulumi:"registryId"`
	// LogGroupName is the CloudWatch log group of the app.
	LogGroupName pulumi.StringOutput `pulumi:"logGroupName"`
	// LogGroupARN is the log group's ARN.
	LogGroupARN pulumi.StringOutput `pulumi:"logGroupArn"`
}

// CheckEnvName refuses an env name that would make names AWS refuses, before
// anything is created: the env's and its versions' security groups are
// named after the env, and EC2 refuses a security group name that starts
// with "sg-" (the form of its ids).
func CheckEnvName(env string) error {
	if strings.HasPrefix(strings.ToLower(env), "sg-") {
		return fmt.Errorf("env name %q starts with sg-, which EC2 refuses at the start of a security group name (phoenix names them after the env); choose another env name", env)
	}
	return nil
}

// NewEdge creates the edge of an env. Child names derive from name.
func NewEdge(ctx *pulumi.Context, name string, args *EdgeArgs, opts ...pulumi.ResourceOption) (*Edge, error) {
	if args == nil {
		return nil, fmt.Errorf("awsedge %s: args are required", name)
	}
	if err := CheckEnvName(name); err != nil {
		return nil, err
	}
	a := withDefaults(*args)
	subnetCIDRs, err := SubnetCIDRs(a.VPCCIDR, a.AZCount)
	if err != nil {
		return nil, fmt.Errorf("awsedge %s: %w", name, err)
	}
	e := &Edge{}
	if err := ctx.RegisterComponentResource("phoenix:aws:Edge", name, e, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(e)

	vpc, subnetIDs, err := network(ctx, name, &a, subnetCIDRs, parent)
	if err != nil {
		return nil, err
	}
	alb, albSG, err := loadBalancer(ctx, name, &a, vpc, subnetIDs, parent)
	if err != nil {
		return nil, err
	}
	cluster, err := ecs.NewCluster(ctx, name+"-cluster", &ecs.ClusterArgs{
		Settings: ecs.ClusterSettingArray{&ecs.ClusterSettingArgs{
			Name:  pulumi.String("containerInsights"),
			Value: pulumi.String("enabled"),
		}},
	}, parent)
	if err != nil {
		return nil, err
	}
	repo, err := registry(ctx, name, &a, parent)
	if err != nil {
		return nil, err
	}
	logs, err := cloudwatch.NewLogGroup(ctx, name+"-app", &cloudwatch.LogGroupArgs{
		RetentionInDays: pulumi.Int(a.LogRetentionDays),
	}, parent)
	if err != nil {
		return nil, err
	}

	e.VPCID = vpc.ID().ToStringOutput()
	e.SubnetIDs = subnetIDs.ToStringArrayOutput()
	e.LoadBalancerARN = alb.Arn
	e.LoadBalancerDNSName = alb.DnsName
	e.LoadBalancerARNSuffix = alb.ArnSuffix
	e.LoadBalancerSecurityGroupID = albSG.ID().ToStringOutput()
	e.ClusterARN = cluster.Arn
	e.RepositoryURL = repo.RepositoryUrl
	e.RepositoryARN = repo.Arn
	e.RegistryID = repo.RegistryId
	e.LogGroupName = logs.Name
	e.LogGroupARN = logs.Arn
	if err := ctx.RegisterResourceOutputs(e, pulumi.Map{
		"vpcId":                       e.VPCID,
		"subnetIds":                   e.SubnetIDs,
		"loadBalancerArn":             e.LoadBalancerARN,
		"loadBalancerDnsName":         e.LoadBalancerDNSName,
		"loadBalancerArnSuffix":       e.LoadBalancerARNSuffix,
		"loadBalancerSecurityGroupId": e.LoadBalancerSecurityGroupID,
		"clusterArn":                  e.ClusterARN,
		"repositoryUrl":               e.RepositoryURL,
		"repositoryArn":               e.RepositoryARN,
		"registryId":                  e.RegistryID,
		"logGroupName":                e.LogGroupName,
		"logGroupArn":                 e.LogGroupARN,
	}); err != nil {
		return nil, err
	}
	return e, nil
}

// network creates the env's VPC: an internet gateway, a public route
// table, and one public subnet in each of a.AZCount zones.
func network(ctx *pulumi.Context, name string, a *EdgeArgs, subnetCIDRs []string, parent pulumi.ResourceOrInvokeOption) (*ec2.Vpc, pulumi.StringArray, error) {
	zones, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{State: pulumi.StringRef("available")}, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("listing availability zones: %w", err)
	}
	if len(zones.Names) < a.AZCount {
		return nil, nil, fmt.Errorf("the region has %d available zones, phoenix:azCount asks for %d; lower phoenix:azCount", len(zones.Names), a.AZCount)
	}

	vpc, err := ec2.NewVpc(ctx, name+"-vpc", &ec2.VpcArgs{
		CidrBlock:          pulumi.String(a.VPCCIDR),
		EnableDnsHostnames: pulumi.Bool(true),
		EnableDnsSupport:   pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	igw, err := ec2.NewInternetGateway(ctx, name+"-igw", &ec2.InternetGatewayArgs{VpcId: vpc.ID()}, parent)
	if err != nil {
		return nil, nil, err
	}
	routes, err := ec2.NewRouteTable(ctx, name+"-public", &ec2.RouteTableArgs{
		VpcId: vpc.ID(),
		Routes: ec2.RouteTableRouteArray{&ec2.RouteTableRouteArgs{
			CidrBlock: pulumi.String("0.0.0.0/0"),
			GatewayId: igw.ID(),
		}},
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	var subnetIDs pulumi.StringArray
	for i, cidr := range subnetCIDRs {
		subnet, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-public-%d", name, i), &ec2.SubnetArgs{
			VpcId:               vpc.ID(),
			CidrBlock:           pulumi.String(cidr),
			AvailabilityZone:    pulumi.String(zones.Names[i]),
			MapPublicIpOnLaunch: pulumi.Bool(true),
		}, parent)
		if err != nil {
			return nil, nil, err
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-public-%d", name, i), &ec2.RouteTableAssociationArgs{
			SubnetId:     subnet.ID(),
			RouteTableId: routes.ID(),
		}, parent); err != nil {
			return nil, nil, err
		}
		subnetIDs = append(subnetIDs, subnet.ID().ToStringOutput())
	}

	return vpc, subnetIDs, nil
}

// loadBalancer creates the ALB in the public subnets and its security
// group: HTTP(S) in from the allowed networks, the app port out to the VPC.
func loadBalancer(ctx *pulumi.Context, name string, a *EdgeArgs, vpc *ec2.Vpc, subnetIDs pulumi.StringArray, parent pulumi.ResourceOrInvokeOption) (*lb.LoadBalancer, *ec2.SecurityGroup, error) {
	var ingress ec2.SecurityGroupIngressArray
	for _, port := range []int{80, 443} {
		ingress = append(ingress, &ec2.SecurityGroupIngressArgs{
			Description: pulumi.Sprintf("HTTP(S) on %d from the allowed networks", port),
			Protocol:    pulumi.String("tcp"),
			FromPort:    pulumi.Int(port),
			ToPort:      pulumi.Int(port),
			CidrBlocks:  pulumi.ToStringArray(a.AllowedCIDRs),
		})
	}
	albSG, err := ec2.NewSecurityGroup(ctx, name+"-alb", &ec2.SecurityGroupArgs{
		Description: pulumi.String("Phoenix load balancer: HTTP(S) in from the allowed networks, app port out to the VPC"),
		VpcId:       vpc.ID(),
		Ingress:     ingress,
		Egress: ec2.SecurityGroupEgressArray{&ec2.SecurityGroupEgressArgs{
			Description: pulumi.String("app tasks and their health checks"),
			Protocol:    pulumi.String("tcp"),
			FromPort:    pulumi.Int(a.AppPort),
			ToPort:      pulumi.Int(a.AppPort),
			CidrBlocks:  pulumi.StringArray{pulumi.String(a.VPCCIDR)},
		}},
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	alb, err := lb.NewLoadBalancer(ctx, name+"-alb", &lb.LoadBalancerArgs{
		LoadBalancerType:        pulumi.String("application"),
		Internal:                pulumi.Bool(false),
		SecurityGroups:          pulumi.StringArray{albSG.ID()},
		Subnets:                 subnetIDs,
		DropInvalidHeaderFields: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	return alb, albSG, nil
}

// registry creates the ECR repository, with immutable tags and a
// lifecycle policy that expires only untagged images.
func registry(ctx *pulumi.Context, name string, a *EdgeArgs, parent pulumi.ResourceOrInvokeOption) (*ecr.Repository, error) {
	repo, err := ecr.NewRepository(ctx, name+"-app", &ecr.RepositoryArgs{
		// Rule 4: a tag is a version, and a version is never rewritten.
		ImageTagMutability: pulumi.String("IMMUTABLE"),
		ImageScanningConfiguration: &ecr.RepositoryImageScanningConfigurationArgs{
			ScanOnPush: pulumi.Bool(true),
		},
		// Destroying an env is explicit (phoenix destroy); its images can be
		// rebuilt from source, since a version is a hash of that source.
		ForceDelete: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, err
	}
	policy, err := LifecyclePolicy()
	if err != nil {
		return nil, err
	}
	if _, err := ecr.NewLifecyclePolicy(ctx, name+"-app", &ecr.LifecyclePolicyArgs{
		Repository: repo.Name,
		Policy:     pulumi.String(policy),
	}, parent); err != nil {
		return nil, err
	}
	return repo, nil
}

// SubnetCIDRs splits a VPC range into n subnets of a sixteenth of it each.
func SubnetCIDRs(vpcCIDR string, n int) ([]string, error) {
	prefix, err := netip.ParsePrefix(vpcCIDR)
	if err != nil || !prefix.Addr().Is4() || prefix.Masked() != prefix {
		return nil, fmt.Errorf("VPC range %q is not an IPv4 network written with its first address", vpcCIDR)
	}
	const extraBits = 4
	bits := prefix.Bits() + extraBits
	if bits > 28 {
		return nil, fmt.Errorf("VPC range %q is too small for /%d subnets; use /24 or larger", vpcCIDR, bits)
	}
	if n < 1 || n > 1<<extraBits {
		return nil, fmt.Errorf("cannot split %q into %d subnets", vpcCIDR, n)
	}
	base := prefix.Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	size := uint32(1) << (32 - bits)
	out := make([]string, n)
	for i := range n {
		v := start + uint32(i)*size
		addr := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		out[i] = netip.PrefixFrom(addr, bits).String()
	}
	return out, nil
}

// LifecyclePolicy returns the ECR lifecycle policy: untagged images expire
// after a day. It has no rule for tagged images: each one is a version's,
// and leaves when phoenix destroys that version (platform Release), so that
// no count or age can expire the image of a version that still runs, such
// as an old one kept warm for a rollback.
func LifecyclePolicy() (string, error) {
	type selection struct {
		TagStatus   string `json:"tagStatus"`
		CountType   string `json:"countType"`
		CountUnit   string `json:"countUnit,omitempty"`
		CountNumber int    `json:"countNumber"`
	}
	type rule struct {
		RulePriority int               `json:"rulePriority"`
		Description  string            `json:"description"`
		Selection    selection         `json:"selection"`
		Action       map[string]string `json:"action"`
	}
	b, err := json.Marshal(map[string][]rule{"rules": {
		{
			RulePriority: 1,
			Description:  "untagged layers expire after a day",
			Selection:    selection{TagStatus: "untagged", CountType: "sinceImagePushed", CountUnit: "days", CountNumber: 1},
			Action:       map[string]string{"type": "expire"},
		},
	}})
	return string(b), err
}

// withDefaults is args with the defaults filled in.
func withDefaults(a EdgeArgs) EdgeArgs {
	if a.AZCount == 0 {
		a.AZCount = 2
	}
	if a.LogRetentionDays == 0 {
		a.LogRetentionDays = 30
	}
	return a
}
