// Package dockeredge provides the long-lived edge of an env on a local Docker
// engine: the env's network, the load balancer and the volume that holds
// the traffic table. The load balancer is Phoenix's build of Caddy (lb/),
// whose configuration is fixed for the container's life
// (caddyconfig.RenderEdge); its traffic module reads the table that the
// traffic pointer writes to the volume (see dockertraffic) and routes each
// request by the table in force, so a cut-over loads no config, restarts
// no server and leaves every connection alone.
package dockeredge

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/components/caddyconfig"
	"github.com/phoenix-iac/phoenix/internal/buildcontext"
)

// Paths and ports inside the load balancer's container.
const (
	// ConfigDir is where the volume with the traffic table is mounted.
	ConfigDir = "/etc/phoenix"
	// TableFile is the traffic table the pointer writes and the load
	// balancer reads.
	TableFile = ConfigDir + "/traffic.json"
	// EdgeConfigFile is Caddy's configuration, uploaded into the container
	// when it is created; the image's entrypoint runs Caddy on it.
	EdgeConfigFile = "/etc/phoenix-lb/caddy.json"
	// RouteKeyFile holds the env's route key, on the table's volume,
	// written there by the key writer (a container of its own, so that the
	// load balancer's state holds no secret).
	RouteKeyFile = ConfigDir + "/route-key"
	// ListenPort is the port Caddy listens on inside its container.
	ListenPort = 8080
)

// LoadBalancerContext is the Docker build context of the load balancer
// image (Phoenix's build of Caddy), relative to the project directory.
const LoadBalancerContext = "lb"

// LoadBalancerTag returns the tag of the load balancer image built from
// the context under root on caddyImage: a digest of both.
func LoadBalancerTag(root, caddyImage string) (string, error) {
	d, err := buildcontext.Digest(filepath.Join(root, LoadBalancerContext))
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
	// image is built from (see LoadBalancerTag), so that a change to lb/ or
	// to the Caddy image builds a new image and replaces the load balancer.
	ImageTag string
	// HealthCheckPath is the versions' health endpoint, which the load
	// balancer checks on every upstream the traffic table names. Required.
	HealthCheckPath string
	// AppPort is the port every version's replicas serve on; it opens the
	// version route (header.Version). Optional; 0 leaves it out.
	AppPort int
	// Port is the host port the load balancer publishes. Required.
	Port pulumi.IntInput
	// ListenAddress is the host address Port is published on. Optional;
	// default 127.0.0.1, so that a laptop does not serve its env to the
	// network it is on.
	ListenAddress string
	// RouteKey is the value header.Key must have for a request to take the
	// candidate route or a version route; the load balancer's config then
	// goes into the state as a secret. Optional: without it both routes
	// are open to anyone who can reach the load balancer.
	RouteKey string
}

// Edge is the long-lived part of an env on Docker.
type Edge struct {
	pulumi.ResourceState

	// NetworkName is the env's Docker network; versions attach their containers to it.
	NetworkName pulumi.StringOutput `pulumi:"networkName"`
	// ConfigVolumeName is the volume the load balancer reads the traffic
	// table from.
	ConfigVolumeName pulumi.StringOutput `pulumi:"configVolumeName"`
	// Image is the id of the load balancer image (Phoenix's build of
	// Caddy), also used to write the traffic table.
	Image pulumi.StringOutput `pulumi:"image"`
	// URL is where the env answers on the host.
	URL pulumi.StringOutput `pulumi:"url"`
	// LoadBalancerName is the load balancer container's name; its output
	// is Caddy's access log (caddyconfig), which the canary analysis reads.
	LoadBalancerName pulumi.StringOutput `pulumi:"loadBalancerName"`
}

// NewEdge creates the edge of an env.
func NewEdge(ctx *pulumi.Context, name string, args *EdgeArgs, opts ...pulumi.ResourceOption) (*Edge, error) {
	if args == nil || args.CaddyImage == "" || args.ImageTag == "" || args.Port == nil || args.Env == "" || args.HealthCheckPath == "" {
		return nil, fmt.Errorf("dockeredge %s: Env, CaddyImage, ImageTag, HealthCheckPath and Port are required", name)
	}
	config, err := caddyconfig.RenderEdge(caddyconfig.Edge{
		Env:         args.Env,
		Listen:      fmt.Sprintf(":%d", ListenPort),
		Table:       TableFile,
		HealthPath:  args.HealthCheckPath,
		VersionPort: args.AppPort,
		KeyFile:     keyFile(args.RouteKey),
	})
	if err != nil {
		return nil, fmt.Errorf("dockeredge %s: %w", name, err)
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
			Context:   pulumi.String(LoadBalancerContext),
			BuildArgs: pulumi.StringMap{"CADDY_IMAGE": pulumi.String(args.CaddyImage)},
		},
		KeepLocally: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, err
	}
	lbOpts := []pulumi.ResourceOption{parent}
	if args.RouteKey != "" {
		writer, err := newKeyWriter(ctx, name+"-routekey", args.RouteKey, image.ImageId, volume.Name, parent)
		if err != nil {
			return nil, err
		}
		lbOpts = append(lbOpts, pulumi.DependsOn([]pulumi.Resource{writer}))
	}
	lb, err := newLoadBalancer(ctx, name+"-lb", args.Port, listen, config, image.ImageId, network.Name, volume.Name, lbOpts...)
	if err != nil {
		return nil, err
	}

	e.NetworkName = network.Name
	e.ConfigVolumeName = volume.Name
	e.Image = image.ImageId
	e.LoadBalancerName = lb.Name
	// The URL is where phoenix probes the env from this machine.
	e.URL = pulumi.Sprintf("http://%s:%d", urlHost(listen), args.Port)
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

// newLoadBalancer creates the load balancer container: Caddy on the edge's
// config, published on listen:port, reading the traffic table (and the
// route key) from volume. Caddy runs on the edge's config for the
// container's life; the traffic module reads each new table the pointer
// writes: a cut-over is a file write, never a restart of this container
// or a config load. Its state holds no secret, so that a preview without
// the secrets' passphrase still compares it.
func newLoadBalancer(ctx *pulumi.Context, name string, port pulumi.IntInput, listen string, config []byte,
	image, network, volume pulumi.StringInput, opts ...pulumi.ResourceOption) (*docker.Container, error) {
	return docker.NewContainer(ctx, name, &docker.ContainerArgs{
		Image: image,
		Uploads: docker.ContainerUploadArray{docker.ContainerUploadArgs{
			File:    pulumi.String(EdgeConfigFile),
			Content: pulumi.String(string(config)),
		}},
		Ports: docker.ContainerPortArray{docker.ContainerPortArgs{
			Internal: pulumi.Int(ListenPort),
			External: port,
			Ip:       pulumi.String(listen),
		}},
		NetworksAdvanced: docker.ContainerNetworksAdvancedArray{docker.ContainerNetworksAdvancedArgs{
			Name: network,
		}},
		Volumes: docker.ContainerVolumeArray{docker.ContainerVolumeArgs{
			VolumeName:    volume,
			ContainerPath: pulumi.String(ConfigDir),
			ReadOnly:      pulumi.Bool(true),
		}},
		// The output is the access log that the canary analysis reads
		// through the engine's logs API: a driver that keeps it readable,
		// rotated so that a busy env does not fill the disk.
		LogDriver: pulumi.String("json-file"),
		LogOpts:   pulumi.StringMap{"max-size": pulumi.String("20m"), "max-file": pulumi.String("5")},
		Restart:   pulumi.String("unless-stopped"),
	}, opts...)
}

// newKeyWriter creates the container that writes the route key onto the
// table's volume, where the load balancer reads it (RouteKeyFile), as the
// pointer writes the table: through a temporary file and a rename, so
// that the load balancer never reads half a key. The key is a secret
// upload of this container alone.
func newKeyWriter(ctx *pulumi.Context, name, key string, image, volume pulumi.StringInput, parent pulumi.ResourceOption) (*docker.Container, error) {
	const upload = "/tmp/phoenix-route-key"
	write := fmt.Sprintf("cp %[1]s %[2]s.tmp && mv -f %[2]s.tmp %[2]s && exec tail -f /dev/null", upload, RouteKeyFile)
	return docker.NewContainer(ctx, name, &docker.ContainerArgs{
		Image:       image,
		Entrypoints: pulumi.StringArray{pulumi.String("sh"), pulumi.String("-c"), pulumi.String(write)},
		Uploads: docker.ContainerUploadArray{docker.ContainerUploadArgs{
			File:    pulumi.String(upload),
			Content: pulumi.ToSecret(pulumi.String(key)).(pulumi.StringOutput),
		}},
		Volumes: docker.ContainerVolumeArray{docker.ContainerVolumeArgs{
			VolumeName:    volume,
			ContainerPath: pulumi.String(ConfigDir),
		}},
		// An init process so that the writer stops at once when deleted.
		Init:    pulumi.Bool(true),
		Restart: pulumi.String("unless-stopped"),
	}, parent)
}

// keyFile is the route key file the config names: none without a key.
func keyFile(key string) string {
	if key == "" {
		return ""
	}
	return RouteKeyFile
}

// urlHost is the host of the env's URL for a load balancer published on
// listen: localhost for a loopback or every-interface address.
func urlHost(listen string) string {
	ip := net.ParseIP(listen)
	switch {
	case ip == nil || ip.IsLoopback() || ip.IsUnspecified():
		return "localhost"
	case ip.To4() == nil:
		return "[" + listen + "]"
	}
	return listen
}
