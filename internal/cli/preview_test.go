package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

func cleanPlan() orchestrator.Plan {
	return orchestrator.Plan{
		Env: "dev", Version: "3f9a1c2e", From: "8b1e0d4a", To: "3f9a1c2e", Violations: []orchestrator.Violation{},
		Stacks: []orchestrator.StackPlan{
			{Stack: "dev.3f9a1c2e", Kind: "version", Counts: map[string]int{"create": 3}, Steps: []orchestrator.Step{
				{Op: "create", Type: "docker:index/image:Image", Name: "dev-3f9a1c2e-image", Inputs: map[string]any{
					"imageName": "phoenix-dev:3f9a1c2e", "registry": map[string]any{"password": "hunter2", "username": "AWS"}}},
				{Op: "create", Type: "docker:index/container:Container", Name: "dev-3f9a1c2e-0", Inputs: map[string]any{"restart": "unless-stopped"}},
				{Op: "create", Type: "docker:index/container:Container", Name: "dev-3f9a1c2e-1", Inputs: map[string]any{"restart": "unless-stopped"}},
			}},
			{Stack: "dev", Kind: "env", Exists: true, Counts: map[string]int{"same": 4}, Steps: []orchestrator.Step{}},
		},
	}
}

func violatingPlan() orchestrator.Plan {
	p := cleanPlan()
	p.Stacks[0].Exists = true
	p.Stacks[0].Counts = map[string]int{"update": 1, "same": 2}
	p.Stacks[0].Steps = []orchestrator.Step{{Op: "update", Type: "docker:index/container:Container", Name: "dev-3f9a1c2e-0", Diffs: []string{"restart"}}}
	p.Violations = []orchestrator.Violation{
		{Rule: "plain-secret", Stack: "dev", Message: "phoenix:environment.DB_PASSWORD in Pulumi.dev.yaml looks like a secret but is plain text"},
		{Rule: "immutable-version", Stack: "dev.3f9a1c2e", Resource: "docker:index/container:Container dev-3f9a1c2e-0", Message: "update of a resource of the existing version stack dev.3f9a1c2e"},
	}
	return p
}

// redactedPlan is a plan made without the passphrase: the existing
// version's secret environment cannot be compared.
func redactedPlan() orchestrator.Plan {
	p := cleanPlan()
	p.Redacted = true
	p.From = p.To
	p.Stacks[0].Exists = true
	p.Stacks[0].Counts = map[string]int{"uncompared": 1, "same": 2}
	p.Stacks[0].Steps = []orchestrator.Step{{Op: "same", Type: "docker:index/container:Container", Name: "dev-3f9a1c2e-0", Uncompared: true}}
	return p
}

// firstPlan is the first deploy of an env: nothing is live yet, and
// neither stack is planned before the env exists.
func firstPlan() orchestrator.Plan {
	p := cleanPlan()
	p.From = ""
	p.Stacks[0].Counts, p.Stacks[0].Steps = map[string]int{}, []orchestrator.Step{}
	p.Stacks[0].Unplanned = "env dev has not been deployed: a version stack reads its env stack's outputs, so it is planned once the env exists (the first deploy creates both)"
	p.Stacks[1] = orchestrator.StackPlan{Stack: "dev", Kind: "env", Counts: map[string]int{}, Steps: []orchestrator.Step{},
		Unplanned: "env dev has not been deployed: the first deploy creates its stack (network and load balancer)"}
	return p
}

// canaryPlan is a deploy while a canary of another version is under way.
func canaryPlan() orchestrator.Plan {
	p := cleanPlan()
	p.Candidate, p.CandidateWeight = "c0c0c0c0", 10
	p.Stacks[1].Counts = map[string]int{"update": 1, "same": 3}
	return p
}

// rollbackPlan sends traffic back to a warm version: nothing is built.
func rollbackPlan() orchestrator.Plan {
	p := cleanPlan()
	p.Version, p.To = "77c0e1f2", "77c0e1f2"
	p.Stacks[0] = orchestrator.StackPlan{Stack: "dev.77c0e1f2", Kind: "version", Exists: true, Counts: map[string]int{"same": 3}, Steps: []orchestrator.Step{}}
	p.Stacks[1].Counts = map[string]int{"update": 1, "same": 3}
	return p
}

func TestPreviewGolden(t *testing.T) {
	for name, p := range map[string]orchestrator.Plan{"clean": cleanPlan(), "violations": violatingPlan(), "redacted": redactedPlan(),
		"first": firstPlan(), "canary": canaryPlan(), "rollback": rollbackPlan()} {
		for _, format := range []string{"markdown", "json", "text"} {
			t.Run(name+"/"+format, func(t *testing.T) {
				var b bytes.Buffer
				if err := RenderPlan(&b, p, format); err != nil {
					t.Fatal(err)
				}
				ext := map[string]string{"markdown": "md", "json": "json", "text": "txt"}[format]
				path := filepath.Join("testdata", "preview", name+"."+ext)
				if *update {
					os.MkdirAll(filepath.Dir(path), 0o755)
					os.WriteFile(path, b.Bytes(), 0o644)
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (go test -update creates it)", err)
				}
				if b.String() != string(want) {
					t.Errorf("%s differs from %s (go test -update rewrites it):\n%s", format, path, b.String())
				}
				if strings.Contains(b.String(), "hunter2") {
					t.Errorf("%s shows a secret in plain text", format)
				}
			})
		}
	}
}

func TestMarkdownViolationsComeFirst(t *testing.T) {
	md := Markdown(violatingPlan())
	v, table := strings.Index(md, "#### Violations"), strings.Index(md, "#### `dev.3f9a1c2e`")
	if v < 0 || table < 0 || v > table {
		t.Errorf("violations are not before the stack tables:\n%s", md)
	}
	if !strings.Contains(md, "❌ 2 violation(s)") {
		t.Errorf("summary does not count the violations:\n%s", md)
	}
}

func TestMarkdownIsCutToTheCommentLimit(t *testing.T) {
	p := cleanPlan()
	big := strings.Repeat("x", 2000)
	for i := range 200 {
		p.Stacks[0].Steps = append(p.Stacks[0].Steps, orchestrator.Step{
			Op: "create", Type: "aws:ec2/securityGroup:SecurityGroup", Name: fmt.Sprintf("dev-3f9a1c2e-sg-%d", i),
			Inputs: map[string]any{"description": big},
		})
	}
	md := Markdown(p)
	if len(md) > MaxMarkdown {
		t.Errorf("markdown is %d characters, over the limit of %d", len(md), MaxMarkdown)
	}
	if !strings.Contains(md, "Cut to fit a comment") || !strings.Contains(md, "more resource details omitted") {
		t.Errorf("a cut report does not say so")
	}
	if !strings.Contains(md, "#### `dev.3f9a1c2e`") || !strings.Contains(md, "✅ no violations") {
		t.Errorf("the cut dropped the summary or tables")
	}
}
