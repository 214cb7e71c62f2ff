// Package dockeredge provides the long-lived edge of an env on a local Docker
// engine: the env's network, the Caddy load balancer and the volume that
// holds Caddy's configuration. Caddy runs under phoenix-lb (lb/), which
// watches the configuration that the traffic pointer writes to the volume
// (see dockertraffic) and loads each new one into the running Caddy on a
// fresh listening socket, so that no request is dropped at a cut-over (its
// package comment says how); the container is never restarted for it.
package dockeredge

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/internal/buildcontext"
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

// LoadBalancerSysctls are the network settings of the load balancer's
// container. phoenix-lb stops listening on one socket and starts on another
// at each config load (see lb/main.go): tcp_migrate_req makes the kernel
// move the connections queued on the old socket to the new one instead of
// resetting them, and SYN cookies (always, 2) leave no half-open handshake
// behind with the old socket, whose final ACK the new one would answer with
// a reset.
var LoadBalancerSysctls = map[string]string{
	"net.ipv4.tcp_migrate_req": "1",
	"net.ipv4.tcp_syncookies":  "2",
}

// LauncherContext is the Docker build context of the load balancer image,
// relative to the project directory.
const LauncherContext = "lb"

// LauncherTag returns the tag of the load balancer image built from the
// launcher context under root on caddyImage: a digest of both.
func LauncherTag(root, caddyImage string) (string, error) {
	d, err := buildcontext.Digest(filepath.Join(root, LauncherContext))
	if err != nil {
		return "", fmt.Errorf("the load balancer's %w", err)
	}
	sum := sha256.Sum256([]byte(d + "\n" + caddyImage))
	return hex.EncodeToString(sum[:])[:12], nil
}

// EdgeArgs configures an Edge.
type EdgeArgs struct {
	// Env is the env name, used in the image name. Required.
	Env string
	// CaddyImage is the pinned Caddy image the load balancer image is built on. Required.
	CaddyImage string
	// ImageTag tags the load balancer image. Required: a digest of what the
	// image is built from (see LauncherTag), so that a change to lb/ or to
	// the Caddy image builds a new image and replaces the load balancer.
	ImageTag string
	// Port is the host port the load balancer publishes. Required.
	Port pulumi.IntInput
	// ListenAddress is the host address Port is published on. Optional;
	// default 127.0.0.1, so that a laptop does not serve its env to the
	// network it is on.
	ListenAddress string
}

// Edge is the long-lived part of an env on Docker.
type Edge struct {
	pulumi.ResourceState

	// NetworkName is the env's Docker network; versions attach their containers to it.
	NetworkName pulumi.StringOutput `pulumi:"networkName"`
	// ConfigVolumeName is the volume Caddy reads its configuration from.
	ConfigVolumeName pulumi.StringOutput `pulumi:"configVolumeName"`
	// Image is the id of the load balancer image (Caddy plus phoenix-lb),
	// also used to write the config.
	Image pulumi.StringOutput `pulumi:"image"`
	// URL is where the env answers on the host.
	URL pulumi.StringOutput `pulumi:"url"`
	// LoadBalancerName is the load balancer container's name; its output
	// is Caddy's access log (caddyconfig), which the canary analysis reads.
	LoadBalancerName pulumi.StringOutput `pulumi:"loadBalancerName"`
}

// NewEdge creates the edge of an env.
func NewEdge(ctx *pulumi.Context, name string, args *EdgeArgs, opts ...pulumi.ResourceOption) (*Edge, error) {
	if args == nil || args.CaddyImage == "" || args.ImageTag == "" || args.Port == nil || args.Env == "" {
		return nil, fmt.Errorf("dockeredge %s: Env, CaddyImage, ImageTag and Port are required", name)
	}
	listen := args.ListenAddress
	if listen == "" {
		listen = "127.0.0.1"
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
	image, err := docker.NewRemoteImage(ctx, name+"-lb", &docker.RemoteImageArgs{
		Name: pulumi.Sprintf("phoenix-lb-%s:%s", args.Env, args.ImageTag),
		Build: &docker.RemoteImageBuildArgs{
			Context:   pulumi.String(LauncherContext),
			BuildArgs: pulumi.StringMap{"CADDY_IMAGE": pulumi.String(args.CaddyImage)},
		},
		KeepLocally: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, err
	}
	// phoenix-lb waits for the first configuration (written by the traffic
	// pointer), then runs Caddy and loads every new one: a cut-over is a
	// file write, never a restart of this container.
	lb, err := docker.NewContainer(ctx, name+"-lb", &docker.ContainerArgs{
		Image: image.ImageId,
		Command: pulumi.StringArray{
			pulumi.String("-listen"), pulumi.Sprintf(":%d", ListenPort),
			pulumi.String("-config"), pulumi.String(ConfigFile),
		},
		Ports: docker.ContainerPortArray{docker.ContainerPortArgs{
			Internal: pulumi.Int(ListenPort),
			External: args.Port,
			Ip:       pulumi.String(listen),
		}},
		NetworksAdvanced: docker.ContainerNetworksAdvancedArray{docker.ContainerNetworksAdvancedArgs{
			Name: network.Name,
		}},
		Volumes: docker.ContainerVolumeArray{docker.ContainerVolumeArgs{
			VolumeName:    volume.Name,
			ContainerPath: pulumi.String(ConfigDir),
			ReadOnly:      pulumi.Bool(true),
		}},
		Sysctls: pulumi.ToStringMap(LoadBalancerSysctls),
		// The output is the access log that the canary analysis reads
		// through the engine's logs API: a driver that keeps it readable,
		// rotated so that a busy env does not fill the disk.
		LogDriver: pulumi.String("json-file"),
		LogOpts:   pulumi.StringMap{"max-size": pulumi.String("20m"), "max-file": pulumi.String("5")},
		Restart:   pulumi.String("unless-stopped"),
	}, parent)
	if err != nil {
		return nil, err
	}

	e.NetworkName = network.Name
	e.ConfigVolumeName = volume.Name
	e.Image = image.ImageId
	e.LoadBalancerName = lb.Name
	// The URL is where phoenix probes the env from this machine.
	host := "localhost"
	if ip := net.ParseIP(listen); ip != nil && !ip.IsLoopback() && !ip.IsUnspecified() {
		host = listen
		if ip.To4() == nil {
			host = "[" + listen + "]"
		}
	}
	e.URL = pulumi.Sprintf("http://%s:%d", host, args.Port)
	if err := ctx.RegisterResourceOutputs(e, pulumi.Map{
		"networkName":      e.NetworkName,
		"configVolumeName": e.ConfigVolumeName,
		"image":            e.Image,
		"url":              e.URL,
		"loadBalancerName": e.LoadBalancerName,
	}); err != nil {
		return nil, err
	}
	return e, nil
}
