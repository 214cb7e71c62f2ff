package orchestrator

import (
	"github.com/phoenix-iac/phoenix/internal/lease"

	"context"
	"fmt"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"

	"github.com/phoenix-iac/phoenix/stacks"
)

// DestroyResult lists what destroy removed.
type DestroyResult struct {
	Env      string   `json:"env"`
	Versions []string `json:"versions"`
	EnvStack bool     `json:"envStack"`
}

// DestroyEnv destroys every version stack of env, then the env stack.
func (o *Orchestrator) DestroyEnv(ctx context.Context, env string, wait time.Duration) (DestroyResult, error) {
	res := DestroyResult{Env: env, Versions: []string{}}
	if err := stacks.ValidateEnv(env); err != nil {
		return res, err
	}
	if err := o.preflight(ctx, env); err != nil {
		return res, err
	}
	ctx, unlock, err := o.lock(ctx, env, "destroy", wait)
	if err != nil {
		return res, err
	}
	defer unlock()
	versions, err := o.versions(ctx, env)
	if err != nil {
		return res, err
	}
	es, envStack, err := o.envForChange(ctx, env)
	if err != nil {
		return res, err
	}
	if envStack.Name() == "" && len(versions) == 0 {
		// Destroyed already (a destroy run again after it was
		// interrupted at its very end), or never deployed.
		o.logf("env %s has no stacks: nothing to destroy", env)
		return res, nil
	}
	// Traffic first: the pointer stops referencing the versions.
	if es.Exists && (es.Traffic.Live != "" || es.Traffic.Candidate != "") {
		o.logf("pointing env %s at nothing", env)
		if _, err := o.setTraffic(ctx, envStack, env, &es.Traffic, Traffic{}, trafficNote{Op: "clear", From: es.Traffic.Live}); err != nil {
			return res, fmt.Errorf("clearing traffic: %w", err)
		}
	}
	for i, v := range versions {
		name := stacks.StackName{Env: env, Version: v.Version}
		o.logf("destroying %s (%d of %d)", name, i+1, len(versions))
		if err := o.destroyVersion(ctx, name); err != nil {
			return res, err
		}
		res.Versions = append(res.Versions, v.Version)
	}
	if envStack.Name() != "" {
		if err := lease.Fence(ctx); err != nil {
			return res, err
		}
		o.logf("destroying env stack %s", env)
		path, done, err := o.envConfigFile(env, Traffic{}, nil)
		if err != nil {
			return res, err
		}
		defer done()
		if _, err := withStackLock(o, ctx, stacks.StackName{Env: env}, func() (auto.DestroyResult, error) {
			return envStack.Destroy(ctx, o.destroyOpts(optdestroy.ConfigFile(path))...)
		}); err != nil {
			return res, fmt.Errorf("destroying env stack %s: %w", env, err)
		}
		if err := o.removeStack(ctx, stacks.StackName{Env: env}); err != nil {
			return res, err
		}
		res.EnvStack = true
	}
	return res, nil
}
