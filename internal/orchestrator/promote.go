package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// PromoteOptions describe one promotion.
type PromoteOptions struct {
	// From is the env whose version is promoted; To the env it is
	// deployed in. Required; they differ.
	From, To string
	// Version is From's version to promote; "" for its live one.
	Version string
	// Program is the hash of the program at hand (version.Program): it
	// must be the one the promoted version was deployed with.
	Program string
	// VersionOf computes To's version id of a version that runs image
	// (version.Promoted). Required.
	VersionOf func(image string) (string, error)
	// Deploy is how the new version is deployed in To: canary, gate,
	// analysis, lock wait, gc. Promote sets its env, version, image and
	// where it came from.
	Deploy DeployOptions
}

// PromoteResult says what a promotion did: the deploy in the target env,
// and what it promoted.
type PromoteResult struct {
	DeployResult
	// From is the version stack promoted (<env>.<version>).
	From string `json:"from"`
	// Image is the image the new version runs, by digest.
	Image string `json:"image,omitempty"`
	// Artifact is the artifact id of the promoted version, when its
	// deploy recorded one.
	Artifact string `json:"artifact,omitempty"`
	// Seconds is how long the promotion took, wall time.
	Seconds float64 `json:"seconds"`
}

// Promote deploys in env To a new version that runs the artifact of a
// version of env From, with To's own config, through the same gate,
// canary steps, analysis and bake as a deploy. Nothing is built: the
// platform copies the image by digest where To needs it. It refuses,
// before it changes anything, a source that does not exist or is not a
// complete version, a program that is not the one the source version was
// deployed with, and envs on different platforms.
func (o *Orchestrator) Promote(ctx context.Context, opts PromoteOptions) (res PromoteResult, err error) {
	start := time.Now()
	res = PromoteResult{DeployResult: DeployResult{Env: opts.To}}
	for _, env := range []string{opts.From, opts.To} {
		if err := stacks.ValidateEnv(env); err != nil {
			return res, err
		}
	}
	if opts.From == opts.To {
		return res, fmt.Errorf("promote --from %s --to %s: one env; to deploy it again, run: phoenix deploy --env %s", opts.From, opts.To, opts.To)
	}
	if opts.Version != "" {
		if err := stacks.ValidateVersion(opts.Version); err != nil {
			return res, err
		}
	}
	var own Timings
	defer func() {
		res.Timings = append(own, res.Timings...)
		res.Seconds = time.Since(start).Round(time.Millisecond).Seconds()
	}()
	// The target's preflight (its engine answers, its plugins are
	// installed: a CLI process) runs beside the source's reads; its
	// error counts only once the source is known to be one to promote.
	// It changes no env: at most it installs a plugin that any deploy
	// of the target needs.
	preflight := make(chan error, 1)
	go func() { preflight <- o.preflight(ctx, opts.To) }()
	var src promotion
	err = own.time("source", func() (err error) { src, err = o.promotionSource(ctx, opts); return err })
	preflightErr := <-preflight
	if err != nil {
		return res, err
	}
	res.From, res.Artifact = src.name.String(), src.artifact

	pTo, _, err := o.platformOf(opts.To)
	if err != nil {
		return res, err
	}
	if pTo.Name() != src.platform.Name() {
		return res, fmt.Errorf("env %s runs on %s and env %s on %s: an artifact of one cannot run on the other; deploy %s from source: phoenix deploy --env %s",
			opts.From, src.platform.Name(), opts.To, pTo.Name(), opts.To, opts.To)
	}
	noPromotion := fmt.Errorf("the %s platform %w yet: deploy %s from source: phoenix deploy --env %s", pTo.Name(), platform.ErrNoPromotion, opts.To, opts.To)
	promoter, ok := pTo.(platform.Promoter)
	if !ok {
		return res, noPromotion
	}
	if preflightErr != nil {
		return res, preflightErr
	}
	var image string
	err = own.time("artifact", func() (err error) { image, err = promoter.Artifact(ctx, src.env, src.name.Version); return err })
	if errors.Is(err, platform.ErrNoPromotion) {
		return res, noPromotion
	}
	if err != nil {
		return res, err
	}
	v, err := opts.VersionOf(image)
	if err != nil {
		return res, err
	}
	res.Version = v
	o.logf("promoting %s (image %s) to env %s as version %s: nothing is built", src.name, image, opts.To, v)
	d := opts.Deploy
	d.Env, d.Version, d.PromotedFrom = opts.To, v, src.name.String()
	d.Artifact, d.Program = src.artifact, opts.Program
	// The copy waits for To's lock and env stack (where To's images go
	// may be made by its first deploy).
	d.Copy = func(ctx context.Context, to platform.Env) (string, error) {
		ref, err := promoter.Copy(ctx, src.env, to, image, v)
		if err != nil {
			return "", fmt.Errorf("copying %s's image %s to env %s: %w", src.name, image, opts.To, err)
		}
		res.Image = ref
		return ref, nil
	}
	dr, err := o.Deploy(ctx, d)
	res.DeployResult = dr
	if errors.Is(err, platform.ErrNoPromotion) {
		return res, noPromotion
	}
	return res, err
}

// promotion is the version a promotion promotes.
type promotion struct {
	name     stacks.StackName
	platform stacks.Platform
	env      platform.Env
	artifact string
}

// promotionSource finds the version to promote and checks that it can be:
// a complete version, not kept after a failed deploy, deployed with the
// program at hand.
func (o *Orchestrator) promotionSource(ctx context.Context, opts PromoteOptions) (promotion, error) {
	var src promotion
	// Each read is a CLI process: two rounds of reads side by side.
	var st EnvState
	var failed map[string]bool
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { st, _, err = o.envState(gctx, opts.From); return err })
	g.Go(func() (err error) { failed, err = o.failedStacks(gctx); return err })
	if err := g.Wait(); err != nil {
		return src, err
	}
	if !st.Exists {
		return src, &NotFoundError{What: fmt.Sprintf("env %s has not been deployed: there is nothing to promote from it (phoenix envs lists the project's envs)", opts.From)}
	}
	p, f, err := o.platformOf(opts.From)
	if err != nil {
		return src, err
	}
	v := opts.Version
	if v == "" {
		if v = st.Traffic.Live; v == "" {
			return src, &NotFoundError{What: fmt.Sprintf("env %s has nothing live to promote: deploy it first (phoenix deploy --env %s), or name a warm version with --version", opts.From, opts.From)}
		}
	}
	name := stacks.StackName{Env: opts.From, Version: v}
	ws, err := o.workspace(ctx)
	if err != nil {
		return src, err
	}
	var rec stackRecord
	var tags map[string]string
	var recErr, tagsErr error
	var both sync.WaitGroup
	both.Add(2)
	go func() { defer both.Done(); _, rec, recErr = o.selectStack(ctx, name) }()
	go func() { defer both.Done(); tags, tagsErr = ws.ListTags(ctx, name.String()) }()
	both.Wait()
	if isNotFound(recErr) {
		return src, &NotFoundError{What: fmt.Sprintf("version stack %s does not exist: phoenix status --env %s lists the versions to promote", name, opts.From)}
	}
	if recErr != nil {
		return src, recErr
	}
	if tagsErr != nil {
		return src, fmt.Errorf("reading %s's tags: %w", name, tagsErr)
	}
	if !rec.complete() {
		return src, fmt.Errorf("version stack %s is incomplete (its deploy failed or was interrupted): promote a complete one (phoenix status --env %s)", name, opts.From)
	}
	if failed[name.String()] {
		return src, fmt.Errorf("version %s failed its deploy and was kept for inspection: it is not one to promote", name)
	}
	info := []VersionInfo{{Version: v, Stack: name.String(), Program: tags[tagProgram], Artifact: tags[tagArtifact]}}
	switch program := info[0].Program; {
	case program == "":
		return src, fmt.Errorf("version %s records no program hash (a phoenix before promote deployed it), so phoenix cannot tell that it promotes one definition: deploy %s again, from this checkout, then promote it",
			name, opts.From)
	case program != opts.Program:
		return src, fmt.Errorf("the program here (hash %s) is not the one version %s was deployed with (hash %s): a promotion promotes one definition; check out the commit that deployed it (the program is Pulumi.yaml, main.go, go.mod, go.sum, stacks/, components/, platforms/ and internal/header/), or deploy %s from source",
			opts.Program, name, program, opts.To)
	}
	env := o.opsEnv(opts.From, f, st)
	// The version's outputs were read above: the artifact's lookup needs
	// no second read of its stack.
	read := env.VersionOutputs
	env.VersionOutputs = func(ctx context.Context, version string) (map[string]any, error) {
		if version == v {
			return rec.Outputs, nil
		}
		return read(ctx, version)
	}
	return promotion{name: name, platform: p, env: env, artifact: info[0].Artifact}, nil
}
