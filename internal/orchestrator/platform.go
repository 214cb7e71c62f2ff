package orchestrator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// getenv reads a variable the Pulumi CLI and its plugins will see.
func (o *Orchestrator) getenv(key string) string {
	if v, ok := o.opts.EnvVars[key]; ok {
		return v
	}
	return os.Getenv(key)
}

// platformOf returns env's platform, as its config file names it, and
// the file.
func (o *Orchestrator) platformOf(env string) (stacks.Platform, *stacks.EnvFile, error) {
	f, err := o.envFile(env)
	if err != nil {
		return nil, nil, err
	}
	p, err := o.opts.Platforms(f.Platform())
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Base(f.Path), err)
	}
	return p, f, nil
}

// opsEnv is env as its platform's operations see it.
func (o *Orchestrator) opsEnv(env string, f *stacks.EnvFile, st EnvState) platform.Env {
	return platform.Env{
		Name: env, Outputs: st.Outputs, Owner: o.owner(st), File: f,
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
