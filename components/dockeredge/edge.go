// Package dockeredge provides the long-lived edge of an env on a local Docker
// engine: the env's network, the Caddy load balancer and the volume that
// holds Caddy's configuration. Caddy runs with --watch, so a new
// configuration written to the volume (see dockertraffic) is loaded
// gracefully without restarting Caddy.
package dockeredge

import (
	"fmt"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Paths and ports inside the Caddy container.
const (
	// ConfigDir is where the config volume is mounted.
	ConfigDir = "/etc/phoenix"
	// ConfigFile is the Caddy JSON configuration Caddy watches.
	ConfigFile = ConfigDir + "/caddy.json"
	// ListenPort is the port Caddy listens on inside its container.
	ListenPort = 8080
)

// EdgeArgs configures an Edge.
type EdgeArgs struct {
	// CaddyImage is the Caddy image, pinned. Required.
	CaddyImage pulumi.StringInput
	// Port is the host port the load balancer publishes. Required.
	Port pulumi.IntInput
}

// Edge is the long-lived part of an env on Docker.
type Edge struct {
	pulumi.ResourceState

	// NetworkName is the env's Docker network; versions attach their containers to it.
	NetworkName pulumi.StringOutput `pulumi:"networkName"`
	// ConfigVolumeName is the volume Caddy reads its configuration from.
	ConfigVolumeName pulumi.StringOutput `pulumi:"configVolumeName"`
	// CaddyImageID is the pulled Caddy image, also used to write the config.
	CaddyImageID pulumi.StringOutput `pulumi:"caddyImageId"`
	// URL is where the env answers on the host.
	URL pulumi.StringOutput `pulumi:"url"`
}

// NewEdge creates the edge of an env.
func NewEdge(ctx *pulumi.Context, name string, args *EdgeArgs, opts ...pulumi.ResourceOption) (*Edge, error) {
	if args == nil || args.CaddyImage == nil || args.Port == nil {
		return nil, fmt.Errorf("dockeredge %s: CaddyImage and Port are required", name)
	}
	e := &Edge{}
	if err := ctx.RegisterComponentResource("phoenix:docker:Edge", name, e, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(e)

	network, err := docker.NewNetwork(ctx, name+"-net", &docker.NetworkArgs{
		Driver: pulumi.String("bridge"),
	}, parent)
	if err != nil {
		return nil, err
	}
	volume, err := docker.NewVolume(ctx, name+"-lbconfig", &docker.VolumeArgs{}, parent)
	if err != nil {
		return nil, err
	}
	caddy, err := docker.NewRemoteImage(ctx, name+"-caddy", &docker.RemoteImageArgs{
		Name:        args.CaddyImage,
		KeepLocally: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, err
	}
	// Caddy waits for its first configuration (written by the traffic
	// pointer) and then watches the file: a cut-over is a file write that
	// Caddy reloads gracefully, never a restart of this container.
	start := fmt.Sprintf("until [ -s %[1]s ]; do sleep 0.2; done; exec caddy run --config %[1]s --watch", ConfigFile)
	if _, err := docker.NewContainer(ctx, name+"-lb", &docker.ContainerArgs{
		Image:   caddy.ImageId,
		Command: pulumi.StringArray{pulumi.String("sh"), pulumi.String("-c"), pulumi.String(start)},
		Ports: docker.ContainerPortArray{docker.ContainerPortArgs{
			Internal: pulumi.Int(ListenPort),
			External: args.Port,
		}},
		NetworksAdvanced: docker.ContainerNetworksAdvancedArray{docker.ContainerNetworksAdvancedArgs{
			Name: network.Name,
		}},
		Volumes: docker.ContainerVolumeArray{docker.ContainerVolumeArgs{
			VolumeName:    volume.Name,
			ContainerPath: pulumi.String(ConfigDir),
			ReadOnly:      pulumi.Bool(true),
		}},
		Restart: pulumi.String("unless-stopped"),
	}, parent); err != nil {
		return nil, err
	}

	e.NetworkName = network.Name
	e.ConfigVolumeName = volume.Name
	e.CaddyImageID = caddy.ImageId
	e.URL = pulumi.Sprintf("http://localhost:%d", args.Port)
	if err := ctx.RegisterResourceOutputs(e, pulumi.Map{
		"networkName":      e.NetworkName,
		"configVolumeName": e.ConfigVolumeName,
		"caddyImageId":     e.CaddyImageID,
		"url":              e.URL,
	}); err != nil {
		return nil, err
	}
	return e, nil
}
