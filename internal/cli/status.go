package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

// StatusOptions are the options of phoenix status.
type StatusOptions struct {
	Global *GlobalOptions
	Env    string
	JSON   bool
}

func newStatusCmd(f *Factory, g *GlobalOptions, runF func(context.Context, *StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "status --env ENV",
		Short: "Show live, candidate and warm versions of an env",
		Long: `Status shows where the env sends traffic (live, candidate and canary
weight, and the split drawn as a bar), the previous version a rollback would return to, when the env
expires (deploy --ttl), and every version with its age, its artifact id
and its image. The artifact id is the hash of the app's build context
alone (the version id also covers the program and the env's config), so
two envs that show one artifact id run versions built from the same
sources; the image is what the version runs (docker: its image id; aws:
its ECR image by digest), in full with --json. FROM is, for a version
that phoenix promote made, the version whose artifact it runs; --json also
has each version's program hash (what promote compares).`,
		Example: `  phoenix status --env dev
  phoenix status --env dev --json | jq -r .live
  phoenix status --env prod --json | jq -r '.versions[] | [.version, .artifact, .image] | @tsv'`,
		Args: noArgs,
		RunE: runE(opts, &opts.Env, nil, runF, func(ctx context.Context, opts *StatusOptions) error { return statusRun(ctx, f, opts) }),
	}
	cmd.Flags().StringVar(&opts.Env, "env", "", "the env (required)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func statusRun(ctx context.Context, f *Factory, opts *StatusOptions) error {
	o, err := f.Orchestrator(ctx, opts.Global)
	if err != nil {
		return err
	}
	st, err := o.Status(ctx, opts.Env)
	return f.show(opts.JSON, st, err, func(w io.Writer) error { return renderStatus(w, st, time.Now()) })
}

func renderStatus(w io.Writer, st orchestrator.Status, now time.Time) error {
	if !st.Deployed {
		_, err := fmt.Fprintf(w, "env %s has not been deployed; deploy it with: phoenix deploy --env %s\n", st.Env, st.Env)
		return err
	}
	fmt.Fprintf(w, "env %s (%s) at %s\n", st.Env, st.Platform, st.URL)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "live\t%s\n", orNone(st.Live))
	cand := orNone(st.Candidate)
	if st.Candidate != "" && st.CandidateWeight > 0 {
		cand = fmt.Sprintf("%s (%d%% of traffic)", st.Candidate, st.CandidateWeight)
	}
	fmt.Fprintf(tw, "candidate\t%s\n", cand)
	fmt.Fprintf(tw, "traffic\t%s\n", split(st))
	fmt.Fprintf(tw, "previous\t%s\n", orNone(st.Previous))
	fmt.Fprintf(tw, "retention\t%d warm versions besides live, candidate and previous\n", st.Retention)
	if st.Expires != nil {
		when := "expired: phoenix gc --expired destroys it"
		if d := st.Expires.Sub(now); d > 0 {
			when = "in " + age(d) + ": phoenix gc --expired destroys it then"
		}
		fmt.Fprintf(tw, "expires\t%s (%s)\n", st.Expires.UTC().Format(time.RFC3339), when)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if st.Warning != "" {
		fmt.Fprintf(w, "\nwarning: %s\n", st.Warning)
	}
	if len(st.Versions) == 0 {
		_, err := fmt.Fprintln(w, "no version stacks")
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tROLE\tAGE\tRESOURCES\tARTIFACT\tIMAGE\tFROM\tSTACK")
	for _, v := range st.Versions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", v.Version, v.Role, age(v.Age(now)), v.Resources, orDash(v.Artifact), shortImage(v.Image), orDash(v.PromotedFrom), v.Stack)
	}
	return tw.Flush()
}

// splitWidth is how many cells split's bar has.
const splitWidth = 20

// split draws how production traffic divides between live and the
// candidate: a bar of live's share (█) and the candidate's (░), then both
// shares in words.
func split(st orchestrator.Status) string {
	if st.Live == "" {
		return "none: nothing is live"
	}
	w := 0
	if st.Candidate != "" && st.Candidate != st.Live {
		w = st.CandidateWeight
	}
	cells := (w*splitWidth + 50) / 100
	if w > 0 && cells == 0 {
		cells = 1 // a canary's share shows, however small
	}
	bar := "[" + strings.Repeat("█", splitWidth-cells) + strings.Repeat("░", cells) + "]"
	if w == 0 {
		return fmt.Sprintf("%s %s 100%%", bar, st.Live)
	}
	return fmt.Sprintf("%s %s %d%% · %s %d%%", bar, st.Live, 100-w, st.Candidate, w)
}

// shortImage is an image reference as a table shows it: a digest or an
// image id cut to 12 hex digits after its algorithm, the repository left
// out (--json has it whole).
func shortImage(ref string) string {
	if ref == "" {
		return "-"
	}
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		ref = ref[i+1:]
	}
	if algo, hex, ok := strings.Cut(ref, ":"); ok && len(hex) > 12 {
		return algo + ":" + hex[:12]
	}
	return ref
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func age(d time.Duration) string {
	if d > 100*365*24*time.Hour {
		return "-" // no time known
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
