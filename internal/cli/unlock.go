package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/phoenix-iac/phoenix/internal/lease"
	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

// UnlockOptions are the options of phoenix unlock.
type UnlockOptions struct {
	Global *GlobalOptions
	Env    string
	Force  bool
	JSON   bool
}

func newUnlockCmd(f *Factory, g *GlobalOptions, runF func(context.Context, *UnlockOptions) error) *cobra.Command {
	opts := &UnlockOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "unlock --env ENV",
		Short: "Clear an env's lease, left by a phoenix command that died",
		Long: `Unlock clears an env's lease: the right to change the env, which one phoenix
command on one machine holds at a time. The lease lives in the state backend
(PHOENIX_LEASE_URL names another store), so every machine that shares the
backend sees it. Its holder renews it every third of its time to live
(PHOENIX_LEASE_TTL, default 2m) while it works.

Every phoenix command already takes over a lease whose holder is gone: at
once when that was a process of this machine that no longer runs, and once
the lease expired for a holder elsewhere, with a line naming it. So unlock is
rarely needed: without --force it clears only such a lease.

--force clears a lease whose holder may still run. The lease's token grows,
so if that holder does still run, it stops at its next traffic change or
stack removal rather than write after another command: use it when you know
the holder's machine is gone and you cannot wait for the expiry.`,
		Example: `  phoenix unlock --env dev
  phoenix unlock --env dev --force   # the holder's machine is gone`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireEnv(opts.Env); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			dir, err := f.ProjectDir(opts.Global)
			if err != nil {
				return err
			}
			store, closeStore, err := lease.Open(cmd.Context(), f.leaseURL(f.backendURL(opts.Global, dir)), orchestrator.ProjectName)
			if err != nil {
				return err
			}
			defer closeStore()
			h, err := store.Clear(cmd.Context(), opts.Env, "unlock", opts.Force)
			res := UnlockResult{Env: opts.Env, Holder: h}
			return f.show(opts.JSON, res, err, func(w io.Writer) error { return renderUnlock(w, res) })
		},
	}
	cmd.Flags().StringVar(&opts.Env, "env", "", "the env (required)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "clear the lease even if its holder may still run")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON, on failure too")
	return cmd
}

// UnlockResult is phoenix unlock's result: the holder whose lock went.
type UnlockResult struct {
	Env    string       `json:"env"`
	Holder lease.Holder `json:"holder"`
}

// renderUnlock is unlock's human view.
func renderUnlock(w io.Writer, res UnlockResult) error {
	h := res.Holder
	_, err := fmt.Fprintf(w, "cleared the lock of env %s held by phoenix %s (pid %d on %s since %s)\n",
		res.Env, h.Command, h.PID, h.Host, h.Since.UTC().Format("2006-01-02 15:04:05 UTC"))
	return err
}
