package tests

import (
	"testing"

	"github.com/phoenix-iac/phoenix/stacks"
	"github.com/phoenix-iac/phoenix/tests/harness"
	"github.com/phoenix-iac/phoenix/tests/testplatform"
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
