package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/phoenix-iac/phoenix/internal/lease"
	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// DeployOptions describe one deploy.
type DeployOptions struct {
	// Env is the env to deploy. Required.
	Env string
	// Version is the version id. Required (the CLI computes it).
	Version string
	// Canary lists traffic percentages to step through before promotion.
	Canary []int
	// StepWait is the pause after each canary step.
	StepWait time.Duration
	// Gate tunes the health gates.
	Gate GateOptions
	// KeepFailed keeps a version stack that failed to deploy or its gate.
	KeepFailed bool
	// Wait is how long to wait for the env lock; 0 refuses at once.
	Wait time.Duration
	// Analysis judges each canary step, and the bake period after the
	// promotion, on production traffic.
	Analysis AnalysisOptions
	// NoGC skips the gc that follows a successful deploy, which destroys
	// the versions the env's phoenix:retention no longer keeps.
	NoGC bool
	// Artifact is the artifact id of the version's app (version.Artifact),
	// recorded on the version stack when it is made; "" records none.
	Artifact string
	// Program is the hash of the program the version is deployed with
	// (version.Program), recorded on the version stack when it is made, so
	// that a promotion of it can check that it promotes one definition.
	Program string
	// Image, when set, is the image the version runs by digest instead of
	// one built from the app (stacks.KeyImage): a promotion's. PromotedFrom
	// is then the version stack it came from (<env>.<version>), recorded
	// on the new one.
	Image, PromotedFrom string
	// Copy, when set, makes the version's image available to the env
	// once its env stack exists, under the env's lock, and returns the
	// image by digest, which Image then is: a promotion's copy of its
	// source's artifact into the env's own repository.
	Copy func(ctx context.Context, env platform.Env) (string, error)
	// TTL, when over 0, makes the env expire that long after this deploy
	// starts: phoenix gc --expired destroys it after that. 0 leaves the
	// env's expiry, if any, as it is.
	TTL time.Duration
}

// DeployResult says what a deploy did.
type DeployResult struct {
	Env      string `json:"env"`
	Version  string `json:"version"`
	Previous string `json:"previous,omitempty"`
	// Created is false when the version stack already existed.
	Created bool `json:"created"`
	// Resumed is true when the version stack existed but was incomplete
	// (an earlier deploy of it failed or was interrupted) and this deploy
	// finished it.
	Resumed bool `json:"resumed,omitempty"`
	// NoOp is true when the version was already live: nothing changed.
	NoOp bool   `json:"noOp"`
	URL  string `json:"url"`
	// Analysis holds the judgment of each canary step and of the bake
	// period, in order; the last one decided a failed deploy.
	Analysis []StepAnalysis `json:"analysis,omitempty"`
	// GC is what the gc after the deploy kept and destroyed; GCError why
	// it stopped (the deploy stands: phoenix gc finishes it).
	GC      *GCResult `json:"gc,omitempty"`
	GCError string    `json:"gcError,omitempty"`
	// Timings are the wall times of the deploy's steps, on failure too:
	// what a slow deploy spent its time on.
	Timings Timings `json:"timings,omitempty"`
}

// Deploy creates the version stack unless it exists, makes it the
// candidate, gates it, and promotes it. On any failure live is left as it
// was, the candidate route is cleared and the version stack destroyed
// (unless KeepFailed).
func (o *Orchestrator) Deploy(ctx context.Context, opts DeployOptions) (DeployResult, error) {
	res := DeployResult{Env: opts.Env, Version: opts.Version}
	if err := o.checkDeploy(&opts); err != nil {
		return res, err
	}
	t := &res.Timings
	if err := t.time("preflight", func() error { return o.preflight(ctx, opts.Env) }); err != nil {
		return res, err
	}
	var unlock func()
	if err := t.time("lock", func() (err error) { ctx, unlock, err = o.lock(ctx, opts.Env, "deploy", opts.Wait); return err }); err != nil {
		return res, err
	}
	defer unlock()

	start := time.Now()
	var env EnvState
	var envStack auto.Stack
	if err := t.time("env", func() (err error) { env, envStack, err = o.ensureEnv(ctx, opts.Env); return err }); err != nil {
		return res, err
	}
	if opts.TTL > 0 {
		if err := o.setExpiry(ctx, opts.Env, start.Add(opts.TTL)); err != nil {
			return res, err
		}
	}
	if opts.Copy != nil {
		if err := t.time("copy", func() error {
			f, err := o.envFile(opts.Env)
			if err != nil {
				return err
			}
			opts.Image, err = opts.Copy(ctx, o.opsEnv(opts.Env, f, env))
			return err
		}); err != nil {
			return res, err
		}
	}
	d := &deployment{o: o, opts: opts, name: stacks.StackName{Env: opts.Env, Version: opts.Version},
		env: env, envStack: envStack, t0: env.Traffic, cur: env.Traffic, res: &res}
	res.Previous, res.URL = d.t0.Live, env.URL
	d.watcher = &watcher{o: o, env: opts.Env, a: opts.Analysis, state: env}
	defer d.watcher.close()
	defer func() {
		// The gc's reads ahead end before the command does, whatever
		// became of the deploy.
		if d.gcReads != nil {
			_, _ = d.gcReads()
		}
	}()
	// The gate needs the env's route key, a read of its own (a CLI
	// process): it is read while the version is made. A failed read is
	// the gate's to report: it reads the key again.
	keyRead := make(chan struct{})
	go func() {
		defer close(keyRead)
		_, _ = o.routeKey(ctx, opts.Env)
	}()
	defer func() { <-keyRead }()

	for _, step := range []struct {
		name string
		run  func(context.Context) error
	}{{"version", d.version}, {"candidate", d.candidate}, {"canary", d.canary}, {"promote", d.promote}, {"bake", d.bake}} {
		if err := t.time(step.name, func() error { return step.run(ctx) }); err != nil {
			return res, err
		}
		if res.NoOp {
			break
		}
	}
	// Also after a deploy that found its version live already: it may be
	// the re-run of one killed in its gc, which left a version stack half
	// destroyed; the re-run finishes it.
	if err := d.complete(); err != nil {
		return res, err
	}
	return res, t.time("gc", func() error { return d.retire(ctx) })
}

// checkDeploy checks a deploy's options and fills in the gate's path.
func (o *Orchestrator) checkDeploy(opts *DeployOptions) error {
	if err := stacks.ValidateEnv(opts.Env); err != nil {
		return err
	}
	if err := stacks.ValidateVersion(opts.Version); err != nil {
		return err
	}
	for _, w := range opts.Canary {
		if w <= 0 || w >= 100 {
			return fmt.Errorf("canary step %d%% is not between 1 and 99", w)
		}
	}
	if opts.TTL < 0 {
		return fmt.Errorf("TTL %s: %w", opts.TTL, errBadTTL)
	}
	path, err := o.gatePath(opts.Env, opts.Gate.Path)
	if err != nil {
		return err
	}
	opts.Gate.Path = path
	return nil
}

// deployment is one deploy under way: its steps, in order, and what its
// failure path needs to undo them.
type deployment struct {
	o        *Orchestrator
	opts     DeployOptions
	name     stacks.StackName
	env      EnvState
	envStack auto.Stack
	// t0 is the traffic before the deploy, which a failure restores.
	t0 Traffic
	// cur is the traffic as this deploy last read or wrote it: every
	// traffic write requires the env to hold it still (compare-and-swap).
	cur Traffic
	// outputs are the env stack's outputs as the last traffic write left
	// them, when its events told them.
	outputs auto.OutputMap
	res     *DeployResult
	// routed is set once traffic names the version, created once this
	// deploy made (or finished) its stack: what a failure undoes.
	routed  bool
	watcher *watcher
	// last is the newest judgment, which the next traffic change records.
	last *StepAnalysis
	// promoted is when the version took all production traffic.
	promoted time.Time
	// wasFailed is set when the version was kept after a failed deploy:
	// once live, it is no longer marked failed.
	wasFailed bool
	// upDone is set once this deploy's up of the version stack finished:
	// a version kept after a later failure is complete, and marked failed.
	upDone bool
	// tagged waits for the version's complete tag (see complete).
	tagged func() error
	// gcReads waits for the gc's reads, made while the version is
	// promoted (see promote).
	gcReads func() (statusReads, error)
}

// setTraffic writes traffic t if the env still holds what this deploy
// last read or wrote, and remembers it.
func (d *deployment) setTraffic(ctx context.Context, t Traffic, note trafficNote) error {
	expect := d.cur
	res, err := d.o.setTraffic(ctx, d.envStack, d.opts.Env, &expect, t, note)
	if err != nil {
		return err
	}
	d.cur, d.outputs = t, res.Outputs
	return nil
}

// fail undoes what the deploy did and returns err with what was done.
func (d *deployment) fail(ctx context.Context, err error) error {
	return d.o.failed(ctx, d, err)
}

// version makes the version stack: created, resumed when an earlier
// deploy of it stopped half way, or checked unchanged when it exists. A
// version already live ends the deploy (NoOp).
func (d *deployment) version(ctx context.Context) error {
	o, name := d.o, d.name
	// A deploy most often makes a new version: its stack is created at
	// once, and read only when it was there already (one CLI process
	// less, half a second of the deploy's critical path). Selecting the
	// one stack costs the same with 2 or 200 versions; listing them all
	// does not.
	s, created, err := o.tryCreateStack(ctx, name, d.opts.Image)
	if err != nil {
		return err
	}
	var rec stackRecord
	exists := false
	if !created {
		s, rec, err = o.selectStack(ctx, name)
		exists = err == nil
		if err != nil && !isNotFound(err) {
			return err
		}
	}
	if exists && d.opts.Image == "" {
		// A promoted version deployed again by its id (deploy --version)
		// runs the image it was promoted with, not a build.
		if d.opts.Image, err = o.promotedImage(ctx, s, name, rec); err != nil {
			return err
		}
	}
	switch {
	case exists && rec.complete():
		o.logf("version stack %s exists: checking that it is unchanged", name)
		if err := o.writeVersionConfig(name, d.opts.Image); err != nil {
			return err
		}
		if err := o.repairRecord(ctx, s, name, rec); err != nil {
			return err
		}
		if err := o.checkUnchanged(ctx, s); err != nil {
			return err
		}
		if err := o.markComplete(ctx, s); err != nil {
			return err
		}
		failed, err := o.failedStacks(ctx)
		if err != nil {
			return err
		}
		d.wasFailed = failed[name.String()]
		if d.t0.Live == d.opts.Version && settled(d.t0) {
			o.logf("version %s is already live in env %s: nothing to do", d.opts.Version, d.opts.Env)
			d.res.NoOp = true
		}
		return nil
	case exists:
		// Not a version yet: its first up failed or was interrupted. It is
		// finished now, as a new one would be created.
		o.logf("version stack %s is incomplete (an earlier deploy of it failed or was interrupted): resuming it", name)
		if err := o.writeVersionConfig(name, d.opts.Image); err != nil {
			return err
		}
		if err := o.repairRecord(ctx, s, name, rec); err != nil {
			return err
		}
		d.res.Resumed = true
	case created:
		o.logf("created version stack %s", name)
	default:
		o.logf("creating version stack %s", name)
		if s, err = o.createStack(ctx, name, d.opts.Image); err != nil {
			return err
		}
	}
	d.res.Created = true
	// The record's tags live in a file of their own, which an up does not
	// write: they are set while the version is made, each a CLI process
	// (a second or more of a promotion's critical path, otherwise). Both
	// have ended before anything else happens to the stack.
	recorded := make(chan error, 1)
	go func() { recorded <- d.record(ctx, s) }()
	upErr := o.upVersion(ctx, s, name)
	if err := <-recorded; err != nil {
		return d.fail(ctx, err)
	}
	if upErr != nil {
		return d.fail(ctx, upErr)
	}
	d.upDone = true
	// Its complete tag, a CLI process of its own, is set beside the
	// candidate step. It is only an index: a version stack whose up
	// finished is complete by its outputs (stackRecord.complete), which
	// is what a deploy of it again and status read when the tag is
	// missing. Promote waits for it before the version goes live, and a
	// failure before anything is undone.
	tagged := make(chan error, 1)
	go func() { tagged <- o.markComplete(ctx, s) }()
	d.tagged = sync.OnceValue(func() error { return <-tagged })
	return nil
}

// complete waits for the version's complete tag, when this deploy set it,
// and returns what setting it returned.
func (d *deployment) complete() error {
	if d.tagged == nil {
		return nil
	}
	return d.tagged()
}

// promotedImage is the image a promoted version stack runs (its
// stacks.KeyImage), or "" for a version built from source.
func (o *Orchestrator) promotedImage(ctx context.Context, s auto.Stack, name stacks.StackName, rec stackRecord) (string, error) {
	tags, err := s.Workspace().ListTags(ctx, name.String())
	if err != nil {
		return "", fmt.Errorf("reading %s's tags: %w", name, err)
	}
	if tags[tagPromotedFrom] == "" {
		return "", nil
	}
	image, _ := rec.Outputs[stacks.OutImage].(string)
	if !stacks.ImageByDigest(image) {
		return "", fmt.Errorf("version %s was promoted from %s, but its stack records no image by digest (output %s: %q): promote it again with: phoenix promote --from %s --to %s",
			name, tags[tagPromotedFrom], stacks.OutImage, image, strings.SplitN(tags[tagPromotedFrom], ".", 2)[0], name.Env)
	}
	return image, nil
}

// record tags the version stack with where its definition came from: its
// artifact id, its program's hash, the version it was promoted from.
func (d *deployment) record(ctx context.Context, s auto.Stack) error {
	for _, t := range []struct{ tag, value, what string }{
		{tagArtifact, d.opts.Artifact, "artifact"},
		{tagProgram, d.opts.Program, "program hash"},
		{tagPromotedFrom, d.opts.PromotedFrom, "source"},
	} {
		if t.value == "" {
			continue
		}
		if err := s.Workspace().SetTag(ctx, d.name.String(), t.tag, t.value); err != nil {
			return fmt.Errorf("recording %s's %s: %w", d.name, t.what, err)
		}
	}
	return nil
}

// candidate routes the version as the candidate, reachable through the
// candidate route only, and gates it.
func (d *deployment) candidate(ctx context.Context) error {
	o, opts := d.o, d.opts
	o.logf("routing %s as the candidate of env %s", opts.Version, opts.Env)
	d.routed = true
	cand := Traffic{Live: d.t0.Live, Candidate: opts.Version}
	if err := d.setTraffic(ctx, cand, trafficNote{Op: "candidate", From: d.t0.Live, To: opts.Version}); err != nil {
		return d.fail(ctx, fmt.Errorf("routing the candidate: %w", err))
	}
	d.env.URL = o.urlAfterUpdate(ctx, opts.Env, d.env.URL, d.outputs)
	d.res.URL = d.env.URL
	if err := o.gate(ctx, opts.Env, d.env.URL, opts.Version, opts.Gate); err != nil {
		return d.fail(ctx, err)
	}
	return nil
}

// canary steps through the canary weights, each judged on production
// traffic and followed by a gate; only when a live version shares the
// traffic.
func (d *deployment) canary(ctx context.Context) error {
	o, opts, t0 := d.o, d.opts, d.t0
	if t0.Live == "" || t0.Live == opts.Version {
		return nil
	}
	for _, weight := range opts.Canary {
		o.logf("canary: %d%% of env %s traffic to %s", weight, opts.Env, opts.Version)
		step := Traffic{Live: t0.Live, Candidate: opts.Version, CandidateWeight: weight}
		note := trafficNote{Op: "canary", From: t0.Live, To: opts.Version, Why: lastSaid(d.last)}
		if err := d.setTraffic(ctx, step, note); err != nil {
			return d.fail(ctx, fmt.Errorf("canary step %d%%: %w", weight, err))
		}
		sa, err := d.watcher.step(ctx, weight, opts.Version, t0.Live, opts.StepWait)
		if sa != nil {
			d.res.Analysis = append(d.res.Analysis, *sa)
			d.last = sa
		}
		var judged *AnalysisError
		if err != nil && !errors.As(err, &judged) {
			err = fmt.Errorf("canary step %d%%: %w", weight, err)
		}
		if err != nil {
			return d.fail(ctx, err)
		}
		// A step can be long: a command paused through it (a stopped
		// laptop) may have lost the env meanwhile, and then its gate would
		// judge the new holder's traffic.
		if err := lease.Fence(ctx); err != nil {
			return d.fail(ctx, err)
		}
		if err := o.gate(ctx, opts.Env, d.env.URL, opts.Version, opts.Gate); err != nil {
			return d.fail(ctx, fmt.Errorf("after the %d%% canary step: %w", weight, err))
		}
	}
	return nil
}

// promote makes the version live, one update of the traffic pointer, and
// waits until the load balancer serves it.
func (d *deployment) promote(ctx context.Context) error {
	o, opts := d.o, d.opts
	if err := d.complete(); err != nil {
		return d.fail(ctx, err)
	}
	if !opts.NoGC {
		// The gc after the deploy lists the env's versions and reads its
		// history, four CLI processes: they run while the version is
		// promoted. Under the env's lease no other phoenix command
		// changes either, and retire adds this promotion to the history.
		d.gcReads = o.readAhead(ctx, opts.Env, d.envStack)
	}
	o.logf("promoting %s to live in env %s (previous: %s)", opts.Version, opts.Env, dash(d.t0.Live))
	live := Traffic{Live: opts.Version, Candidate: opts.Version}
	if err := d.setTraffic(ctx, live, trafficNote{Op: "promote", From: d.t0.Live, To: opts.Version, Why: lastSaid(d.last)}); err != nil {
		return d.fail(ctx, fmt.Errorf("promoting: %w", err))
	}
	d.promoted = time.Now()
	if err := o.confirmLive(ctx, opts.Env, d.env.URL, opts.Version, opts.Gate.Path); err != nil {
		return err
	}
	if d.wasFailed {
		if err := o.markFailed(ctx, d.name, false); err != nil {
			o.logf("warning: %s is live, but still marked failed (%v): the next gc would destroy it unless it stays live, candidate or previous", opts.Version, err)
		}
	}
	return nil
}

// bake watches the new live version against the previous one's traffic
// before the promotion; a failure rolls back to it.
func (d *deployment) bake(ctx context.Context) error {
	o, opts, t0 := d.o, d.opts, d.t0
	bake := opts.Analysis.Settings.Bake
	if bake <= 0 || opts.Analysis.Off {
		return nil
	}
	if t0.Live == "" || t0.Live == opts.Version {
		o.logf("bake: no previous version to compare %s with or to return to: not baked", opts.Version)
		return nil
	}
	sa, err := d.watcher.bake(ctx, opts.Version, t0.Live, d.promoted, bake)
	if sa != nil {
		d.res.Analysis = append(d.res.Analysis, *sa)
	}
	if err != nil {
		return d.fail(ctx, err)
	}
	return nil
}

// retire destroys, once the version is live, the versions the env's
// retention no longer keeps, so that retention holds by itself: their
// target groups, rules and images count against the platform's quotas.
// A failure here does not undo the deploy: it is reported, and the next
// deploy or phoenix gc finishes the work.
func (d *deployment) retire(ctx context.Context) error {
	o, opts := d.o, d.opts
	if opts.NoGC {
		return nil
	}
	var pre *statusReads
	if d.gcReads != nil {
		// A failed read ahead is read again by the gc itself.
		if r, err := d.gcReads(); err == nil {
			promoted := Event{Time: d.promoted, Op: "promote", From: d.t0.Live, To: opts.Version, By: o.opts.User, Result: "succeeded"}
			r.hist = append([]Event{promoted}, r.hist...)
			pre = &r
		}
	}
	res, err := o.collectWith(ctx, opts.Env, -1, false, pre)
	d.res.GC = &res
	if err != nil && ctx.Err() != nil {
		// Interrupted (Ctrl-C, a CI job cancelled): the deploy stands, but
		// the command did not finish, and its exit code says so.
		d.res.GCError = err.Error()
		return fmt.Errorf("%s is live in env %s, but the gc after it was interrupted (%w): %w; the versions beyond retention stay until: phoenix gc --env %s",
			opts.Version, opts.Env, ctx.Err(), err, opts.Env)
	}
	if err != nil {
		d.res.GCError = err.Error()
		o.logf("warning: %s is live, but the gc after it stopped: %v\nthe versions beyond retention stay until: phoenix gc --env %s", opts.Version, err, opts.Env)
	}
	return nil
}

// upVersion runs a version stack's first up (the caller marks it
// complete, once its record is written too).
func (o *Orchestrator) upVersion(ctx context.Context, s auto.Stack, name stacks.StackName) error {
	w := o.watchOps(name)
	_, err := withStackLock(o, ctx, name, func() (auto.UpResult, error) { return s.Up(resultless(ctx), w.upOpts()...) })
	w.stop()
	if err != nil {
		return fmt.Errorf("deploying version stack %s: %w", name, err)
	}
	return nil
}

// failed restores the traffic that was there before the deploy, with the
// candidate route cleared, destroys the new version stack unless asked to
// keep it, and returns err with what was done.
func (o *Orchestrator) failed(ctx context.Context, d *deployment, err error) error {
	// Cleanup must run even when ctx was cancelled (Ctrl-C).
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
	defer cancel()
	opts, name, t0 := d.opts, d.name, d.t0
	// Nothing is undone while the version's complete tag is being set:
	// its error, if any, is err's or matters no more.
	_ = d.complete()
	var notes []string
	var moved *TrafficChangedError
	var fenced *lease.FencedError
	if ferr := lease.Fence(cleanup); errors.As(ferr, &fenced) && !errors.As(err, &fenced) {
		// The lease was lost while this command was paused: whatever
		// failed, the env is another command's now.
		err = fmt.Errorf("%w (and then: %v)", ferr, err)
	}
	if errors.As(err, &fenced) {
		// The env is another command's now: this one touches nothing more,
		// and the new holder repairs what it finds.
		return &DeployError{Err: fmt.Errorf("deploy of %s stopped: %w\nthe traffic and version stack %s were left to the command that holds the env now", name, err, name)}
	}
	if errors.As(err, &moved) {
		// Another command set the traffic: it is theirs now, and this
		// deploy restores nothing.
		notes = append(notes, fmt.Sprintf("the traffic was left as the other command set it (%s)", moved.Now))
	} else if d.routed {
		restore := Traffic{Live: t0.Live}
		note := trafficNote{Op: "clear", From: opts.Version, To: t0.Live}
		var judged *AnalysisError
		if errors.As(err, &judged) {
			note.Why = said(judged.Step)
		}
		switch rerr := d.setTraffic(cleanup, restore, note); {
		case errors.As(rerr, &moved):
			notes = append(notes, fmt.Sprintf("the traffic was not restored: %v", rerr))
		case rerr != nil:
			notes = append(notes, fmt.Sprintf("restoring traffic failed too (%v); %s", rerr, repairAdvice(opts.Env, t0.Live)))
		case judged != nil && judged.Step.Step == "bake":
			notes = append(notes, fmt.Sprintf("live is back on %s and the candidate route is cleared", dash(t0.Live)))
		default:
			notes = append(notes, fmt.Sprintf("live is still %s and the candidate route is cleared", dash(t0.Live)))
		}
	} else {
		notes = append(notes, fmt.Sprintf("live is still %s", dash(t0.Live)))
	}
	switch {
	case !d.res.Created:
		notes = append(notes, fmt.Sprintf("version stack %s existed before this deploy and was kept", name))
	case opts.KeepFailed && !d.upDone:
		notes = append(notes, fmt.Sprintf("version stack %s was kept (--keep-failed), incomplete: status lists it so; inspect it, then remove it with phoenix gc, or deploy it again to finish it", name))
	case opts.KeepFailed:
		if merr := o.markFailed(cleanup, name, true); merr != nil {
			notes = append(notes, fmt.Sprintf("version stack %s was kept (--keep-failed), but not marked failed (%v): it counts as a warm version until you remove it with phoenix gc --keep 0", name, merr))
		} else {
			notes = append(notes, fmt.Sprintf("version stack %s was kept (--keep-failed): status lists it as failed; inspect it, then remove it with phoenix gc (the next deploy's gc removes it too)", name))
		}
	case moved != nil && (moved.Now.Live == opts.Version || moved.Now.Candidate == opts.Version):
		notes = append(notes, fmt.Sprintf("version stack %s was kept: the traffic that the other command set routes to it", name))
	default:
		if derr := o.destroyVersion(cleanup, name); derr != nil {
			notes = append(notes, fmt.Sprintf("destroying %s failed too (%v): run phoenix gc --env %s", name, derr, opts.Env))
		} else {
			notes = append(notes, fmt.Sprintf("version stack %s was destroyed (pass --keep-failed to keep it)", name))
		}
	}
	return &DeployError{Err: fmt.Errorf("deploy of %s failed: %w\n%s", name, err, strings.Join(notes, "\n"))}
}
