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

// EnvsOptions are the options of phoenix envs.
type EnvsOptions struct {
	Global *GlobalOptions
	JSON   bool
}

func newEnvsCmd(f *Factory, g *GlobalOptions, runF func(context.Context, *EnvsOptions) error) *cobra.Command {
	opts := &EnvsOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "envs",
		Short: "Show every env of the project side by side",
		Long: `Envs shows every env of the project that has an env stack, side by side:
its platform, live version with the artifact id and image it runs, how
long it has been live, the candidate and its weight, and the expiry
(deploy --ttl). Then how the envs differ: whether their live versions run
one artifact (the hash of the app's build context: the same sources,
whatever the config), whether they were deployed with one program (the
hash of the Pulumi program's source: the same infrastructure definition),
and each config key whose value differs between
the envs' config files in this checkout (the traffic and analysis keys
aside; secrets are compared by presence only, as their ciphertexts differ
by env). The same definition everywhere shows as one artifact, one program and no
differences but the ones you meant, such as replicas or a hostname.`,
		Example: `  phoenix envs
  phoenix envs --json | jq '.differences[].key'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return envsRun(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func envsRun(ctx context.Context, f *Factory, opts *EnvsOptions) error {
	o, err := f.Orchestrator(ctx, opts.Global)
	if err != nil {
		return err
	}
	res, err := o.Envs(ctx)
	return f.show(opts.JSON, res, err, func(w io.Writer) error { return renderEnvs(w, res, time.Now()) })
}

// renderEnvs is envs' human view: a table of the envs, then how they differ.
func renderEnvs(w io.Writer, res orchestrator.EnvsResult, now time.Time) error {
	if len(res.Envs) == 0 {
		_, err := fmt.Fprintln(w, "no envs: deploy one with: phoenix deploy --env dev")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENV\tPLATFORM\tLIVE\tARTIFACT\tIMAGE\tLIVE FOR\tCANDIDATE\tEXPIRES")
	for _, st := range res.Envs {
		live := st.LiveVersion()
		since := live.Deployed
		cand := orDash(st.Candidate)
		if st.Candidate != "" && st.CandidateWeight > 0 {
			cand = fmt.Sprintf("%s (%d%%)", st.Candidate, st.CandidateWeight)
		}
		expires := "-"
		if st.Expires != nil {
			expires = st.Expires.UTC().Format(time.RFC3339)
		}
		liveFor := "-"
		if !since.IsZero() {
			liveFor = age(now.Sub(since))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", st.Env, orDash(st.Platform), orDash(st.Live), orDash(live.Artifact), shortImage(live.Image), liveFor, cand, expires)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(res.Envs) > 1 {
		if res.SameArtifact {
			fmt.Fprintln(w, "artifact: the same in every env")
		} else {
			fmt.Fprintln(w, "artifact: differs (or is not recorded) between the envs' live versions")
		}
		if res.SameProgram {
			fmt.Fprintln(w, "program: the same in every env")
		} else {
			fmt.Fprintln(w, "program: differs (or is not recorded) between the envs' live versions")
		}
	}
	if len(res.Missing) > 0 {
		fmt.Fprintf(w, "no config file in this checkout, left out of the comparison: %s\n", strings.Join(res.Missing, ", "))
	}
	if len(res.Differences) == 0 {
		_, err := fmt.Fprintln(w, "config: no differences")
		return err
	}
	fmt.Fprintln(w, "config differences:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, d := range res.Differences {
		var vals []string
		for _, st := range res.Envs {
			if v, ok := d.Values[st.Env]; ok {
				vals = append(vals, fmt.Sprintf("%s=%s", st.Env, orUnset(v)))
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\n", d.Key, strings.Join(vals, "  "))
	}
	return tw.Flush()
}

func orUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}
