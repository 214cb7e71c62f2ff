package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

// trafficDiagram draws a plan's cut-over as a Mermaid flowchart, which
// GitHub renders in a pull-request comment: the env's load balancer and
// the versions it sends traffic to before the change (live, and a
// candidate with its weight when a canary is under way) and after it (the
// new or warm version, the one kept warm for a rollback), with what each
// stack would create, replace, update or delete. A stack with a
// violation is drawn red.
func trafficDiagram(p orchestrator.Plan) string {
	var b strings.Builder
	b.WriteString("```mermaid\nflowchart LR\n")
	lb := fmt.Sprintf("%s load balancer", p.Env)

	b.WriteString("  subgraph s_before [\"before\"]\n    direction TB\n")
	fmt.Fprintf(&b, "    b_lb([\"%s\"])\n", lb)
	switch {
	case p.From == "":
		b.WriteString("    b_none[\"nothing live\"]\n    b_lb -.- b_none\n")
	default:
		w := 0
		if p.Candidate != "" {
			w = p.CandidateWeight
		}
		fmt.Fprintf(&b, "    b_live[\"%s<br/>live\"]\n    b_lb -->|%d%%| b_live\n", p.From, 100-w)
		if p.Candidate != "" {
			fmt.Fprintf(&b, "    b_cand[\"%s<br/>candidate\"]\n    b_lb -.->|%d%%| b_cand\n", p.Candidate, w)
		}
	}
	b.WriteString("  end\n")

	version, env := stackOf(p, "version"), stackOf(p, "env")
	b.WriteString("  subgraph s_after [\"after\"]\n    direction TB\n")
	fmt.Fprintf(&b, "    a_lb([\"%s<br/>%s\"])\n", lb, stackLine(env, "env stack"))
	what := "version stack"
	switch {
	case version == nil:
	case !version.Exists:
		what = "new version stack"
	case p.To != p.From:
		what = "warm version stack"
	default:
		what = "live version stack"
	}
	fmt.Fprintf(&b, "    a_to[\"%s<br/>%s\"]\n    a_lb -->|100%%| a_to\n", p.To, stackLine(version, what))
	if p.From != "" && p.From != p.To {
		fmt.Fprintf(&b, "    a_prev[\"%s<br/>previous, kept warm\"]\n    a_lb -.-|0%%| a_prev\n", p.From)
	}
	b.WriteString("  end\n  s_before ~~~ s_after\n")

	b.WriteString("  classDef new fill:#e3f2fd,stroke:#1565c0\n")
	b.WriteString("  classDef live fill:#e8f5e9,stroke:#2e7d32\n")
	b.WriteString("  classDef violation fill:#ffebee,stroke:#c62828,stroke-width:3px\n")
	if p.From != "" {
		b.WriteString("  class b_live live\n")
	}
	switch {
	case violates(p, version):
		b.WriteString("  class a_to violation\n")
	case version != nil && !version.Exists:
		b.WriteString("  class a_to new\n")
	default:
		b.WriteString("  class a_to live\n")
	}
	if violates(p, env) {
		b.WriteString("  class a_lb violation\n")
	}
	b.WriteString("```\n")
	return b.String()
}

// stackOf returns the plan's stack of kind, nil when it has none.
func stackOf(p orchestrator.Plan, kind string) *orchestrator.StackPlan {
	i := slices.IndexFunc(p.Stacks, func(sp orchestrator.StackPlan) bool { return sp.Kind == kind })
	if i < 0 {
		return nil
	}
	return &p.Stacks[i]
}

// stackLine says what a stack's plan would do, for a diagram's node.
func stackLine(sp *orchestrator.StackPlan, what string) string {
	if sp == nil {
		return what
	}
	var counts []string
	for _, op := range opOrder {
		if n := sp.Counts[op]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d to %s", n, op))
		}
	}
	if len(counts) == 0 {
		counts = []string{"no changes"}
	}
	if sp.Unplanned != "" {
		counts = []string{"not planned"}
	}
	return what + ": " + strings.Join(counts, ", ")
}

// violates reports whether a violation names the stack.
func violates(p orchestrator.Plan, sp *orchestrator.StackPlan) bool {
	if sp == nil {
		return false
	}
	return slices.ContainsFunc(p.Violations, func(v orchestrator.Violation) bool { return v.Stack == sp.Stack && v.Resource != "" })
}
