package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/phoenix-iac/phoenix/platforms/aws"
	"github.com/phoenix-iac/phoenix/stacks"
	"github.com/phoenix-iac/phoenix/tests/harness"
	"github.com/phoenix-iac/phoenix/tests/simcloud"
)

// TestChangingAnExistingVersionPlansReplacements shows the stack
// transformation at work in the real engine: on an existing version stack,
// changes the real provider would apply in place (a target group's health
// check, a service's task count, a container's restart policy) are planned
// as create-replacement before delete-replaced, never as updates.
func TestChangingAnExistingVersionPlansReplacements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		platform string
		change   []string
		want     []string // types that must be replaced
	}{
		{"aws", []string{stacks.KeyHealthCheckPath, "/ready", stacks.KeyReplicas, "3"},
			[]string{"aws:lb/targetGroup:TargetGroup", "aws:ecs/service:Service"}},
		{"docker", []string{stacks.KeyEnvironment, `{"LOG_LEVEL":"debug"}`},
			[]string{"docker:index/container:Container"}},
	}
	for _, tt := range tests {
		t.Run(tt.platform, func(t *testing.T) {
			ctx := ctxFor(t)
			h := harness.New(t)
			up(t, ctx, h.Stack(ctx, "dev", harness.Config(tt.platform)))
			v1 := h.Stack(ctx, "dev.v1", harness.Config(tt.platform))
			up(t, ctx, v1)

			if err := harness.SetConfig(ctx, v1, harness.Config(tt.platform, tt.change...)); err != nil {
				t.Fatal(err)
			}
			_, steps, err := harness.Preview(ctx, v1)
			if err != nil {
				t.Fatalf("preview: %v", err)
			}
			changes := steps.Changes()
			if len(changes) == 0 {
				t.Fatal("the engine planned no change")
			}
			replaced := map[string]int{}
			for _, s := range changes {
				switch s.Op {
				case "replace", "create-replacement", "delete-replaced":
					replaced[s.Type]++
				default:
					t.Errorf("planned %s; a version stack may only be replaced", s)
				}
			}
			for _, typ := range tt.want {
				if replaced[typ] == 0 {
					t.Errorf("no replacement of %s planned; plan:\n%s", typ, changes)
				}
			}
			// Create-before-delete: every replaced resource has its
			// create-replacement planned and no delete-before-replace.
			ops := changes.Ops()
			if ops["create-replacement"] == 0 || ops["create-replacement"] != ops["delete-replaced"] {
				t.Errorf("got %v, want paired create-replacement and delete-replaced steps", ops)
			}
		})
	}
}

// TestCutOverChangesOnlyThePointer moves live from v1 to v2 and checks that
// the engine changed exactly the traffic pointer: on AWS one update of the
// listener; on Docker one replacement of the config writer (the Docker
// provider cannot change a container in place; Caddy itself is untouched).
func TestCutOverChangesOnlyThePointer(t *testing.T) {
	t.Parallel()
	for _, platform := range platforms {
		t.Run(platform, func(t *testing.T) {
			ctx := ctxFor(t)
			h := harness.New(t)
			cfg := harness.Config(platform)
			env := h.Stack(ctx, "dev", cfg)
			up(t, ctx, env)
			up(t, ctx, h.Stack(ctx, "dev.v1", cfg))
			up(t, ctx, h.Stack(ctx, "dev.v2", cfg))

			// v1 live, v2 on the candidate route.
			if err := harness.SetConfig(ctx, env, harness.Config(platform, stacks.KeyLive, "v1", stacks.KeyCandidate, "v2")); err != nil {
				t.Fatal(err)
			}
			up(t, ctx, env)
			before := h.Cloud.Inventory()
			opsBefore := len(h.Cloud.Ops())

			// Cut-over: live := v2.
			if err := harness.SetConfig(ctx, env, harness.Config(platform, stacks.KeyLive, "v2", stacks.KeyCandidate, "v2")); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			res, steps := up(t, ctx, env)
			t.Logf("cut-over up on %s took %s", platform, time.Since(start).Round(time.Millisecond))

			changes := steps.Changes()
			summary := *res.Summary.ResourceChanges
			switch platform {
			case "aws":
				if len(changes) != 1 || changes[0].Op != "update" || changes[0].Type != pointerType[platform] {
					t.Fatalf("cut-over steps:\n%s\nwant exactly one update of the listener", changes)
				}
				if summary["update"] != 1 || summary["create"]+summary["delete"]+summary["replace"] != 0 {
					t.Errorf("engine summary %v, want exactly one update", summary)
				}
			case "docker":
				for _, s := range changes {
					if s.Type != pointerType[platform] || !strings.HasSuffix(s.Name, "-pointer") {
						t.Errorf("cut-over touched %s; only the pointer may change", s)
					}
				}
				if summary["replace"] != 1 || summary["update"]+summary["create"]+summary["delete"] != 0 {
					t.Errorf("engine summary %v, want exactly one replacement (of the pointer)", summary)
				}
			}

			// In the cloud: only the pointer changed.
			ops := h.Cloud.Ops()[opsBefore:]
			for _, op := range ops {
				if op.Type != pointerType[platform] {
					t.Errorf("the cloud saw %s of %s %s during the cut-over", op.Kind, op.Type, op.Name)
				}
			}
			// The Docker provider replaces a container delete-before-create,
			// as pulumi-docker marks it: the old writer goes first.
			if platform == "docker" {
				var kinds []string
				for _, op := range ops {
					kinds = append(kinds, op.Kind)
				}
				if got := strings.Join(kinds, ","); got != "delete,create" {
					t.Errorf("the pointer was replaced as %s, want delete,create", got)
				}
			}
			after := idsOf(h.Cloud.Inventory(), "")
			for _, r := range before {
				if r.Type == pointerType[platform] && (strings.HasSuffix(r.Name, "-pointer") || strings.HasSuffix(r.Name, "-listener")) {
					continue
				}
				now, ok := after[r.ID]
				if !ok || !now.Outputs.DeepEquals(r.Outputs) {
					t.Errorf("%s %s changed during the cut-over", r.Type, r.Name)
				}
			}

			// Rollback: live := v1, again only the pointer.
			if err := harness.SetConfig(ctx, env, harness.Config(platform, stacks.KeyLive, "v1", stacks.KeyCandidate, "v2")); err != nil {
				t.Fatal(err)
			}
			res, steps = up(t, ctx, env)
			for _, s := range steps.Changes() {
				if s.Type != pointerType[platform] {
					t.Errorf("rollback touched %s", s)
				}
			}
			if n := len(steps.Changes()); n == 0 {
				t.Error("rollback changed nothing")
			}
		})
	}
}

// TestRefreshSeesDrift changes and deletes resources behind the engine's
// back and checks that refresh notices both.
func TestRefreshSeesDrift(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	h := harness.New(t)
	env := h.Stack(ctx, "dev", harness.Config("aws"))
	up(t, ctx, env)

	// The env stack's reference to its own last outputs (which keep the
	// traffic on a plain up) reads new outputs after each update: that is
	// not drift, as the orchestrator's drift check knows too.
	_, steps, err := harness.Refresh(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if changes := steps.Changes(); len(changes) != 0 {
		t.Fatalf("refresh of an untouched stack reported:\n%s", changes)
	}

	repo := h.Cloud.Find("aws:ecr/repository:Repository", "")[0]
	if err := h.Cloud.Drift(repo.ID, "imageTagMutability", "MUTABLE"); err != nil {
		t.Fatal(err)
	}
	logs := h.Cloud.Find("aws:cloudwatch/logGroup:LogGroup", "")[0]
	if err := h.Cloud.Remove(logs.ID); err != nil {
		t.Fatal(err)
	}
	_, steps, err = harness.Refresh(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	got := steps.Changes().Ops()
	if got["update"] != 1 || got["delete"] != 1 {
		t.Errorf("refresh after drift reported %v, want 1 update (the repository) and 1 delete (the log group)", got)
	}
	// The next preview wants to put both back.
	_, steps, err = harness.Preview(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	ops := steps.Changes().Ops()
	if ops["update"] != 1 || ops["create"] != 1 {
		t.Errorf("preview after refresh planned %v, want the repository updated and the log group created", ops)
	}
}

// TestDestroyEmptiesTheCloud destroys versions first, then the env, and
// checks the simulated cloud is empty.
func TestDestroyEmptiesTheCloud(t *testing.T) {
	t.Parallel()
	for _, platform := range platforms {
		t.Run(platform, func(t *testing.T) {
			ctx := ctxFor(t)
			h := harness.New(t)
			cfg := harness.Config(platform)
			env := h.Stack(ctx, "dev", cfg)
			up(t, ctx, env)
			v1 := h.Stack(ctx, "dev.v1", cfg)
			up(t, ctx, v1)
			if err := harness.SetConfig(ctx, env, harness.Config(platform, stacks.KeyLive, "v1")); err != nil {
				t.Fatal(err)
			}
			up(t, ctx, env)
			if len(h.Cloud.Inventory()) == 0 {
				t.Fatal("nothing was created")
			}
			// The env goes last; first its pointer lets go of v1 (an
			// update without traffic keys would keep v1 live, and AWS
			// refuses to delete a target group a listener forwards to).
			if err := harness.SetConfig(ctx, env, harness.Config(platform, stacks.KeyLive, "")); err != nil {
				t.Fatal(err)
			}
			up(t, ctx, env)
			if _, _, err := harness.Destroy(ctx, v1); err != nil {
				t.Fatalf("destroy v1: %v", err)
			}
			if left := h.Cloud.Find("", ""); len(left) != 0 {
				t.Fatalf("Find with an empty type matched %d", len(left))
			}
			for _, r := range h.Cloud.Inventory() {
				if strings.Contains(r.Name, "v1") {
					t.Errorf("%s %s of v1 survived its destroy", r.Type, r.Name)
				}
			}
			if _, _, err := harness.Destroy(ctx, env); err != nil {
				t.Fatalf("destroy env: %v", err)
			}
			if inv := h.Cloud.Inventory(); len(inv) != 0 {
				for _, r := range inv {
					t.Errorf("left in the cloud: %s %s", r.Type, r.Name)
				}
			}
		})
	}
}

// TestFailedCreateLeavesAConsistentStack makes the cloud refuse one create
// and checks that the engine reports it, records what was created, and that
// the next up finishes the job without touching what already exists.
func TestFailedCreateLeavesAConsistentStack(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	h := harness.New(t)
	cfg := harness.Config("aws")
	up(t, ctx, h.Stack(ctx, "dev", cfg))
	v1 := h.Stack(ctx, "dev.v1", cfg)

	h.Cloud.Inject(simcloud.Fault{Kind: "create", Type: "aws:ecs/service:Service", Err: "simulated: service quota exceeded", Times: 1})
	_, _, err := harness.Up(ctx, v1)
	if err == nil || !strings.Contains(err.Error(), "service quota exceeded") {
		t.Fatalf("got %v, want the injected failure", err)
	}
	if len(h.Cloud.Find("aws:ecs/service:Service", "v1")) != 0 {
		t.Fatal("the failed service exists in the cloud")
	}
	created := idsOf(h.Cloud.Inventory(), "v1")
	if len(created) == 0 {
		t.Fatal("nothing of v1 was created before the failure")
	}

	res, steps := up(t, ctx, v1)
	if got := *res.Summary.ResourceChanges; got["create"] != 1 {
		t.Errorf("second up: %v, want exactly the service created; steps:\n%s", got, steps.Changes())
	}
	for id := range created {
		if _, ok := idsOf(h.Cloud.Inventory(), "v1")[id]; !ok {
			t.Errorf("%s was recreated or deleted by the second up", id)
		}
	}
}

// TestPlainUpOfTheEnvKeepsTraffic: after a cut-over, `pulumi up` of the env
// stack with the env's own config, which holds no traffic keys, changes
// nothing (the pointer above all) and leaves live where it was.
func TestPlainUpOfTheEnvKeepsTraffic(t *testing.T) {
	t.Parallel()
	for _, platform := range platforms {
		t.Run(platform, func(t *testing.T) {
			ctx := ctxFor(t)
			h := harness.New(t)
			env := h.Stack(ctx, "dev", harness.Config(platform))
			up(t, ctx, env)
			up(t, ctx, h.Stack(ctx, "dev.v1", harness.Config(platform)))
			if err := harness.SetConfig(ctx, env, harness.Config(platform, stacks.KeyLive, "v1", stacks.KeyCandidate, "v1")); err != nil {
				t.Fatal(err)
			}
			up(t, ctx, env)
			opsBefore := len(h.Cloud.Ops())

			// The user's own config: no traffic keys at all.
			if err := harness.SetConfig(ctx, env, harness.Config(platform)); err != nil {
				t.Fatal(err)
			}
			pre, err := env.Preview(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for op, n := range pre.ChangeSummary {
				if op != "same" && op != "read" && n > 0 {
					t.Errorf("preview of a plain up plans %d %s; want no change", n, op)
				}
			}
			_, steps := up(t, ctx, env)
			if changes := steps.Changes(); len(changes) != 0 {
				t.Errorf("a plain up changed:\n%s", changes)
			}
			if ops := h.Cloud.Ops()[opsBefore:]; len(ops) != 0 {
				t.Errorf("the cloud saw %d operations, the first %s of %s", len(ops), ops[0].Kind, ops[0].Name)
			}
			outs, err := env.Outputs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if live := outs[stacks.OutLive].Value; live != "v1" {
				t.Errorf("after a plain up live is %v, want v1", live)
			}
		})
	}
}

// TestExpectedTrafficIsCompareAndSwap: an env stack update that names the
// traffic it expects (phoenix:expectTraffic, which the CLI sets on every
// traffic write) fails before anything changes when the stack holds other
// traffic, and runs when it holds that traffic.
func TestExpectedTrafficIsCompareAndSwap(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	h := harness.New(t)
	env := h.Stack(ctx, "dev", harness.Config("docker"))
	up(t, ctx, env)
	up(t, ctx, h.Stack(ctx, "dev.v1", harness.Config("docker")))
	opsBefore := len(h.Cloud.Ops())

	stale := stacks.Traffic{Live: "v0"}.String()
	if err := harness.SetConfig(ctx, env, harness.Config("docker", stacks.KeyLive, "v1", stacks.KeyCandidate, "v1", stacks.KeyExpectTraffic, stale)); err != nil {
		t.Fatal(err)
	}
	_, _, err := harness.Up(ctx, env)
	if err == nil || !strings.Contains(err.Error(), stacks.TrafficChanged) || !strings.Contains(err.Error(), "traffic is live=- candidate=- weight=0, not live=v0 candidate=- weight=0") {
		t.Fatalf("up expecting traffic the stack does not hold: %v", err)
	}
	if ops := h.Cloud.Ops()[opsBefore:]; len(ops) != 0 {
		t.Errorf("the refused update made %d cloud operations, the first %s of %s", len(ops), ops[0].Kind, ops[0].Name)
	}
	if outs, err := env.Outputs(ctx); err != nil || outs[stacks.OutLive].Value != "" {
		t.Errorf("after the refused update live is %v (%v), want none", outs[stacks.OutLive].Value, err)
	}

	if err := harness.SetConfig(ctx, env, harness.Config("docker", stacks.KeyLive, "v1", stacks.KeyCandidate, "v1", stacks.KeyExpectTraffic, stacks.Traffic{}.String())); err != nil {
		t.Fatal(err)
	}
	up(t, ctx, env)
	if outs, err := env.Outputs(ctx); err != nil || outs[stacks.OutLive].Value != "v1" {
		t.Errorf("after the expected update live is %v (%v), want v1", outs[stacks.OutLive].Value, err)
	}
}

// TestAVersionIDCanBePushedAgain: the env's ECR repository has immutable
// tags and the image tag is the version. A version stack destroyed (a gc,
// or a failed deploy's cleanup) must have its tag deleted, or the same
// version id can never be deployed again: the push would be refused. The
// stack's Image never deletes what it pushed (so that no destroy needs the
// ECR token, which expires); phoenix's release does, with the aws
// platform's ECR call, here against the simulated cloud's ECR API. And a
// new up of an existing version (a resumed deploy) gets a new token: that
// is no change to its image.
func TestAVersionIDCanBePushedAgain(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	h := harness.New(t)
	cfg := harness.Config("aws")
	env := h.Stack(ctx, "dev", cfg)
	envRes, _ := up(t, ctx, env)
	repo := output(t, envRes, aws.OutRepositoryURL).(string)
	v1 := h.Stack(ctx, "dev.v1", cfg)
	up(t, ctx, v1)
	if got := h.Cloud.Tags(repo); len(got) != 1 || got[0] != "v1" {
		t.Fatalf("after the first up the repository holds tags %v, want [v1]", got)
	}
	if _, steps := up(t, ctx, v1); len(steps.Changes()) != 0 {
		t.Errorf("a second up with a new ECR token changed the version: %s", steps.Changes())
	}
	if _, _, err := harness.Destroy(ctx, v1); err != nil {
		t.Fatalf("destroy v1: %v", err)
	}
	if got := h.Cloud.Tags(repo); len(got) != 1 {
		t.Errorf("after destroying v1 the repository holds tags %v: the Image deletes nothing, phoenix's release does", got)
	}
	client := ecr.New(ecr.Options{Region: "eu-west-1", BaseEndpoint: awssdk.String(h.Env["AWS_ENDPOINT_URL_ECR"]), Credentials: awssdk.AnonymousCredentials{}})
	if err := aws.DeleteImage(ctx, client, repo, "v1"); err != nil {
		t.Fatalf("releasing v1: %v", err)
	}
	if got := h.Cloud.Tags(repo); len(got) != 0 {
		t.Errorf("after releasing v1 the repository still holds tags %v", got)
	}
	if _, _, err := harness.Up(ctx, v1); err != nil {
		t.Fatalf("deploying v1 again: %v", err)
	}
}

// TestSettingAndClearingTheCertificate turns HTTPS on and off on an env
// that serves a version. An ALB holds one listener per port (the simulated
// cloud refuses a second): the listeners must never both want port 80.
func TestSettingAndClearingTheCertificate(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	h := harness.New(t)
	plain := harness.Config("aws")
	env := h.Stack(ctx, "dev", plain)
	up(t, ctx, env)
	up(t, ctx, h.Stack(ctx, "dev.v1", plain))
	https := harness.Config("aws", aws.KeyCertificateARN, "arn:aws:acm:eu-west-1:123456789012:certificate/abc-123", aws.KeyHostname, "app.example.com")
	ports := func() map[string]string {
		out := map[string]string{}
		for _, l := range h.Cloud.Find("aws:lb/listener:Listener", "") {
			out[fmt.Sprint(l.Inputs["port"].V)] = l.Inputs["defaultActions"].ArrayValue()[0].ObjectValue()["type"].StringValue()
		}
		return out
	}
	for _, step := range []struct {
		name string
		cfg  map[string]string
		want map[string]string
	}{
		{"set", https, map[string]string{"80": "redirect", "443": "forward"}},
		{"cleared", plain, map[string]string{"80": "forward"}},
		{"set again", https, map[string]string{"80": "redirect", "443": "forward"}},
	} {
		cfg := map[string]string{stacks.KeyLive: "v1"}
		for k, v := range step.cfg {
			cfg[k] = v
		}
		if err := harness.SetConfig(ctx, env, cfg); err != nil {
			t.Fatal(err)
		}
		if _, _, err := harness.Up(ctx, env); err != nil {
			t.Fatalf("certificate %s: %v", step.name, err)
		}
		if got := ports(); fmt.Sprint(got) != fmt.Sprint(step.want) {
			t.Errorf("certificate %s: listeners by port %v, want %v", step.name, got, step.want)
		}
	}
}
