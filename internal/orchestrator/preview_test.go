package orchestrator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-iac/phoenix/platforms/aws"
)

func TestViolations(t *testing.T) {
	tests := []struct {
		name string
		plan Plan
		want []string // rules
	}{
		{"new version creating", Plan{Stacks: []StackPlan{{Stack: "dev.v2", Kind: "version", Steps: []Step{{Op: "create", Type: "docker:index/container:Container", Name: "dev-v2-0"}}}}}, nil},
		{"existing version updated", Plan{Stacks: []StackPlan{{Stack: "dev.v1", Kind: "version", Exists: true, Steps: []Step{{Op: "update", Type: "aws:ecs/service:Service", Name: "dev-v1-service"}}}}}, []string{"immutable-version"}},
		{"incomplete version finished (a deploy of it under way, or killed)", Plan{Stacks: []StackPlan{{Stack: "dev.v2", Kind: "version", Exists: true, Incomplete: true, Steps: []Step{{Op: "create", Type: "docker:index/container:Container", Name: "dev-v2-0"}}}}}, nil},
		{"complete version created into", Plan{Stacks: []StackPlan{{Stack: "dev.v2", Kind: "version", Exists: true, Steps: []Step{{Op: "create", Type: "docker:index/container:Container", Name: "dev-v2-0"}}}}}, []string{"immutable-version"}},
		{"cut-over on aws", Plan{Stacks: []StackPlan{{Stack: "dev", Kind: "env", Exists: true, Steps: []Step{{Op: "update", Type: "aws:lb/listener:Listener", Name: "dev-listener", Pointer: true}}}}}, nil},
		{"docker pointer replaced", Plan{Stacks: []StackPlan{{Stack: "dev", Kind: "env", Exists: true, Steps: []Step{{Op: "replace", Type: "docker:index/container:Container", Name: "dev-pointer", Pointer: true}}}}}, nil},
		{"edge replaced", Plan{Stacks: []StackPlan{{Stack: "dev", Kind: "env", Exists: true, Steps: []Step{{Op: "replace", Type: "aws:ec2/vpc:Vpc", Name: "dev-vpc", Diffs: []string{"cidrBlock"}}}}}}, []string{"edge-replaced"}},
		{"edge deleted", Plan{Stacks: []StackPlan{{Stack: "dev", Kind: "env", Exists: true, Steps: []Step{{Op: "delete", Type: "aws:ecr/repository:Repository", Name: "dev-app"}}}}}, []string{"edge-deleted"}},
		{"long target group name", Plan{Stacks: []StackPlan{{Stack: "dev.v2", Kind: "version", Steps: []Step{{Op: "create", Type: "aws:lb/targetGroup:TargetGroup", Name: "dev-v2-tg",
			Inputs: map[string]any{"name": strings.Repeat("a", 33)}}}}}}, []string{"target-group-name"}},
		{"six target groups in a forward", Plan{Stacks: []StackPlan{{Stack: "dev", Kind: "env", Exists: true, Steps: []Step{{Op: "update", Type: "aws:lb/listener:Listener", Name: "dev-listener",
			Inputs: map[string]any{"defaultActions": []any{map[string]any{"forward": map[string]any{"targetGroups": []any{1, 2, 3, 4, 5, 6}}}}}}}}}}, []string{"forward-target-groups"}},
		{"explicit name kept across a replacement", Plan{Stacks: []StackPlan{{Stack: "dev.v1", Kind: "version", Steps: []Step{{Op: "replace", Type: "aws:lb/targetGroup:TargetGroup", Name: "dev-v1-tg",
			Inputs: map[string]any{"name": "dev-v1"}, old: map[string]any{"name": "dev-v1"}}}}}}, []string{"explicit-name-replaced"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, v := range violations(tt.plan, aws.Platform{}) {
				got = append(got, v.Rule)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got rules %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPlainSecrets(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), []byte("name: phoenix\nruntime: go\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "Pulumi.dev.yaml"), []byte(`config:
  phoenix:environment:
    DB_PASSWORD: hunter2
    API_TOKEN:
      secure: v1:abc
    LOG_LEVEL: debug
  phoenix:apiKey:
    secure: v1:def
`), 0o644)
	o := &Orchestrator{opts: Options{ProjectDir: dir}}
	vs := o.plainSecrets("dev")
	if len(vs) != 1 || !strings.Contains(vs[0].Message, "DB_PASSWORD") || strings.Contains(vs[0].Message, "hunter2") {
		t.Fatalf("got %+v, want one violation naming DB_PASSWORD without its value", vs)
	}
}
