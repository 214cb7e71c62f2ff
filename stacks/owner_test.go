package stacks_test

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-iac/phoenix/platforms/docker"
	"github.com/phoenix-iac/phoenix/stacks"
)

func TestBackendID(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, org, want string }{
		{in: "file:///srv/state/", want: "file:///srv/state"},
		{in: "file://localhost/srv/state", want: "file:///srv/state"},
		{in: "file://~/.pulumi-state", want: "file://" + filepath.Join(home, ".pulumi-state")},
		// How to reach a bucket varies between machines; which bucket does not.
		{in: "s3://team-state?region=eu-west-1&endpoint=127.0.0.1:9000&disableSSL=true", want: "s3://team-state"},
		{in: "s3://team-state/phoenix/?region=eu-west-1", want: "s3://team-state/phoenix"},
		{in: "gs://team-state/phoenix", want: "gs://team-state/phoenix"},
		{in: "azblob://state?storage_account=acme", want: "azblob://state"},
		{in: "https://user:secret@api.pulumi.com", org: "acme", want: "https://api.pulumi.com/acme"},
		{in: "", org: "acme", want: "https://api.pulumi.com/acme"},
	} {
		if got := stacks.BackendID(tc.in, tc.org); got != tc.want {
			t.Errorf("BackendID(%q, %q) = %q, want %q", tc.in, tc.org, got, tc.want)
		}
	}
}

func TestOwnerOwns(t *testing.T) {
	a := stacks.Owner{Project: "phoenix", Backend: "s3://team-a"}
	b := stacks.Owner{Project: "phoenix", Backend: "s3://team-b"}
	labelled := func(o stacks.Owner) map[string]string {
		l := map[string]string{stacks.LabelEnv: "dev"}
		maps.Copy(l, o.Labels())
		return l
	}
	if !a.Owns(labelled(a)) {
		t.Error("an owner does not own its own resources")
	}
	if a.Owns(labelled(b)) || b.Owns(labelled(a)) {
		t.Error("an owner owns another backend's resources")
	}
	if a.Owns(labelled(stacks.Owner{})) {
		t.Error("an owner owns unlabelled resources, which an env created before owner labels holds")
	}
	if !(stacks.Owner{}).Owns(labelled(stacks.Owner{})) || (stacks.Owner{}).Owns(labelled(a)) {
		t.Error("the zero owner (an env created before owner labels) must own exactly the unlabelled resources")
	}
}

// TestOwnerLabels: every Docker resource carries its env's owner, decided
// once, when the env stack is first created, and kept from then on, so that
// no later update (by phoenix or by hand, with the backend spelled another
// way) changes a label, which would replace the resource.
func TestOwnerLabels(t *testing.T) {
	docker := map[string]string{stacks.KeyPlatform: "docker"}
	recorded := map[string]any{"project": "phoenix", "backend": "s3://team-state"}
	for _, tc := range []struct {
		name  string
		stack string
		env   map[string]any
		want  stacks.Owner
	}{
		{name: "a new env is this project's and backend's", stack: "dev", env: map[string]any{},
			want: stacks.Owner{Project: "phoenix", Backend: "s3://team-state/phoenix"}},
		{name: "an env keeps the owner it recorded", stack: "dev", env: withOwner(recorded),
			want: stacks.Owner{Project: "phoenix", Backend: "s3://team-state"}},
		{name: "an env created before owner labels stays unlabelled", stack: "dev", env: dockerEnv(nil)},
		{name: "a version is its env's", stack: "dev." + testVersion, env: withOwner(recorded),
			want: stacks.Owner{Project: "phoenix", Backend: "s3://team-state"}},
		{name: "a version of an env without owner is unlabelled", stack: "dev." + testVersion, env: dockerEnv(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PULUMI_BACKEND_URL", "s3://team-state/phoenix?region=eu-west-1")
			c := fixture{stack: tc.stack, config: docker, env: tc.env}.mustRun(t)
			n := 0
			for _, r := range c.custom() {
				if !strings.HasPrefix(r.Type, "docker:") || stacks.Untaggable(r.Type) {
					continue
				}
				n++
				got := stacks.Owner{Project: dockerLabel(r.Inputs, stacks.LabelProject), Backend: dockerLabel(r.Inputs, stacks.LabelBackend)}
				if got != tc.want {
					t.Errorf("%s %s: owner labels %+v, want %+v", r.Type, r.Name, got, tc.want)
				}
			}
			if n == 0 {
				t.Fatal("no labelled Docker resource registered")
			}
		})
	}
}

func dockerEnv(extra map[string]any) map[string]any {
	m := map[string]any{stacks.OutPlatform: "docker", docker.OutNetworkName: "dev-net-1234567"}
	maps.Copy(m, extra)
	return m
}

func withOwner(o map[string]any) map[string]any {
	return dockerEnv(map[string]any{stacks.OutOwner: o})
}

// TestOwnerTags: on AWS the owner is two tags, as on Docker two labels; a
// backend's folder with characters AWS refuses in a tag value, or longer
// than its 256, is written so that AWS takes it, and owns the same
// resources on every side.
func TestOwnerTags(t *testing.T) {
	a := stacks.Owner{Project: "phoenix", Backend: "s3://team-a/phoenix"}
	b := stacks.Owner{Project: "phoenix", Backend: "s3://team-b/phoenix"}
	if got := a.Tags(); got[stacks.TagProject] != "phoenix" || got[stacks.TagBackend] != "s3://team-a/phoenix" {
		t.Errorf("got %v", got)
	}
	tagged := func(o stacks.Owner) map[string]string {
		m := map[string]string{stacks.TagEnv: "prod"}
		maps.Copy(m, o.Tags())
		return m
	}
	if !a.OwnsTags(tagged(a)) || a.OwnsTags(tagged(b)) || a.OwnsTags(tagged(stacks.Owner{})) {
		t.Error("an owner must own exactly the resources tagged with it")
	}
	if !(stacks.Owner{}).OwnsTags(tagged(stacks.Owner{})) || (stacks.Owner{}).OwnsTags(tagged(a)) {
		t.Error("the zero owner must own exactly the resources without owner tags")
	}
	odd := stacks.Owner{Project: "p", Backend: "file:///home/ann/state#1,(x)" + strings.Repeat("/a", 200)}
	v := odd.Tags()[stacks.TagBackend]
	if len(v) != 256 || strings.ContainsAny(v, "#,()") || !strings.HasPrefix(v, "file:///home/ann/state_1__x_/a") {
		t.Errorf("tag value %q (%d characters) is not one AWS takes", v, len(v))
	}
	if !odd.OwnsTags(tagged(odd)) {
		t.Error("an owner whose backend needs rewriting does not own its own resources")
	}
}

// TestOwnerTagsOnAWSResources: every AWS resource of an env on aws, its
// env stack's and its versions', carries the env's owner as tags, which
// phoenix gc --orphans tells an env's resources from another's by.
func TestOwnerTagsOnAWSResources(t *testing.T) {
	cfg := map[string]string{stacks.KeyPlatform: "aws", "aws:region": "eu-west-1"}
	recorded := map[string]any{"project": "phoenix", "backend": "s3://team-state"}
	versionEnv := awsEnvOutputs()
	versionEnv[stacks.OutOwner] = recorded
	for _, tc := range []struct {
		name, stack string
		env         map[string]any
		want        stacks.Owner
	}{
		{name: "a new env", stack: "dev", env: map[string]any{}, want: stacks.Owner{Project: "phoenix", Backend: "s3://team-state/phoenix"}},
		{name: "a version", stack: "dev." + testVersion, env: versionEnv, want: stacks.Owner{Project: "phoenix", Backend: "s3://team-state"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PULUMI_BACKEND_URL", "s3://team-state/phoenix?region=eu-west-1")
			c := fixture{stack: tc.stack, config: cfg, env: tc.env}.mustRun(t)
			n := 0
			for _, r := range c.custom() {
				if !strings.HasPrefix(r.Type, "aws:") || stacks.Untaggable(r.Type) {
					continue
				}
				n++
				tags := map[string]string{}
				if v := r.Inputs["tags"]; v.IsObject() {
					for k, x := range v.ObjectValue() {
						tags[string(k)] = x.StringValue()
					}
				}
				if !tc.want.OwnsTags(tags) {
					t.Errorf("%s %s: tags %v, want the owner %+v's", r.Type, r.Name, tags, tc.want)
				}
			}
			if n == 0 {
				t.Fatal("no tagged AWS resource registered")
			}
		})
	}
}
