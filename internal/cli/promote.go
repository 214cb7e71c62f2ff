package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-iac/phoenix/internal/orchestrator"
	"github.com/phoenix-iac/phoenix/internal/version"
	"github.com/phoenix-iac/phoenix/stacks"
)

// PromoteOptions are the options of phoenix promote: the source, and the
// rollout in the target env (Deploy.Env), as deploy's flags give it.
type PromoteOptions struct {
	From string
	// Version is the source env's version; "" for its live one.
	Version string
	Deploy  DeployOptions
}

func newPromoteCmd(f *Factory, g *GlobalOptions, runF func(context.Context, *PromoteOptions) error) *cobra.Command {
	opts := &PromoteOptions{Deploy: DeployOptions{Global: g}}
	cmd := &cobra.Command{
		Use:   "promote --from ENV --to ENV",
		Short: "Deploy in one env the artifact that a version of another runs, without a rebuild",
		Long: `Promote deploys in env --to a new version that runs exactly the image
that a version of env --from runs (its live one, or --version), with --to's
own config (Pulumi.<to>.yaml), through the same gate, canary steps,
analysis and bake as phoenix deploy, whose flags it takes. Nothing is
built: the image is found by digest and the new version runs it by that
digest. On docker it is the image id, in the engine both envs share. On
aws it is copied from --from's ECR repository into --to's, under the new
version's tag, by go-containerregistry with a registry token from ECR
(both repositories in one account and region; layers are mounted when the
registry allows blob mounting).

The new version's id is the hash of --to's config, the program and the
image's digest: the same promotion always gets the same id, so a promotion
that was interrupted is finished by running it again, and it never
collides with a version built from source. It records the version it came
from, its artifact id and its program's hash: phoenix status shows them.

Promote refuses, before it changes anything: a --from env that does not
exist or has nothing live, or a --version it does not have (exit 6); the
same env on both sides (exit 2); envs on different platforms; and a
program here that is not the one the source version was deployed with (a
promotion promotes one definition: check out the commit that deployed it).`,
		Example: `  phoenix promote --from staging --to prod
  phoenix promote --from staging --to prod --version 3f9a1c2e --canary 10,50 --step-wait 2m`,
		Args: noArgs,
	}
	run := runE(opts, &opts.Deploy.Env, func(cmd *cobra.Command) error { return checkPromoteFlags(cmd, opts) },
		runF, func(ctx context.Context, opts *PromoteOptions) error { return promoteRun(ctx, f, opts) })
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		// --to is promote's --env: named as promote names it.
		if opts.Deploy.Env == "" {
			return usagef("--to is required: name the env to deploy the artifact in, as in --to prod")
		}
		if err := stacks.ValidateEnv(opts.Deploy.Env); err != nil {
			return usagef("--to: %v", err)
		}
		return run(cmd, args)
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.From, "from", "", "the env whose version is promoted (required)")
	fl.StringVar(&opts.Deploy.Env, "to", "", "the env to deploy it in (required)")
	fl.StringVar(&opts.Version, "version", "", "the --from env's version to promote (default: its live version)")
	addRolloutFlags(fl, &opts.Deploy)
	return cmd
}

// checkPromoteFlags checks promote's own flags, then the rollout's.
func checkPromoteFlags(cmd *cobra.Command, opts *PromoteOptions) error {
	if opts.From == "" {
		return usagef("--from is required: name the env whose version is promoted, as in --from staging")
	}
	if err := stacks.ValidateEnv(opts.From); err != nil {
		return usagef("--from: %v", err)
	}
	if opts.From == opts.Deploy.Env {
		return usagef("--from and --to are both %s: promote deploys one env's artifact in another; to deploy %s again, run: phoenix deploy --env %s",
			opts.From, opts.From, opts.From)
	}
	if opts.Version != "" {
		if err := stacks.ValidateVersion(opts.Version); err != nil {
			return usagef("--version: %v", err)
		}
	}
	return checkDeployFlags(cmd, &opts.Deploy)
}

func promoteRun(ctx context.Context, f *Factory, opts *PromoteOptions) error {
	dir, err := f.ProjectDir(opts.Deploy.Global)
	if err != nil {
		return err
	}
	program, err := version.Program(dir)
	if err != nil {
		return err
	}
	opts.Deploy.Global.json = opts.Deploy.JSON
	o, err := f.Orchestrator(ctx, opts.Deploy.Global)
	if err != nil {
		return err
	}
	d, err := rollout(o, &opts.Deploy)
	if err != nil {
		return err
	}
	to := opts.Deploy.Env
	fmt.Fprintf(f.IO.ErrOut, "phoenix: promoting %s to %s\n", opts.From, to)
	res, err := o.Promote(ctx, orchestrator.PromoteOptions{
		From: opts.From, To: to, Version: opts.Version, Program: program, Deploy: d,
		VersionOf: func(image string) (string, error) { return version.Promoted(dir, to, image) },
	})
	appendSummary(opts.Deploy.Summary, f.IO.ErrOut, "promote", res.DeployResult, err)
	return f.show(opts.Deploy.JSON, res, err, func(w io.Writer) error {
		if err := renderPromote(w, res); err != nil || !opts.Deploy.Verbose {
			return err
		}
		return renderTimings(w, res.Timings)
	})
}

// renderPromote is promote's human view: the deploy's, after what was promoted.
func renderPromote(w io.Writer, res orchestrator.PromoteResult) error {
	artifact := res.Artifact
	if artifact == "" {
		artifact = "-"
	}
	took := time.Duration(res.Seconds * float64(time.Second)).Round(100 * time.Millisecond)
	if _, err := fmt.Fprintf(w, "promoted %s (image %s, artifact %s) to env %s as %s, nothing built, in %s\n",
		res.From, shortImage(res.Image), artifact, res.Env, res.Version, took); err != nil {
		return err
	}
	return renderDeploy(w, res.DeployResult)
}
