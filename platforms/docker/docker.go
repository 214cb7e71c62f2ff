// Package docker is the docker platform: an env on a local Docker engine,
// its versions' containers behind Caddy (components/dockeredge,
// dockertraffic, dockerversion), and what phoenix does with it besides its
// stacks: check the engine answers, read Caddy's access log for the canary
// analysis, stream the containers' output, list what carries the env's
// labels.
package docker

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/components/dockeredge"
	"github.com/phoenix-iac/phoenix/components/dockertraffic"
	"github.com/phoenix-iac/phoenix/components/dockerversion"
	"github.com/phoenix-iac/phoenix/stacks"
)

// PluginVersion is the docker provider plugin the platform's resources
// are declared against (the pulumi-docker SDK in go.mod).
const PluginVersion = "4.10.0"

// Platform is the docker platform.
type Platform struct{}

// Name implements stacks.Platform.
func (Platform) Name() stacks.PlatformName { return Name }

// TrafficComponent implements stacks.Platform.
func (Platform) TrafficComponent() string { return dockertraffic.ComponentType }

// Plugins implements stacks.Platform.
func (Platform) Plugins() map[string]string { return map[string]string{"docker": PluginVersion} }

// Env declares the env stack on docker: the edge (network, Caddy) and the
// traffic pointer, the config writer.
func (Platform) Env(ctx *pulumi.Context, e *stacks.EnvStack) error {
	env, cfg, t := e.Name.Env, e.Config, e.Traffic
	own := settings(cfg)
	tag, err := dockeredge.LoadBalancerTag(e.Root, own.CaddyImage)
	if err != nil {
		return err
	}
	edge, err := dockeredge.NewEdge(ctx, env, &dockeredge.EdgeArgs{
		Env:             env,
		CaddyImage:      own.CaddyImage,
		ImageTag:        tag,
		HealthCheckPath: cfg.HealthCheckPath,
		AppPort:         cfg.AppPort,
		ListenAddress:   own.ListenAddress,
		Port:            pulumi.Int(own.Port),
		RouteKey:        e.RouteKey,
	})
	if err != nil {
		return err
	}
	args := &dockertraffic.TrafficArgs{
		Env:              env,
		Image:            edge.Image,
		ConfigVolumeName: edge.ConfigVolumeName,
		CandidateWeight:  t.CandidateWeight,
	}
	args.Live, args.Candidate, err = stacks.Routed(t, func(version string) (*dockertraffic.Upstreams, error) {
		addrs, err := e.VersionStrings(version, OutUpstreams)
		if err != nil {
			return nil, err
		}
		return &dockertraffic.Upstreams{Version: version, Addresses: addrs}, nil
	})
	if err != nil {
		return err
	}
	traffic, err := dockertraffic.NewTraffic(ctx, env, args)
	if err != nil {
		return err
	}
	e.ExportTraffic(traffic.Applied)
	ctx.Export(stacks.OutURL, edge.URL)
	ctx.Export(OutNetworkName, edge.NetworkName)
	ctx.Export(stacks.OutLoadBalancer, edge.LoadBalancerName)
	ctx.Export(stacks.OutTrafficID, traffic.TableID)
	return nil
}

// Version declares a version stack on docker: the image and the replicas,
// on the env's network.
func (Platform) Version(ctx *pulumi.Context, v *stacks.VersionStack) error {
	cfg := v.Config
	ver, err := dockerversion.NewVersion(ctx, v.Component, &dockerversion.VersionArgs{
		Env:               v.Name.Env,
		Version:           v.Name.Version,
		AppPath:           cfg.AppPath,
		AppDigest:         v.AppDigest,
		Image:             cfg.Image,
		AppPort:           cfg.AppPort,
		Replicas:          cfg.Replicas,
		Environment:       cfg.Environment,
		EnvironmentSecret: cfg.EnvironmentSecret,
		HealthCheck:       cfg.HealthCheckCommand,
		NetworkName:       v.EnvString(OutNetworkName),
	})
	if err != nil {
		return err
	}
	v.ExportComplete(ver.Complete)
	ctx.Export(stacks.OutImage, ver.Image)
	ctx.Export(OutUpstreams, ver.Upstreams)
	return nil
}
