package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/stacks"
)

// newAWSCLIEnv is a cliEnv whose env dev is on aws, served by the fake ALB.
func newAWSCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	c := newCLIEnv(t)
	alb := startFakeALB(t, c.h.Cloud)
	c.httpClient = alb.client
	cfg := fmt.Sprintf("config:\n  phoenix:platform: aws\n  aws:region: eu-west-1\n  phoenix:appPath: %s\n", filepath.Join(c.h.Root, "app"))
	if err := os.WriteFile(filepath.Join(c.project, "Pulumi.dev.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// repoOf is the env's ECR repository URL in the simulated cloud.
func (c *cliEnv) repoOf() string {
	c.t.Helper()
	repos := c.h.Cloud.Find("aws:ecr/repository:Repository", "")
	if len(repos) != 1 {
		c.t.Fatalf("got %d repositories, want 1", len(repos))
	}
	return repos[0].Outputs["repositoryUrl"].StringValue()
}

// TestCLIAWSVersionsOutliveTheirMachineAndToken: a version deployed on one
// machine is rolled back to, verified, from another machine 13 hours later
// (the build machine's Docker is not there, the ECR token its push used has
// expired), and destroyed from there: the verified rollback finds no drift,
// and the destroy deletes each version's image from ECR with the caller's
// own credentials.
func TestCLIAWSVersionsOutliveTheirMachineAndToken(t *testing.T) {
	t.Parallel()
	c := newAWSCLIEnv(t)
	c.h.Cloud.SetMachine("laptop-a")
	c.deploy("v1")
	c.h.Cloud.SetMachine("runner-b")
	c.deploy("v2")
	repo := c.repoOf()
	if got := c.h.Cloud.Tags(repo); !slices.Equal(got, []string{"v1", "v2"}) {
		t.Fatalf("the repository holds %v, want [v1 v2]", got)
	}

	c.h.Cloud.Advance(13 * time.Hour)
	c.h.Cloud.SetMachine("runner-c")
	r := c.must("rollback", "--env", "dev", "--to", "v1", "--gate-count", "2")
	if !strings.Contains(r.errOut, "checking dev.v1 for drift") {
		t.Errorf("the rollback did not check for drift:\n%s", r)
	}
	if st := c.status(); st.Live != "v1" {
		t.Errorf("after the rollback live is %q, want v1", st.Live)
	}

	c.must("destroy", "--env", "dev", "--yes")
	for _, res := range c.h.Cloud.Inventory() {
		if res.Type != "docker:index/image:Image" { // its delete leaves the push: phoenix deletes the tag
			t.Errorf("left in the cloud: %s %s", res.Type, res.Name)
		}
	}
	if got := c.h.Cloud.Tags(repo); len(got) != 0 {
		t.Errorf("after destroy the repository holds %v: each version's image must leave ECR with it", got)
	}
	if calls := c.h.Cloud.ECRCalls(); len(calls) != 2 {
		t.Errorf("ECR calls %v, want one BatchDeleteImage per version", calls)
	}
}

// TestCLIAWSLegacyImagesAreDetached: a version stack made by an earlier
// phoenix holds its image as a RemoteImage (in the deploying machine's
// Docker) and a RegistryImage holding the ECR token (12 hours). From
// another machine after 13 hours, phoenix leaves both out of the verified
// rollback's refresh (which would read them as gone: drift), and a gc
// destroys the version: the RegistryImage's delete, which would fail with
// the expired token, leaves the push, and phoenix deletes the tag itself.
func TestCLIAWSLegacyImagesAreDetached(t *testing.T) {
	t.Parallel()
	c := newAWSCLIEnv(t)
	const legacyRepo = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/legacy"
	legacy := "v1"
	c.program = func(ctx *pulumi.Context) error {
		if err := stacks.ProgramIn(c.project, c.h.Env["PULUMI_BACKEND_URL"])(ctx); err != nil {
			return err
		}
		name, _ := stacks.ParseStackName(ctx.Stack())
		if name.Version != legacy {
			return nil
		}
		// What an earlier phoenix held, beside the image of today's:
		// the build kept locally, and its push with the token.
		ref := legacyRepo + ":" + name.Version
		local, err := docker.NewRemoteImage(ctx, "legacy-build", &docker.RemoteImageArgs{
			Name: pulumi.String(ref), KeepLocally: pulumi.Bool(true),
			Build: &docker.RemoteImageBuildArgs{Context: pulumi.String("app")},
		})
		if err != nil {
			return err
		}
		token := ecr.GetAuthorizationTokenOutput(ctx, ecr.GetAuthorizationTokenOutputArgs{})
		_, err = docker.NewRegistryImage(ctx, "legacy-image", &docker.RegistryImageArgs{
			Name: local.Name,
			AuthConfig: &docker.RegistryImageAuthConfigArgs{
				Address: pulumi.String("123456789012.dkr.ecr.eu-west-1.amazonaws.com"), Username: token.UserName(),
				Password: pulumi.ToSecret(token.Password()).(pulumi.StringOutput),
			},
		})
		return err
	}
	c.h.Cloud.SetMachine("laptop-a")
	c.deploy("v1")
	c.deploy("v2")
	c.deploy("v3")
	if n := len(c.h.Cloud.Find("docker:index/registryImage:RegistryImage", "legacy")); n != 1 {
		t.Fatalf("got %d legacy pushes, want 1", n)
	}

	c.h.Cloud.Advance(13 * time.Hour)
	c.h.Cloud.SetMachine("runner-b")
	c.must("rollback", "--env", "dev", "--to", "v1", "--gate-count", "2")
	// Then live v2 and previous v3: gc with no warm versions destroys v1.
	c.must("rollback", "--env", "dev", "--to", "v3", "--gate-count", "2")
	c.must("rollback", "--env", "dev", "--to", "v2", "--gate-count", "2")
	r := c.must("gc", "--env", "dev", "--keep", "0")
	if !strings.Contains(r.errOut, "legacy-image") {
		t.Errorf("gc did not say it detached the legacy image resources:\n%s", r)
	}
	if n := len(c.h.Cloud.Find("aws:ecs/service:Service", "")); n != 2 {
		t.Errorf("after gc %d services run, want v2's and v3's", n)
	}
	if got := c.h.Cloud.Tags(c.repoOf()); !slices.Equal(got, []string{"v2", "v3"}) {
		t.Errorf("the repository holds %v, want [v2 v3]: v1's tag deleted by phoenix", got)
	}
	if got := c.h.Cloud.Tags(legacyRepo); !slices.Equal(got, []string{"v1"}) {
		t.Errorf("the legacy push's repository holds %v, want [v1]: its detached RegistryImage's delete leaves it", got)
	}
}
