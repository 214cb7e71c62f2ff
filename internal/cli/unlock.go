package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/phoenix-iac/phoenix/internal/lock"
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
		Short: "Clear an env lock left by a phoenix command that died",
		Long: `Unlock removes an env's lock when the process that took it is gone (it
checks, on the same host). Every phoenix command already takes over such a
lock by itself, with a line naming the dead holder, so unlock is rarely
needed for those.

A holder on another host cannot be checked from here: its lock stays until
that command ends. --force removes it regardless: only do that when you know
no phoenix command runs on the env anywhere.`,
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
			backend := opts.Global.Backend
			if backend == "" {
				backend = f.Getenv("PULUMI_BACKEND_URL")
			}
			if backend == "" {
				backend = (&url.URL{Scheme: "file", Path: filepath.Join(dir, ".phoenix", "state")}).String()
			}
			h, err := lock.Clear(lockDir(dir, backend), opts.Env, opts.Force)
			res := UnlockResult{Env: opts.Env, Holder: h}
			return f.show(opts.JSON, res, err, func(w io.Writer) error { return renderUnlock(w, res) })
		},
	}
	cmd.Flags().StringVar(&opts.Env, "env", "", "the env (required)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "remove the lock even if its holder may still run")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON, on failure too")
	return cmd
}

// UnlockResult is phoenix unlock's result: the holder whose lock went.
type UnlockResult struct {
	Env    string      `json:"env"`
	Holder lock.Holder `json:"holder"`
}

// renderUnlock is unlock's human view.
func renderUnlock(w io.Writer, res UnlockResult) error {
	h := res.Holder
	_, err := fmt.Fprintf(w, "cleared the lock of env %s held by phoenix %s (pid %d on %s since %s)\n",
		res.Env, h.Command, h.PID, h.Host, h.Since.UTC().Format("2006-01-02 15:04:05 UTC"))
	return err
}
