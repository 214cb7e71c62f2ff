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

// GCOptions describe one garbage collection.
type GCOptions struct {
	Env string
	// Keep is how many warm versions to keep besides live, candidate and
	// previous; negative means the env's phoenix:retention.
	Keep int
	// DryRun reports without destroying.
	DryRun bool
	// Wait is how long to wait for the env lock.
	Wait time.Duration
}

// GCResult lists what gc kept and destroyed.
type GCResult struct {
	Env       string   `json:"env"`
	Kept      []string `json:"kept"`
	Destroyed []string `json:"destroyed"`
	DryRun    bool     `json:"dryRun"`
}

// GC destroys the version stacks beyond retention. Live, candidate and
// previous are never touched, nor the newest Keep other versions.
func (o *Orchestrator) GC(ctx context.Context, opts GCOptions) (GCResult, error) {
	res := GCResult{Env: opts.Env, Kept: []string{}, Destroyed: []string{}, DryRun: opts.DryRun}
	if err := stacks.ValidateEnv(opts.Env); err != nil {
		return res, err
	}
	if !opts.DryRun {
		if err := o.preflight(ctx, opts.Env); err != nil {
			return res, err
		}
	}
	ctx, unlock, err := o.lock(ctx, opts.Env, "gc", opts.Wait)
	if err != nil {
		return res, err
	}
	defer unlock()
	st, err := o.Status(ctx, opts.Env)
	if err != nil {
		return res, err
	}
	keep := opts.Keep
	if keep < 0 {
		keep = st.Retention
	}
	protected := map[string]bool{st.Live: true, st.Candidate: true, st.Previous: true}
	warm := 0
	for _, v := range st.Versions { // newest first
		switch {
		case v.Version != "" && protected[v.Version]:
			res.Kept = append(res.Kept, v.Version)
		case !v.Complete:
			// Not a version: a deploy of it failed or was interrupted.
			res.Destroyed = append(res.Destroyed, v.Version)
		case warm < keep:
			warm++
			res.Kept = append(res.Kept, v.Version)
		default:
			res.Destroyed = append(res.Destroyed, v.Version)
		}
	}
	if opts.DryRun {
		return res, nil
	}
	for i, v := range res.Destroyed {
		name := stacks.StackName{Env: opts.Env, Version: v}
		o.logf("destroying %s (%d of %d)", name, i+1, len(res.Destroyed))
		if err := o.destroyVersion(ctx, name); err != nil {
			res.Destroyed = res.Destroyed[:i]
			return res, fmt.Errorf("gc stopped: %w", err)
		}
	}
	return res, nil
}

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
