package stacks

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// runStamped runs fn in a mocked version stack dev.abc with the stamp registered.
func runStamped(t *testing.T, fn func(ctx *pulumi.Context) error) (*cloud, error) {
	t.Helper()
	c := &cloud{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		st := newStamp(StackName{Env: "dev", Version: "abc"})
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
	_, err := runStamped(t, func(ctx *pulumi.Context) error {
		_, err := ec2.NewSecurityGroup(ctx, "shared-sg", &ec2.SecurityGroupArgs{})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), `"shared-sg"`) || !strings.Contains(err.Error(), "must contain the version") {
		t.Fatalf("got %v, want an error naming shared-sg", err)
	}
}

func TestStampRefusesResourcesItCannotTag(t *testing.T) {
	_, err := runStamped(t, func(ctx *pulumi.Context) error {
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
	c, err := runStamped(t, func(ctx *pulumi.Context) error {
		_, err := ec2.NewSecurityGroup(ctx, "dev-abc-sg", &ec2.SecurityGroupArgs{
			Tags: pulumi.StringMap{"team": pulumi.String("web")},
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sg := c.one(t, "aws:ec2/securityGroup:SecurityGroup")
	for k, want := range map[string]string{"team": "web", TagEnv: "dev", TagVersion: "abc"} {
		if got := str(sg.Inputs, "tags", k); got != want {
			t.Errorf("got tag %s=%q, want %q", k, got, want)
		}
	}
}
