package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-iac/phoenix/internal/orchestrator"
	"github.com/phoenix-iac/phoenix/platforms/aws"
)

const (
	typeRemoteImage = "docker:index/remoteImage:RemoteImage"
	typeContainer   = "docker:index/container:Container"
)

// TestCLIPromote: staging's live version is promoted to prod on the docker
// platform. Prod's new version runs staging's image by id, nothing is
// built, it records where it came from, and a re-run finds it live. Bad
// promotions are refused before anything changes.
func TestCLIPromote(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.copyProgram()
	c.addEnv("staging")
	c.addEnv("prod")
	gate := []string{"--gate-count", "3", "--gate-timeout", "5s"}
	c.must(append([]string{"deploy", "--env", "staging"}, gate...)...)
	staging := c.statusOf("staging")
	if len(staging.Versions) != 1 || staging.Versions[0].Program == "" || staging.Versions[0].Artifact == "" {
		t.Fatalf("staging's versions %+v: want one, with its program hash and artifact id", staging.Versions)
	}
	src := staging.Versions[0]
	built := c.h.Cloud.Find(typeRemoteImage, "staging-"+src.Version)
	if len(built) != 1 {
		t.Fatalf("staging.%s built %d images, want 1", src.Version, len(built))
	}
	imageID := built[0].Outputs["imageId"].StringValue()

	ops := len(c.h.Cloud.Ops())
	r := c.must(append([]string{"promote", "--from", "staging", "--to", "prod", "--json"}, gate...)...)
	var res orchestrator.PromoteResult
	if err := json.Unmarshal([]byte(r.out), &res); err != nil {
		t.Fatalf("promote --json: %v\n%s", err, r)
	}
	if res.From != "staging."+src.Version || res.Image != imageID || res.Version == src.Version || res.Env != "prod" || !res.Created || res.Artifact != src.Artifact {
		t.Errorf("promote: %+v; want staging.%s's image %s as a new version of prod with artifact %s", res, src.Version, imageID, src.Artifact)
	}
	var steps []string
	for _, s := range res.Timings {
		steps = append(steps, s.Step)
	}
	if got := strings.Join(steps, ","); got != "source,artifact,preflight,lock,env,copy,version,candidate,canary,promote,bake,gc" {
		t.Errorf("promote's timings: %s", got)
	}
	var created []string
	for _, op := range c.h.Cloud.Ops()[ops:] {
		if op.Kind == "create" {
			created = append(created, op.Type)
		}
		// The env's load balancer image is prod's own (its env stack is
		// made by this first promotion); the app's image is staging's.
		if op.Type == typeRemoteImage && op.Name != "prod-lb" {
			t.Errorf("the promotion built or pulled an app image: %+v", op)
		}
	}
	containers := c.h.Cloud.Find(typeContainer, "prod-"+res.Version)
	if len(containers) != 2 {
		t.Fatalf("prod.%s has %d containers, want 2 (created: %v)", res.Version, len(containers), created)
	}
	for _, ct := range containers {
		if got := ct.Inputs["image"].StringValue(); got != imageID {
			t.Errorf("container %s runs %s, want staging's image %s", ct.Name, got, imageID)
		}
	}
	prod := c.statusOf("prod")
	if prod.Live != res.Version || len(prod.Versions) != 1 {
		t.Fatalf("prod: live %s, versions %+v; want %s alone", prod.Live, prod.Versions, res.Version)
	}
	if v := prod.Versions[0]; v.PromotedFrom != res.From || v.Artifact != src.Artifact || v.Program != src.Program || v.Image != imageID {
		t.Errorf("prod's version %+v: want it promoted from %s, artifact %s, program %s, image %s", v, res.From, src.Artifact, src.Program, imageID)
	}
	if out := c.must("status", "--env", "prod").out; !strings.Contains(out, "staging."+src.Version) {
		t.Errorf("status of prod does not say where its version came from:\n%s", out)
	}

	// Side by side: one artifact, one program.
	var envs orchestrator.EnvsResult
	if r := c.must("envs", "--json"); json.Unmarshal([]byte(r.out), &envs) != nil || len(envs.Envs) != 2 || !envs.SameArtifact || !envs.SameProgram {
		t.Errorf("envs --json: %+v, want staging and prod with one artifact and one program\n%s", envs, r)
	}

	// The same promotion again: the same version id, live already.
	ops = len(c.h.Cloud.Ops())
	r = c.must(append([]string{"promote", "--from", "staging", "--to", "prod", "--json"}, gate...)...)
	var again orchestrator.PromoteResult
	if err := json.Unmarshal([]byte(r.out), &again); err != nil || again.Version != res.Version || !again.NoOp {
		t.Errorf("promote again: %+v (%v), want %s found live", again, err, res.Version)
	}
	if n := len(c.h.Cloud.Ops()) - ops; n != 0 {
		t.Errorf("promoting what is live changed the cloud %d times", n)
	}

	// Deployed again by its id, the promoted version is the one it was:
	// found live, not rebuilt nor refused as changed.
	ops = len(c.h.Cloud.Ops())
	if r := c.run(append([]string{"deploy", "--env", "prod", "--version", res.Version}, gate...)...); r.code != 0 || !strings.Contains(r.out, "already live") || len(c.h.Cloud.Ops()) != ops {
		t.Errorf("deploy --version %s of the promoted version: want it found live, nothing changed\n%s", res.Version, r)
	}

	// Previewed by its id, it plans no change (with and without the
	// secrets' passphrase).
	for _, flags := range [][]string{nil, {"--no-decrypt"}} {
		if r := c.run(append([]string{"preview", "--env", "prod", "--version", res.Version, "--format", "json"}, flags...)...); r.code != 0 || strings.Contains(r.out, `"rule"`) {
			t.Errorf("preview %v of the promoted version: want no violation\n%s", flags, r)
		}
	}

	// Refused, before anything changes.
	refuse := func(code int, want string, args ...string) {
		t.Helper()
		ops := len(c.h.Cloud.Ops())
		r := c.run(append(append([]string{"promote"}, args...), gate...)...)
		if r.code != code || !strings.Contains(r.errOut, want) {
			t.Errorf("promote %v: want exit %d saying %q\n%s", args, code, want, r)
		}
		if n := len(c.h.Cloud.Ops()) - ops; n != 0 {
			t.Errorf("promote %v: refused, but changed the cloud %d times", args, n)
		}
	}
	refuse(6, "env nope has not been deployed", "--from", "nope", "--to", "prod")
	// An env whose first deploy failed: its env stack exists, nothing is live.
	c.addEnv("empty").breakVersion("bad1")
	if r := c.run(append([]string{"deploy", "--env", "empty", "--version", "bad1"}, gate...)...); r.code != 3 {
		t.Fatalf("deploying a broken first version: want exit 3\n%s", r)
	}
	refuse(6, "env empty has nothing live", "--from", "empty", "--to", "prod")
	refuse(6, "version stack staging.deadbeef does not exist", "--from", "staging", "--to", "prod", "--version", "deadbeef")
	refuse(2, "--from and --to are both prod", "--from", "prod", "--to", "prod")
	cfg := []string{"config:", "  phoenix:platform: aws"}
	for k, v := range (aws.Platform{}).Example() {
		cfg = append(cfg, "  "+k+": "+v)
	}
	if err := os.WriteFile(filepath.Join(c.project, "Pulumi.cloud.yaml"), []byte(strings.Join(cfg, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	refuse(1, "env staging runs on docker and env cloud on aws", "--from", "staging", "--to", "cloud")
	// Another program: not the definition staging's version was deployed with.
	program := filepath.Join(c.project, "stacks", "program.go")
	b, err := os.ReadFile(program)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(program, append(b, []byte("\n// changed\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	refuse(1, "is not the one version staging."+src.Version+" was deployed with", "--from", "staging", "--to", "prod")
	if err := os.WriteFile(program, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
