// Package testplatform is a platform that exists only in the tests, to show
// that a platform is one package and one registration (tests/platform_test.go),
// with its own config key (phoenix:plainImage), label shape and inventory:
// "plain" runs each version as bare containers on the env's network, and
// its traffic pointer is a container whose environment names the live
// version's addresses. It has no load balancer, so no URL that answers:
// the engine harness deploys it, phoenix's gates do not.
package testplatform

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/internal/dockerengine"
	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// Name is the platform's phoenix:platform value.
const Name stacks.PlatformName = "plain"

// The platform's own stack outputs.
const (
	// OutNetwork is the env stack's network.
	OutNetwork = "plainNetwork"
	// OutAddresses are a version's containers' addresses.
	OutAddresses = "plainAddresses"
)

// KeyImage is the platform's own config key: the image its containers
// run. Pulumi.yaml documents it, as every key.
const KeyImage = "phoenix:plainImage"

// Config holds the platform's settings.
type Config struct {
	// Image is the image the pointer and the versions' containers run.
	Image string
}

// Settings implements stacks.Platform.
func (Platform) Settings(p *stacks.ConfigParser, _ *stacks.Config) any {
	return Config{Image: p.Image(KeyImage, "busybox:1")}
}

// image is the image of c's containers.
func image(c *stacks.Config) pulumi.String {
	s, _ := c.Settings.(Config)
	return pulumi.String(s.Image)
}

// trafficType is the component that holds the pointer.
const trafficType = "phoenix:plain:Traffic"

// Platform is the plain platform.
type Platform struct{}

// Name implements stacks.Platform.
func (Platform) Name() stacks.PlatformName { return Name }

// TrafficComponent implements stacks.Platform.
func (Platform) TrafficComponent() string { return trafficType }

// Plugins implements stacks.Platform.
func (Platform) Plugins() map[string]string { return map[string]string{"docker": "4.10.0"} }

// Untaggable implements stacks.Platform.
func (Platform) Untaggable() []string { return nil }

// The platform's own label shape: its env and version under its own keys,
// and whose it is in one label.
const (
	LabelEnv     = "plain.env"
	LabelVersion = "plain.version"
	LabelOwner   = "plain.owner"
)

// labels is m in the platform's label shape.
func labels(m stacks.Mark) docker.ContainerLabelArray {
	l := docker.ContainerLabelArray{
		docker.ContainerLabelArgs{Label: pulumi.String(LabelEnv), Value: pulumi.String(m.Env)},
		docker.ContainerLabelArgs{Label: pulumi.String(LabelOwner), Value: pulumi.String(m.Owner.String())},
	}
	if m.Version != "" {
		l = append(l, docker.ContainerLabelArgs{Label: pulumi.String(LabelVersion), Value: pulumi.String(m.Version)})
	}
	return l
}

// Stamp implements stacks.Platform: containers carry the platform's
// labels; its network carries none, and says so by its name.
func (Platform) Stamp(props pulumi.Input, m stacks.Mark) error {
	switch a := props.(type) {
	case *docker.ContainerArgs:
		a.Labels = labels(m)
		return nil
	case *docker.NetworkArgs:
		return nil
	}
	return fmt.Errorf("the plain platform cannot label %T", props)
}

// traffic is the pointer's component.
type traffic struct{ pulumi.ResourceState }

// Env declares the env's network and the pointer.
func (Platform) Env(ctx *pulumi.Context, e *stacks.EnvStack) error {
	env, t := e.Name.Env, e.Traffic
	network, err := docker.NewNetwork(ctx, env+"-net", &docker.NetworkArgs{Driver: pulumi.String("bridge")})
	if err != nil {
		return err
	}
	live := pulumi.StringArray{}.ToStringArrayOutput()
	if t.Live != "" {
		if live, err = e.VersionStrings(t.Live, OutAddresses); err != nil {
			return err
		}
	}
	tr := &traffic{}
	if err := ctx.RegisterComponentResource(trafficType, env, tr); err != nil {
		return err
	}
	pointer, err := docker.NewContainer(ctx, env+"-pointer", &docker.ContainerArgs{
		Image: image(e.Config),
		Envs: live.ApplyT(func(addrs []string) []string {
			return []string{"LIVE=" + t.Live, fmt.Sprintf("LIVE_ADDRS=%v", addrs)}
		}).(pulumi.StringArrayOutput),
	}, pulumi.Parent(tr))
	if err != nil {
		return err
	}
	e.ExportTraffic(pointer.ID().ToStringOutput())
	ctx.Export(stacks.OutURL, pulumi.String("http://plain.invalid"))
	ctx.Export(OutNetwork, network.Name)
	return nil
}

// Version declares the version's containers on the env's network.
func (Platform) Version(ctx *pulumi.Context, v *stacks.VersionStack) error {
	var addrs pulumi.StringArray
	var last pulumi.StringOutput
	for i := range v.Config.Replicas {
		name := fmt.Sprintf("%s-%d", v.Component, i)
		c, err := docker.NewContainer(ctx, name, &docker.ContainerArgs{
			Image: image(v.Config),
			NetworksAdvanced: docker.ContainerNetworksAdvancedArray{docker.ContainerNetworksAdvancedArgs{
				Name: v.EnvString(OutNetwork),
			}},
		})
		if err != nil {
			return err
		}
		addrs = append(addrs, pulumi.Sprintf("%s:%d", name, v.Config.AppPort))
		last = c.ID().ToStringOutput()
	}
	v.ExportComplete(last)
	ctx.Export(OutAddresses, addrs)
	return nil
}

// Inventory implements platform.Inventory: the containers that carry the
// platform's labels, on the Docker engine its provider uses.
func (Platform) Inventory(env platform.Env) (platform.Cloud, error) {
	c, err := dockerengine.New(dockerengine.Host(env.Getenv), false)
	if err != nil {
		return nil, err
	}
	return cloud{c}, nil
}

// cloud lists the platform's containers by its own labels.
type cloud struct{ c *dockerengine.Client }

// List implements platform.Cloud.
func (c cloud) List(ctx context.Context, env string, owner stacks.Owner) (mine, others []platform.Object, err error) {
	objs, err := c.c.List(ctx, map[string]string{LabelEnv: env})
	if err != nil {
		return nil, nil, err
	}
	for _, obj := range objs {
		if obj.Kind != dockerengine.KindContainer {
			continue
		}
		o := platform.Object{Kind: obj.Kind, ID: obj.ID, Name: obj.Name, Version: obj.Labels[LabelVersion], Owner: obj.Labels[LabelOwner]}
		if o.Owner == owner.String() {
			mine = append(mine, o)
		} else {
			others = append(others, o)
		}
	}
	return mine, others, nil
}

// Remove implements platform.Cloud.
func (c cloud) Remove(ctx context.Context, obj platform.Object) error {
	return c.c.Remove(ctx, dockerengine.Object{Kind: obj.Kind, ID: obj.ID, Name: obj.Name})
}

// Marked implements platform.Cloud.
func (cloud) Marked(env string) string { return fmt.Sprintf("labelled %s=%s", LabelEnv, env) }
