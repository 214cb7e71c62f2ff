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

	"github.com/phoenix-iac/phoenix/platforms/aws"
	"github.com/phoenix-iac/phoenix/stacks"
)

// newAWSCLIEnv is a cliEnv whose env dev is on aws, served by the fake ALB.
func newAWSCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	c := newCLIEnv(t)
	alb := startFakeALB(t, c.h.Cloud)
	c.httpClient = alb.client
	c.writeAWSConfig()
	return c
}

// writeAWSConfig writes Pulumi.dev.yaml for aws, with extra key-value pairs.
func (c *cliEnv) writeAWSConfig(extra ...string) {
	c.t.Helper()
	cfg := fmt.Sprintf("config:\n  phoenix:platform: aws\n  aws:region: eu-west-1\n  phoenix:appPath: %s\n", filepath.Join(c.h.Root, "app"))
	for i := 0; i+1 < len(extra); i += 2 {
		cfg += fmt.Sprintf("  %s: %q\n", extra[i], extra[i+1])
	}
	if err := os.WriteFile(filepath.Join(c.project, "Pulumi.dev.yaml"), []byte(cfg), 0o644); err != nil {
		c.t.Fatal(err)
	}
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

// moreDeploys is how many deploys the day in the life makes after its
// rollback: more than the old lifecycle policy's 30 images, with the
// default retention.
const moreDeploys = 40

// TestCLIAWSDayInTheLife: a team's days on aws, each step exiting 0. A
// version deployed on one machine, the next with a canary on another; 13
// hours later (the build machine's Docker is not there, the ECR token its
// push used has expired) a verified rollback from a third finds no drift.
// Then many deploys, a few hours apart, with retention left to the deploys
// themselves: the env never holds more than retention + 2 versions (so no
// ALB quota is near), the ECR lifecycle policy expires no image, and every
// version the state holds has its image. The destroy deletes each
// version's image with the caller's own credentials and leaves nothing.
func TestCLIAWSDayInTheLife(t *testing.T) {
	t.Parallel()
	c := newAWSCLIEnv(t)
	c.h.Cloud.SetMachine("laptop-a")
	c.deploy("v1")
	c.h.Cloud.SetMachine("runner-b")
	c.deploy("v2", "--canary", "50", "--step-wait", "1s", "--analysis=false")
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

	start := time.Now()
	for i := range moreDeploys {
		c.h.Cloud.SetMachine(fmt.Sprintf("runner-%d", i%3))
		c.h.Cloud.Advance(5 * time.Hour)
		c.deploy(fmt.Sprintf("w%02d", i), "--gate-count", "1")
		// The cloud's count after each deploy; the state against the cloud
		// every few (a status read is a second of the test's own).
		if n := len(c.h.Cloud.Find("aws:ecs/service:Service", "")); n > 2+2 {
			t.Fatalf("after deploy %d the cloud runs %d versions, want at most retention 2 + 2", i, n)
		}
		if i%8 == 7 {
			c.agreeOnVersions(repo)
		}
	}
	t.Logf("%d deploys with automatic retention took %s (%s each)", moreDeploys, time.Since(start).Round(time.Second), (time.Since(start) / moreDeploys).Round(100*time.Millisecond))
	if got := c.h.Cloud.Expired(); len(got) > 0 {
		t.Errorf("the ECR lifecycle policy expired %v", got)
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
	if calls := c.h.Cloud.ECRCalls(); len(calls) != 2+moreDeploys {
		t.Errorf("%d ECR calls, want one BatchDeleteImage per version (%d)", len(calls), 2+moreDeploys)
	}
}

// agreeOnVersions checks that the env's versions, as status reads them from
// the state, are the ones with an ECS service, a target group and an image
// in the simulated cloud, and that there are no more than retention + 2.
func (c *cliEnv) agreeOnVersions(repo string) {
	c.t.Helper()
	st := c.status()
	var held []string
	for _, v := range st.Versions {
		held = append(held, v.Version)
	}
	slices.Sort(held)
	inCloud := func(typ, suffix string) []string {
		var out []string
		for _, r := range c.h.Cloud.Find(typ, "") {
			if v, ok := strings.CutSuffix(strings.TrimPrefix(r.Name, "dev-"), suffix); ok {
				out = append(out, v)
			}
		}
		slices.Sort(out)
		return out
	}
	services, groups := inCloud("aws:ecs/service:Service", "-service"), inCloud("aws:lb/targetGroup:TargetGroup", "-tg")
	tags := c.h.Cloud.Tags(repo)
	if !slices.Equal(services, held) || !slices.Equal(groups, held) || !slices.Equal(tags, held) {
		c.t.Fatalf("live %s: the state holds versions %v; the cloud has services %v, target groups %v, images %v", st.Live, held, services, groups, tags)
	}
	if len(held) > st.Retention+2 {
		c.t.Fatalf("live %s: %d versions %v, want at most retention %d + 2", st.Live, len(held), held, st.Retention)
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

// TestCLIAWSVersionRoutesSurviveCertificateChanges: a version's own route
// (X-Phoenix-Version) answers however the env's certificate changed since
// the version was made. Setting one makes 443 the pointer and port 80 a
// redirect; clearing it deletes the 443 listener, which in AWS deletes
// its rules. A verified rollback probes its target through that route and
// refreshes the target's stack: both pass, each way, and no version's
// rule is ever deleted with a listener.
func TestCLIAWSVersionRoutesSurviveCertificateChanges(t *testing.T) {
	t.Parallel()
	c := newAWSCLIEnv(t)
	https := []string{aws.KeyCertificateARN, "arn:aws:acm:eu-west-1:123456789012:certificate/abc-123", aws.KeyHostname, "app.example.com"}
	rollback := func(to string) {
		t.Helper()
		c.must("rollback", "--env", "dev", "--to", to, "--gate-count", "3", "--gate-timeout", "5s")
		if live := c.status().Live; live != to {
			t.Fatalf("after the rollback to %s live is %s", to, live)
		}
	}

	c.deploy("v1")
	c.writeAWSConfig(https...)
	c.deploy("v2")
	rollback("v1") // made before the certificate
	c.deploy("v3")

	c.writeAWSConfig()
	c.deploy("v4")
	rollback("v3") // made with it

	for _, op := range c.h.Cloud.Ops() {
		if op.Kind == "cascade" {
			t.Errorf("%s was deleted with its listener", op.Name)
		}
	}
}

// TestCLIAWSBadFirstVersionFailsWithinTheGate: a first version whose
// health check path the app does not serve never gets healthy targets.
// The deploy fails within --gate-timeout (plus a bounded margin) of the
// cloud's clock, which a create waiting for the ECS service to be steady
// would hold for the provider's 20 minutes; it exits 3 with what ECS
// recorded (the failed deployment, the tasks' failed health checks), and
// leaves nothing of the version behind.
func TestCLIAWSBadFirstVersionFailsWithinTheGate(t *testing.T) {
	t.Parallel()
	c := newAWSCLIEnv(t)
	c.writeAWSConfig(stacks.KeyHealthCheckPath, "/nope")
	const gateTimeout = 15 * time.Second
	start := c.h.Cloud.Now()
	r := c.run("deploy", "--env", "dev", "--version", "v1", "--gate-count", "3", "--gate-timeout", gateTimeout.String())
	took := c.h.Cloud.Now().Sub(start)
	t.Logf("the bad first version failed after %s of the cloud's clock (gate timeout %s):\n%s", took.Round(time.Second), gateTimeout, r.errOut)
	if r.code != 3 {
		t.Fatalf("a bad first version: want exit 3\n%s", r)
	}
	if took > gateTimeout+2*time.Minute {
		t.Errorf("the deploy took %s of the cloud's clock, want at most the gate timeout %s + 2m", took, gateTimeout)
	}
	for _, want := range []string{"did not pass the health gate", "what platform aws recorded about v1", "deployment failed", "failed ELB health checks", "path /nope"} {
		if !strings.Contains(r.errOut, want) {
			t.Errorf("the message does not say %q:\n%s", want, r.errOut)
		}
	}
	if st := c.status(); st.Live != "" || len(st.Versions) != 0 {
		t.Errorf("after the failed deploy: live %q, versions %v; want none", st.Live, st.Versions)
	}
	if svcs := c.h.Cloud.Find("aws:ecs/service:Service", ""); len(svcs) != 0 {
		t.Errorf("the failed version's service is still in the cloud: %s", svcs[0].Name)
	}
}
