package aws

import (
	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// The aws platform's own stack outputs, beside stacks' shared ones.
const (
	// Env stack.
	OutVPCID           = "vpcId"
	OutSubnetIDs       = "subnetIds"
	OutClusterARN      = "clusterArn"
	OutLBSecurityGroup = "lbSecurityGroup"
	OutListenerARN     = "listenerArn"
	// OutRouteListenerARN is the port-80 listener, where each version's
	// own route goes; env stacks made before it had none (then versions
	// attach to OutListenerARN).
	OutRouteListenerARN = "routeListenerArn"
	OutRepositoryURL    = "repositoryUrl"
	OutRepositoryARN    = "repositoryArn"
	OutRegistryID       = "registryId"
	OutLogGroupName     = "logGroupName"
	OutLogGroupARN      = "logGroupArn"

	// Version stack.
	OutTargetGroupARN = "targetGroupArn"
	// OutTargetGroupMetrics is the target group's ARN suffix, CloudWatch's
	// TargetGroup dimension.
	OutTargetGroupMetrics = "targetGroupArnSuffix"
	// OutServiceName is the version's ECS service, in the env's cluster
	// (OutClusterARN); versions made before it do not export it.
	OutServiceName = "serviceName"
)

// envOutputs are what phoenix's operations on an aws env read of its env
// stack's outputs.
type envOutputs struct {
	// LoadBalancer is the ALB's ARN suffix, CloudWatch's LoadBalancer
	// dimension (stacks.OutLoadBalancer).
	LoadBalancer string
	// LogGroup is the versions' log group.
	LogGroup string
	// Repository is the image repository's URL
	// (<account>.dkr.ecr.<region>.amazonaws.com/<name>).
	Repository string
}

func outputsOf(env platform.Env) envOutputs {
	return envOutputs{LoadBalancer: env.Output(stacks.OutLoadBalancer), LogGroup: env.Output(OutLogGroupName),
		Repository: env.Output(OutRepositoryURL)}
}
