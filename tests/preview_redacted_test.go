package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/phoenix-iac/phoenix/internal/cli"
	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

// pulumiConfig runs pulumi config in the project as its team would, with
// the passphrase.
func (c *cliEnv) pulumiConfig(args ...string) {
	c.t.Helper()
	_, stderr, _, err := c.h.Pulumi.Run(context.Background(), c.project, nil, nil, nil, envList(c.h.Env),
		append([]string{"config", "--stack", "dev"}, args...)...)
	if err != nil {
		c.t.Fatalf("pulumi config %s: %v: %s", strings.Join(args, " "), err, stderr)
	}
}

// previewPlan runs phoenix preview --json and returns its exit code and plan.
func (c *cliEnv) previewPlan(args ...string) (result, orchestrator.Plan) {
	c.t.Helper()
	r := c.run(append([]string{"preview", "--env", "dev", "--format", "json"}, args...)...)
	var p orchestrator.Plan
	if err := json.Unmarshal([]byte(r.out), &p); err != nil {
		c.t.Fatalf("preview %s: %v\n%s", strings.Join(args, " "), err, r)
	}
	return r, p
}

// stackPlan returns the plan of stack in p.
func stackPlan(t *testing.T, p orchestrator.Plan, stack string) orchestrator.StackPlan {
	t.Helper()
	for _, sp := range p.Stacks {
		if sp.Stack == stack {
			return sp
		}
	}
	t.Fatalf("the plan has no stack %s: %+v", stack, p.Stacks)
	return orchestrator.StackPlan{}
}

// TestCLIPreviewWithoutThePassphrase: a pull request's preview holds no
// passphrase (preview.yml). Without one, on an env whose config and
// state hold secrets (a secure config value, the route key), preview
// plans on redacted copies: an unchanged version and edge show no
// violation (the resources that hold secrets, the version's containers
// with their secret environment and the route key's writer, are "not
// compared"; the load balancer, whose Caddy config names the key's file
// but holds no key, compares), while a change of plain inputs is still
// found and a new version still plans. No secret reaches the output, and
// nothing is written to the backend or the project.
func TestCLIPreviewWithoutThePassphrase(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	c.pulumiConfig("set", "--secret", "--path", "phoenix:environment.DB_PASSWORD", "hunter2")
	c.deploy("v2")
	key := c.routeKey()

	withPass, planWithPass := c.previewPlan("--version", "v2")
	if withPass.code != 0 || planWithPass.Redacted {
		t.Fatalf("preview with the passphrase: %s", withPass)
	}

	c.noPassphrase = true
	state := strings.TrimPrefix(c.h.Env["PULUMI_BACKEND_URL"], "file://")
	backendBefore, projectBefore := filesIn(t, state), filesIn(t, c.project)
	secretFree := func(r result) {
		t.Helper()
		for _, s := range []string{"hunter2", key} {
			if strings.Contains(r.out+r.errOut, s) {
				t.Errorf("the preview printed a secret (%q):\n%s", s, r)
			}
		}
	}

	// The live version, unchanged: no violation, no change of the edge.
	r, p := c.previewPlan("--version", "v2")
	secretFree(r)
	if r.code != 0 || !p.Redacted || len(p.Violations) != 0 {
		t.Fatalf("preview of the unchanged live version without the passphrase: %s\nwant exit 0, redacted, no violations", r)
	}
	for _, s := range stackPlan(t, p, "dev.v2").Steps {
		if !s.Uncompared {
			t.Errorf("the unchanged version stack: %s %s %s (%v) is a change of plain inputs", s.Op, s.Type, s.Name, s.Diffs)
		}
	}
	var writer bool
	for _, s := range stackPlan(t, p, "dev").Steps {
		switch {
		case s.Name == "dev-routekey" && s.Uncompared:
			writer = true
		case s.Name == "dev-lb" || !s.Pointer:
			t.Errorf("the unchanged env stack plans %s %s %v (not compared: %v); want only the route key's writer, not compared", s.Op, s.Name, s.Diffs, s.Uncompared)
		}
	}
	if !writer {
		t.Errorf("the env stack's plan does not list the route key's writer as not compared: %s", stepsOf(p))
	}
	text := c.run("preview", "--env", "dev", "--version", "v2", "--format", "markdown")
	secretFree(text)
	if text.code != 0 || !strings.Contains(text.out, "Secrets were not decrypted") {
		t.Errorf("the markdown report does not say the secrets were not decrypted: %s", text)
	}

	// A new version: creates, and the cut-over.
	r, p = c.previewPlan("--version", "v3")
	secretFree(r)
	if r.code != 0 {
		t.Fatalf("preview of a new version without the passphrase: %s", r)
	}
	if v := stackPlan(t, p, "dev.v3"); r.code != 0 || v.Exists || v.Counts["create"] < 3 || len(p.Violations) != 0 {
		t.Errorf("preview of a new version without the passphrase: %s", r)
	}

	if diff := changedFiles(backendBefore, filesIn(t, state)); diff != "" {
		t.Errorf("preview without the passphrase wrote to the backend:\n%s", diff)
	}
	if diff := changedFiles(projectBefore, filesIn(t, c.project)); diff != "" {
		t.Errorf("preview without the passphrase wrote to the project directory:\n%s", diff)
	}

	// A change of plain inputs of the edge and of the version is found.
	c.pulumiConfig("set", "phoenix:healthCheckPath", "/ready")
	c.pulumiConfig("set", "phoenix:replicas", "3")
	r, p = c.previewPlan("--version", "v2")
	secretFree(r)
	rules := map[string]bool{}
	for _, v := range p.Violations {
		rules[v.Rule] = true
	}
	if r.code != cli.ExitViolations || !rules["edge-replaced"] || !rules["immutable-version"] {
		t.Errorf("preview of a changed health check path without the passphrase: exit %d, violations %v, steps %s\nwant exit %d with edge-replaced and immutable-version", r.code, rules, stepsOf(p), cli.ExitViolations)
	}

	// --no-decrypt with the passphrase at hand plans the same way.
	c.noPassphrase = false
	if r, p := c.previewPlan("--version", "v2", "--no-decrypt"); !p.Redacted || r.code != cli.ExitViolations {
		t.Errorf("preview --no-decrypt: exit %d, redacted %v, steps %s\nwant a redacted plan with the same violations", r.code, p.Redacted, stepsOf(p))
	}
}

// stepsOf lists a plan's steps, one line each.
func stepsOf(p orchestrator.Plan) string {
	var b strings.Builder
	for _, sp := range p.Stacks {
		for _, s := range sp.Steps {
			fmt.Fprintf(&b, "\n  %s: %s %s %s %v uncompared=%v", sp.Stack, s.Op, s.Type, s.Name, s.Diffs, s.Uncompared)
		}
	}
	return b.String()
}

// TestCLIPreviewWithoutThePassphraseOnAWS: on aws, whose listener rules
// hold the route key and whose version stacks hold image credentials as
// secrets, a preview without the passphrase of the unchanged live
// version finds no violation and of a new version plans its creates.
func TestCLIPreviewWithoutThePassphraseOnAWS(t *testing.T) {
	t.Parallel()
	c := newAWSCLIEnv(t)
	c.deploy("v1")
	c.deploy("v2")
	c.noPassphrase = true
	r, p := c.previewPlan("--version", "v2")
	if r.code != 0 || !p.Redacted || len(p.Violations) != 0 {
		t.Errorf("preview of the unchanged live version on aws without the passphrase: exit %d, violations %+v, steps %s", r.code, p.Violations, stepsOf(p))
	}
	for _, s := range stackPlan(t, p, "dev").Steps {
		if !s.Pointer {
			t.Errorf("the unchanged env stack plans a change of its edge: %s %s %s %v", s.Op, s.Type, s.Name, s.Diffs)
		}
	}
	r, p = c.previewPlan("--version", "v3")
	if v := stackPlan(t, p, "dev.v3"); r.code != 0 || v.Counts["create"] < 3 || len(p.Violations) != 0 {
		t.Errorf("preview of a new version on aws without the passphrase: exit %d, violations %+v, steps %s", r.code, p.Violations, stepsOf(p))
	}
}
