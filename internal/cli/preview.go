package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/phoenix-iac/phoenix/internal/orchestrator"
	"github.com/phoenix-iac/phoenix/stacks"
)

// MaxMarkdown is the size limit of a preview rendered for a pull-request
// comment (GitHub refuses comments over 65,536 characters).
const MaxMarkdown = 60000

// violationsError makes preview exit with ExitViolations after printing.
type violationsError struct{ n int }

func (e violationsError) Error() string {
	return fmt.Sprintf("%d violation(s) of the immutability rules; see the report", e.n)
}

// PreviewOptions are the options of phoenix preview.
type PreviewOptions struct {
	Global  *GlobalOptions
	Env     string
	Version string
	Format  string
	Output  string
	// NoDecrypt plans without decrypting any secret.
	NoDecrypt bool
}

func newPreviewCmd(f *Factory, g *GlobalOptions, runF func(context.Context, *PreviewOptions) error) *cobra.Command {
	opts := &PreviewOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "preview --env ENV",
		Short: "Show what a deploy would do, for a pull request",
		Long: `Preview plans a deploy of the current definition without changing anything
(no stack is left behind): the version stack (new, or existing and expected
unchanged) and the env stack's cut-over. Every planned step is classified,
and violations of the immutability rules come first: any change to an
existing version stack, deletion or replacement of the env's edge, target
group names over 32 characters, more than 5 target groups in one forward,
explicit names that would collide during create-before-delete, and secrets
in plain text in Pulumi.<env>.yaml. An env that has not been deployed has
nothing to plan against (a version stack reads its env stack's outputs):
both of its stacks are marked "not planned", with why.

Without a passphrase (PULUMI_CONFIG_PASSPHRASE(_FILE) unset), or with
--no-decrypt, preview decrypts nothing and needs only read access to the
state: it plans in a scratch backend of its own, on copies of the stacks
(exported, which needs no key) in which each secret is a placeholder. A
resource of an existing stack whose state holds a secret (the docker
env's route key writer, an aws route rule, a version's secret
environment) is then left out of the plan and shown as "not compared";
it breaks no rule, and the deploy, which has the passphrase, compares it.
A pull request's preview runs this way (preview.yml), so the request's
code never holds the key to production's secrets.

--format markdown renders a pull-request comment (under 60,000 characters,
with a note when details are cut). --json (or --format json) prints the plan
as one JSON document, with "error" and "exitCode" added when there are
violations. Exit code 0 when clean, 7 when there are violations, 1 on
errors.`,
		Example: `  phoenix preview --env dev
  phoenix preview --env prod --format markdown --output preview.md
  phoenix preview --env prod --json | jq .violations
  phoenix preview --env prod --no-decrypt --format markdown`,
		Args: noArgs,
		RunE: runE(opts, &opts.Env, func(cmd *cobra.Command) error {
			if cmd.Flags().Changed("json") && cmd.Flags().Changed("format") {
				return usagef("--json is --format json: give one of them")
			}
			switch opts.Format {
			case "text", "markdown", "json":
			default:
				return usagef("--format %q: use text, markdown or json", opts.Format)
			}
			if opts.Version != "" {
				if err := stacks.ValidateVersion(opts.Version); err != nil {
					return usagef("--version: %v", err)
				}
			}
			return nil
		}, runF, func(ctx context.Context, opts *PreviewOptions) error { return previewRun(ctx, f, opts) }),
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Env, "env", "", "the env (required)")
	fl.StringVar(&opts.Version, "version", "", "preview this version id instead of the computed one")
	fl.StringVar(&opts.Format, "format", "text", "output format: text, markdown or json")
	fl.VarPF(jsonFormat{&opts.Format}, "json", "", "print JSON, as every verb does (the same as --format json)").NoOptDefVal = "true"
	fl.StringVar(&opts.Output, "output", "", "write the report to this file instead of standard output")
	fl.BoolVar(&opts.NoDecrypt, "no-decrypt", false, "decrypt no secret, as a pull request's preview must (the default when no passphrase is set)")
	return cmd
}

func previewRun(ctx context.Context, f *Factory, opts *PreviewOptions) error {
	v, err := resolveVersion(f, opts.Global, opts.Env, opts.Version)
	if err != nil {
		return err
	}
	g := *opts.Global
	g.secrets = secretsIfGiven
	if opts.NoDecrypt {
		g.secrets = secretsNever
	}
	o, err := f.Orchestrator(ctx, &g)
	if err != nil {
		return err
	}
	plan, err := o.Preview(ctx, opts.Env, v)
	if err != nil {
		return err
	}
	if n := len(plan.Violations); n > 0 {
		err = violationsError{n}
	}
	out := f.IO.Out
	if opts.Output != "" {
		file, ferr := os.Create(opts.Output)
		if ferr != nil {
			return ferr
		}
		defer file.Close()
		out = file
	}
	return f.showPlan(out, plan, opts.Format, err)
}

// jsonFormat is preview's --json: --format json under the name every
// verb uses.
type jsonFormat struct{ format *string }

func (j jsonFormat) String() string { return strconv.FormatBool(*j.format == "json") }
func (j jsonFormat) Type() string   { return "bool" }

func (j jsonFormat) Set(s string) error {
	on, err := strconv.ParseBool(s)
	if on {
		*j.format = "json"
	}
	return err
}

// RenderPlan writes plan in format: text, markdown or json.
func RenderPlan(w io.Writer, p orchestrator.Plan, format string) error {
	switch format {
	case "json":
		return writeJSON(w, maskPlan(p))
	case "markdown":
		_, err := io.WriteString(w, Markdown(p))
		return err
	default:
		return renderPlanText(w, p)
	}
}

var opOrder = []string{"create", "update", "replace", "delete"}

func summary(p orchestrator.Plan) string {
	var parts []string
	for _, sp := range p.Stacks {
		var counts []string
		for _, op := range opOrder {
			if n := sp.Counts[op]; n > 0 {
				counts = append(counts, fmt.Sprintf("%d to %s", n, op))
			}
		}
		if n := sp.Counts["uncompared"]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d not compared", n))
		}
		if len(counts) == 0 {
			counts = []string{"no changes"}
		}
		if sp.Unplanned != "" {
			counts = []string{"not planned"}
		}
		state := stackState(sp)
		parts = append(parts, fmt.Sprintf("%s (%s %s stack): %s", sp.Stack, state, sp.Kind, strings.Join(counts, ", ")))
	}
	move := fmt.Sprintf("traffic %s → %s", orNone(p.From), p.To)
	if p.From == p.To {
		move = fmt.Sprintf("traffic stays on %s", p.To)
	}
	return fmt.Sprintf("version %s of env %s: %s; %s", p.Version, p.Env, move, strings.Join(parts, "; "))
}

// redactedNote says what a plan made without the secrets cannot tell.
const redactedNote = "Secrets were not decrypted (no passphrase, or --no-decrypt): the plan was made on copies of the stacks with each secret a placeholder, and the resources whose state holds a secret were not compared; a deploy compares them."

// uncomparedNote follows a resource left out of a redacted plan.
const uncomparedNote = "not compared: its state holds a secret"

func renderPlanText(w io.Writer, p orchestrator.Plan) error {
	fmt.Fprintln(w, summary(p))
	if p.Redacted {
		fmt.Fprintln(w, redactedNote)
	}
	if len(p.Violations) > 0 {
		fmt.Fprintf(w, "\n%d violation(s):\n", len(p.Violations))
		for _, v := range p.Violations {
			fmt.Fprintf(w, "  [%s] %s %s\n", v.Rule, v.Resource, v.Message)
		}
	}
	for _, sp := range p.Stacks {
		if sp.Unplanned != "" {
			fmt.Fprintf(w, "\n%s: not planned: %s\n", sp.Stack, sp.Unplanned)
		}
		if len(sp.Steps) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", sp.Stack)
		for _, s := range sp.Steps {
			fmt.Fprintf(w, "  %-8s %s %s", s.Op, s.Type, s.Name)
			if len(s.Diffs) > 0 {
				fmt.Fprintf(w, " (%s)", strings.Join(s.Diffs, ", "))
			}
			if s.Uncompared {
				fmt.Fprintf(w, " [%s]", uncomparedNote)
			}
			fmt.Fprintln(w)
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}

// Markdown renders the plan for a pull-request comment: the summary line,
// violations first, the cut-over as a Mermaid diagram, a table per stack, and collapsible per-resource details
// with secrets masked, cut to MaxMarkdown characters.
func Markdown(p orchestrator.Plan) string {
	p = maskPlan(p)
	var head strings.Builder
	status := "✅ no violations"
	if n := len(p.Violations); n > 0 {
		status = fmt.Sprintf("❌ %d violation(s)", n)
	}
	fmt.Fprintf(&head, "### Phoenix preview: env `%s`, version `%s`\n\n", p.Env, p.Version)
	fmt.Fprintf(&head, "**%s** · %s\n\n", status, mdEscape(summary(p)))
	if p.Redacted {
		fmt.Fprintf(&head, "%s\n\n", redactedNote)
	}
	if len(p.Violations) > 0 {
		head.WriteString("#### Violations\n\n| rule | resource | problem |\n|---|---|---|\n")
		for _, v := range p.Violations {
			fmt.Fprintf(&head, "| `%s` | %s | %s |\n", v.Rule, mdCode(v.Resource), mdEscape(v.Message))
		}
		head.WriteString("\n")
	}
	head.WriteString("#### Traffic\n\n")
	head.WriteString(trafficDiagram(p))
	head.WriteString("\n")
	for _, sp := range p.Stacks {
		state := stackState(sp)
		fmt.Fprintf(&head, "#### `%s` (%s %s stack)\n\n", sp.Stack, state, sp.Kind)
		if sp.Unplanned != "" {
			fmt.Fprintf(&head, "Not planned: %s.\n\n", mdEscape(sp.Unplanned))
			continue
		}
		if p.Redacted {
			head.WriteString("| create | update | replace | delete | unchanged | not compared |\n|---|---|---|---|---|---|\n")
			fmt.Fprintf(&head, "| %d | %d | %d | %d | %d | %d |\n\n", sp.Counts["create"], sp.Counts["update"], sp.Counts["replace"], sp.Counts["delete"], sp.Counts["same"], sp.Counts["uncompared"])
		} else {
			head.WriteString("| create | update | replace | delete | unchanged |\n|---|---|---|---|---|\n")
			fmt.Fprintf(&head, "| %d | %d | %d | %d | %d |\n\n", sp.Counts["create"], sp.Counts["update"], sp.Counts["replace"], sp.Counts["delete"], sp.Counts["same"])
		}
	}
	var details []string
	for _, sp := range p.Stacks {
		for _, s := range sp.Steps {
			var b strings.Builder
			fmt.Fprintf(&b, "<details><summary><code>%s</code> %s <code>%s</code></summary>\n\n", s.Op, htmlEscape(s.Type), htmlEscape(s.Name))
			if len(s.Diffs) > 0 {
				fmt.Fprintf(&b, "Changed: %s\n\n", mdCode(strings.Join(s.Diffs, ", ")))
			}
			if s.Uncompared {
				fmt.Fprintf(&b, "%s.\n\n", strings.ToUpper(uncomparedNote[:1])+uncomparedNote[1:])
			}
			if len(s.Inputs) > 0 {
				js, _ := json.MarshalIndent(s.Inputs, "", "  ")
				fmt.Fprintf(&b, "```json\n%s\n```\n", strings.ReplaceAll(string(js), "```", "'''"))
			}
			b.WriteString("\n</details>\n")
			details = append(details, b.String())
		}
	}
	out := head.String()
	if len(details) > 0 {
		out += "#### Resources\n\n"
	}
	for i, d := range details {
		note := fmt.Sprintf("\n> Cut to fit a comment: %d more resource details omitted; run `phoenix preview --env %s` to see them.\n", len(details)-i, p.Env)
		if len(out)+len(d)+len(note) > MaxMarkdown {
			out += note
			break
		}
		out += d
	}
	return out
}

// maskPlan replaces values of secret-looking inputs with "[secret]".
func maskPlan(p orchestrator.Plan) orchestrator.Plan {
	out := p
	out.Stacks = make([]orchestrator.StackPlan, len(p.Stacks))
	for i, sp := range p.Stacks {
		sp2 := sp
		sp2.Steps = make([]orchestrator.Step, len(sp.Steps))
		for j, s := range sp.Steps {
			s.Inputs, _ = mask(s.Inputs).(map[string]any)
			sp2.Steps[j] = s
		}
		out.Stacks[i] = sp2
	}
	return out
}

// mask replaces the values of secret-looking keys within v, and the
// values of secret-looking NAME=value entries of environment lists.
func mask(v any) any {
	return stacks.MapLeaves(v, "", func(path string, leaf any) any {
		x, ok := leaf.(string)
		if !ok {
			return leaf
		}
		key := path[strings.LastIndex(path, ".")+1:]
		if stacks.LooksSecret(key) && x != "" {
			return "[secret]"
		}
		if name, _, ok := strings.Cut(x, "="); ok && stacks.LooksSecret(name) && !strings.ContainsAny(name, " /") {
			return name + "=[secret]"
		}
		return leaf
	})
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

func mdCode(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.ReplaceAll(s, "`", "'") + "`"
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// stackState says whether a planned stack is new, existing, or an
// incomplete version stack that a deploy finishes.
func stackState(sp orchestrator.StackPlan) string {
	switch {
	case sp.Incomplete:
		return "incomplete"
	case sp.Exists:
		return "existing"
	}
	return "new"
}
