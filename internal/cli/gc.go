package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

// GCOptions are the options of phoenix gc.
type GCOptions struct {
	Global  *GlobalOptions
	Env     string
	Keep    int
	DryRun  bool
	Orphans bool
	Expired bool
	Wait    time.Duration
	JSON    bool
}

func newGCCmd(f *Factory, g *GlobalOptions, runF func(context.Context, *GCOptions) error) *cobra.Command {
	opts := &GCOptions{Global: g}
	var checkedGC func(*cobra.Command, []string) error
	cmd := &cobra.Command{
		Use:   "gc (--env ENV | --expired)",
		Short: "Destroy versions beyond retention",
		Long: `Gc destroys the version stacks an env no longer needs. It never touches the
live, candidate or previous version, and keeps the newest --keep others
(default: the env's phoenix:retention). Incomplete versions (whose deploy
failed or was interrupted) are always destroyed. Each successful deploy runs
it with the env's retention (unless deploy --no-gc), so run it by hand to
keep fewer, to preview with --dry-run, or to finish a gc that stopped.

With --orphans, gc instead looks in the cloud for what carries the env's
labels (phoenix.env=ENV and its owner: phoenix.project and phoenix.backend)
but no stack of the env holds, such as a container whose create was
interrupted, and removes it. An env of the same name of another checkout or
backend on the same Docker engine or AWS account is left alone. On the
docker platform it asks the Docker engine for containers, networks and
volumes; on aws it asks the tagging API (tags phoenix:env, phoenix:project,
phoenix:backend) and IAM (roles under /phoenix/ENV/) for what a version
creates, and removes it in the order AWS requires: ECS service (waiting for
its tasks to stop), listener rule, target group, task definition, security
group, IAM role. Run it with --dry-run first: while it runs, nobody should
run pulumi up by hand on the env's stacks.

With --expired (and no --env), gc destroys every env of the project past
the expiry a deploy --ttl gave it, as phoenix destroy does (versions first,
then the env), oldest expiry first; envs without an expiry, or that expire
later, are left alone. Each expired env's config file must be in the
checkout, as for destroy. One that cannot be destroyed is reported and the
others go on (exit 1 then; run it again).`,
		Example: `  phoenix gc --env dev --dry-run
  phoenix gc --env dev --keep 0
  phoenix gc --env dev --orphans --dry-run
  phoenix gc --env dev --orphans
  phoenix gc --expired --dry-run`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !opts.Expired {
				return checkedGC(cmd, args)
			}
			switch {
			case opts.Env != "":
				return usagef("--expired destroys the expired envs of the whole project: give it without --env")
			case opts.Orphans || cmd.Flags().Changed("keep"):
				return usagef("--expired destroys whole envs: give it without --keep and --orphans")
			}
			if err := checkDurations(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return gcExpired(cmd.Context(), f, opts)
		},
	}
	checkedGC = runE(opts, &opts.Env, func(cmd *cobra.Command) error {
		// -1 is the default (the env's retention), never a value to give.
		if cmd.Flags().Changed("keep") && opts.Keep < 0 {
			return usagef("--keep must be 0 or more, got %d", opts.Keep)
		}
		if opts.Orphans && cmd.Flags().Changed("keep") {
			return usagef("--keep is about versions; --orphans removes only what no stack holds: give one of them")
		}
		return nil
	}, runF, func(ctx context.Context, opts *GCOptions) error { return gcRun(ctx, f, opts) })
	cmd.Flags().StringVar(&opts.Env, "env", "", "the env (required, except with --expired)")
	cmd.Flags().IntVar(&opts.Keep, "keep", -1, "warm versions to keep besides live, candidate and previous (default: phoenix:retention)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show what would be destroyed, destroy nothing")
	cmd.Flags().BoolVar(&opts.Orphans, "orphans", false, "remove what carries the env's labels or tags in the cloud but no stack holds")
	cmd.Flags().BoolVar(&opts.Expired, "expired", false, "destroy every env of the project past its expiry (deploy --ttl), instead of one env's versions")
	cmd.Flags().DurationVar(&opts.Wait, "wait", 0, "wait this long for another phoenix command on the env to finish")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func gcRun(ctx context.Context, f *Factory, opts *GCOptions) error {
	o, err := f.Orchestrator(ctx, opts.Global)
	if err != nil {
		return err
	}
	if opts.Orphans {
		return gcOrphans(ctx, f, o, opts)
	}
	res, err := o.GC(ctx, orchestrator.GCOptions{Env: opts.Env, Keep: opts.Keep, DryRun: opts.DryRun, Wait: opts.Wait})
	return f.showPartial(opts.JSON, res, err, func(w io.Writer) error { return renderGC(w, res) })
}

// renderGC is gc's human view: what it kept and destroyed, also when it
// stopped part way.
func renderGC(w io.Writer, res orchestrator.GCResult) error {
	if res.Env == "" {
		return nil // failed before it looked
	}
	verb := "destroyed"
	if res.DryRun {
		verb = "would destroy"
	}
	_, err := fmt.Fprintf(w, "env %s: kept %s; %s %s\n", res.Env, list(res.Kept), verb, list(res.Destroyed))
	return err
}

func gcExpired(ctx context.Context, f *Factory, opts *GCOptions) error {
	o, err := f.Orchestrator(ctx, opts.Global)
	if err != nil {
		return err
	}
	res, err := o.GCExpired(ctx, orchestrator.ExpiredOptions{DryRun: opts.DryRun, Wait: opts.Wait})
	return f.showPartial(opts.JSON, res, err, func(w io.Writer) error { return renderExpired(w, res) })
}

// renderExpired is gc --expired's human view.
func renderExpired(w io.Writer, res orchestrator.ExpiredResult) error {
	if len(res.Envs) == 0 {
		_, err := fmt.Fprintf(w, "no expired envs (%d expire later)\n", res.Kept)
		return err
	}
	for _, e := range res.Envs {
		what := "destroyed"
		switch {
		case res.DryRun:
			what = "would destroy"
		case e.Error != "":
			what = "not destroyed: " + e.Error
		case !e.Destroyed:
			what = "not reached"
		}
		if _, err := fmt.Fprintf(w, "env %s expired at %s: %s\n", e.Env, e.Expires.UTC().Format(time.RFC3339), what); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d env(s) expire later\n", res.Kept)
	return err
}

func gcOrphans(ctx context.Context, f *Factory, o Orchestrator, opts *GCOptions) error {
	res, err := o.GCOrphans(ctx, orchestrator.OrphansOptions{Env: opts.Env, DryRun: opts.DryRun, Wait: opts.Wait})
	if err != nil && len(res.Removed) == 0 {
		return f.show(opts.JSON, res, err, nil)
	}
	return f.showPartial(opts.JSON, res, err, func(w io.Writer) error { return renderOrphans(w, res) })
}

// renderOrphans is gc --orphans's human view: what it found, and removed
// or would remove.
func renderOrphans(w io.Writer, res orchestrator.OrphansResult) error {
	if len(res.Orphans) == 0 {
		_, err := fmt.Fprintf(w, "env %s: no orphans: everything with its labels is held by a stack\n", res.Env)
		return err
	}
	verb := "removed"
	shown := res.Removed
	if res.DryRun {
		verb, shown = "would remove", res.Orphans
	}
	fmt.Fprintf(w, "env %s: %d orphan(s); %s:\n", res.Env, len(res.Orphans), verb)
	for _, x := range shown {
		if _, err := fmt.Fprintf(w, "  %s %s (%s) version %s\n", x.Kind, x.Name, x.ID, orNone(x.Version)); err != nil {
			return err
		}
	}
	return nil
}

func list(vs []string) string {
	if len(vs) == 0 {
		return "nothing"
	}
	return strings.Join(vs, ", ")
}
