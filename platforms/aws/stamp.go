package aws

import (
	"fmt"
	"reflect"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/platforms/docker"
	"github.com/phoenix-iac/phoenix/stacks"
)

// untaggable are the resource types the aws platform declares that have
// no tags or labels in their provider.
var untaggable = append([]string{
	"aws:ec2/routeTableAssociation:RouteTableAssociation",
	"aws:ecr/lifecyclePolicy:LifecyclePolicy",
	"aws:iam/rolePolicy:RolePolicy",
}, docker.Platform{}.Untaggable()...)

// Untaggable implements stacks.Platform.
func (Platform) Untaggable() []string { return untaggable }

var stringMapInputType = reflect.TypeOf((*pulumi.StringMapInput)(nil)).Elem()

// Stamp implements stacks.Platform: the mark as tags (stacks.Mark.Tags)
// on any AWS resource's arguments (a Tags field of type
// pulumi.StringMapInput), after the tags they have. The docker resources
// the platform declares are images, which are untaggable.
func (Platform) Stamp(props pulumi.Input, m stacks.Mark) error {
	tags := m.Tags()
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
