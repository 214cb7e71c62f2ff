package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

// HistoryOptions are the options of phoenix history.
type HistoryOptions struct {
	Global *GlobalOptions
	Env    string
	JSON   bool
}

func newHistoryCmd(f *Factory, g *GlobalOptions, runF func(context.Context, *HistoryOptions) error) *cobra.Command {
	opts := &HistoryOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "history --env ENV",
		Short: "List an env's cut-overs, canary steps and rollbacks",
		Long: `History lists every traffic change phoenix made to the env, newest first:
when, which operation, from which version to which, and who. It is read
from the env stack's own update history.`,
		Example: `  phoenix history --env prod
  phoenix history --env prod --json`,
		Args: noArgs,
		RunE: runE(opts, &opts.Env, nil, runF, func(ctx context.Context, opts *HistoryOptions) error { return historyRun(ctx, f, opts) }),
	}
	cmd.Flags().StringVar(&opts.Env, "env", "", "the env (required)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func historyRun(ctx context.Context, f *Factory, opts *HistoryOptions) error {
	o, err := f.Orchestrator(ctx, opts.Global)
	if err != nil {
		return err
	}
	events, err := o.History(ctx, opts.Env)
	if events == nil && err == nil {
		events = []orchestrator.Event{}
	}
	return f.show(opts.JSON, events, err, func(w io.Writer) error { return renderHistory(w, events) })
}

func renderHistory(w io.Writer, events []orchestrator.Event) error {
	if len(events) == 0 {
		_, err := fmt.Fprintln(w, "no traffic changes yet")
		return err
	}
	// The analysis behind a change, when any change has one, comes last:
	// it is long, and names its figures.
	why := false
	for _, e := range events {
		why = why || e.Why != ""
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "UPDATE\tTIME\tOPERATION\tFROM\tTO\tWEIGHT\tBY\tRESULT"
	if why {
		header += "\tANALYSIS"
	}
	fmt.Fprintln(tw, header)
	for _, e := range events {
		weight := "-"
		if e.Weight > 0 {
			weight = fmt.Sprintf("%d%%", e.Weight)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s", e.Update, e.Time.UTC().Format(time.RFC3339), e.Op,
			orNone(e.From), orNone(e.To), weight, e.By, e.Result)
		if why {
			fmt.Fprintf(tw, "\t%s", orNone(e.Why))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
