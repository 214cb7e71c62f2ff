// Package tests holds the engine tests: stacks.Program run by the real
// Pulumi engine (the CLI built by `make tools`) against the simulated cloud.
// They assert on the engine's own summaries and event streams, and on what
// exists in the simulated cloud.
package tests

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/phoenix-iac/phoenix/platforms/aws"
	"github.com/phoenix-iac/phoenix/platforms/docker"
	"github.com/phoenix-iac/phoenix/stacks"
	"github.com/phoenix-iac/phoenix/tests/harness"
	"github.com/phoenix-iac/phoenix/tests/simcloud"
)

var platforms = []string{"docker", "aws"}

// pointerType is the type of each platform's traffic pointer resource.
var pointerType = map[string]string{
	"docker": "docker:index/container:Container",
	"aws":    "aws:lb/listener:Listener",
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func up(t testing.TB, ctx context.Context, s auto.Stack) (auto.UpResult, harness.Steps) {
	t.Helper()
	res, steps, err := harness.Up(ctx, s)
	if err != nil {
		t.Fatalf("up %s: %v", s.Name(), err)
	}
	return res, steps
}

func output(t *testing.T, res auto.UpResult, key string) any {
	t.Helper()
	o, ok := res.Outputs[key]
	if !ok {
		t.Fatalf("stack has no output %q; outputs: %v", key, res.Outputs)
	}
	return o.Value
}

// idsOf returns the IDs of the inventory's resources whose names contain s.
func idsOf(inv []simcloud.Resource, s string) map[string]simcloud.Resource {
	out := map[string]simcloud.Resource{}
	for _, r := range inv {
		if strings.Contains(r.Name, s) {
			out[r.ID] = r
		}
	}
	return out
}

func TestEnvAndVersionStacks(t *testing.T) {
	t.Parallel()
	for _, platform := range platforms {
		t.Run(platform, func(t *testing.T) {
			ctx := ctxFor(t)
			h := harness.New(t)
			cfg := harness.Config(platform)

			env := h.Stack(ctx, "dev", cfg)
			res, _ := up(t, ctx, env)
			if got := (*res.Summary.ResourceChanges)["create"]; got < 4 {
				t.Fatalf("env stack up created %d resources: %v", got, *res.Summary.ResourceChanges)
			}
			if got := output(t, res, stacks.OutPlatform); got != platform {
				t.Errorf("got platform output %v, want %s", got, platform)
			}
			envInventory := h.Cloud.Inventory()

			v1 := h.Stack(ctx, "dev.v1", cfg)
			r1, steps1 := up(t, ctx, v1)
			for _, s := range steps1.Changes() {
				if s.Op != "create" {
					t.Errorf("first up of a version stack: %s, want only creates", s)
				}
			}
			afterV1 := h.Cloud.Inventory()
			if len(afterV1) <= len(envInventory) {
				t.Fatalf("version stack v1 created nothing in the cloud")
			}

			v2 := h.Stack(ctx, "dev.v2", cfg)
			_, steps2 := up(t, ctx, v2)
			for _, s := range steps2.Changes() {
				if s.Op != "create" || !strings.Contains(s.Name, "v2") {
					t.Errorf("second version's up: %s, want only creates of v2 resources", s)
				}
			}
			// Nothing of v1 (nor of the env) changed in the cloud.
			afterV2 := idsOf(h.Cloud.Inventory(), "")
			for _, r := range afterV1 {
				now, ok := afterV2[r.ID]
				if !ok {
					t.Errorf("%s %s (%s) disappeared when v2 was deployed", r.Type, r.Name, r.ID)
					continue
				}
				if !now.Outputs.DeepEquals(r.Outputs) {
					t.Errorf("%s %s changed when v2 was deployed", r.Type, r.Name)
				}
			}

			// The version stack read the env stack's outputs through its
			// StackReference, and the env stack reads the version's.
			switch platform {
			case "docker":
				network := output(t, res, docker.OutNetworkName).(string)
				for _, c := range h.Cloud.Find("docker:index/container:Container", "dev-v1-") {
					got := c.Inputs["networksAdvanced"].ArrayValue()[0].ObjectValue()["name"].StringValue()
					if got != network {
						t.Errorf("%s is on network %q, want the env's %q", c.Name, got, network)
					}
				}
			case "aws":
				for _, tg := range h.Cloud.Find("aws:lb/targetGroup:TargetGroup", "v1") {
					if got, want := tg.Inputs["vpcId"].StringValue(), output(t, res, aws.OutVPCID); got != want {
						t.Errorf("target group in VPC %q, want the env's %q", got, want)
					}
				}
			}

			// Point the env at v1: the env stack reads v1's outputs.
			harness.SetConfig(ctx, env, harness.Config(platform, stacks.KeyLive, "v1", stacks.KeyCandidate, "v1"))
			res, _ = up(t, ctx, env)
			switch platform {
			case "docker":
				ups := output(t, r1, docker.OutUpstreams).([]any)
				var table struct {
					Live struct {
						Version   string   `json:"version"`
						Upstreams []string `json:"upstreams"`
					} `json:"live"`
				}
				text := pointer(t, h, platform).Inputs["uploads"].ArrayValue()[0].ObjectValue()["content"].StringValue()
				if err := json.Unmarshal([]byte(text), &table); err != nil {
					t.Fatalf("the pointer's traffic table: %v\n%s", err, text)
				}
				for _, u := range ups {
					if table.Live.Version != "v1" || !slices.Contains(table.Live.Upstreams, u.(string)) {
						t.Errorf("the traffic table does not send live traffic to v1's upstream %s:\n%s", u, text)
					}
				}
			case "aws":
				tg := output(t, r1, aws.OutTargetGroupARN).(string)
				action := pointer(t, h, platform).Inputs["defaultActions"].ArrayValue()[0].ObjectValue()
				if got := action["targetGroupArn"].StringValue(); got != tg {
					t.Errorf("listener forwards to %q, want v1's target group %q", got, tg)
				}
			}
		})
	}
}

// pointer returns the traffic pointer resource in the cloud.
func pointer(t *testing.T, h *harness.Harness, platform string) simcloud.Resource {
	t.Helper()
	var found []simcloud.Resource
	for _, r := range h.Cloud.Find(pointerType[platform], "dev-") {
		if platform == "docker" && !strings.HasSuffix(r.Name, "-pointer") {
			continue
		}
		if platform == "aws" && !strings.HasSuffix(r.Name, "-listener") {
			continue
		}
		found = append(found, r)
	}
	if len(found) != 1 {
		t.Fatalf("found %d traffic pointers, want 1", len(found))
	}
	return found[0]
}

// TestHTTPSEnvIsReachedByItsHostname: with a certificate, the env's URL
// (which the health gate probes, verifying the certificate) is the
// configured hostname the certificate covers, not the load balancer's own
// name, which no certificate of the user's covers.
func TestHTTPSEnvIsReachedByItsHostname(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	h := harness.New(t)
	cfg := harness.Config("aws",
		aws.KeyCertificateARN, "arn:aws:acm:eu-west-1:123456789012:certificate/abc-123",
		aws.KeyHostname, "app.example.com")
	res, _ := up(t, ctx, h.Stack(ctx, "dev", cfg))
	if got := output(t, res, stacks.OutURL); got != "https://app.example.com" {
		t.Errorf("url = %v, want https://app.example.com", got)
	}
}
