package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

// DestroyOptions are the options of phoenix destroy.
type DestroyOptions struct {
	Global *GlobalOptions
	Env    string
	Yes    bool
	Wait   time.Duration
	JSON   bool
}

func newDestroyCmd(f *Factory, g *GlobalOptions, runF func(context.Context, *DestroyOptions) error) *cobra.Command {
	opts := &DestroyOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "destroy --env ENV",
		Short: "Destroy an env: every version, then the env stack",
		Long: `Destroy points the env's traffic at nothing, destroys every version stack,
then the env stack, and removes the stacks. It asks for the env's name as
confirmation on a terminal; elsewhere --yes is required.`,
		Example: `  phoenix destroy --env dev
  phoenix destroy --env pr-123 --yes`,
		Args: noArgs,
		RunE: runE(opts, &opts.Env, func(*cobra.Command) error {
			if !opts.Yes {
				if !f.IO.CanPrompt() {
					return usagef("destroy removes env %s and all its versions; there is no terminal to confirm on, so pass --yes", opts.Env)
				}
				fmt.Fprintf(f.IO.ErrOut, "This destroys env %s and every version of it. Type the env name to confirm: ", opts.Env)
				answer, err := f.IO.ReadSecret()
				fmt.Fprintln(f.IO.ErrOut)
				if err != nil || answer != opts.Env {
					return usagef("not confirmed; nothing was destroyed")
				}
			}
			return nil
		}, runF, func(ctx context.Context, opts *DestroyOptions) error { return destroyRun(ctx, f, opts) }),
	}
	cmd.Flags().StringVar(&opts.Env, "env", "", "the env (required)")
	cmd.Flags().BoolVar(&opts.Yes, "yes", false, "confirm without asking")
	cmd.Flags().DurationVar(&opts.Wait, "wait", 0, "wait this long for another phoenix command on the env to finish")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON, on failure too")
	return cmd
}

func destroyRun(ctx context.Context, f *Factory, opts *DestroyOptions) error {
	o, err := f.Orchestrator(ctx, opts.Global)
	if err != nil {
		return err
	}
	res, err := o.DestroyEnv(ctx, opts.Env, opts.Wait)
	return f.show(opts.JSON, res, err, func(w io.Writer) error { return renderDestroy(w, res) })
}

// renderDestroy is destroy's human view.
func renderDestroy(w io.Writer, res orchestrator.DestroyResult) error {
	var err error
	switch {
	case !res.EnvStack && len(res.Versions) == 0:
		_, err = fmt.Fprintf(w, "env %s has no stacks: nothing to destroy (destroyed already, or never deployed)\n", res.Env)
	case len(res.Versions) == 0:
		_, err = fmt.Fprintf(w, "env %s destroyed: the env stack (it had no version stacks)\n", res.Env)
	case !res.EnvStack:
		_, err = fmt.Fprintf(w, "env %s destroyed: versions %s (it had no env stack)\n", res.Env, list(res.Versions))
	default:
		_, err = fmt.Fprintf(w, "env %s destroyed: versions %s and the env stack\n", res.Env, list(res.Versions))
	}
	return err
}
