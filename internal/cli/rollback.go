package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-iac/phoenix/internal/orchestrator"
	"github.com/phoenix-iac/phoenix/stacks"
)

// RollbackOptions are the options of phoenix rollback.
type RollbackOptions struct {
	Global      *GlobalOptions
	Env         string
	To          string
	Force       bool
	GateCount   int
	GateTimeout time.Duration
	Wait        time.Duration
	JSON        bool
	Verbose     bool
}

func newRollbackCmd(f *Factory, g *GlobalOptions, runF func(context.Context, *RollbackOptions) error) *cobra.Command {
	opts := &RollbackOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "rollback --env ENV [--to VERSION]",
		Short: "Send traffic back to a warm version",
		Long: `Rollback points live traffic at the previous version (or --to VERSION),
which must still exist warm. It first refreshes that version's stack and
refuses if it has drifted, then probes it through its own version route
(the X-Phoenix-Version header with the env's route key, which reaches any
warm version); the switch
itself is the one update of the env stack. --force skips the drift check
and the probe.

A rollback that finished and is run again with the same --to changes
nothing; run an interrupted rollback again with --to.`,
		Example: `  phoenix rollback --env dev
  phoenix rollback --env prod --to 8b1e0d4a
  phoenix rollback --env prod --to 8b1e0d4a --force`,
		Args: noArgs,
		RunE: runE(opts, &opts.Env, func(*cobra.Command) error {
			if opts.To != "" {
				if err := stacks.ValidateVersion(opts.To); err != nil {
					return usagef("--to: %v", err)
				}
			}
			if opts.GateCount < 1 {
				return usagef("--gate-count must be 1 or more, got %d", opts.GateCount)
			}
			if opts.GateTimeout == 0 {
				return usagef("--gate-timeout 0s: the probe needs time for its answers, such as 1m")
			}
			return nil
		}, runF, func(ctx context.Context, opts *RollbackOptions) error { return rollbackRun(ctx, f, opts) }),
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Env, "env", "", "the env (required)")
	fl.StringVar(&opts.To, "to", "", "the version to send traffic to (default: the previous live version)")
	fl.BoolVar(&opts.Force, "force", false, "skip the drift check and the probe")
	fl.IntVar(&opts.GateCount, "gate-count", 5, "consecutive good answers the probe needs")
	fl.DurationVar(&opts.GateTimeout, "gate-timeout", time.Minute, "time the probe may take")
	fl.DurationVar(&opts.Wait, "wait", 0, "wait this long for another phoenix command on the env to finish")
	fl.BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	fl.BoolVar(&opts.Verbose, "verbose", false, "also print how long each step took (--json always has them: timings)")
	return cmd
}

func rollbackRun(ctx context.Context, f *Factory, opts *RollbackOptions) error {
	o, err := f.Orchestrator(ctx, opts.Global)
	if err != nil {
		return err
	}
	res, err := o.Rollback(ctx, orchestrator.RollbackOptions{
		Env: opts.Env, To: opts.To, Force: opts.Force, Wait: opts.Wait,
		Gate: orchestrator.GateOptions{Need: opts.GateCount, Timeout: opts.GateTimeout},
	})
	return f.show(opts.JSON, res, err, func(w io.Writer) error {
		if err := renderRollback(w, res); err != nil || !opts.Verbose {
			return err
		}
		return renderTimings(w, res.Timings)
	})
}

// renderRollback is rollback's human view.
func renderRollback(w io.Writer, res orchestrator.RollbackResult) error {
	if res.NoOp {
		_, err := fmt.Fprintf(w, "env %s: %s is already live: nothing changed\n", res.Env, res.To)
		return err
	}
	_, err := fmt.Fprintf(w, "env %s: live is now %s (was %s)\n", res.Env, res.To, orNone(res.From))
	return err
}

// orNone names an empty version "none" in the human views.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
