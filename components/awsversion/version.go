// Package awsversion provides one version of an env on AWS: its image in
// ECR, its IAM roles, task definition, security group, target group, header
// rule and ECS Fargate service. It lives in a version stack and is never
// updated in place.
package awsversion

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/components/awsedge"
	"github.com/phoenix-iac/phoenix/components/awstraffic"
	"github.com/phoenix-iac/phoenix/internal/header"
)

// ContainerName is the name of the app container in the task definition.
const ContainerName = "app"

// MaxTargetGroupName is the ALB limit on target group names.
const MaxTargetGroupName = 32

// VersionArgs configures a Version. Env and version are plain values: they
// make up physical names. The rest come from the env stack's outputs.
type VersionArgs struct {
	// Env is the env name. Required.
	Env string
	// Version is the version id; also the image tag. Required.
	Version string
	// AppPath is the app's Docker build context. Required unless Image is set.
	AppPath string
	// Image, when set, is the image the version runs, by digest in the
	// env's repository (<RepositoryURL>@sha256:...): a promoted one, which
	// phoenix copied there under the version's tag. Nothing is built.
	// Optional.
	Image string
	// AppPort is the port the app listens on. Required.
	AppPort int
	// Replicas is the number of Fargate tasks. Optional; default 2.
	Replicas int
	// CPU is the task CPU in units. Optional; default 256.
	CPU int
	// Memory is the task memory in MiB. Optional; default 512.
	Memory int
	// Environment holds extra environment variables. Optional.
	Environment map[string]string
	// EnvironmentSecret keeps the container definitions encrypted in state.
	// Optional. (ECS still shows plain environment variables to anyone who
	// may describe the task definition: real secrets belong in Secrets Manager.)
	EnvironmentSecret bool
	// HealthCheckPath is the target group's health check path. Optional; default /healthz.
	HealthCheckPath string
	// Region is the AWS region, for the log driver. Required.
	Region string
	// PermissionsBoundary is the ARN of the IAM policy that bounds the
	// version's roles. Optional.
	PermissionsBoundary string

	// VPCID is the env's VPC. Required.
	VPCID pulumi.StringInput
	// SubnetIDs are the subnets tasks run in. Required.
	SubnetIDs pulumi.StringArrayInput
	// ClusterARN is the env's ECS cluster. Required.
	ClusterARN pulumi.StringInput
	// LoadBalancerSecurityGroupID is the only source tasks admit. Required.
	LoadBalancerSecurityGroupID pulumi.StringInput
	// ListenerARN is the env's port-80 listener, where the version's own
	// header rule goes. Required.
	ListenerARN pulumi.StringInput
	// RouteKey is the value header.Key must have for a request to take the
	// version's own route; it goes into the state as a secret. Optional:
	// without it the route is open to anyone who can reach the ALB.
	RouteKey string
	// RepositoryURL is the ECR repository. Required.
	RepositoryURL pulumi.StringInput
	// RepositoryARN is the ECR repository's ARN. Required.
	RepositoryARN pulumi.StringInput
	// RegistryID is the registry's account ID. Required.
	RegistryID pulumi.StringInput
	// LogGroupName is the app's log group. Required.
	LogGroupName pulumi.StringInput
	// LogGroupARN is the app's log group's ARN. Required.
	LogGroupARN pulumi.StringInput
}

// Version is one complete version of an env on AWS.
type Version struct {
	pulumi.ResourceState

	// Image is the pushed image, by digest.
	Image pulumi.StringOutput `pulumi:"image"`
	// TargetGroupARN is the version's target group: what the traffic pointer forwards to.
	TargetGroupARN pulumi.StringOutput `pulumi:"targetGroupArn"`
	// TargetGroupARNSuffix is the target group's ARN suffix
	// (targetgroup/<name>/<id>), CloudWatch's TargetGroup dimension.
	TargetGroupARNSuffix pulumi.StringOutput `pulumi:"targetGroupArnSuffix"`
	// ServiceName is the ECS service.
	ServiceName pulumi.StringOutput `pulumi:"serviceName"`
	// Complete resolves once every resource of the version exists; it never
	// resolves when one failed. It is not an output of the component.
	Complete pulumi.StringOutput
}

// TargetGroupName returns the target group name of a version: "<env>-<version>".
func TargetGroupName(env, version string) (string, error) {
	n := env + "-" + version
	if len(n) > MaxTargetGroupName {
		return "", fmt.Errorf("target group name %q is %d characters long, the ALB limit is %d", n, len(n), MaxTargetGroupName)
	}
	return n, nil
}

// NewVersion creates one version of an env.
func NewVersion(ctx *pulumi.Context, name string, args *VersionArgs, opts ...pulumi.ResourceOption) (*Version, error) {
	if args == nil {
		return nil, fmt.Errorf("awsversion %s: args are required", name)
	}
	if err := awsedge.CheckEnvName(args.Env); err != nil {
		return nil, fmt.Errorf("awsversion %s: %w", name, err)
	}
	a := withDefaults(*args)
	tgName, err := TargetGroupName(a.Env, a.Version)
	if err != nil {
		return nil, fmt.Errorf("awsversion %s: %w", name, err)
	}
	v := &Version{}
	if err := ctx.RegisterComponentResource("phoenix:aws:Version", name, v, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(v)

	repoDigest, err := image(ctx, name, &a, parent)
	if err != nil {
		return nil, err
	}
	execRole, execPolicy, taskRole, err := roles(ctx, name, &a, parent)
	if err != nil {
		return nil, err
	}

	task, err := taskDefinition(ctx, name, &a, repoDigest, execRole.Arn, taskRole.Arn, parent)
	if err != nil {
		return nil, err
	}

	sg, err := taskSecurityGroup(ctx, name, &a, parent)
	if err != nil {
		return nil, err
	}

	tg, rule, err := route(ctx, name, tgName, &a, parent)
	if err != nil {
		return nil, err
	}

	svc, err := service(ctx, name, &a, task.Arn, sg.ID(), tg.Arn, parent,
		// The rule attaches the target group; the execution role's policy
		// lets the first tasks pull their image and write their logs.
		pulumi.DependsOn([]pulumi.Resource{rule, execPolicy}))
	if err != nil {
		return nil, err
	}

	v.Image = repoDigest
	v.TargetGroupARN = tg.Arn
	v.TargetGroupARNSuffix = tg.ArnSuffix
	v.ServiceName = svc.Name
	// The service is created last: it depends on every other resource.
	v.Complete = svc.ID().ToStringOutput()
	if err := ctx.RegisterResourceOutputs(v, pulumi.Map{
		"image":                v.Image,
		"targetGroupArn":       v.TargetGroupARN,
		"targetGroupArnSuffix": v.TargetGroupARNSuffix,
		"serviceName":          v.ServiceName,
	}); err != nil {
		return nil, err
	}
	return v, nil
}

// image is the image the version runs, by digest: a promoted one, which
// must be in the env's repository (the execution role pulls from no
// other), or the one pushImage builds.
func image(ctx *pulumi.Context, name string, a *VersionArgs, parent pulumi.ResourceOrInvokeOption) (pulumi.StringOutput, error) {
	if a.Image == "" {
		return pushImage(ctx, name, a, parent)
	}
	return a.RepositoryURL.ToStringOutput().ApplyT(func(repo string) (string, error) {
		if !strings.HasPrefix(a.Image, repo+"@sha256:") {
			return "", fmt.Errorf("awsversion %s: image %s is not in the env's repository %s, the only one its tasks may pull from: phoenix promote copies it there", name, a.Image, repo)
		}
		return a.Image, nil
	}).(pulumi.StringOutput), nil
}

// pushImage builds the version's image for linux/amd64 (what the task
// definition runs, whatever the machine that deploys) and pushes it to the
// env's IMMUTABLE repository under the version's tag; it returns the image
// by digest. It is one pulumi-docker Image: its provider neither reads
// (refresh) nor deletes (destroy) what it pushed, so the version stack
// holds nothing that only the build machine's Docker has, and no use of
// the ECR token stored in its inputs, which expires after 12 hours, comes
// after the push. A refresh or destroy of the version from any machine, at
// any age, works. The image outlives its stack by design: phoenix deletes
// the version's tag from the repository once the stack is destroyed
// (platforms/aws's Release), with credentials it gets at that moment.
func pushImage(ctx *pulumi.Context, name string, a *VersionArgs, parent pulumi.ResourceOrInvokeOption) (pulumi.StringOutput, error) {
	token := ecr.GetAuthorizationTokenOutput(ctx, ecr.GetAuthorizationTokenOutputArgs{RegistryId: a.RegistryID}, parent)
	image, err := docker.NewImage(ctx, name+"-image", &docker.ImageArgs{
		ImageName: pulumi.Sprintf("%s:%s", a.RepositoryURL, a.Version),
		Build: &docker.DockerBuildArgs{
			Context:  pulumi.String(a.AppPath),
			Platform: pulumi.String("linux/amd64"),
		},
		Registry: &docker.RegistryArgs{
			Server: a.RepositoryURL.ToStringOutput().ApplyT(func(url string) string {
				host, _, _ := strings.Cut(url, "/")
				return host
			}).(pulumi.StringOutput),
			Username: token.UserName(),
			Password: pulumi.ToSecret(token.Password()).(pulumi.StringOutput),
		},
	}, parent)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	return image.RepoDigest, nil
}

// RolePath is the IAM path of every role of an env's versions: the deploy
// role's IAM permissions are scoped to role/phoenix/<env>/*, so it can
// create and pass no other role (docs/aws-roles.md).
func RolePath(env string) string { return "/phoenix/" + env + "/" }

// roles creates the version's least-privilege roles: the execution role
// (pull its image, write its logs) and the task role (nothing granted),
// under RolePath, bounded by the env's permissions boundary when it has one.
func roles(ctx *pulumi.Context, name string, a *VersionArgs, parent pulumi.ResourceOrInvokeOption) (*iam.Role, *iam.RolePolicy, *iam.Role, error) {
	assume, err := assumeRolePolicy()
	if err != nil {
		return nil, nil, nil, err
	}
	execRole, err := iam.NewRole(ctx, name+"-execution", &iam.RoleArgs{
		Description:         pulumi.Sprintf("ECS execution role of %s.%s: pull its image, write its logs", a.Env, a.Version),
		AssumeRolePolicy:    pulumi.String(assume),
		Path:                pulumi.String(RolePath(a.Env)),
		PermissionsBoundary: boundary(a),
	}, parent)
	if err != nil {
		return nil, nil, nil, err
	}
	execPolicy, err := iam.NewRolePolicy(ctx, name+"-execution", &iam.RolePolicyArgs{
		Role:   execRole.ID(),
		Policy: ExecutionPolicy(a.RepositoryARN, a.LogGroupARN, a.Version),
	}, parent)
	if err != nil {
		return nil, nil, nil, err
	}
	taskRole, err := iam.NewRole(ctx, name+"-task", &iam.RoleArgs{
		Description:         pulumi.Sprintf("ECS task role of %s.%s: no permissions unless granted", a.Env, a.Version),
		AssumeRolePolicy:    pulumi.String(assume),
		Path:                pulumi.String(RolePath(a.Env)),
		PermissionsBoundary: boundary(a),
	}, parent)
	if err != nil {
		return nil, nil, nil, err
	}
	return execRole, execPolicy, taskRole, nil
}

// boundary is the roles' permissions boundary: none unless the env names one.
func boundary(a *VersionArgs) pulumi.StringPtrInput {
	if a.PermissionsBoundary == "" {
		return nil
	}
	return pulumi.String(a.PermissionsBoundary)
}

// route creates the version's target group and its own listener rule.
func route(ctx *pulumi.Context, name, tgName string, a *VersionArgs, parent pulumi.ResourceOrInvokeOption) (*lb.TargetGroup, *lb.ListenerRule, error) {
	tg, err := lb.NewTargetGroup(ctx, name+"-tg", &lb.TargetGroupArgs{
		// An explicit name, unique per version: a version stack is never
		// replaced in place, so create-before-delete never meets it twice.
		Name:                pulumi.String(tgName),
		Port:                pulumi.Int(a.AppPort),
		Protocol:            pulumi.String("HTTP"),
		TargetType:          pulumi.String("ip"),
		VpcId:               a.VPCID,
		DeregistrationDelay: pulumi.Int(30),
		HealthCheck: &lb.TargetGroupHealthCheckArgs{
			Path:               pulumi.String(a.HealthCheckPath),
			Matcher:            pulumi.String("200"),
			Interval:           pulumi.Int(10),
			Timeout:            pulumi.Int(5),
			HealthyThreshold:   pulumi.Int(2),
			UnhealthyThreshold: pulumi.Int(3),
		},
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	// The version's own route (X-Phoenix-Version: <version>) attaches the
	// target group to the load balancer, which ECS requires before a service
	// can use it, and lets probes reach any warm version directly.
	rule, err := lb.NewListenerRule(ctx, name+"-route", &lb.ListenerRuleArgs{
		ListenerArn: a.ListenerARN,
		Conditions:  awstraffic.HeaderConditions(header.Version, a.Version, a.RouteKey),
		Actions: lb.ListenerRuleActionArray{&lb.ListenerRuleActionArgs{
			Type:           pulumi.String("forward"),
			TargetGroupArn: tg.Arn,
		}},
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	return tg, rule, nil
}

type policyDocument struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

type statement struct {
	Effect    string            `json:"Effect"`
	Action    []string          `json:"Action"`
	Resource  any               `json:"Resource,omitempty"`
	Principal map[string]string `json:"Principal,omitempty"`
}

func assumeRolePolicy() (string, error) {
	b, err := json.Marshal(policyDocument{Version: "2012-10-17", Statement: []statement{{
		Effect:    "Allow",
		Action:    []string{"sts:AssumeRole"},
		Principal: map[string]string{"Service": "ecs-tasks.amazonaws.com"},
	}}})
	return string(b), err
}

// ExecutionPolicy is the execution role's least-privilege policy: pull from
// the env's repository, and write the version's own log streams.
func ExecutionPolicy(repositoryARN, logGroupARN pulumi.StringInput, version string) pulumi.StringOutput {
	return pulumi.All(repositoryARN, logGroupARN).ApplyT(func(xs []any) (string, error) {
		repo, logs := xs[0].(string), xs[1].(string)
		b, err := json.Marshal(policyDocument{Version: "2012-10-17", Statement: []statement{
			// GetAuthorizationToken has no resource-level permissions.
			{Effect: "Allow", Action: []string{"ecr:GetAuthorizationToken"}, Resource: "*"},
			{Effect: "Allow", Action: []string{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}, Resource: repo},
			{Effect: "Allow", Action: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resource: fmt.Sprintf("%s:log-stream:%s/*", logs, version)},
		}})
		return string(b), err
	}).(pulumi.StringOutput)
}

// ContainerDefinitions renders the task's container definitions.
func ContainerDefinitions(a VersionArgs, image, logGroup string) (string, error) {
	type kv struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	env := []kv{
		{"PHOENIX_ENV", a.Env},
		{"PHOENIX_VERSION", a.Version},
		{"PORT", fmt.Sprint(a.AppPort)},
	}
	names := make([]string, 0, len(a.Environment))
	for k := range a.Environment {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		env = append(env, kv{k, a.Environment[k]})
	}
	defs := []map[string]any{{
		"name":         ContainerName,
		"image":        image,
		"essential":    true,
		"portMappings": []map[string]any{{"containerPort": a.AppPort, "protocol": "tcp"}},
		"environment":  env,
		"logConfiguration": map[string]any{
			"logDriver": "awslogs",
			"options": map[string]string{
				"awslogs-group":         logGroup,
				"awslogs-region":        a.Region,
				"awslogs-stream-prefix": a.Version,
			},
		},
	}}
	b, err := json.Marshal(defs)
	return string(b), err
}

// withDefaults is args with the defaults filled in.
func withDefaults(a VersionArgs) VersionArgs {
	if a.Replicas == 0 {
		a.Replicas = 2
	}
	if a.CPU == 0 {
		a.CPU = 256
	}
	if a.Memory == 0 {
		a.Memory = 512
	}
	if a.HealthCheckPath == "" {
		a.HealthCheckPath = "/healthz"
	}
	return a
}

// taskDefinition is the version's Fargate task: its one container runs
// the image by digest, logging to the env's log group.
func taskDefinition(ctx *pulumi.Context, name string, a *VersionArgs, repoDigest pulumi.StringOutput, execRoleARN, taskRoleARN pulumi.StringInput, parent pulumi.ResourceOption) (*ecs.TaskDefinition, error) {
	containers := pulumi.All(repoDigest, a.LogGroupName).ApplyT(func(xs []any) (string, error) {
		return ContainerDefinitions(*a, xs[0].(string), xs[1].(string))
	}).(pulumi.StringOutput)
	if a.EnvironmentSecret {
		containers = pulumi.ToSecret(containers).(pulumi.StringOutput)
	}
	return ecs.NewTaskDefinition(ctx, name+"-task", &ecs.TaskDefinitionArgs{
		Family:                  pulumi.String(a.Env + "-" + a.Version),
		Cpu:                     pulumi.String(fmt.Sprint(a.CPU)),
		Memory:                  pulumi.String(fmt.Sprint(a.Memory)),
		NetworkMode:             pulumi.String("awsvpc"),
		RequiresCompatibilities: pulumi.StringArray{pulumi.String("FARGATE")},
		ExecutionRoleArn:        execRoleARN,
		TaskRoleArn:             taskRoleARN,
		ContainerDefinitions:    containers,
		RuntimePlatform: &ecs.TaskDefinitionRuntimePlatformArgs{
			OperatingSystemFamily: pulumi.String("LINUX"),
			CpuArchitecture:       pulumi.String("X86_64"),
		},
	}, parent)
}

// taskSecurityGroup lets the load balancer, and nothing else, reach the
// tasks on the app port, and the tasks reach ECR and CloudWatch.
func taskSecurityGroup(ctx *pulumi.Context, name string, a *VersionArgs, parent pulumi.ResourceOption) (*ec2.SecurityGroup, error) {
	return ec2.NewSecurityGroup(ctx, name+"-task", &ec2.SecurityGroupArgs{
		Description: pulumi.Sprintf("Phoenix %s.%s tasks: app port from the load balancer only", a.Env, a.Version),
		VpcId:       a.VPCID,
		Ingress: ec2.SecurityGroupIngressArray{&ec2.SecurityGroupIngressArgs{
			Description:    pulumi.String("app port from the load balancer"),
			Protocol:       pulumi.String("tcp"),
			FromPort:       pulumi.Int(a.AppPort),
			ToPort:         pulumi.Int(a.AppPort),
			SecurityGroups: pulumi.StringArray{a.LoadBalancerSecurityGroupID},
		}},
		Egress: ec2.SecurityGroupEgressArray{&ec2.SecurityGroupEgressArgs{
			Description: pulumi.String("HTTPS out: image pulls from ECR and logs to CloudWatch"),
			Protocol:    pulumi.String("tcp"),
			FromPort:    pulumi.Int(443),
			ToPort:      pulumi.Int(443),
			CidrBlocks:  pulumi.StringArray{pulumi.String("0.0.0.0/0")},
		}},
	}, parent)
}

// service runs the version's tasks behind its target group. The create
// returns once ECS has the service, not when its tasks are steady:
// phoenix's gate, bounded by --gate-timeout, is the wait for them, and a
// version that never answers fails it with the service's events in the
// message. With the provider's waitForSteadyState, a first version that
// cannot start would hold the up for the provider's 20-minute create
// timeout (no earlier deployment for the circuit breaker to fall back
// to), out of reach of --gate-timeout. The circuit breaker stops ECS from
// starting tasks that keep failing.
func service(ctx *pulumi.Context, name string, a *VersionArgs, taskARN pulumi.StringInput, securityGroup pulumi.IDOutput, targetGroupARN pulumi.StringInput,
	parent pulumi.ResourceOption, opts ...pulumi.ResourceOption) (*ecs.Service, error) {
	return ecs.NewService(ctx, name+"-service", &ecs.ServiceArgs{
		Cluster:        a.ClusterARN,
		TaskDefinition: taskARN,
		DesiredCount:   pulumi.Int(a.Replicas),
		LaunchType:     pulumi.String("FARGATE"),
		NetworkConfiguration: &ecs.ServiceNetworkConfigurationArgs{
			Subnets:        a.SubnetIDs,
			SecurityGroups: pulumi.StringArray{securityGroup},
			// Public subnets and no NAT gateway: tasks need a public address
			// to pull their image.
			AssignPublicIp: pulumi.Bool(true),
		},
		LoadBalancers: ecs.ServiceLoadBalancerArray{&ecs.ServiceLoadBalancerArgs{
			TargetGroupArn: targetGroupARN,
			ContainerName:  pulumi.String(ContainerName),
			ContainerPort:  pulumi.Int(a.AppPort),
		}},
		DeploymentCircuitBreaker: &ecs.ServiceDeploymentCircuitBreakerArgs{
			Enable:   pulumi.Bool(true),
			Rollback: pulumi.Bool(true),
		},
		HealthCheckGracePeriodSeconds: pulumi.Int(30),
		WaitForSteadyState:            pulumi.Bool(false),
		PropagateTags:                 pulumi.String("SERVICE"),
		EnableEcsManagedTags:          pulumi.Bool(true),
	}, append([]pulumi.ResourceOption{parent}, opts...)...)
}
