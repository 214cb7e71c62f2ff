package orchestrator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// Step is one step the engine plans.
type Step struct {
	Op   string `json:"op"`
	Type string `json:"type"`
	Name string `json:"name"`
	// Diffs are the properties that change.
	Diffs []string `json:"diffs,omitempty"`
	// Inputs are the resource's planned inputs, secrets masked.
	Inputs map[string]any `json:"inputs,omitempty"`
	// Pointer is set on the env stack's traffic pointer: the resources
	// under the platform's traffic component, which a cut-over changes.
	Pointer bool `json:"pointer,omitempty"`
	// Uncompared is set, in a preview that may not decrypt the secrets
	// (Plan.Redacted), on a resource of an existing stack whose state
	// holds a secret: it is left out of the plan (see redact.go). It
	// breaks no rule; a deploy, which decrypts, compares it.
	Uncompared bool `json:"uncompared,omitempty"`
	old        map[string]any
	// within is the types of the components the resource is under,
	// outermost first, joined by "$" (the URN's qualified type).
	within string
}

// StackPlan is the plan for one stack.
type StackPlan struct {
	Stack string `json:"stack"`
	// Kind is "version" or "env".
	Kind string `json:"kind"`
	// Exists is false for a stack the plan would create.
	Exists bool `json:"exists"`
	// Incomplete marks a version stack whose first up has not finished (a
	// deploy of it is under way, or failed or was killed): a deploy
	// finishes it, so its creates change no version.
	Incomplete bool `json:"incomplete,omitempty"`
	// Unplanned, when set, says why the stack has no plan: a new env's
	// stacks are not planned before its first deploy (a version stack
	// reads its env stack's outputs).
	Unplanned string         `json:"unplanned,omitempty"`
	Counts    map[string]int `json:"counts"`
	Steps     []Step         `json:"steps"`
}

// Violation is a planned step or setting that breaks a Phoenix rule.
type Violation struct {
	// Rule names the rule: immutable-version, edge-replaced, edge-deleted,
	// target-group-name, forward-target-groups, explicit-name-replaced,
	// plain-secret.
	Rule     string `json:"rule"`
	Stack    string `json:"stack,omitempty"`
	Resource string `json:"resource,omitempty"`
	Message  string `json:"message"`
}

// Plan is what a deploy of the current definition would do.
type Plan struct {
	Env     string `json:"env"`
	Version string `json:"version"`
	From    string `json:"from"`
	To      string `json:"to"`
	// Candidate and CandidateWeight are the env's candidate and its share
	// of production traffic when the preview ran (a canary under way); a
	// deploy ends that canary first.
	Candidate       string      `json:"candidate,omitempty"`
	CandidateWeight int         `json:"candidateWeight,omitempty"`
	Stacks          []StackPlan `json:"stacks"`
	Violations      []Violation `json:"violations"`
	// Redacted is set when the preview did not decrypt the stacks'
	// secrets (no passphrase, or --no-decrypt): it planned against copies
	// in a scratch backend with each secret a placeholder.
	Redacted bool `json:"redacted,omitempty"`
}

// Preview plans a deploy of version to env without changing anything: it
// previews the version stack and the env stack's cut-over. It writes
// nothing that another command reads: no stack is created or removed in
// the backend, and each engine call gets a config file of its own. With
// Options.Redact it reads the shared backend only by export, and decrypts
// nothing (see redact.go).
func (o *Orchestrator) Preview(ctx context.Context, env, version string) (Plan, error) {
	p := Plan{Env: env, Version: version, To: version, Violations: []Violation{}, Redacted: o.opts.Redact}
	if err := stacks.ValidateEnv(env); err != nil {
		return p, err
	}
	if err := stacks.ValidateVersion(version); err != nil {
		return p, err
	}
	pf, _, err := o.platformOf(env)
	if err != nil {
		return p, err
	}
	p.Violations = append(p.Violations, o.plainSecrets(env)...)

	es, envStack, envRec, err := o.envStateAndRecord(ctx, env)
	if err != nil {
		return p, err
	}
	p.From = es.Traffic.Live
	if c := es.Traffic.Candidate; c != "" && c != es.Traffic.Live {
		p.Candidate, p.CandidateWeight = c, es.Traffic.CandidateWeight
	}
	var r *redacted
	if o.opts.Redact {
		if r, err = o.newRedacted(ctx, env); err != nil {
			return p, err
		}
		defer r.done()
		if es.Exists {
			if err := r.importStack(ctx, env, envRec.raw); err != nil {
				return p, err
			}
		}
	}
	names, err := o.stackNames(ctx)
	if err != nil {
		return p, err
	}
	name := stacks.StackName{Env: env, Version: version}
	_, versionExists := names[name.String()]

	// The version stack.
	if es.Exists || versionExists {
		steps, complete, err := o.previewVersion(ctx, name, versionExists, r)
		if err != nil {
			return p, err
		}
		sp := planOf(name.String(), "version", versionExists, steps)
		sp.Incomplete = versionExists && !complete
		p.Stacks = append(p.Stacks, sp)
	} else {
		p.Stacks = append(p.Stacks, StackPlan{Stack: name.String(), Kind: "version", Counts: map[string]int{}, Steps: []Step{},
			Unplanned: fmt.Sprintf("env %s has not been deployed: a version stack reads its env stack's outputs, so it is planned once the env exists (the first deploy creates both)", env)})
	}

	// The env stack: its cut-over when the version exists already, else its
	// own changes (the edge) with the traffic as it is.
	if es.Exists {
		t := es.Traffic
		if versionExists {
			t = Traffic{Live: version, Candidate: version}
		}
		var steps []Step
		if r != nil {
			steps, err = o.previewRedactedEnv(ctx, r, env, t)
		} else {
			steps, err = o.previewEnv(ctx, envStack, env, t)
		}
		if err != nil {
			return p, err
		}
		for i := range steps {
			steps[i].Pointer = slices.Contains(strings.Split(steps[i].within, "$"), pf.TrafficComponent())
		}
		p.Stacks = append(p.Stacks, planOf(env, "env", true, steps))
	} else {
		p.Stacks = append(p.Stacks, StackPlan{Stack: env, Kind: "env", Counts: map[string]int{}, Steps: []Step{},
			Unplanned: fmt.Sprintf("env %s has not been deployed: the first deploy creates its stack (network and load balancer)", env)})
	}
	reviewer, _ := pf.(platform.Reviewer)
	p.Violations = append(p.Violations, violations(p, reviewer)...)
	return p, nil
}

// previewEnv plans the env stack's update to traffic t.
func (o *Orchestrator) previewEnv(ctx context.Context, s auto.Stack, env string, t Traffic) ([]Step, error) {
	path, done, err := o.envConfigFile(env, t, nil)
	if err != nil {
		return nil, err
	}
	defer done()
	return o.previewSteps(ctx, s, optpreview.ConfigFile(path))
}

// previewRedactedEnv plans the env stack's update to traffic t on its
// redacted copy, beside copies of the version stacks t names, whose
// outputs its program reads.
func (o *Orchestrator) previewRedactedEnv(ctx context.Context, r *redacted, env string, t Traffic) ([]Step, error) {
	config, err := os.ReadFile(o.envConfigPath(env))
	if err != nil {
		return nil, fmt.Errorf("env %s has no config file: %w", env, err)
	}
	for _, v := range []string{t.Live, t.Candidate} {
		if v == "" {
			continue
		}
		if _, err := o.copyStack(ctx, r, stacks.StackName{Env: env, Version: v}, config); err != nil {
			return nil, err
		}
	}
	if err := r.writeConfig(env, config, trafficKeys(t)); err != nil {
		return nil, err
	}
	s, err := auto.SelectStack(ctx, env, r.ws)
	if err != nil {
		return nil, fmt.Errorf("previewing %s: %w", env, err)
	}
	steps, err := o.previewSteps(ctx, s, r.previewOpts(env)...)
	return r.notCompared(env, steps), err
}

// previewVersion plans a version stack: an existing one as it stands, with
// the env's config as it is now (as a deploy would check it); a new one in
// a private backend of its own (a copy of the env stack's state beside
// it, which its program reads), since a stack in the shared backend is
// one that a deploy could resume or another command could trip on. With
// r, both are planned on redacted copies in r's backend.
//
// complete reports whether an existing version stack's first up finished.
func (o *Orchestrator) previewVersion(ctx context.Context, name stacks.StackName, exists bool, r *redacted) (steps []Step, complete bool, err error) {
	config, err := os.ReadFile(o.envConfigPath(name.Env))
	if err != nil {
		return nil, false, fmt.Errorf("env %s has no config file: %w", name.Env, err)
	}
	var s auto.Stack
	var rec stackRecord
	if exists {
		if s, rec, err = o.selectStack(ctx, name); err != nil {
			return nil, false, err
		}
		// A promoted version is planned with the image it runs.
		image, err := o.promotedImage(ctx, s, name, rec)
		if err != nil {
			return nil, false, err
		}
		if config, err = withImage(config, image); err != nil {
			return nil, false, fmt.Errorf("env %s's config file: %w", name.Env, err)
		}
	}
	if r != nil {
		return o.previewRedactedVersion(ctx, r, name, exists, config)
	}
	if exists {
		path, done, err := o.scratchConfig(name.String(), config)
		if err != nil {
			return nil, false, err
		}
		defer done()
		steps, err := o.previewSteps(ctx, s, optpreview.ConfigFile(path))
		return steps, rec.complete(), err
	}
	steps, err = o.previewNewVersion(ctx, name, config)
	return steps, false, err
}

// previewRedactedVersion plans a version stack in r's backend: a copy of
// an existing one, or a new one.
func (o *Orchestrator) previewRedactedVersion(ctx context.Context, r *redacted, name stacks.StackName, exists bool, config []byte) (steps []Step, complete bool, err error) {
	if err := r.writeConfig(name.String(), config, nil); err != nil {
		return nil, false, err
	}
	var s auto.Stack
	if exists {
		rec, err := o.copyStack(ctx, r, name, config)
		if err != nil {
			return nil, false, err
		}
		complete = rec.complete()
		s, err = auto.SelectStack(ctx, name.String(), r.ws)
	} else {
		s, err = auto.NewStack(ctx, name.String(), r.ws)
	}
	if err != nil {
		return nil, false, fmt.Errorf("previewing %s in the preview's scratch backend: %w", name, err)
	}
	steps, err = o.previewSteps(ctx, s, r.previewOpts(name.String())...)
	return r.notCompared(name.String(), steps), complete, err
}

// previewNewVersion plans a version stack that does not exist, in a
// private backend (see previewVersion).
func (o *Orchestrator) previewNewVersion(ctx context.Context, name stacks.StackName, config []byte) ([]Step, error) {
	ws, done, err := o.privateWorkspace(ctx, "")
	if err != nil {
		return nil, err
	}
	defer done()
	envName := name.EnvStack().String()
	shared, err := o.workspace(ctx)
	if err != nil {
		return nil, err
	}
	state, err := shared.ExportStack(ctx, envName)
	if err != nil {
		return nil, fmt.Errorf("reading the state of %s: %w", envName, err)
	}
	for _, stack := range []string{envName, name.String()} {
		if err := os.WriteFile(stacks.ConfigFilePath(ws.WorkDir(), stack), config, 0o600); err != nil {
			return nil, err
		}
	}
	if _, err := auto.NewStack(ctx, envName, ws); err != nil {
		return nil, fmt.Errorf("copying %s to the preview's private backend: %w", envName, err)
	}
	if err := ws.ImportStack(ctx, envName, state); err != nil {
		return nil, fmt.Errorf("copying %s to the preview's private backend: %w", envName, err)
	}
	s, err := auto.NewStack(ctx, name.String(), ws)
	if err != nil {
		return nil, fmt.Errorf("creating %s in the preview's private backend: %w", name, err)
	}
	return o.previewSteps(ctx, s)
}

// privateWorkspace returns a workspace on a backend of its own, a scratch
// file:// backend with the project's Pulumi.yaml, and the function that
// removes it. Its stacks' secrets provider is the project's, or, with a
// passphrase, the passphrase provider with that passphrase.
func (o *Orchestrator) privateWorkspace(ctx context.Context, passphrase string) (auto.Workspace, func(), error) {
	dir, err := os.MkdirTemp("", "phoenix-preview-")
	if err != nil {
		return nil, nil, err
	}
	done := func() { os.RemoveAll(dir) }
	project, err := os.ReadFile(filepath.Join(o.opts.ProjectDir, "Pulumi.yaml"))
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), project, 0o644)
	}
	if err == nil {
		err = os.MkdirAll(filepath.Join(dir, "state"), 0o700)
	}
	if err != nil {
		done()
		return nil, nil, err
	}
	env := make(map[string]string, len(o.opts.EnvVars)+1)
	for k, v := range o.opts.EnvVars {
		env[k] = v
	}
	env["PULUMI_BACKEND_URL"] = "file://" + filepath.Join(dir, "state")
	if passphrase != "" {
		env["PULUMI_CONFIG_PASSPHRASE"] = passphrase
	}
	opts := []auto.LocalWorkspaceOption{auto.WorkDir(dir), auto.Program(o.opts.Program), auto.Pulumi(o.opts.Pulumi), auto.EnvVars(env)}
	if o.opts.SecretsProvider != "" && passphrase == "" {
		opts = append(opts, auto.SecretsProvider(o.opts.SecretsProvider))
	}
	ws, err := auto.NewLocalWorkspace(ctx, opts...)
	if err != nil {
		done()
		return nil, nil, err
	}
	return ws, done, nil
}

func (o *Orchestrator) versionConfigPath(name stacks.StackName) string {
	return stacks.ConfigFilePath(o.opts.ProjectDir, name.String())
}

// previewSteps previews a stack and returns the planned steps.
func (o *Orchestrator) previewSteps(ctx context.Context, s auto.Stack, opts ...optpreview.Option) ([]Step, error) {
	steps, err := collect(func(e events.EngineEvent) (Step, bool) {
		if e.ResourcePreEvent == nil {
			return Step{}, false
		}
		md := e.ResourcePreEvent.Metadata
		if strings.HasPrefix(md.Type, "pulumi:") {
			return Step{}, false
		}
		urn := resource.URN(md.URN)
		st := Step{Op: string(md.Op), Type: md.Type, Name: urn.Name(), Diffs: md.Diffs}
		if qt := string(urn.QualifiedType()); strings.Contains(qt, "$") {
			st.within = qt[:strings.LastIndex(qt, "$")]
		}
		if md.New != nil {
			st.Inputs = md.New.Inputs
		}
		if md.Old != nil {
			st.old = md.Old.Inputs
		}
		return st, true
	}, func(ch chan<- events.EngineEvent) error {
		_, err := s.Preview(ctx, append(opts, optpreview.EventStreams(ch), optpreview.SuppressProgress(), optpreview.SuppressOutputs())...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("previewing %s: %w", s.Name(), err)
	}
	return steps, nil
}

// collect runs an engine call with an event stream and returns, in order,
// what keep makes of each event it keeps. A call that never used the
// stream (it failed before it ran the engine) gives nothing after a minute.
func collect[T any](keep func(events.EngineEvent) (T, bool), run func(chan<- events.EngineEvent) error) ([]T, error) {
	ch := make(chan events.EngineEvent)
	done := make(chan []T, 1)
	go func() {
		var out []T
		for e := range ch {
			if v, ok := keep(e); ok {
				out = append(out, v)
			}
		}
		done <- out
	}()
	err := run(ch)
	select {
	case out := <-done:
		return out, err
	case <-time.After(time.Minute):
		return nil, err
	}
}

func planOf(stack, kind string, exists bool, steps []Step) StackPlan {
	sp := StackPlan{Stack: stack, Kind: kind, Exists: exists, Counts: map[string]int{}, Steps: []Step{}}
	for _, s := range steps {
		if s.Uncompared {
			sp.Counts["uncompared"]++
			sp.Steps = append(sp.Steps, s)
			continue
		}
		switch s.Op {
		case "same", "read":
			sp.Counts["same"]++
			continue
		case "create-replacement", "delete-replaced":
			continue // counted once, as the replace step
		}
		sp.Counts[s.Op]++
		sp.Steps = append(sp.Steps, s)
	}
	sort.SliceStable(sp.Steps, func(i, j int) bool { return sp.Steps[i].Name < sp.Steps[j].Name })
	return sp
}

// violations are the plan's breaches of the immutability rules, and of
// its platform's rules when the platform has any (reviewer, may be nil).
func violations(p Plan, reviewer platform.Reviewer) []Violation {
	var out []Violation
	for _, sp := range p.Stacks {
		for _, s := range sp.Steps {
			res := s.Type + " " + s.Name
			switch {
			case s.Uncompared:
			case sp.Kind == "version" && sp.Exists && !sp.Incomplete && s.Op != "same":
				out = append(out, Violation{Rule: "immutable-version", Stack: sp.Stack, Resource: res,
					Message: fmt.Sprintf("%s of a resource of the existing version stack %s: versions are never changed; a change must produce a new version", s.Op, sp.Stack)})
			case sp.Kind == "env" && (s.Op == "delete") && !s.Pointer:
				out = append(out, Violation{Rule: "edge-deleted", Stack: sp.Stack, Resource: res,
					Message: "deletes a long-lived edge resource of the env"})
			case sp.Kind == "env" && s.Op == "replace" && !s.Pointer:
				out = append(out, Violation{Rule: "edge-replaced", Stack: sp.Stack, Resource: res,
					Message: fmt.Sprintf("replaces a long-lived edge resource of the env (changed: %s)", strings.Join(s.Diffs, ", "))})
			}
			if reviewer != nil {
				for _, f := range reviewer.Review(platform.PlannedStep{Op: s.Op, Type: s.Type, Name: s.Name, Inputs: s.Inputs}) {
					out = append(out, Violation{Rule: f.Rule, Stack: sp.Stack, Resource: res, Message: f.Message})
				}
			}
			if s.Op == "replace" {
				if n, ok := s.Inputs["name"].(string); ok && n != "" && s.old["name"] == n {
					// Two cannot hold one name, so the provider (the
					// Terraform bridge) deletes the old one first.
					out = append(out, Violation{Rule: "explicit-name-replaced", Stack: sp.Stack, Resource: res,
						Message: fmt.Sprintf("replaced under its explicit name %q: the provider deletes it before it creates the new one, so it is gone in between (and AWS refuses to delete a target group a listener rule or service still uses)", n)})
				}
			}
		}
	}
	return out
}

// plainSecrets finds config values whose names say they are secret but
// that are stored in plain text in the env's config file.
func (o *Orchestrator) plainSecrets(env string) []Violation {
	f, err := o.envFile(env)
	if err != nil {
		return nil
	}
	var out []Violation
	stacks.MapLeaves(f.Values(), "", func(path string, leaf any) any {
		if x, ok := leaf.(string); ok && stacks.LooksSecret(path) && x != "" {
			key := strings.TrimPrefix(path, ".")
			set := fmt.Sprintf("pulumi config set --secret -s %s %s <value>", env, key)
			if strings.Contains(key, ".") {
				set = fmt.Sprintf("pulumi config set --secret --path -s %s '%s' <value>", env, key)
			}
			out = append(out, Violation{Rule: "plain-secret", Stack: env,
				Message: fmt.Sprintf("%s in Pulumi.%s.yaml looks like a secret but is plain text; set it with: %s", key, env, set)})
		}
		return leaf
	})
	return out
}
