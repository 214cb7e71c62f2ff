package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/internal/orchestrator"
	"github.com/phoenix-iac/phoenix/platforms/aws"
	"github.com/phoenix-iac/phoenix/stacks"
	"github.com/phoenix-iac/phoenix/tests/simcloud"
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
	c.writeAWSEnv("dev", extra...)
}

// writeAWSEnv writes env's config file for aws, with extra key-value pairs.
func (c *cliEnv) writeAWSEnv(env string, extra ...string) {
	c.t.Helper()
	cfg := fmt.Sprintf("config:\n  phoenix:platform: aws\n  aws:region: eu-west-1\n  phoenix:appPath: %s\n", filepath.Join(c.h.Root, "app"))
	for i := 0; i+1 < len(extra); i += 2 {
		cfg += fmt.Sprintf("  %s: %q\n", extra[i], extra[i+1])
	}
	if err := os.WriteFile(filepath.Join(c.project, "Pulumi."+env+".yaml"), []byte(cfg), 0o644); err != nil {
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
// rollback, with the default retention (2): each of the last six leaves a
// version beyond it, for the deploy's own gc, and they span 40 simulated
// hours (the ECR token's 12 and the untagged images' day, more than
// once). That no count or age of tagged images expires a version's image
// is the lifecycle policy's own test (awsedge TestLifecyclePolicy), and
// that the simulated ECR applies such rules as ECR does is simcloud's
// (TestLifecyclePolicyExpiresImages): a run of 31 deploys, which the
// policy counting 30 images once needed, is no longer needed to show it.
const moreDeploys = 8

// awsDayInTheLife (TestLong/AWSDayInTheLife): a team's days on aws, each step exiting 0. A
// version deployed on one machine, the next with a canary on another; 13
// hours later (the build machine's Docker is not there, the ECR token its
// push used has expired) a verified rollback from a third finds no drift.
// Then many deploys, a few hours apart, with retention left to the deploys
// themselves: the env never holds more than retention + 2 versions (so no
// ALB quota is near), the ECR lifecycle policy expires no image, and every
// version the state holds has its image. The destroy deletes each
// version's image with the caller's own credentials and leaves nothing.
func awsDayInTheLife(t *testing.T) {
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
		if i%4 == 3 {
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

// TestCLIAWSGCOrphans: on aws, gc --orphans finds what a version's
// interrupted create left in the account (tagged with the env and its
// owner, held by no stack: a Fargate service still running, its task
// definition, rule, target group, security group and roles), lists it with
// --dry-run, and removes it in the order AWS requires; an env of the same
// name of another backend in the same account is left alone, and so is
// everything a stack holds.
func TestCLIAWSGCOrphans(t *testing.T) {
	t.Parallel()
	c := newAWSCLIEnv(t)
	c.deploy("v1")
	mine := stacks.Owner{Project: orchestrator.ProjectName, Backend: stacks.BackendID(c.h.Env["PULUMI_BACKEND_URL"], "organization")}
	tags := func(owner stacks.Owner) map[string]any {
		out := map[string]any{}
		for k, v := range (stacks.Mark{Env: "dev", Version: "v9", Owner: owner}).Tags() {
			out[k] = v
		}
		return out
	}
	plant := func(typ, name string, inputs map[string]any) simcloud.Resource {
		t.Helper()
		r, err := c.h.Cloud.Plant(typ, name, resource.NewPropertyMapFromMap(inputs))
		if err != nil {
			t.Fatalf("planting %s: %v", name, err)
		}
		return r
	}
	arn := func(r simcloud.Resource) string { return r.Outputs["arn"].StringValue() }
	one := func(typ string) simcloud.Resource {
		t.Helper()
		rs := c.h.Cloud.Find(typ, "")
		if len(rs) == 0 {
			t.Fatalf("no %s in the cloud", typ)
		}
		return rs[0]
	}
	cluster, listener := arn(one("aws:ecs/cluster:Cluster")), arn(one("aws:lb/listener:Listener"))
	// What v9's create left when it was killed, as the program makes it.
	sg := plant("aws:ec2/securityGroup:SecurityGroup", "dev-v9-task", map[string]any{"name": "dev-v9-task-5e1f0a2", "tags": tags(mine)})
	tg := plant("aws:lb/targetGroup:TargetGroup", "dev-v9-tg", map[string]any{"name": "dev-v9-tg", "tags": tags(mine)})
	rule := plant("aws:lb/listenerRule:ListenerRule", "dev-v9-route", map[string]any{"listenerArn": listener, "priority": 999,
		"actions": []any{map[string]any{"type": "forward", "targetGroupArn": arn(tg)}}, "tags": tags(mine)})
	role := plant("aws:iam/role:Role", "dev-v9-execution", map[string]any{"name": "dev-v9-execution-0b7c1d4", "path": "/phoenix/dev/", "tags": tags(mine)})
	policy := plant("aws:iam/rolePolicy:RolePolicy", "dev-v9-execution", map[string]any{"name": "dev-v9-execution-4a9e2f1", "role": role.ID})
	td := plant("aws:ecs/taskDefinition:TaskDefinition", "dev-v9-task", map[string]any{"family": "dev-v9", "executionRoleArn": arn(role), "tags": tags(mine)})
	svc := plant("aws:ecs/service:Service", "dev-v9-service", map[string]any{"name": "dev-v9-service-6c2d8e0", "cluster": cluster, "desiredCount": 2,
		"taskDefinition": arn(td), "networkConfiguration": map[string]any{"securityGroups": []any{sg.ID}},
		"loadBalancers": []any{map[string]any{"targetGroupArn": arn(tg), "containerName": "app", "containerPort": 8080}}, "tags": tags(mine)})
	// Env dev of another backend in the same account: not this env's.
	other := plant("aws:ec2/securityGroup:SecurityGroup", "dev-v9-task", map[string]any{"name": "dev-v9-task-90aa7b3",
		"tags": tags(stacks.Owner{Project: orchestrator.ProjectName, Backend: "s3://someone-elses-state"})})
	before := len(c.h.Cloud.Inventory())

	r := c.must("gc", "--env", "dev", "--orphans", "--dry-run")
	t.Logf("dry run:\n%s%s", r.out, r.errOut)
	if !strings.Contains(r.out, "6 orphan(s); would remove") {
		t.Errorf("dry run: want the 6 tagged orphans of v9 listed:\n%s", r)
	}
	for _, x := range []simcloud.Resource{svc, rule, tg, td, sg, role} {
		if !strings.Contains(r.out, arn(x)) {
			t.Errorf("dry run does not list %s %s", x.Type, arn(x))
		}
	}
	if strings.Contains(r.out, other.ID) {
		t.Errorf("dry run lists another backend's security group:\n%s", r.out)
	}
	if !strings.Contains(r.errOut, "leaving alone 1 resource(s) tagged phoenix:env=dev that are not this env's (phoenix:project=phoenix phoenix:backend=s3://someone-elses-state; this env's: phoenix:project=phoenix phoenix:backend=file://") {
		t.Errorf("dry run does not say what it leaves alone, and why:\n%s", r.errOut)
	}
	if got := len(c.h.Cloud.Inventory()); got != before {
		t.Fatalf("a dry run changed the cloud: %d resources, was %d", got, before)
	}

	r = c.must("gc", "--env", "dev", "--orphans")
	t.Logf("gc --orphans:\n%s%s", r.out, r.errOut)
	for _, x := range []simcloud.Resource{svc, rule, tg, td, sg, role, policy} {
		if _, ok := findID(c.h.Cloud, x.ID); ok {
			t.Errorf("%s %s is still in the cloud", x.Type, x.Name)
		}
	}
	if _, ok := findID(c.h.Cloud, other.ID); !ok {
		t.Error("gc --orphans removed another backend's security group")
	}
	// AWS refuses each of these before the one it follows is gone.
	deleted := map[string]int{}
	for i, op := range c.h.Cloud.Ops() {
		if op.Kind == "delete" {
			deleted[op.ID] = i
		}
	}
	for _, order := range [][2]simcloud.Resource{{svc, sg}, {svc, tg}, {rule, tg}, {policy, role}, {svc, td}} {
		if deleted[order[0].ID] > deleted[order[1].ID] {
			t.Errorf("%s was deleted after %s", order[0].Name, order[1].Name)
		}
	}
	if orphans, missing := c.disagreement(t.Context()); len(missing) > 0 || len(orphans) != 1 {
		t.Errorf("after gc --orphans, the cloud holds %v that no state does (want only the other backend's group), and states hold %v it does not", orphans, missing)
	}
	if st := c.status(); st.Live != "v1" {
		t.Errorf("after gc --orphans live is %q, want v1", st.Live)
	}
	if r := c.must("gc", "--env", "dev", "--orphans", "--dry-run"); !strings.Contains(r.out, "no orphans") {
		t.Errorf("second dry run: %s", r)
	}
}

// killDuringServiceCreate starts a deploy of version on aws with the
// phoenix binary and kills it while the cloud creates the version's
// Fargate service, lets the cloud finish that create, and returns the
// service, which no state holds.
func killDuringServiceCreate(t *testing.T, c *cliEnv, bin, version string) simcloud.Resource {
	t.Helper()
	name := "dev-" + version
	c.h.Cloud.Inject(simcloud.Fault{Kind: "create", Type: "aws:ecs/service:Service", NameContains: name, Delay: 4 * time.Second, Times: 1})
	p := c.start(bin, "deploy", "--env", "dev", "--version", version, "--gate-count", "2", "--gate-timeout", "20s")
	// The service is created right after the last of what it uses.
	deadline := time.Now().Add(2 * time.Minute)
	for len(c.h.Cloud.Find("aws:lb/listenerRule:ListenerRule", name)) == 0 || len(c.h.Cloud.Find("aws:iam/rolePolicy:RolePolicy", name)) == 0 ||
		len(c.h.Cloud.Find("aws:ecs/taskDefinition:TaskDefinition", name)) == 0 || len(c.h.Cloud.Find("aws:ec2/securityGroup:SecurityGroup", name)) == 0 {
		if time.Now().After(deadline) {
			p.wait(0)
			t.Fatalf("the version's service never came to be created: %s", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !p.killAfter(1500 * time.Millisecond) {
		t.Fatalf("the deploy ended before the kill: %s", p)
	}
	deadline = time.Now().Add(10 * time.Second)
	for len(c.h.Cloud.Find("aws:ecs/service:Service", name)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the interrupted create never finished in the cloud")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c.h.Cloud.Find("aws:ecs/service:Service", name)[0]
}

// TestKillDuringAWSVersionUp kills a deploy on aws while its version
// stack's first up waits on the cloud to create the Fargate service: the
// cloud finishes the create, so a service runs that no state holds. The
// re-run repairs the version stack, finds the service by its tags, removes
// it and finishes the version, which goes live; state and cloud agree.
func TestKillDuringAWSVersionUp(t *testing.T) {
	t.Parallel()
	bin := buildPhoenix(t)
	c := newAWSCLIEnv(t)
	c.deploy("v1")
	orphan := killDuringServiceCreate(t, c, bin, "v2")

	r := c.run("deploy", "--env", "dev", "--version", "v2", "--gate-count", "2", "--gate-timeout", "20s")
	t.Logf("the re-run:\n%s", r.errOut)
	if r.code != 0 {
		t.Fatalf("deploy run again: %s", r)
	}
	for _, want := range []string{"left unfinished", "removing ECS service " + orphan.Inputs["name"].StringValue(), "no state holds it"} {
		if !strings.Contains(r.errOut, want) {
			t.Errorf("the re-run did not say %q", want)
		}
	}
	if _, ok := findID(c.h.Cloud, orphan.ID); ok {
		t.Error("the service that the interrupted create made is still in the cloud")
	}
	if svcs := c.h.Cloud.Find("aws:ecs/service:Service", "dev-v2"); len(svcs) != 1 {
		t.Errorf("%d services of v2 run, want 1", len(svcs))
	}
	if st := c.status(); st.Live != "v2" {
		t.Errorf("live is %q, want v2", st.Live)
	}
	if orphans, missing := c.disagreement(t.Context()); len(orphans) > 0 || len(missing) > 0 {
		t.Errorf("state and cloud disagree: orphans %v, missing %v", orphans, missing)
	}
}

// TestRepairWithoutTheTaggingAPI: the same kill, and a re-run whose
// credentials cannot list by tag (a deploy role from before gc --orphans
// on aws): the repair warns, names the command that finishes the sweep,
// and the version still goes live; that command then removes the service
// no state holds.
func TestRepairWithoutTheTaggingAPI(t *testing.T) {
	t.Parallel()
	bin := buildPhoenix(t)
	c := newAWSCLIEnv(t)
	c.deploy("v1")
	orphan := killDuringServiceCreate(t, c, bin, "v2")

	const taggingAPI = "AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API"
	reachable := c.h.Env[taggingAPI]
	c.h.Env[taggingAPI] = "http://127.0.0.1:1"
	r := c.run("deploy", "--env", "dev", "--version", "v2", "--gate-count", "2", "--gate-timeout", "20s")
	c.h.Env[taggingAPI] = reachable
	t.Logf("the re-run:\n%s", r.errOut)
	if r.code != 0 || !strings.Contains(r.errOut, "could not look in the cloud for what the interrupted creates of dev.v2 left") ||
		!strings.Contains(r.errOut, "phoenix gc --env dev --orphans --dry-run") {
		t.Fatalf("deploy run again without the tagging API: want exit 0 and a warning naming gc --orphans\n%s", r)
	}
	if st := c.status(); st.Live != "v2" {
		t.Errorf("live is %q, want v2", st.Live)
	}
	if _, ok := findID(c.h.Cloud, orphan.ID); !ok {
		t.Fatal("the leftover service is gone, though nothing could list it")
	}
	if r := c.must("gc", "--env", "dev", "--orphans"); !strings.Contains(r.out, orphan.Inputs["name"].StringValue()) {
		t.Errorf("gc --orphans did not remove the leftover service:\n%s", r)
	}
	if orphans, missing := c.disagreement(t.Context()); len(orphans) > 0 || len(missing) > 0 {
		t.Errorf("state and cloud disagree: orphans %v, missing %v", orphans, missing)
	}
}

// repoOfEnv is an env's ECR repository URL in the simulated cloud.
func (c *cliEnv) repoOfEnv(env string) string {
	c.t.Helper()
	repos := c.h.Cloud.Find("aws:ecr/repository:Repository", env+"-app")
	if len(repos) != 1 {
		c.t.Fatalf("env %s has %d repositories, want 1", env, len(repos))
	}
	return repos[0].Outputs["repositoryUrl"].StringValue()
}

// TestCLIAWSPromote: staging's live version is promoted to prod on aws,
// two envs with their own ALB and repository. The image is copied by
// digest from staging's repository into prod's under the new version's
// tag (through the registry API, with the ECR token phoenix asks for;
// blob mounting off, as in a new account, so the layers are uploaded),
// nothing is built, and prod's version stack and task run that digest.
// A verified rollback to the promoted version works, and a gc destroys it
// and its tag in prod's repository, leaving staging's image alone.
func TestCLIAWSPromote(t *testing.T) {
	t.Parallel()
	c := newAWSCLIEnv(t)
	c.copyProgram()
	c.writeAWSEnv("staging")
	c.writeAWSEnv("prod")
	gate := []string{"--gate-count", "2", "--gate-timeout", "10s"}
	c.must(append([]string{"deploy", "--env", "staging"}, gate...)...)
	src := c.statusOf("staging").Versions[0]
	stagingRepo := c.repoOfEnv("staging")
	srcRepo, digest, _ := strings.Cut(src.Image, "@")
	if srcRepo != stagingRepo || !c.h.Cloud.HasImage(stagingRepo, digest) {
		t.Fatalf("staging.%s runs %q: want an image by digest that staging's repository %s holds", src.Version, src.Image, stagingRepo)
	}

	ops := len(c.h.Cloud.Ops())
	r := c.must(append([]string{"promote", "--from", "staging", "--to", "prod", "--json"}, gate...)...)
	var res orchestrator.PromoteResult
	if err := json.Unmarshal([]byte(r.out), &res); err != nil {
		t.Fatalf("promote --json: %v\n%s", err, r)
	}
	prodRepo := c.repoOfEnv("prod")
	if want := prodRepo + "@" + digest; res.Image != want || res.From != "staging."+src.Version || !res.Created {
		t.Fatalf("promote: %+v; want staging.%s's image copied as %s", res, src.Version, want)
	}
	for _, op := range c.h.Cloud.Ops()[ops:] {
		if op.Type == "docker:index/image:Image" {
			t.Errorf("the promotion built an image: %+v", op)
		}
	}
	pushes := c.h.Cloud.RegistryPushes()
	if len(pushes) != 1 || pushes[0].Repository != prodRepo || pushes[0].Tag != res.Version || pushes[0].Digest != digest || pushes[0].Uploaded != 2 {
		t.Errorf("registry pushes %+v: want one, of %s to %s:%s with its config and layer uploaded", pushes, digest, prodRepo, res.Version)
	}
	if got := c.h.Cloud.Tags(prodRepo); !slices.Equal(got, []string{res.Version}) {
		t.Errorf("prod's repository holds %v, want [%s]", got, res.Version)
	}
	prod := c.statusOf("prod")
	if prod.Live != res.Version || len(prod.Versions) != 1 || prod.Versions[0].Image != res.Image || prod.Versions[0].PromotedFrom != res.From {
		t.Fatalf("prod: live %s, versions %+v; want %s running %s", prod.Live, prod.Versions, res.Version, res.Image)
	}
	tasks := c.h.Cloud.Find("aws:ecs/taskDefinition:TaskDefinition", "prod-"+res.Version)
	if len(tasks) != 1 || !strings.Contains(tasks[0].Inputs["containerDefinitions"].String(), res.Image) {
		t.Errorf("prod.%s's task definitions %+v: want one running %s", res.Version, tasks, res.Image)
	}

	// Run again: the tag holds the image, the version is live.
	if r := c.must(append([]string{"promote", "--from", "staging", "--to", "prod", "--json"}, gate...)...); !strings.Contains(r.out, `"noOp": true`) {
		t.Errorf("promote again: want it found live\n%s", r)
	}
	if n := len(c.h.Cloud.RegistryPushes()); n != 1 {
		t.Errorf("promote again pushed to the registry: %d pushes", n)
	}

	// A version built in prod, then a verified rollback to the promoted one.
	c.must(append([]string{"deploy", "--env", "prod", "--version", "v2"}, gate...)...)
	c.must(append([]string{"rollback", "--env", "prod", "--to", res.Version}, gate...)...)
	if st := c.statusOf("prod"); st.Live != res.Version {
		t.Fatalf("after the rollback prod's live is %s, want %s", st.Live, res.Version)
	}
	// Two more: the promoted version is neither live nor previous, and a
	// gc that keeps no other destroys it and deletes its tag.
	c.must(append([]string{"deploy", "--env", "prod", "--version", "v3"}, gate...)...)
	c.must(append([]string{"deploy", "--env", "prod", "--version", "v4", "--no-gc"}, gate...)...)
	c.must("gc", "--env", "prod", "--keep", "0")
	for _, v := range c.statusOf("prod").Versions {
		if v.Version == res.Version {
			t.Errorf("gc --keep 0 left the promoted version %s", v.Version)
		}
	}
	if got := c.h.Cloud.Tags(prodRepo); slices.Contains(got, res.Version) {
		t.Errorf("prod's repository holds %v after the gc: the promoted version's tag must go with it", got)
	}
	if !c.h.Cloud.HasImage(stagingRepo, digest) {
		t.Errorf("the gc of prod's promoted version deleted staging's image")
	}
	if st := c.statusOf("staging"); st.Live != src.Version {
		t.Errorf("staging's live is %s, want %s", st.Live, src.Version)
	}
}
