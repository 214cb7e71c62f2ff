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
	// Timings are the wall times of the rollback's steps.
	Timings Timings `json:"timings,omitempty"`
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
	t := &res.Timings
	if err := t.time("preflight", func() error { return o.preflight(ctx, opts.Env) }); err != nil {
		return res, err
	}
	path, err := o.gatePath(opts.Env, opts.Gate.Path)
	if err != nil {
		return res, err
	}
	opts.Gate.Path = path
	var unlock func()
	if err := t.time("lock", func() (err error) { ctx, unlock, err = o.lock(ctx, opts.Env, "rollback", opts.Wait); return err }); err != nil {
		return res, err
	}
	defer unlock()

	r := &rollback{o: o, opts: opts, res: &res}
	for _, step := range []struct {
		name string
		run  func(context.Context) error
	}{{"read", r.read}, {"choose", r.choose}, {"settle", r.settle}, {"target", r.readTarget}, {"verify", r.verify}, {"switch", r.switchTraffic}} {
		if err := t.time(step.name, func() error { return step.run(ctx) }); err != nil || r.done {
			return res, err
		}
	}
	return res, nil
}

// rollback is one rollback under way: its steps, in order, and what they
// read.
type rollback struct {
	o    *Orchestrator
	opts RollbackOptions
	res  *RollbackResult

	env      EnvState
	envStack auto.Stack
	// early is the target named with --to, read beside the env.
	early    chan targetRead
	earlyFor string
	target   targetRead
	// done ends the rollback early, successfully: nothing left to do.
	done bool
}

// read reads the env's state and, with --to named, the target's beside
// it: the two reads are independent, and each costs a CLI run.
func (r *rollback) read(ctx context.Context) error {
	if r.res.To != "" && stacks.ValidateVersion(r.res.To) == nil {
		r.early, r.earlyFor = make(chan targetRead, 1), r.res.To
		go func() {
			s, rec, err := r.o.selectStack(ctx, stacks.StackName{Env: r.opts.Env, Version: r.earlyFor})
			r.early <- targetRead{s, rec, err}
		}()
	}
	env, envStack, err := r.o.envForChange(ctx, r.opts.Env)
	if err != nil {
		return err
	}
	if !env.Exists {
		return &NotFoundError{What: fmt.Sprintf("env %s has not been deployed; deploy it first with: phoenix deploy --env %s", r.opts.Env, r.opts.Env)}
	}
	r.env, r.envStack, r.res.From = env, envStack, env.Traffic.Live
	return nil
}

// warm lists the warm versions, for messages only: listing every stack
// costs time that grows with their number.
func (r *rollback) warm(ctx context.Context) string {
	versions, err := r.o.versions(ctx, r.opts.Env)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return warmList(versions, r.env.Traffic.Live)
}

// choose settles the target: --to, else the version live before live.
func (r *rollback) choose(ctx context.Context) error {
	if r.res.To != "" {
		return stacks.ValidateVersion(r.res.To)
	}
	hist, err := r.o.history(ctx, r.envStack)
	if err != nil {
		return err
	}
	r.res.To = previousOf(hist, r.env.Traffic.Live)
	if r.res.To == "" {
		return &NotFoundError{What: fmt.Sprintf("env %s has no previous version to roll back to; name one with --to (warm versions: %s)",
			r.opts.Env, r.warm(ctx))}
	}
	return nil
}

// settle handles a target that is live already: nothing to do when it
// takes all traffic; when a candidate or canary is beside it (a deploy or
// rollback that failed to restore the candidate route left it so), all
// traffic goes to it and the rest is cleared.
func (r *rollback) settle(ctx context.Context) error {
	env, to := r.opts.Env, r.res.To
	if to != r.env.Traffic.Live {
		return nil
	}
	r.done = true
	if settled(r.env.Traffic) {
		// A rollback re-run after it finished (or was killed after its
		// switch) has nothing left to do.
		r.o.logf("version %s is already live in env %s: nothing to do", to, env)
		r.res.NoOp = true
		return nil
	}
	r.o.logf("version %s is live in env %s beside candidate %s (%d%%): clearing the candidate", to, env, dash(r.env.Traffic.Candidate), r.env.Traffic.CandidateWeight)
	if _, err := r.o.setTraffic(ctx, r.envStack, env, &r.env.Traffic, Traffic{Live: to, Candidate: to}, trafficNote{Op: "clear", From: r.env.Traffic.Candidate, To: to}); err != nil {
		return fmt.Errorf("clearing the candidate of env %s: %w; run this command again", env, err)
	}
	return r.o.confirmLive(ctx, env, r.env.URL, to, r.opts.Gate.Path)
}

// readTarget reads the target's stack, which must exist and be complete.
func (r *rollback) readTarget(ctx context.Context) error {
	name := stacks.StackName{Env: r.opts.Env, Version: r.res.To}
	if r.earlyFor == r.res.To {
		r.target = <-r.early
	} else {
		r.target.s, r.target.rec, r.target.err = r.o.selectStack(ctx, name)
	}
	switch t := r.target; {
	case isNotFound(t.err):
		return &NotFoundError{What: fmt.Sprintf("version %s does not exist; warm versions: %s", name, r.warm(ctx))}
	case t.err != nil:
		return t.err
	case !t.rec.complete():
		return &NotFoundError{What: fmt.Sprintf("version %s is incomplete (its deploy failed or was interrupted): it cannot take traffic; warm versions: %s", name, r.warm(ctx))}
	}
	return nil
}

// verify checks, unless forced, that the target has not drifted and
// answers. The drift check and the probe are independent reads: they run
// side by side, and both must pass before the switch. The probe goes
// through the version route (X-Phoenix-Version: <version>), which reaches
// any version without a change to the pointer: the rollback's one env
// change is the switch. It answers where the version stack says
// (stacks.OutRouteURL), else at the env's url.
func (r *rollback) verify(ctx context.Context) error {
	if r.opts.Force {
		return nil
	}
	g := r.opts.Gate
	// A warm version has answered its gate before: probe it briskly.
	g.interval = 50 * time.Millisecond
	probeCtx, cancelProbe := context.WithCancel(ctx)
	defer cancelProbe()
	probed := make(chan error, 1)
	r.o.logf("checking %s.%s for drift, and probing it through its version route", r.opts.Env, r.res.To)
	url := r.env.URL
	if u, _ := r.target.rec.Outputs[stacks.OutRouteURL].(string); u != "" {
		url = u
	}
	go func() { probed <- r.o.probeVersion(probeCtx, r.opts.Env, url, r.res.To, g) }()
	if err := r.o.refreshUnchanged(ctx, r.target.s, r.o.detachedURNs(r.opts.Env, r.target.rec)); err != nil {
		return err
	}
	if err := <-probed; err != nil {
		return fmt.Errorf("%w; live is still %s", err, dash(r.env.Traffic.Live))
	}
	return nil
}

// switchTraffic is the rollback's one env change, then waits until the
// load balancer serves the target.
func (r *rollback) switchTraffic(ctx context.Context) error {
	env, res := r.opts.Env, r.res
	r.o.logf("rolling env %s back from %s to %s", env, dash(res.From), res.To)
	to := Traffic{Live: res.To, Candidate: res.To}
	if r.opts.Force {
		// Leave the candidate route alone: exactly one pointer change.
		to.Candidate = r.env.Traffic.Candidate
	}
	if _, err := r.o.setTraffic(ctx, r.envStack, env, &r.env.Traffic, to, trafficNote{Op: "rollback", From: res.From, To: res.To}); err != nil {
		return fmt.Errorf("switching traffic to %s: %w\nlive is still %s; run this rollback again: phoenix rollback --env %s --to %s",
			res.To, err, dash(res.From), env, res.To)
	}
	return r.o.confirmLive(ctx, env, r.env.URL, res.To, r.opts.Gate.Path)
}
