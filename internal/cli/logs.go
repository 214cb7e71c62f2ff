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

// LogsOptions are the options of phoenix logs.
type LogsOptions struct {
	Global  *GlobalOptions
	Env     string
	Version string
	Follow  bool
	Since   time.Duration
	JSON    bool
}

func newLogsCmd(f *Factory, g *GlobalOptions, runF func(context.Context, *LogsOptions) error) *cobra.Command {
	opts := &LogsOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "logs --env ENV",
		Short: "Show a version's output, each line tagged with the version",
		Long: `Logs shows the output of a version's replicas (on docker, its containers'
stdout and stderr), each line with its time, the version and the replica,
oldest first. The version is the live one unless --version names another,
warm or candidate. --since limits the lines to the recent past; --follow
keeps streaming new lines until Ctrl-C, which ends it cleanly (exit 0).
--json prints one JSON object per line: time, version, source, stream, line.`,
		Example: `  phoenix logs --env dev                        # the live version's output
  phoenix logs --env dev --since 10m --follow   # the last ten minutes, then new lines
  phoenix logs --env dev --version 3f9a1c2e     # a warm or candidate version
  phoenix logs --env dev --json | jq -r 'select(.stream == "stderr") | .line'`,
		Args: noArgs,
		RunE: runE(opts, &opts.Env, func(*cobra.Command) error {
			if opts.Version != "" {
				if err := stacks.ValidateVersion(opts.Version); err != nil {
					return usagef("--version: %v", err)
				}
			}
			return nil
		}, runF, func(ctx context.Context, opts *LogsOptions) error { return logsRun(ctx, f, opts) }),
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Env, "env", "", "the env (required)")
	fl.StringVar(&opts.Version, "version", "", "the version (default: the live one)")
	fl.BoolVarP(&opts.Follow, "follow", "f", false, "keep streaming new lines until Ctrl-C")
	fl.DurationVar(&opts.Since, "since", 0, "only lines from this long ago on, e.g. 10m (default: all)")
	fl.BoolVar(&opts.JSON, "json", false, "print one JSON object per line")
	return cmd
}

func logsRun(ctx context.Context, f *Factory, opts *LogsOptions) error {
	each, end := showLines(f, opts.JSON, renderLogLine)
	o, err := f.Orchestrator(ctx, opts.Global)
	if err != nil {
		return end(err)
	}
	lo := orchestrator.LogsOptions{Env: opts.Env, Version: opts.Version, Follow: opts.Follow}
	if opts.Since > 0 {
		lo.Since = time.Now().Add(-opts.Since)
	}
	return end(o.Logs(ctx, lo, each))
}

// renderLogLine is logs' human view of one line.
func renderLogLine(w io.Writer, l orchestrator.LogLine) error {
	_, err := fmt.Fprintf(w, "%s %s %s | %s\n", l.Time.UTC().Format("2006-01-02T15:04:05.000Z"), l.Version, l.Source, l.Line)
	return err
}
