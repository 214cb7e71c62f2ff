package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/phoenix-iac/phoenix/stacks"
)

// Main runs the phoenix command line with args and returns the exit code.
func Main(ctx context.Context, args []string, f *Factory) int {
	cmd := NewRootCmd(f)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintf(f.IO.ErrOut, "phoenix: %v\n", err)
		f.failedJSON(args, err)
	}
	// An interrupted command fails however the Pulumi CLI reported it (the
	// Automation API's errors wrap no context.Canceled): it exits 130.
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return ExitCancelled
	}
	return exitCode(err)
}

// NewRootCmd builds the command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	g := &GlobalOptions{}
	root := &cobra.Command{
		Use:   "phoenix",
		Short: "Immutable blue/green environments for Pulumi",
		Long: `Phoenix deploys every change as a complete new version of an env: a new
Pulumi stack <env>.<version> that is never updated. Traffic moves to it
through the env stack's load balancer once it passes a health gate, and the
previous version stays warm so that a rollback is one pointer flip.

State lives in a local file backend inside the project (.phoenix/state)
unless --backend or PULUMI_BACKEND_URL names another (s3://..., Pulumi
Cloud). Secrets use a passphrase from PULUMI_CONFIG_PASSPHRASE(_FILE).

` + exitCodesUsage,
		Example: `  phoenix deploy --env dev                 # build, gate and promote the current code
  phoenix deploy --env prod --canary 10,50 --step-wait 2m
  phoenix status --env dev
  phoenix rollback --env dev               # back to the previous version
  phoenix gc --env dev --dry-run`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%v (see phoenix %s --help)", err, c.Name())
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.Project, "project", "", "the project directory, holding Pulumi.yaml (default: the working directory)")
	pf.StringVar(&g.Backend, "backend", "", "Pulumi state backend URL (default: $PULUMI_BACKEND_URL, else file://<project>/.phoenix/state)")
	pf.StringVar(&g.SecretsProvider, "secrets-provider", "", "secrets provider for new stacks, passed to Pulumi (default: passphrase)")

	root.AddCommand(
		newVersionCmd(f, g, nil),
		newDeployCmd(f, g, nil),
		newPromoteCmd(f, g, nil),
		newRollbackCmd(f, g, nil),
		newStatusCmd(f, g, nil),
		newEnvsCmd(f, g, nil),
		newHistoryCmd(f, g, nil),
		newGCCmd(f, g, nil),
		newPreviewCmd(f, g, nil),
		newLogsCmd(f, g, nil),
		newDestroyCmd(f, g, nil),
		newUnlockCmd(f, g, nil),
		newDashboardCmd(f, g, nil),
	)
	root.CompletionOptions.DisableDefaultCmd = true
	return root
}

// runE is the RunE of every verb, its one preamble: it checks --env and
// every duration flag (none may be negative), then the verb's own flags
// with check (may be nil), and hands opts to runF when a test gave one,
// else to the verb's run function. So a command refused for its flags has
// touched nothing: no orchestrator, no backend, no cloud.
func runE[O any](opts *O, env *string, check func(*cobra.Command) error, runF, run func(context.Context, *O) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		if err := requireEnv(*env); err != nil {
			return err
		}
		if err := checkDurations(cmd); err != nil {
			return err
		}
		if check != nil {
			if err := check(cmd); err != nil {
				return err
			}
		}
		if runF != nil {
			return runF(cmd.Context(), opts)
		}
		return run(cmd.Context(), opts)
	}
}

// checkDurations refuses a negative value of any duration flag of cmd,
// naming the flag.
func checkDurations(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if err != nil || fl.Value.Type() != "duration" {
			return
		}
		if d, perr := time.ParseDuration(fl.Value.String()); perr == nil && d < 0 {
			err = usagef("--%s %s: a duration of 0 or more, such as 30s or 2m", fl.Name, d)
		}
	})
	return err
}

// requireEnv checks the --env flag.
func requireEnv(env string) error {
	if env == "" {
		return usageError{errNoEnv}
	}
	if err := stacks.ValidateEnv(env); err != nil {
		return usagef("--env: %v", err)
	}
	return nil
}

// noArgs refuses positional arguments with a message that names the flags.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("phoenix %s takes no arguments, got %q; use flags such as --env (see --help)", cmd.Name(), args)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
