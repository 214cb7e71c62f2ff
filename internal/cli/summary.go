package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/phoenix-iac/phoenix/internal/analysis"
	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

// checkSummaryPath refuses a --summary file that cannot be written, before
// the deploy changes anything: its folder must exist, and it must not be
// a folder.
func checkSummaryPath(path string) error {
	if path == "" {
		return nil
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return usagef("--summary %s: its folder %s does not exist; create it or name a file in an existing folder", path, filepath.Dir(path))
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return usagef("--summary %s is a folder; name a file, such as %s", path, filepath.Join(path, "summary.md"))
	}
	return nil
}

// appendSummary appends the deploy's summary to path (GitHub Actions'
// $GITHUB_STEP_SUMMARY is appended to), creating it if needed. A summary
// that cannot be written is said on errOut; it does not change the
// deploy's outcome.
func appendSummary(path string, errOut io.Writer, verb string, res orchestrator.DeployResult, derr error) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		_, err = io.WriteString(f, deploySummary(verb, res, derr))
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		fmt.Fprintf(errOut, "phoenix: writing the summary to %s: %v\n", path, err)
	}
}

// deploySummary renders a deploy (or promotion) for a CI job's summary:
// the outcome, each step's wall time, and each canary step's and the
// bake's judgment as a table and as Mermaid charts of the candidate's and
// live's error rate and p99, on failure too.
func deploySummary(verb string, res orchestrator.DeployResult, err error) string {
	var b strings.Builder
	outcome := "✅ live"
	switch {
	case err != nil:
		outcome = "❌ failed"
	case res.NoOp:
		outcome = "✅ already live"
	}
	fmt.Fprintf(&b, "### Phoenix %s: env `%s`, version `%s`: %s\n\n", verb, res.Env, res.Version, outcome)
	switch {
	case err != nil:
		fmt.Fprintf(&b, "```text\n%s\n```\n\n", strings.ReplaceAll(err.Error(), "```", "'''"))
	case res.NoOp:
		fmt.Fprintf(&b, "%s was already live: traffic unchanged.\n\n", res.Version)
	case res.Previous != "":
		fmt.Fprintf(&b, "%s is live at %s; %s is kept warm (undo with `phoenix rollback --env %s`).\n\n", res.Version, res.URL, res.Previous, res.Env)
	default:
		fmt.Fprintf(&b, "%s is live at %s.\n\n", res.Version, res.URL)
	}
	if len(res.Timings) > 0 {
		b.WriteString("| step | took |\n|---|---|\n")
		var total float64
		for _, t := range res.Timings {
			fmt.Fprintf(&b, "| %s | %.1fs |\n", t.Step, t.Seconds)
			total += t.Seconds
		}
		fmt.Fprintf(&b, "| **total** | **%.1fs** |\n\n", total)
	}
	if len(res.Analysis) == 0 {
		return b.String()
	}
	b.WriteString("#### Canary analysis\n\n| step | verdict | new version | compared with | watched |\n|---|---|---|---|---|\n")
	for _, s := range res.Analysis {
		fmt.Fprintf(&b, "| %s | %s %s | `%s` %s | `%s` %s | %.0fs |\n", s.Step, verdictMark(s.Verdict), s.Verdict,
			s.Version, mdEscape(s.New.String()), s.BaseVersion, mdEscape(s.Base.String()), s.Seconds)
	}
	b.WriteString("\n")
	b.WriteString(stepChart("Error rate per step (%): bars the new version, line the one it is compared with", "error rate (%)", res.Analysis,
		func(st analysis.Stats) float64 { return 100 * st.ErrorRate() }))
	b.WriteString(stepChart("p99 latency per step (ms): bars the new version, line the one it is compared with", "p99 (ms)", res.Analysis,
		func(st analysis.Stats) float64 { return float64(st.P99) / 1e6 }))
	if last := res.Analysis[len(res.Analysis)-1]; last.Verdict != analysis.Pass {
		fmt.Fprintf(&b, "The last step's verdict: **%s**: %s\n", last.Verdict, mdEscape(last.Reason))
	}
	return b.String()
}

// verdictMark is a verdict's sign in a table.
func verdictMark(v analysis.Verdict) string {
	switch v {
	case analysis.Pass:
		return "✅"
	case analysis.Fail:
		return "❌"
	}
	return "⚠️"
}

// stepChart is a Mermaid xychart of one figure per step: the new
// version's as bars, the compared version's as a line.
func stepChart(title, axis string, steps []orchestrator.StepAnalysis, figure func(analysis.Stats) float64) string {
	var names, news, bases []string
	top := 0.0
	for _, s := range steps {
		names = append(names, fmt.Sprintf("%q", s.Step+" "+string(s.Verdict)))
		n, base := figure(s.New), figure(s.Base)
		news = append(news, fmt.Sprintf("%.2f", n))
		bases = append(bases, fmt.Sprintf("%.2f", base))
		top = max(top, n, base)
	}
	if top == 0 {
		top = 1
	}
	return fmt.Sprintf("```mermaid\nxychart-beta\n  title %q\n  x-axis [%s]\n  y-axis %q 0 --> %.2f\n  bar [%s]\n  line [%s]\n```\n\n",
		title, strings.Join(names, ", "), axis, top*1.2, strings.Join(news, ", "), strings.Join(bases, ", "))
}
