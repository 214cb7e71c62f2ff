package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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
	NoGC        bool
	TTL         time.Duration
	Wait        time.Duration
	JSON        bool
	Verbose     bool
	// Summary is the file the deploy's Markdown summary is appended to.
	Summary string

	// The canary analysis: off, how long a step may wait for traffic, and
	// overrides of the env's phoenix:analysis (set when the flag is).
	Analysis          bool
	StepTimeout       time.Duration
	Bake              *time.Duration
	MaxErrorRate      *float64
	MaxErrorRateRatio *float64
	MaxLatencyRatio   *float64
	MinRequests       *int
}

func newDeployCmd(f *Factory, g *GlobalOptions, runF func(context.Context, *DeployOptions) error) *cobra.Command {
	opts := &DeployOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "deploy --env ENV",
		Short: "Deploy the current definition as a new version and promote it",
		Long: `Deploy computes the version id (see phoenix version), creates the version
stack <env>.<version> unless it exists (an existing one must preview with no
changes: versions are immutable), routes it as the candidate (requests with
X-Phoenix-Route: candidate and the env's route key in X-Phoenix-Key), and
gates it: --gate-count consecutive good answers from that very version
within --gate-timeout. On aws the gate is also the wait for the version's
first tasks to start and pass their health checks (about a minute on
Fargate); a version that fails it is explained by what ECS recorded (the
failed rollout, why its tasks stopped). It then promotes it, at once or
through --canary steps.

Each canary step sends that share of production traffic to the candidate
and judges it against live on the traffic each served, from the load
balancer's own records (docker: Caddy's access log): error rate (5xx, the
load balancer's 502/504 included) and p50/p99 latency, under the env's
phoenix:analysis thresholds (Pulumi.yaml documents them; the flags below
override them). A step fails at once when the candidate is worse, passes
after --step-wait when it is not, and with too little traffic for a verdict
(minRequests on each side) waits up to --step-timeout, then fails. Every
step prints the requests, error rates and latencies of both sides and the
verdict; --json and phoenix history carry them. On a terminal (and
without --json) a step draws one line while it waits: the time gone and
left, and the requests and error rate each side served so far. A health gate follows each
step. With --bake (or phoenix:analysis bake), the new live version is
watched that long after its promotion against the previous version's
traffic before it, and a failure rolls back to the previous version.

On any failure live traffic is left as it was (or put back), the candidate
route is cleared, the new version stack is destroyed, and the exit code is 3.
With --keep-failed the stack is kept for inspection instead: status lists it
as failed, it never counts as a warm version, and gc (the next deploy's too)
destroys it; deploying the same version again retries it. Deploying a
definition that is already live changes no traffic (its gc still runs: it
finishes what an interrupted deploy's gc left).

Once the new version is live, deploy runs phoenix gc: it destroys the
versions beyond the env's phoenix:retention (never live, previous or a
candidate), the incomplete ones and those kept failed, so that an env holds at most retention+2
versions and stays within the platform's quotas. --no-gc skips it; if it
fails, the deploy still stands and says to run phoenix gc (exit 0; interrupted,
exit 130).

The env stack is created on the first deploy, and the provider plugins the
platform needs are installed on first use.

--ttl makes the env dispose of itself: it expires that long after this
deploy starts (each deploy with --ttl moves the expiry; one without leaves
it), status shows when, and phoenix gc --expired destroys every env past
its expiry. For review envs, one per pull request (review.yml).`,
		Example: `  phoenix deploy --env dev
  phoenix deploy --env prod --canary 10,50 --step-wait 2m --gate-count 20
  phoenix deploy --env prod --canary 5,25,50 --max-error-rate 0.005 --bake 10m
  phoenix deploy --env dev --canary 50 --analysis=false   # steps that only wait and gate
  phoenix deploy --env dev --version hotfix-1 --keep-failed
  phoenix deploy --env pr-42 --ttl 72h`,
		Args: noArgs,
		RunE: runE(opts, &opts.Env, func(cmd *cobra.Command) error { return checkDeployFlags(cmd, opts) },
			runF, func(ctx context.Context, opts *DeployOptions) error { return deployRun(ctx, f, opts) }),
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Env, "env", "", "the env (required)")
	fl.StringVar(&opts.Version, "version", "", "use this version id instead of the computed one")
	fl.DurationVar(&opts.TTL, "ttl", 0, "the env expires this long after this deploy, such as 72h: phoenix gc --expired then destroys it (default: no change to its expiry)")
	addRolloutFlags(fl, opts)
	return cmd
}

// addRolloutFlags adds the flags of how a new version goes live, which
// deploy and promote share: canary, gates, analysis, what to keep.
func addRolloutFlags(fl *pflag.FlagSet, opts *DeployOptions) {
	fl.StringVar(&opts.Canary, "canary", "", "comma-separated percentages of traffic to step through before promotion, e.g. 10,50")
	fl.DurationVar(&opts.StepWait, "step-wait", 30*time.Second, "how long each canary step lasts at least: its analysis passes no sooner (without analysis: the pause before its gate)")
	fl.IntVar(&opts.GateCount, "gate-count", 5, "consecutive good answers from the candidate that pass the gate")
	fl.DurationVar(&opts.GateTimeout, "gate-timeout", 2*time.Minute, "time the candidate has to pass each gate")
	fl.BoolVar(&opts.KeepFailed, "keep-failed", false, "keep the version stack when the deploy fails")
	fl.BoolVar(&opts.NoGC, "no-gc", false, "after a successful deploy, keep the versions beyond phoenix:retention (default: destroy them, as phoenix gc does)")
	fl.DurationVar(&opts.Wait, "wait", 0, "wait this long for another phoenix command on the env to finish (default: refuse at once)")
	fl.BoolVar(&opts.JSON, "json", false, "print the result as JSON, on failure too")
	fl.BoolVar(&opts.Verbose, "verbose", false, "also print how long each step took (--json always has them: timings)")
	fl.StringVar(&opts.Summary, "summary", "", "append a Markdown summary (steps, timings, each canary step's verdict with charts) to this file, on failure too; in GitHub Actions: $GITHUB_STEP_SUMMARY")
	fl.BoolVar(&opts.Analysis, "analysis", true, "judge each canary step (and the bake) on production traffic; --analysis=false only waits and gates")
	fl.DurationVar(&opts.StepTimeout, "step-timeout", 10*time.Minute, "how long a canary step waits for enough traffic for a verdict before it fails")
	opts.Bake = fl.Duration("bake", 0, "watch the new live version this long after promotion; a failure rolls back (default: phoenix:analysis bake)")
	opts.MaxErrorRate = fl.Float64("max-error-rate", 0, "error rate a new version may always have, 0-1 (default: phoenix:analysis maxErrorRate, 0.01)")
	opts.MaxErrorRateRatio = fl.Float64("max-error-rate-ratio", 0, "multiple of live's error rate a new version may have (default: phoenix:analysis maxErrorRateRatio, 2)")
	opts.MaxLatencyRatio = fl.Float64("max-latency-ratio", 0, "multiple of live's p50 and p99 a new version may have, plus 5 ms (default: phoenix:analysis maxLatencyRatio, 1.2)")
	opts.MinRequests = fl.Int("min-requests", 0, "requests each side needs for a verdict (default: phoenix:analysis minRequests, 100)")
}

// checkDeployFlags checks deploy's flags; the analysis overrides not
// given are left nil, so that the env's phoenix:analysis holds.
func checkDeployFlags(cmd *cobra.Command, opts *DeployOptions) error {
	if opts.Version != "" {
		if err := stacks.ValidateVersion(opts.Version); err != nil {
			return usagef("--version: %v", err)
		}
	}
	if _, err := parseCanary(opts.Canary); err != nil {
		return err
	}
	if err := checkSummaryPath(opts.Summary); err != nil {
		return err
	}
	if cmd.Flags().Changed("ttl") && opts.TTL <= 0 {
		return usagef("--ttl %s: a duration over 0, such as 72h (an env without --ttl never expires)", opts.TTL)
	}
	if opts.GateCount < 1 {
		return usagef("--gate-count must be 1 or more, got %d", opts.GateCount)
	}
	if opts.GateTimeout == 0 {
		return usagef("--gate-timeout 0s: the candidate needs time to pass the gate, such as 2m")
	}
	fl := cmd.Flags()
	if !fl.Changed("bake") {
		opts.Bake = nil
	}
	if !fl.Changed("max-error-rate") {
		opts.MaxErrorRate = nil
	}
	if !fl.Changed("max-error-rate-ratio") {
		opts.MaxErrorRateRatio = nil
	}
	if !fl.Changed("max-latency-ratio") {
		opts.MaxLatencyRatio = nil
	}
	if !fl.Changed("min-requests") {
		opts.MinRequests = nil
	}
	return checkAnalysisFlags(opts)
}

// checkAnalysisFlags checks the analysis overrides that were given.
func checkAnalysisFlags(opts *DeployOptions) error {
	switch {
	case opts.MaxErrorRate != nil && (*opts.MaxErrorRate < 0 || *opts.MaxErrorRate > 1):
		return usagef("--max-error-rate %g: a fraction from 0 to 1, e.g. 0.01 for 1%%", *opts.MaxErrorRate)
	case opts.MaxErrorRateRatio != nil && *opts.MaxErrorRateRatio < 1:
		return usagef("--max-error-rate-ratio %g: a multiple of 1 or more", *opts.MaxErrorRateRatio)
	case opts.MaxLatencyRatio != nil && *opts.MaxLatencyRatio < 1:
		return usagef("--max-latency-ratio %g: a multiple of 1 or more, e.g. 1.2", *opts.MaxLatencyRatio)
	case opts.MinRequests != nil && *opts.MinRequests < 1:
		return usagef("--min-requests %d: 1 or more", *opts.MinRequests)
	case opts.Bake != nil && *opts.Bake < 0:
		return usagef("--bake %s: a duration of 0 or more", *opts.Bake)
	case opts.StepTimeout <= 0:
		return usagef("--step-timeout %s: a duration above 0", opts.StepTimeout)
	case !opts.Analysis && (opts.Bake != nil || opts.MaxErrorRate != nil || opts.MaxErrorRateRatio != nil || opts.MaxLatencyRatio != nil || opts.MinRequests != nil):
		return usagef("--analysis=false turns the analysis off, so --bake and the threshold flags would do nothing; give one or the other")
	}
	return nil
}

// analysisOptions are the env's phoenix:analysis with the flags applied.
func analysisOptions(o Orchestrator, opts *DeployOptions) (orchestrator.AnalysisOptions, error) {
	a := orchestrator.AnalysisOptions{Off: !opts.Analysis, StepTimeout: opts.StepTimeout}
	set, err := o.AnalysisSettings(opts.Env)
	if err != nil {
		return a, err
	}
	if opts.Bake != nil {
		set.Bake = *opts.Bake
	}
	if opts.MaxErrorRate != nil {
		set.MaxErrorRate = *opts.MaxErrorRate
	}
	if opts.MaxErrorRateRatio != nil {
		set.MaxErrorRateRatio = *opts.MaxErrorRateRatio
	}
	if opts.MaxLatencyRatio != nil {
		set.MaxLatencyRatio = *opts.MaxLatencyRatio
	}
	if opts.MinRequests != nil {
		set.MinRequests = *opts.MinRequests
	}
	a.Settings = set
	return a, nil
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
	artifact, err := resolveArtifact(f, opts.Global, opts.Env)
	if err != nil && opts.Version == "" {
		return err
	}
	program, err := resolveProgram(f, opts.Global)
	if err != nil && opts.Version == "" {
		return err
	}
	opts.Global.json = opts.JSON
	o, err := f.Orchestrator(ctx, opts.Global)
	if err != nil {
		return err
	}
	d, err := rollout(o, opts)
	if err != nil {
		return err
	}
	d.Env, d.Version, d.TTL, d.Artifact, d.Program = opts.Env, v, opts.TTL, artifact, program
	fmt.Fprintf(f.IO.ErrOut, "phoenix: deploying %s.%s\n", opts.Env, v)
	res, err := o.Deploy(ctx, d)
	appendSummary(opts.Summary, f.IO.ErrOut, "deploy", res, err)
	return f.show(opts.JSON, res, err, func(w io.Writer) error {
		if err := renderDeploy(w, res); err != nil || !opts.Verbose {
			return err
		}
		return renderTimings(w, res.Timings)
	})
}

// renderTimings prints how long each step of a command took, on one line.
func renderTimings(w io.Writer, t orchestrator.Timings) error {
	if len(t) == 0 {
		return nil
	}
	parts := make([]string, len(t))
	for i, s := range t {
		parts[i] = fmt.Sprintf("%s %.1fs", s.Step, s.Seconds)
	}
	_, err := fmt.Fprintf(w, "steps: %s\n", strings.Join(parts, ", "))
	return err
}

// rollout is how a new version of opts.Env goes live, as the flags that
// deploy and promote share say.
func rollout(o Orchestrator, opts *DeployOptions) (orchestrator.DeployOptions, error) {
	canary, _ := parseCanary(opts.Canary)
	analysis, err := analysisOptions(o, opts)
	if err != nil {
		return orchestrator.DeployOptions{}, err
	}
	return orchestrator.DeployOptions{
		Canary: canary, StepWait: opts.StepWait,
		Gate:       orchestrator.GateOptions{Need: opts.GateCount, Timeout: opts.GateTimeout},
		KeepFailed: opts.KeepFailed, Wait: opts.Wait, Analysis: analysis, NoGC: opts.NoGC,
	}, nil
}

// renderDeploy is deploy's human view.
func renderDeploy(w io.Writer, res orchestrator.DeployResult) error {
	renderAnalysis(w, res.Analysis)
	var err error
	switch {
	case res.NoOp:
		_, err = fmt.Fprintf(w, "%s is already live in env %s: traffic unchanged\n", res.Version, res.Env)
	case res.Previous == "":
		_, err = fmt.Fprintf(w, "%s is live in env %s at %s\n", res.Version, res.Env, res.URL)
	default:
		_, err = fmt.Fprintf(w, "%s is live in env %s at %s (previous: %s, kept warm; undo with: phoenix rollback --env %s)\n",
			res.Version, res.Env, res.URL, res.Previous, res.Env)
	}
	if err == nil && res.GC != nil && len(res.GC.Destroyed) > 0 {
		_, err = fmt.Fprintf(w, "gc: destroyed %s (beyond phoenix:retention)\n", list(res.GC.Destroyed))
	}
	return err
}

// renderAnalysis prints each judged step: both sides' figures and the verdict.
func renderAnalysis(w io.Writer, steps []orchestrator.StepAnalysis) {
	if len(steps) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tVERSION\tREQUESTS\tERRORS\tP50\tP99\tVERDICT")
	for _, s := range steps {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", s.Step, s.Version, s.New.Requests, rate(s.New.Errors, s.New.Requests), s.New.P50, s.New.P99, s.Verdict)
		fmt.Fprintf(tw, "\t%s\t%d\t%s\t%s\t%s\t\n", s.BaseVersion, s.Base.Requests, rate(s.Base.Errors, s.Base.Requests), s.Base.P50, s.Base.P99)
	}
	tw.Flush()
}

func rate(errs, reqs int) string {
	if reqs == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(errs)/float64(reqs))
}
