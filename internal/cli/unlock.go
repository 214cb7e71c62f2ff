package cli

import (
	"context"
	"errors"
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
the holder's machine is gone and you cannot wait for the expiry. --force also
clears the Pulumi locks of the env's stacks in the backend (what pulumi cancel
does, for every stack of the env), which a killed pulumi leaves behind, and
lists each one it cleared.`,
		Example: `  phoenix unlock --env dev
  phoenix unlock --env dev --force   # the holder's machine is gone`,
		Args: noArgs,
		RunE: runE(opts, &opts.Env, nil, runF, func(ctx context.Context, opts *UnlockOptions) error { return unlockRun(ctx, f, opts) }),
	}
	cmd.Flags().StringVar(&opts.Env, "env", "", "the env (required)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "clear the lease even if its holder may still run")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON, on failure too")
	return cmd
}

// unlockRun clears the env's lease and, with --force, the Pulumi locks of
// its stacks.
func unlockRun(ctx context.Context, f *Factory, opts *UnlockOptions) error {
	_, backend, err := f.backend(opts.Global)
	if err != nil {
		return err
	}
	store, closeStore, err := f.openLeases(ctx, backend)
	if err != nil {
		return err
	}
	defer closeStore()
	res := UnlockResult{Env: opts.Env}
	h, err := store.Clear(ctx, opts.Env, "unlock", opts.Force)
	var notLocked *lease.NotLockedError
	switch {
	case err == nil:
		res.Holder = &h
	case opts.Force && errors.As(err, &notLocked):
		err = nil
	}
	if err == nil && opts.Force {
		var o Orchestrator
		if o, err = f.Orchestrator(ctx, opts.Global); err == nil {
			res.StackLocks, err = o.ClearStackLocks(ctx, opts.Env)
		}
	}
	return f.show(opts.JSON, res, err, func(w io.Writer) error { return renderUnlock(w, res) })
}

// UnlockResult is phoenix unlock's result: the holder whose lease went,
// if any, and with --force the Pulumi stack locks it cleared.
type UnlockResult struct {
	Env        string                   `json:"env"`
	Holder     *lease.Holder            `json:"holder,omitempty"`
	StackLocks []orchestrator.StackLock `json:"stackLocks,omitempty"`
}

// renderUnlock is unlock's human view.
func renderUnlock(w io.Writer, res UnlockResult) error {
	if h := res.Holder; h != nil {
		if _, err := fmt.Fprintf(w, "cleared the lock of env %s held by phoenix %s (pid %d on %s since %s)\n",
			res.Env, h.Command, h.PID, h.Host, h.Since.UTC().Format("2006-01-02 15:04:05 UTC")); err != nil {
			return err
		}
	} else if _, err := fmt.Fprintf(w, "env %s had no lease to clear\n", res.Env); err != nil {
		return err
	}
	for _, l := range res.StackLocks {
		by := "a pulumi command"
		if l.PID != 0 {
			by = fmt.Sprintf("pulumi (pid %d, %s@%s, since %s)", l.PID, l.User, l.Host, l.Since.UTC().Format("2006-01-02 15:04:05 UTC"))
		}
		if _, err := fmt.Fprintf(w, "cleared the Pulumi lock of stack %s held by %s\n", l.Stack, by); err != nil {
			return err
		}
	}
	return nil
}
