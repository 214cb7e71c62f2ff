package tests

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/phoenix-iac/phoenix/internal/orchestrator"
	"github.com/phoenix-iac/phoenix/stacks"
	"github.com/phoenix-iac/phoenix/tests/harness"
	"github.com/phoenix-iac/phoenix/tests/simcloud"
	"github.com/phoenix-iac/phoenix/tests/testplatform"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// The one line that adds a platform.
func init() { stacks.Register(testplatform.Platform{}) }

// TestAThirdPlatform: a platform added in its own package and registered
// by one line above, with no other edit, is deployed by the engine: its env
// stack, a version stack, and a cut-over that changes the pointer only.
func TestAThirdPlatform(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	h := harness.New(t)
	cfg := harness.Config(string(testplatform.Name))
	env := h.Stack(ctx, "dev", cfg)
	up(t, ctx, env)
	v1 := h.Stack(ctx, "dev.v1", cfg)
	res, _ := up(t, ctx, v1)
	if got := res.Outputs[stacks.OutVersion].Value; got != "v1" {
		t.Errorf("version stack output %s = %v, want v1: the platform's version is complete", stacks.OutVersion, got)
	}
	if n := len(h.Cloud.Find("docker:index/container:Container", "dev-v1-")); n != 2 {
		t.Errorf("%d containers of dev.v1, want the 2 replicas", n)
	}

	if err := harness.SetConfig(ctx, env, harness.Config(string(testplatform.Name), stacks.KeyLive, "v1", stacks.KeyCandidate, "v1", stacks.KeyCandidateWeight, "0")); err != nil {
		t.Fatal(err)
	}
	ops := len(h.Cloud.Ops())
	res, _ = up(t, ctx, env)
	if got := res.Outputs[stacks.OutLive].Value; got != "v1" {
		t.Errorf("env output %s = %v after the cut-over, want v1", stacks.OutLive, got)
	}
	for _, op := range h.Cloud.Ops()[ops:] {
		if op.Name != "dev-pointer" {
			t.Errorf("the cut-over touched %s %s; only the pointer may change", op.Kind, op.Name)
		}
	}
	if len(h.Cloud.Ops()) == ops {
		t.Error("the cut-over changed nothing")
	}
	for _, c := range h.Cloud.Find("docker:index/container:Container", "dev-v1-") {
		got := map[string]string{}
		if l := c.Inputs["labels"]; l.IsArray() {
			for _, e := range l.ArrayValue() {
				got[e.ObjectValue()["label"].StringValue()] = e.ObjectValue()["value"].StringValue()
			}
		}
		// The platform's own label shape, through the stack transformation.
		if got[testplatform.LabelEnv] != "dev" || got[testplatform.LabelVersion] != "v1" || got[stacks.LabelEnv] != "" {
			t.Errorf("%s carries labels %v, want the plain platform's own (%s=dev, %s=v1)", c.Name, got, testplatform.LabelEnv, testplatform.LabelVersion)
		}
	}
}

// TestAThirdPlatformsInventory: phoenix gc --orphans on the plain platform
// finds what carries its labels through its own inventory: the container
// of its env that no stack holds, and not another owner's nor the
// stacks' own.
func TestAThirdPlatformsInventory(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	c := newCLIEnv(t)
	if err := os.WriteFile(filepath.Join(c.project, "Pulumi.dev.yaml"), []byte("config:\n  phoenix:platform: plain\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := harness.Config(string(testplatform.Name))
	up(t, ctx, c.h.Stack(ctx, "dev", cfg))
	up(t, ctx, c.h.Stack(ctx, "dev.v1", cfg))

	mine := stacks.Owner{Project: orchestrator.ProjectName, Backend: stacks.BackendID(c.h.Env["PULUMI_BACKEND_URL"], "organization")}
	plant := func(name string, owner stacks.Owner) simcloud.Resource {
		var labels []resource.PropertyValue
		for k, v := range map[string]string{testplatform.LabelEnv: "dev", testplatform.LabelVersion: "v9", testplatform.LabelOwner: owner.String()} {
			labels = append(labels, resource.NewObjectProperty(resource.PropertyMap{"label": resource.NewStringProperty(k), "value": resource.NewStringProperty(v)}))
		}
		r, err := c.h.Cloud.Plant("docker:index/container:Container", "dev-v9-0", resource.PropertyMap{
			"name": resource.NewStringProperty(name), "image": resource.NewStringProperty("busybox:1"), "labels": resource.NewArrayProperty(labels),
		})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	orphan := plant("dev-v9-0-5e1f", mine)
	plant("dev-v9-0-aa70", stacks.Owner{Project: orchestrator.ProjectName, Backend: "file:///elsewhere"})

	r := c.must("gc", "--env", "dev", "--orphans", "--dry-run")
	if !strings.Contains(r.out, "1 orphan(s); would remove") || !strings.Contains(r.out, "container dev-v9-0-5e1f ("+orphan.ID+") version v9") {
		t.Errorf("dry run on the plain platform: %s", r)
	}
	if !strings.Contains(r.errOut, "leaving alone 1 resource(s) labelled plain.env=dev that are not this env's") {
		t.Errorf("the plain platform's inventory does not name what it leaves alone: %s", r)
	}
	r = c.must("gc", "--env", "dev", "--orphans")
	if !strings.Contains(r.out, orphan.ID) || len(c.h.Cloud.Find("docker:index/container:Container", "dev-v9-0")) != 1 {
		t.Errorf("gc --orphans on the plain platform: %s", r)
	}
	if n := len(c.h.Cloud.Find("docker:index/container:Container", "dev-v1-")); n != 2 {
		t.Errorf("%d containers of dev.v1 after gc --orphans, want its 2 replicas kept", n)
	}
}

// TestAThirdPlatformTouchesNothingElse: what names the test platform is
// its package, its one registration (above) and its key's entry in
// Pulumi.yaml, which documents every key; nothing else in the repository
// (its documentation aside) had to change for it.
func TestAThirdPlatformTouchesNothingElse(t *testing.T) {
	root := harness.RepoRoot()
	names := []string{"testplatform", `"` + string(testplatform.Name) + `"`, testplatform.KeyImage, testplatform.OutNetwork, testplatform.OutAddresses,
		testplatform.LabelEnv, testplatform.LabelVersion, testplatform.LabelOwner}
	want := []string{"Pulumi.yaml", "tests/platform_test.go", "tests/testplatform/testplatform.go"}
	var got []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".md") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range names {
			if bytes.Contains(b, []byte(n)) {
				rel, _ := filepath.Rel(root, path)
				got = append(got, filepath.ToSlash(rel))
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("files that name the test platform: %v, want only %v", got, want)
	}
}
