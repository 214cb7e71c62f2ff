package docker

import (
	"fmt"
	"sort"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/stacks"
)

// untaggable are the resource types of the docker provider without labels:
// an image's tag is its version.
var untaggable = []string{
	"docker:index/image:Image",
	"docker:index/remoteImage:RemoteImage",
	"docker:index/registryImage:RegistryImage",
}

// Untaggable implements stacks.Platform.
func (Platform) Untaggable() []string { return untaggable }

// Stamp implements stacks.Platform: the mark as labels (stacks.Mark.Labels)
// on containers, networks and volumes, after the labels they have.
func (Platform) Stamp(props pulumi.Input, m stacks.Mark) error {
	return label(props, m.Labels())
}

// label adds labels to the arguments of a docker container, network or
// volume; any other type is an error.
func label(props pulumi.Input, labels map[string]string) error {
	switch a := props.(type) {
	case *docker.ContainerArgs:
		a.Labels = mergeContainerLabels(a.Labels, labels)
		return nil
	case *docker.NetworkArgs:
		l, ok := a.Labels.(docker.NetworkLabelArray)
		if a.Labels != nil && !ok {
			return fmt.Errorf("network labels must be a literal docker.NetworkLabelArray")
		}
		for _, k := range sortedKeys(labels) {
			l = append(l, docker.NetworkLabelArgs{Label: pulumi.String(k), Value: pulumi.String(labels[k])})
		}
		a.Labels = l
		return nil
	case *docker.VolumeArgs:
		l, ok := a.Labels.(docker.VolumeLabelArray)
		if a.Labels != nil && !ok {
			return fmt.Errorf("volume labels must be a literal docker.VolumeLabelArray")
		}
		for _, k := range sortedKeys(labels) {
			l = append(l, docker.VolumeLabelArgs{Label: pulumi.String(k), Value: pulumi.String(labels[k])})
		}
		a.Labels = l
		return nil
	}
	return fmt.Errorf("cannot add labels to arguments of type %T; add the type to the untaggable list if the provider has none", props)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func mergeContainerLabels(cur docker.ContainerLabelArrayInput, labels map[string]string) docker.ContainerLabelArrayInput {
	var out docker.ContainerLabelArray
	if cur != nil {
		existing, ok := cur.(docker.ContainerLabelArray)
		if !ok {
			return cur.ToContainerLabelArrayOutput().ApplyT(func(l []docker.ContainerLabel) []docker.ContainerLabel {
				for _, k := range sortedKeys(labels) {
					l = append(l, docker.ContainerLabel{Label: k, Value: labels[k]})
				}
				return l
			}).(docker.ContainerLabelArrayOutput)
		}
		out = append(out, existing...)
	}
	for _, k := range sortedKeys(labels) {
		out = append(out, docker.ContainerLabelArgs{Label: pulumi.String(k), Value: pulumi.String(labels[k])})
	}
	return out
}
