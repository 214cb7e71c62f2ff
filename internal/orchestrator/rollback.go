package orchestrator

import (
	"context"
	"fmt"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/phoenix-iac/phoenix/stacks"
)

// RollbackOptions describe one rollback.
type RollbackOptions struct {
	// Env is the env to roll back. Required.
	Env string
	// To is the version to send traffic to; default the previous live version.
	To string
	// Force skips the drift check and the probe.
	Force bool
	// Gate tunes the probe through the version's own route.
	Gate GateOptions
	// Wait is how long to wait for the env lock.
	Wait time.Duration
}

// RollbackResult says what a rollback did.
type RollbackResult struct {
	Env  string `json:"env"`
	From string `json:"from"`
	To   string `json:"to"`
	// NoOp is true when To was already live, alone: nothing changed.
	NoOp bool `json:"noOp"`
}

// targetRead is a rollback target's stack, read beside the env's.
type targetRead struct {
	s   auto.Stack
	rec stackRecord
	err error
}

// settled reports whether t sends all traffic to live and nothing else
// (the candidate route, when set, names live too).
func settled(t Traffic) bool {
	return t.CandidateWeight == 0 && (t.Candidate == "" || t.Candidate == t.Live)
}

// repairAdvice names the command that puts env's traffic back on live
// alone, or that clears the env when nothing was live.
func repairAdvice(env, live string) string {
	if live == "" {
		return fmt.Sprintf("nothing was live; run the deploy again, or clear the env with: phoenix destroy --env %s", env)
	}
	return fmt.Sprintf("put all traffic back on %s with: phoenix rollback --env %s --to %s --force", live, env, live)
}

// Rollback points live back at a warm version. Unless forced it first checks
// that the version stack has not drifted and answers through its own
// version route; the switch is the one update of the env stack.
func (o *Orchestrator) Rollback(ctx context.Context, opts RollbackOptions) (RollbackResult, error) {
	res := RollbackResult{Env: opts.Env, To: opts.To}
	if err := stacks.ValidateEnv(opts.Env); err != nil {
		return res, err
	}
	if err := o.preflight(ctx, opts.Env); err != nil {
		return res, err
	}
	path, err := o.gatePath(opts.Env, opts.Gate.Path)
	if err != nil {
		return res, err
	}
	opts.Gate.Path = path
	ctx, unlock, err := o.lock(ctx, opts.Env, "rollback", opts.Wait)
	if err != nil {
		return res, err
	}
	defer unlock()

	// With --to named, the target's state is read beside the env's: the
	// two reads are independent, and each costs a CLI run.
	var (
		target    = make(chan targetRead, 1)
		targetFor string
	)
	if res.To != "" && stacks.ValidateVersion(res.To) == nil {
		targetFor = res.To
		go func() {
			s, rec, err := o.selectStack(ctx, stacks.StackName{Env: opts.Env, Version: targetFor})
			target <- targetRead{s, rec, err}
		}()
	}
	env, envStack, err := o.envForChange(ctx, opts.Env)
	if err != nil {
		return res, err
	}
	if !env.Exists {
		return res, &NotFoundError{What: fmt.Sprintf("env %s has not been deployed; deploy it first with: phoenix deploy --env %s", opts.Env, opts.Env)}
	}
	res.From = env.Traffic.Live
	// The warm versions are listed only for messages: listing every stack
	// costs time that grows with their number.
	warm := func() string {
		versions, err := o.versions(ctx, opts.Env)
		if err != nil {
			return "unknown (" + err.Error() + ")"
		}
		return warmList(versions, env.Traffic.Live)
	}
	if res.To == "" {
		hist, err := o.history(ctx, envStack)
		if err != nil {
			return res, err
		}
		res.To = previousOf(hist, env.Traffic.Live)
		if res.To == "" {
			return res, &NotFoundError{What: fmt.Sprintf("env %s has no previous version to roll back to; name one with --to (warm versions: %s)",
				opts.Env, warm())}
		}
	} else if err := stacks.ValidateVersion(res.To); err != nil {
		return res, err
	}
	if res.To == env.Traffic.Live {
		if settled(env.Traffic) {
			// A rollback re-run after it finished (or was killed after
			// its switch) has nothing left to do.
			o.logf("version %s is already live in env %s: nothing to do", res.To, opts.Env)
			res.NoOp = true
			return res, nil
		}
		// Live, with a candidate or canary beside it: a deploy or rollback
		// that failed to restore the candidate route left it so. Rolling
		// back to live sends all traffic to it and clears the rest.
		o.logf("version %s is live in env %s beside candidate %s (%d%%): clearing the candidate", res.To, opts.Env, dash(env.Traffic.Candidate), env.Traffic.CandidateWeight)
		if _, err := o.setTraffic(ctx, envStack, opts.Env, &env.Traffic, Traffic{Live: res.To, Candidate: res.To}, trafficNote{Op: "clear", From: env.Traffic.Candidate, To: res.To}); err != nil {
			return res, fmt.Errorf("clearing the candidate of env %s: %w; run this command again", opts.Env, err)
		}
		return res, o.confirmLive(ctx, opts.Env, env.URL, res.To, opts.Gate.Path)
	}
	name := stacks.StackName{Env: opts.Env, Version: res.To}
	var t targetRead
	if targetFor == res.To {
		t = <-target
	} else {
		t.s, t.rec, t.err = o.selectStack(ctx, name)
	}
	s := t.s
	if isNotFound(t.err) {
		return res, &NotFoundError{What: fmt.Sprintf("version %s does not exist; warm versions: %s", name, warm())}
	}
	if t.err != nil {
		return res, t.err
	}
	if !t.rec.complete() {
		return res, &NotFoundError{What: fmt.Sprintf("version %s is incomplete (its deploy failed or was interrupted): it cannot take traffic; warm versions: %s", name, warm())}
	}

	if !opts.Force {
		// The drift check and the probe are independent reads: they run
		// side by side, and both must pass before the switch. The probe
		// goes through the version route (X-Phoenix-Version: <version>),
		// which reaches any version without a change to the pointer: the
		// rollback's one env change is the switch below.
		g := opts.Gate
		// A warm version has answered its gate before: probe it briskly.
		g.interval = 50 * time.Millisecond
		probeCtx, cancelProbe := context.WithCancel(ctx)
		defer cancelProbe()
		probed := make(chan error, 1)
		o.logf("checking %s for drift, and probing it through its version route", name)
		go func() { probed <- o.probeVersion(probeCtx, env.URL, res.To, g) }()
		if err := o.refreshUnchanged(ctx, s); err != nil {
			return res, err
		}
		if err := <-probed; err != nil {
			return res, fmt.Errorf("%w; live is still %s", err, dash(env.Traffic.Live))
		}
	}

	o.logf("rolling env %s back from %s to %s", opts.Env, dash(res.From), res.To)
	to := Traffic{Live: res.To, Candidate: res.To}
	if opts.Force {
		// Leave the candidate route alone: exactly one pointer change.
		to.Candidate = env.Traffic.Candidate
	}
	if _, err := o.setTraffic(ctx, envStack, opts.Env, &env.Traffic, to, trafficNote{Op: "rollback", From: res.From, To: res.To}); err != nil {
		return res, fmt.Errorf("switching traffic to %s: %w\nlive is still %s; run this rollback again: phoenix rollback --env %s --to %s",
			res.To, err, dash(res.From), opts.Env, res.To)
	}
	if err := o.confirmLive(ctx, opts.Env, env.URL, res.To, opts.Gate.Path); err != nil {
		return res, err
	}
	return res, nil
}
