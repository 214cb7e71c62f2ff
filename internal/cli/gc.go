package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

// GCOptions are the options of phoenix gc.
type GCOptions struct {
	Global *GlobalOptions
	Env    string
	Keep   int
	DryRun bool
	Wait   time.Duration
	JSON   bool
}

func newGCCmd(f *Factory, g *GlobalOptions, runF func(context.Context, *GCOptions) error) *cobra.Command {
	opts := &GCOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "gc --env ENV",
		Short: "Destroy versions beyond retention",
		Long: `Gc destroys the version stacks an env no longer needs. It never touches the
live, candidate or previous version, and keeps the newest --keep others
(default: the env's phoenix:retention).`,
		Example: `  phoenix gc --env dev --dry-run
  phoenix gc --env dev --keep 0`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireEnv(opts.Env); err != nil {
				return err
			}
			// -1 is the default (the env's retention), never a value to give.
			if cmd.Flags().Changed("keep") && opts.Keep < 0 {
				return usagef("--keep must be 0 or more, got %d", opts.Keep)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			o, err := f.Orchestrator(cmd.Context(), opts.Global)
			if err != nil {
				return err
			}
			if !opts.DryRun {
				if err := o.Preflight(cmd.Context(), opts.Env); err != nil {
					return err
				}
			}
			res, err := o.GC(cmd.Context(), orchestrator.GCOptions{Env: opts.Env, Keep: opts.Keep, DryRun: opts.DryRun, Wait: opts.Wait})
			if opts.JSON && err == nil {
				return writeJSON(f.IO.Out, res)
			}
			verb := "destroyed"
			if res.DryRun {
				verb = "would destroy"
			}
			fmt.Fprintf(f.IO.Out, "env %s: kept %s; %s %s\n", res.Env, list(res.Kept), verb, list(res.Destroyed))
			return err
		},
	}
	cmd.Flags().StringVar(&opts.Env, "env", "", "the env (required)")
	cmd.Flags().IntVar(&opts.Keep, "keep", -1, "warm versions to keep besides live, candidate and previous (default: phoenix:retention)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show what would be destroyed, destroy nothing")
	cmd.Flags().DurationVar(&opts.Wait, "wait", 0, "wait this long for another phoenix command on the env to finish")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func list(vs []string) string {
	if len(vs) == 0 {
		return "nothing"
	}
	return strings.Join(vs, ", ")
}
