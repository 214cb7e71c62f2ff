package stacks

import (
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// recorder is a mocked cloud that keeps each resource's inputs by type.
type recorder struct {
	mu     sync.Mutex
	inputs map[string][]resource.PropertyMap
}

func (r *recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inputs[args.TypeToken] = append(r.inputs[args.TypeToken], args.Inputs)
	return args.Name + "-id", args.Inputs, nil
}

func (r *recorder) Call(pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return resource.PropertyMap{}, nil
}

// tag returns the tag k of the one resource of type typ.
func (r *recorder) tag(t *testing.T, typ, k string) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.inputs[typ]) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(r.inputs[typ]), typ)
	}
	v := r.inputs[typ][0]["tags"]
	if !v.IsObject() || !v.ObjectValue()[resource.PropertyKey(k)].IsString() {
		return ""
	}
	return v.ObjectValue()[resource.PropertyKey(k)].StringValue()
}

// runStamped runs fn in a mocked version stack dev.abc of platform with
// the stamp registered.
func runStamped(t *testing.T, platform PlatformName, fn func(ctx *pulumi.Context) error) (*recorder, error) {
	t.Helper()
	p, err := LookupPlatform(platform)
	if err != nil {
		t.Fatal(err)
	}
	c := &recorder{inputs: map[string][]resource.PropertyMap{}}
	err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		st := newStamp(StackName{Env: "dev", Version: "abc"}, p)
		if err := st.register(ctx); err != nil {
			return err
		}
		if err := fn(ctx); err != nil {
			return err
		}
		return st.Err()
	}, pulumi.WithMocks("phoenix", "dev.abc", c))
	return c, err
}

func TestStampRefusesNamesWithoutTheVersion(t *testing.T) {
	_, err := runStamped(t, "aws", func(ctx *pulumi.Context) error {
		_, err := ec2.NewSecurityGroup(ctx, "shared-sg", &ec2.SecurityGroupArgs{})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), `"shared-sg"`) || !strings.Contains(err.Error(), "must contain the version") {
		t.Fatalf("got %v, want an error naming shared-sg", err)
	}
}

func TestStampRefusesResourcesItCannotTag(t *testing.T) {
	_, err := runStamped(t, "docker", func(ctx *pulumi.Context) error {
		_, err := docker.NewTag(ctx, "dev-abc-tag", &docker.TagArgs{
			SourceImage: pulumi.String("a:1"),
			TargetImage: pulumi.String("b:1"),
		})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "docker:index/tag:Tag") {
		t.Fatalf("got %v, want an error naming the untagged type", err)
	}
}

func TestStampMergesExistingTags(t *testing.T) {
	c, err := runStamped(t, "aws", func(ctx *pulumi.Context) error {
		_, err := ec2.NewSecurityGroup(ctx, "dev-abc-sg", &ec2.SecurityGroupArgs{
			Tags: pulumi.StringMap{"team": pulumi.String("web")},
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"team": "web", TagEnv: "dev", TagVersion: "abc"} {
		if got := c.tag(t, "aws:ec2/securityGroup:SecurityGroup", k); got != want {
			t.Errorf("got tag %s=%q, want %q", k, got, want)
		}
	}
}
