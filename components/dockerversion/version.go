// Package dockerversion provides one version of an env on a local Docker
// engine: the app image built locally with tag = version, and its replica
// containers on the env network. It lives in a version stack and is never
// updated in place.
package dockerversion

import (
	"fmt"
	"sort"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/components/caddyconfig"
)

// VersionArgs configures a Version.
type VersionArgs struct {
	// Env is the env name. Required.
	Env string
	// Version is the version id; also the image tag. Required.
	Version string
	// AppPath is the app's Docker build context. Required unless Image is set.
	AppPath string
	// AppDigest is the hash of the build context's files. The Docker
	// provider builds from a path and sees no change in the files under
	// it: the digest, in the image's triggers, makes a change of the app
	// plan the image's (and so the version's) replacement. Optional.
	AppDigest string
	// Image, when set, is the image the replicas run, by id (sha256:...),
	// already in the engine: a promoted version's, which is never built.
	// Optional.
	Image string
	// AppPort is the port the app listens on. Required.
	AppPort int
	// Replicas is the number of containers. Optional; default 2.
	Replicas int
	// Environment holds extra environment variables. Optional.
	Environment map[string]string
	// EnvironmentSecret keeps the variables encrypted in state. Optional.
	EnvironmentSecret bool
	// HealthCheck is the container health check command, in Docker's
	// form (["CMD", ...] or ["CMD-SHELL", "..."]). Required.
	HealthCheck []string
	// NetworkName is the env's Docker network. Required.
	NetworkName pulumi.StringInput
}

// Version is one complete version of an env on Docker.
type Version struct {
	pulumi.ResourceState

	// Image is the local image reference, tagged with the version.
	Image pulumi.StringOutput `pulumi:"image"`
	// ImageID is the built image's id, which the replicas run.
	ImageID pulumi.StringOutput `pulumi:"imageId"`
	// Upstreams are the replicas' host:port addresses on the env network.
	Upstreams pulumi.StringArrayOutput `pulumi:"upstreams"`
	// Complete resolves once the image and every replica exist; it never
	// resolves when one failed. It is not an output of the component.
	Complete pulumi.StringOutput
}

// ImageName returns the local image reference of a version.
func ImageName(env, version string) string {
	return fmt.Sprintf("phoenix-%s:%s", env, version)
}

// NewVersion creates one version of an env.
func NewVersion(ctx *pulumi.Context, name string, args *VersionArgs, opts ...pulumi.ResourceOption) (*Version, error) {
	if args == nil || args.NetworkName == nil {
		return nil, fmt.Errorf("dockerversion %s: NetworkName is required", name)
	}
	if len(args.HealthCheck) == 0 {
		return nil, fmt.Errorf("dockerversion %s: HealthCheck is required", name)
	}
	replicas := args.Replicas
	if replicas == 0 {
		replicas = 2
	}
	v := &Version{}
	if err := ctx.RegisterComponentResource("phoenix:docker:Version", name, v, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(v)

	imageName, imageID, built, err := versionImage(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}

	envInput := appEnvironment(args)

	var upstreams pulumi.StringArray
	created := []any{imageID}
	if built != nil {
		created = append(created, built.ID())
	}
	for i := range replicas {
		// The alias is the replica's stable DNS name on the env network; it
		// holds the version, so versions never share one.
		alias := fmt.Sprintf("%s-%s-%d", args.Env, args.Version, i)
		replica, err := newReplica(ctx, fmt.Sprintf("%s-%d", name, i), alias, args, imageID, envInput, parent)
		if err != nil {
			return nil, err
		}
		created = append(created, replica.ID())
		upstreams = append(upstreams, pulumi.Sprintf("%s:%d", alias, args.AppPort))
	}

	v.Image = imageName
	v.ImageID = imageID
	v.Upstreams = upstreams.ToStringArrayOutput()
	v.Complete = pulumi.All(created...).ApplyT(func([]any) string { return "complete" }).(pulumi.StringOutput)
	if err := ctx.RegisterResourceOutputs(v, pulumi.Map{
		"image":     v.Image,
		"imageId":   v.ImageID,
		"upstreams": v.Upstreams,
	}); err != nil {
		return nil, err
	}
	return v, nil
}

// versionImage is the image the version's replicas run: its name and id,
// and the resource that built it. A local build, never pushed:
// RemoteImage with a build is what the Docker provider offers for that.
// The image stays when the version is destroyed (KeepLocally), so that
// destroying one version never removes layers that another shares, nor
// the image that a version promoted from it runs. A promoted version
// (args.Image) builds nothing: its replicas run that image by id, and it
// is its name too.
func versionImage(ctx *pulumi.Context, name string, args *VersionArgs, parent pulumi.ResourceOption) (pulumi.StringOutput, pulumi.StringOutput, *docker.RemoteImage, error) {
	if args.Image != "" {
		id := pulumi.String(args.Image).ToStringOutput()
		return id, id, nil, nil
	}
	image, err := docker.NewRemoteImage(ctx, name+"-image", &docker.RemoteImageArgs{
		Name: pulumi.String(ImageName(args.Env, args.Version)),
		Build: &docker.RemoteImageBuildArgs{
			Context: pulumi.String(args.AppPath),
		},
		Triggers:    triggers(args),
		KeepLocally: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return pulumi.StringOutput{}, pulumi.StringOutput{}, nil, err
	}
	return image.Name, image.ImageId, image, nil
}

// triggers are the image's triggers: the build context's digest, if known.
func triggers(args *VersionArgs) pulumi.StringMapInput {
	if args.AppDigest == "" {
		return nil
	}
	return pulumi.StringMap{"appDigest": pulumi.String(args.AppDigest)}
}

// appEnvironment is the app's environment: what Phoenix sets, then
// phoenix:environment in name order, kept secret when that is.
func appEnvironment(args *VersionArgs) pulumi.StringArrayInput {
	envs := pulumi.StringArray{
		pulumi.Sprintf("PHOENIX_ENV=%s", args.Env),
		pulumi.Sprintf("PHOENIX_VERSION=%s", args.Version),
		pulumi.Sprintf("PORT=%d", args.AppPort),
	}
	keys := make([]string, 0, len(args.Environment))
	for k := range args.Environment {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		envs = append(envs, pulumi.String(k+"="+args.Environment[k]))
	}
	if args.EnvironmentSecret {
		return pulumi.ToSecret(envs).(pulumi.StringArrayOutput)
	}
	return envs
}

// newReplica creates one replica of the version: the app's container on
// the env network, reached by alias and by the version's alias.
func newReplica(ctx *pulumi.Context, name, alias string, args *VersionArgs, imageID pulumi.StringInput, env pulumi.StringArrayInput, parent pulumi.ResourceOption) (*docker.Container, error) {
	return docker.NewContainer(ctx, name, &docker.ContainerArgs{
		Image: imageID,
		Envs:  env,
		NetworksAdvanced: docker.ContainerNetworksAdvancedArray{docker.ContainerNetworksAdvancedArgs{
			Name: args.NetworkName,
			// Its own name, and the version's, which the load
			// balancer's version route dials.
			Aliases: pulumi.StringArray{pulumi.String(alias), pulumi.String(caddyconfig.VersionAlias(args.Env, args.Version))},
		}},
		Healthcheck: &docker.ContainerHealthcheckArgs{
			Tests:       pulumi.ToStringArray(args.HealthCheck),
			Interval:    pulumi.String("2s"),
			Timeout:     pulumi.String("2s"),
			Retries:     pulumi.Int(3),
			StartPeriod: pulumi.String("5s"),
		},
		// No Wait: whether a version is healthy is for phoenix's health
		// gate to decide, through the load balancer and within
		// --gate-timeout, so that an unhealthy version fails the gate
		// (exit 3) instead of the stack's up. Caddy sends requests only
		// to replicas that pass its own health checks.
		Restart: pulumi.String("unless-stopped"),
	}, parent)
}
