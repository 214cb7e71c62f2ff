package orchestrator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// preflight makes sure that env's platform can be used before a command
// changes anything (every changing verb runs it first): the provider
// plugins it needs are installed (once), and its cloud answers (on docker,
// the Docker engine). Packages served by PULUMI_DEBUG_PROVIDERS need
// neither.
func (o *Orchestrator) preflight(ctx context.Context, env string) error {
	p, f, err := o.platformOf(env)
	if err != nil {
		return err
	}
	need := map[string]string{}
	for pkg, v := range p.Plugins() {
		if !o.attached(pkg) {
			need[pkg] = v
		}
	}
	if pf, ok := p.(platform.Preflighter); ok && len(need) > 0 {
		if err := pf.Preflight(ctx, o.opsEnv(env, f, EnvState{})); err != nil {
			return err
		}
	}
	return o.ensurePlugins(ctx, need)
}

// getenv reads a variable the Pulumi CLI and its plugins will see.
func (o *Orchestrator) getenv(key string) string {
	if v, ok := o.opts.EnvVars[key]; ok {
		return v
	}
	return os.Getenv(key)
}

// attached tells whether pkg's provider is served by PULUMI_DEBUG_PROVIDERS.
func (o *Orchestrator) attached(pkg string) bool {
	for _, a := range strings.Split(o.getenv("PULUMI_DEBUG_PROVIDERS"), ",") {
		if name, _, _ := strings.Cut(a, ":"); name == pkg {
			return true
		}
	}
	return false
}

// platformOf returns env's platform, as its config file names it, and
// the file.
func (o *Orchestrator) platformOf(env string) (stacks.Platform, *stacks.EnvFile, error) {
	f, err := o.envFile(env)
	if err != nil {
		return nil, nil, err
	}
	p, err := stacks.LookupPlatform(f.Platform())
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Base(f.Path), err)
	}
	return p, f, nil
}

// opsEnv is env as its platform's operations see it.
func (o *Orchestrator) opsEnv(env string, f *stacks.EnvFile, st EnvState) platform.Env {
	return platform.Env{
		Name: env, LoadBalancer: st.LoadBalancer, LogGroup: st.LogGroup, Owner: o.owner(st), File: f,
		Getenv: o.getenv, Logf: o.logf,
		VersionOutputs: func(ctx context.Context, version string) (map[string]any, error) {
			_, rec, err := o.selectStack(ctx, stacks.StackName{Env: env, Version: version})
			return rec.Outputs, err
		},
	}
}

// owner is whose the env's resources are: the owner its env stack
// recorded, or, for an env stack that has recorded nothing yet (its first
// update failed), the one that update gave them: this project and backend.
func (o *Orchestrator) owner(st EnvState) stacks.Owner {
	if st.Exists {
		return st.Owner
	}
	return stacks.Owner{Project: ProjectName, Backend: stacks.BackendID(o.opts.EnvVars["PULUMI_BACKEND_URL"], "organization")}
}

// ensurePlugins installs the provider plugins in need (name to version)
// that are not installed yet.
func (o *Orchestrator) ensurePlugins(ctx context.Context, need map[string]string) error {
	if len(need) == 0 {
		return nil
	}
	ws, err := o.workspace(ctx)
	if err != nil {
		return err
	}
	have, err := ws.ListPlugins(ctx)
	if err != nil {
		return fmt.Errorf("listing installed plugins: %w", err)
	}
	for _, p := range have {
		if p.Kind == "resource" && p.Version != nil && need[p.Name] == p.Version.String() {
			delete(need, p.Name)
		}
	}
	names := make([]string, 0, len(need))
	for name := range need {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := need[name]
		o.logf("installing the %s provider plugin v%s (first use only)", name, v)
		if err := ws.InstallPlugin(ctx, name, "v"+v); err != nil {
			return fmt.Errorf("installing the %s provider plugin v%s: %w; install it by hand with: pulumi plugin install resource %s v%s", name, v, err, name, v)
		}
	}
	return nil
}
