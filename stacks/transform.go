package stacks

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Tag keys Phoenix puts on every AWS resource that takes tags, and label keys
// on every Docker resource that takes labels.
const (
	TagEnv       = "phoenix:env"
	TagVersion   = "phoenix:version"
	LabelEnv     = "phoenix.env"
	LabelVersion = "phoenix.version"
)

const stackReferenceType = "pulumi:pulumi:StackReference"

// untaggable lists the resource types that have no tags or labels in their
// provider. They carry the version in their name only.
var untaggable = map[string]bool{
	"aws:ec2/routeTableAssociation:RouteTableAssociation": true,
	"aws:ecr/lifecyclePolicy:LifecyclePolicy":             true,
	"aws:iam/rolePolicy:RolePolicy":                       true,
	"docker:index/image:Image":                            true, // the image tag is the version
	"docker:index/remoteImage:RemoteImage":                true,
	"docker:index/registryImage:RegistryImage":            true, // the image tag is the version
}

// stamp is the stack transformation that makes every resource of a stack carry
// its env (and version) in tags or labels and, for a version stack, makes every
// resource immutable: replaceOnChanges ["*"] turns any change of any input into
// a replacement, never an update in place. Because it is registered on the
// stack, it applies to every resource, including those that components create,
// with no discipline needed in the components themselves.
type stamp struct {
	name StackName

	mu       sync.Mutex
	owner    Owner
	problems []string
}

func newStamp(name StackName) *stamp { return &stamp{name: name} }

func (s *stamp) register(ctx *pulumi.Context) error {
	return ctx.RegisterStackTransformation(s.transform)
}

func (s *stamp) transform(args *pulumi.ResourceTransformationArgs) *pulumi.ResourceTransformationResult {
	if args.Type == stackReferenceType {
		// A reference reads another stack; it creates nothing.
		return nil
	}
	if _, custom := args.Resource.(pulumi.CustomResource); !custom {
		if s.name.IsVersion() {
			s.checkName(args.Type, args.Name)
		}
		return nil
	}
	opts := args.Opts
	if s.name.IsVersion() {
		s.checkName(args.Type, args.Name)
		opts = append(opts, pulumi.ReplaceOnChanges([]string{"*"}))
	}
	if !Untaggable(args.Type) {
		if err := stampProps(args.Props, s.tags(), s.labels()); err != nil {
			s.report(fmt.Sprintf("%s %s: %v", args.Type, args.Name, err))
		}
	}
	return &pulumi.ResourceTransformationResult{Props: args.Props, Opts: opts}
}

func (s *stamp) checkName(typ, name string) {
	if !strings.Contains(name, s.name.Version) {
		s.report(fmt.Sprintf("%s %q: the name of a version stack's resource must contain the version %q; derive it from the component's name", typ, name, s.name.Version))
	}
}

// setOwner makes the resources registered from now on carry owner's
// labels. The programs set it before they register any resource.
func (s *stamp) setOwner(o Owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.owner = o
}

func (s *stamp) report(problem string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, problem)
}

// Err returns the problems found while stamping, if any.
func (s *stamp) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.problems) == 0 {
		return nil
	}
	sort.Strings(s.problems)
	return fmt.Errorf("stack %s breaks the immutability rules:\n  %s", s.name, strings.Join(s.problems, "\n  "))
}

func (s *stamp) tags() map[string]string {
	t := map[string]string{TagEnv: s.name.Env}
	if s.name.IsVersion() {
		t[TagVersion] = s.name.Version
	}
	return t
}

func (s *stamp) labels() map[string]string {
	s.mu.Lock()
	l := s.owner.Labels()
	s.mu.Unlock()
	if l == nil {
		l = map[string]string{}
	}
	l[LabelEnv] = s.name.Env
	if s.name.IsVersion() {
		l[LabelVersion] = s.name.Version
	}
	return l
}

var stringMapInputType = reflect.TypeOf((*pulumi.StringMapInput)(nil)).Elem()

// stampProps adds tags to an AWS resource's args (any args struct with a
// Tags field of type pulumi.StringMapInput) or labels to a Docker resource's
// args. A resource type it cannot stamp is an error, so that a new resource
// type cannot silently go untagged.
func stampProps(props pulumi.Input, tags, labels map[string]string) error {
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
	v := reflect.ValueOf(props)
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("cannot add tags to arguments of type %T", props)
	}
	f := v.Elem().FieldByName("Tags")
	if !f.IsValid() || f.Type() != stringMapInputType {
		return fmt.Errorf("arguments of type %T have no Tags; add the type to the untaggable list if the provider has none", props)
	}
	var merged pulumi.StringMapInput
	switch cur := f.Interface().(type) {
	case nil:
		merged = toStringMap(tags)
	case pulumi.StringMap:
		m := pulumi.StringMap{}
		for k, val := range cur {
			m[k] = val
		}
		for k, val := range tags {
			m[k] = pulumi.String(val)
		}
		merged = m
	default:
		merged = cur.(pulumi.StringMapInput).ToStringMapOutput().ApplyT(func(m map[string]string) map[string]string {
			out := make(map[string]string, len(m)+len(tags))
			for k, val := range m {
				out[k] = val
			}
			for k, val := range tags {
				out[k] = val
			}
			return out
		}).(pulumi.StringMapOutput)
	}
	f.Set(reflect.ValueOf(&merged).Elem())
	return nil
}

func toStringMap(m map[string]string) pulumi.StringMap {
	out := pulumi.StringMap{}
	for k, v := range m {
		out[k] = pulumi.String(v)
	}
	return out
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
