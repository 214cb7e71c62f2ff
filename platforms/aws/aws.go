// Package aws is the aws platform: an env on AWS, its versions as Fargate
// services behind an ALB (components/awsedge, awstraffic, awsversion), and
// what phoenix does with it besides its stacks: read the ALB's CloudWatch
// metrics for the canary analysis and the versions' log streams.
package aws

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/components/awsedge"
	"github.com/phoenix-iac/phoenix/components/awstraffic"
	"github.com/phoenix-iac/phoenix/components/awsversion"
	"github.com/phoenix-iac/phoenix/platforms/docker"
	"github.com/phoenix-iac/phoenix/stacks"
)

// PluginVersion is the aws provider plugin the platform's resources are
// declared against (the pulumi-aws SDK in go.mod).
const PluginVersion = "6.83.4"

// Platform is the aws platform.
type Platform struct{}

// Name implements stacks.Platform.
func (Platform) Name() stacks.PlatformName { return Name }

// TrafficComponent implements stacks.Platform.
func (Platform) TrafficComponent() string { return awstraffic.ComponentType }

// Plugins implements stacks.Platform: the image is built and pushed with
// the docker provider.
func (Platform) Plugins() map[string]string {
	return map[string]string{"aws": PluginVersion, "docker": docker.PluginVersion}
}

// Env declares the env stack on aws: the edge (VPC, ALB, cluster,
// registry, logs) and the traffic pointer, the listener.
func (Platform) Env(ctx *pulumi.Context, e *stacks.EnvStack) error {
	env, cfg, t := e.Name.Env, e.Config, e.Traffic
	own := settings(cfg)
	edge, err := awsedge.NewEdge(ctx, env, &awsedge.EdgeArgs{
		VPCCIDR:          own.VPCCIDR,
		AZCount:          own.AZCount,
		AllowedCIDRs:     own.AllowedCIDRs,
		AppPort:          cfg.AppPort,
		LogRetentionDays: own.LogRetentionDays,
	})
	if err != nil {
		return err
	}
	args := &awstraffic.TrafficArgs{
		Env:             env,
		LoadBalancerARN: edge.LoadBalancerARN,
		CertificateARN:  own.CertificateARN,
		CandidateWeight: t.CandidateWeight,
		RouteKey:        e.RouteKey,
	}
	args.Live, args.Candidate, err = stacks.Routed(t, func(version string) (*awstraffic.Target, error) {
		tg, err := e.VersionString(version, OutTargetGroupARN)
		if err != nil {
			return nil, err
		}
		return &awstraffic.Target{Version: version, TargetGroupARN: tg}, nil
	})
	if err != nil {
		return err
	}
	traffic, err := awstraffic.NewTraffic(ctx, env, args)
	if err != nil {
		return err
	}
	e.ExportTraffic(traffic.Applied)
	scheme := "http"
	if own.CertificateARN != "" {
		scheme = "https"
	}
	if own.Hostname != "" {
		ctx.Export(stacks.OutURL, pulumi.Sprintf("%s://%s", scheme, own.Hostname))
	} else {
		ctx.Export(stacks.OutURL, pulumi.Sprintf("%s://%s", scheme, edge.LoadBalancerDNSName))
	}
	ctx.Export(OutVPCID, edge.VPCID)
	ctx.Export(OutSubnetIDs, edge.SubnetIDs)
	ctx.Export(OutClusterARN, edge.ClusterARN)
	ctx.Export(OutLBSecurityGroup, edge.LoadBalancerSecurityGroupID)
	ctx.Export(OutListenerARN, traffic.ListenerARN)
	ctx.Export(OutRouteListenerARN, traffic.RouteListenerARN)
	ctx.Export(stacks.OutRouteURL, pulumi.Sprintf("http://%s", edge.LoadBalancerDNSName))
	ctx.Export(OutRepositoryURL, edge.RepositoryURL)
	ctx.Export(OutRepositoryARN, edge.RepositoryARN)
	ctx.Export(OutRegistryID, edge.RegistryID)
	ctx.Export(OutLogGroupName, edge.LogGroupName)
	ctx.Export(OutLogGroupARN, edge.LogGroupARN)
	ctx.Export(stacks.OutLoadBalancer, edge.LoadBalancerARNSuffix)
	return nil
}

// Version declares a version stack on aws: the image in ECR (built and
// pushed, or a promoted one phoenix copied into the env's repository),
// the task, its target group and rule, and the Fargate service.
func (Platform) Version(ctx *pulumi.Context, v *stacks.VersionStack) error {
	cfg := v.Config
	own := settings(cfg)
	key, err := v.RouteKey()
	if err != nil {
		return err
	}
	ver, err := awsversion.NewVersion(ctx, v.Component, &awsversion.VersionArgs{
		Env:                         v.Name.Env,
		Version:                     v.Name.Version,
		AppPath:                     cfg.AppPath,
		Image:                       cfg.Image,
		AppPort:                     cfg.AppPort,
		Replicas:                    cfg.Replicas,
		CPU:                         own.CPU,
		Memory:                      own.Memory,
		Environment:                 cfg.Environment,
		EnvironmentSecret:           cfg.EnvironmentSecret,
		HealthCheckPath:             cfg.HealthCheckPath,
		Region:                      own.Region,
		PermissionsBoundary:         own.PermissionsBoundary,
		VPCID:                       v.EnvString(OutVPCID),
		SubnetIDs:                   v.EnvStrings(OutSubnetIDs),
		ClusterARN:                  v.EnvString(OutClusterARN),
		LoadBalancerSecurityGroupID: v.EnvString(OutLBSecurityGroup),
		ListenerARN:                 v.EnvStringOr(OutRouteListenerARN, OutListenerARN),
		RouteKey:                    key,
		RepositoryURL:               v.EnvString(OutRepositoryURL),
		RepositoryARN:               v.EnvString(OutRepositoryARN),
		RegistryID:                  v.EnvString(OutRegistryID),
		LogGroupName:                v.EnvString(OutLogGroupName),
		LogGroupARN:                 v.EnvString(OutLogGroupARN),
	})
	if err != nil {
		return err
	}
	v.ExportComplete(ver.Complete)
	ctx.Export(stacks.OutImage, ver.Image)
	// Where the version's own route answers: the port-80 listener its
	// rule is on, with or without a certificate. A version whose env
	// stack did not say (made by an older phoenix) attached to the
	// pointer listener and exports "": it answers at the env's url.
	ctx.Export(stacks.OutRouteURL, v.EnvStringOr(stacks.OutRouteURL, ""))
	ctx.Export(OutTargetGroupARN, ver.TargetGroupARN)
	ctx.Export(OutTargetGroupMetrics, ver.TargetGroupARNSuffix)
	ctx.Export(OutServiceName, ver.ServiceName)
	return nil
}
