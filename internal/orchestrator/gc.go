package orchestrator

import (
	"context"
	"fmt"
	"time"

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
	// Until it has looked, the result names no env: nothing was kept or
	// destroyed, and a view of it would say so.
	res := GCResult{Kept: []string{}, Destroyed: []string{}, DryRun: opts.DryRun}
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
	return o.collect(ctx, opts.Env, opts.Keep, opts.DryRun)
}

// collect is gc under the env's lock: it destroys the version stacks
// beyond keep warm ones (negative: the env's retention), or with dryRun
// only says which.
func (o *Orchestrator) collect(ctx context.Context, env string, keep int, dryRun bool) (GCResult, error) {
	return o.collectWith(ctx, env, keep, dryRun, nil)
}

// collectWith is collect, with the env's versions and history read ahead
// when pre is set (the gc after a deploy).
func (o *Orchestrator) collectWith(ctx context.Context, env string, keep int, dryRun bool, pre *statusReads) (GCResult, error) {
	res := GCResult{Env: env, Kept: []string{}, Destroyed: []string{}, DryRun: dryRun}
	st, err := o.envStatusWith(ctx, env, false, pre)
	if err != nil {
		return res, err
	}
	if keep < 0 {
		keep = st.Retention
	}
	protected := map[string]bool{st.Live: true, st.Candidate: true, st.Previous: true}
	warm := 0
	for _, v := range st.Versions { // newest first
		switch {
		case v.Version != "" && protected[v.Version]:
			res.Kept = append(res.Kept, v.Version)
		case !v.Complete || v.Failed:
			// Not a version: a deploy of it failed or was interrupted (or
			// failed, and was kept for inspection until now).
			res.Destroyed = append(res.Destroyed, v.Version)
		case warm < keep:
			warm++
			res.Kept = append(res.Kept, v.Version)
		default:
			res.Destroyed = append(res.Destroyed, v.Version)
		}
	}
	if dryRun {
		return res, nil
	}
	for i, v := range res.Destroyed {
		name := stacks.StackName{Env: env, Version: v}
		o.logf("destroying %s (%d of %d)", name, i+1, len(res.Destroyed))
		if err := o.destroyVersion(ctx, name); err != nil {
			res.Destroyed = res.Destroyed[:i]
			return res, fmt.Errorf("gc stopped: %w", err)
		}
	}
	return res, nil
}
