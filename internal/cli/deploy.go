package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-iac/phoenix/internal/orchestrator"
	"github.com/phoenix-iac/phoenix/stacks"
)

// DeployOptions are the options of phoenix deploy.
type DeployOptions struct {
	Global      *GlobalOptions
	Env         string
	Version     string
	Canary      string
	StepWait    time.Duration
	GateCount   int
	GateTimeout time.Duration
	KeepFailed  bool
	Wait        time.Duration
	JSON        bool
}

func newDeployCmd(f *Factory, g *GlobalOptions, runF func(context.Context, *DeployOptions) error) *cobra.Command {
	opts := &DeployOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "deploy --env ENV",
		Short: "Deploy the current definition as a new version and promote it",
		Long: `Deploy computes the version id (see phoenix version), creates the version
stack <env>.<version> unless it exists (an existing one must preview with no
changes: versions are immutable), routes it as the candidate (requests with
X-Phoenix-Route: candidate), and gates it: --gate-count consecutive good
answers from that very version within --gate-timeout. It then promotes it,
at once or through --canary steps with a gate after each.

On any failure live traffic is left as it was, the candidate route is
cleared, the new version stack is destroyed (unless --keep-failed), and the
exit code is 3. Deploying a definition that is already live changes nothing.

The env stack is created on the first deploy, and the provider plugins the
platform needs are installed on first use.`,
		Example: `  phoenix deploy --env dev
  phoenix deploy --env prod --canary 10,50 --step-wait 2m --gate-count 20
  phoenix deploy --env dev --version hotfix-1 --keep-failed`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireEnv(opts.Env); err != nil {
				return err
			}
			if opts.Version != "" {
				if err := stacks.ValidateVersion(opts.Version); err != nil {
					return usagef("--version: %v", err)
				}
			}
			if _, err := parseCanary(opts.Canary); err != nil {
				return err
			}
			if opts.GateCount < 1 {
				return usagef("--gate-count must be 1 or more, got %d", opts.GateCount)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return deployRun(cmd.Context(), f, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Env, "env", "", "the env (required)")
	fl.StringVar(&opts.Version, "version", "", "use this version id instead of the computed one")
	fl.StringVar(&opts.Canary, "canary", "", "comma-separated percentages of traffic to step through before promotion, e.g. 10,50")
	fl.DurationVar(&opts.StepWait, "step-wait", 30*time.Second, "pause after each canary step, before its gate")
	fl.IntVar(&opts.GateCount, "gate-count", 5, "consecutive good answers from the candidate that pass the gate")
	fl.DurationVar(&opts.GateTimeout, "gate-timeout", 2*time.Minute, "time the candidate has to pass each gate")
	fl.BoolVar(&opts.KeepFailed, "keep-failed", false, "keep the version stack when the deploy fails")
	fl.DurationVar(&opts.Wait, "wait", 0, "wait this long for another phoenix command on the env to finish (default: refuse at once)")
	fl.BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	return cmd
}

func parseCanary(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	last := 0
	for _, part := range strings.Split(s, ",") {
		w, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(part), "%")))
		if err != nil || w < 1 || w > 99 {
			return nil, usagef("--canary %q: each step is a percentage from 1 to 99, as in --canary 10,50", s)
		}
		if w <= last {
			return nil, usagef("--canary %q: steps must increase, as in --canary 10,50", s)
		}
		last = w
		out = append(out, w)
	}
	return out, nil
}

func deployRun(ctx context.Context, f *Factory, opts *DeployOptions) error {
	v, err := resolveVersion(f, opts.Global, opts.Env, opts.Version)
	if err != nil {
		return err
	}
	canary, _ := parseCanary(opts.Canary)
	o, err := f.Orchestrator(ctx, opts.Global)
	if err != nil {
		return err
	}
	if err := o.Preflight(ctx, opts.Env); err != nil {
		return err
	}
	fmt.Fprintf(f.IO.ErrOut, "phoenix: deploying %s.%s\n", opts.Env, v)
	res, err := o.Deploy(ctx, orchestrator.DeployOptions{
		Env: opts.Env, Version: v, Canary: canary, StepWait: opts.StepWait,
		Gate:       orchestrator.GateOptions{Need: opts.GateCount, Timeout: opts.GateTimeout},
		KeepFailed: opts.KeepFailed, Wait: opts.Wait,
	})
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(f.IO.Out, res)
	}
	switch {
	case res.NoOp:
		fmt.Fprintf(f.IO.Out, "%s is already live in env %s: nothing changed\n", res.Version, res.Env)
	case res.Previous == "":
		fmt.Fprintf(f.IO.Out, "%s is live in env %s at %s\n", res.Version, res.Env, res.URL)
	default:
		fmt.Fprintf(f.IO.Out, "%s is live in env %s at %s (previous: %s, kept warm; undo with: phoenix rollback --env %s)\n",
			res.Version, res.Env, res.URL, res.Previous, res.Env)
	}
	return nil
}
