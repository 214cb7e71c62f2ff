package aws

import (
	"fmt"

	"github.com/phoenix-iac/phoenix/internal/platform"
)

// Review implements platform.Reviewer: the ALB's limits that AWS would
// only enforce half way through a deploy.
func (Platform) Review(s platform.PlannedStep) []platform.Finding {
	var out []platform.Finding
	switch s.Type {
	case "aws:lb/targetGroup:TargetGroup":
		if n, _ := s.Inputs["name"].(string); len(n) > 32 {
			out = append(out, platform.Finding{Rule: "target-group-name",
				Message: fmt.Sprintf("target group name %q is %d characters; the ALB limit is 32", n, len(n))})
		}
	case "aws:lb/listener:Listener":
		if n := forwardTargetGroups(s.Inputs); n > 5 {
			out = append(out, platform.Finding{Rule: "forward-target-groups",
				Message: fmt.Sprintf("a forward action with %d target groups; the ALB allows 5", n)})
		}
	}
	return out
}

// forwardTargetGroups is the most target groups of one forward action of
// a listener's inputs.
func forwardTargetGroups(inputs map[string]any) int {
	actions, _ := inputs["defaultActions"].([]any)
	max := 0
	for _, a := range actions {
		m, _ := a.(map[string]any)
		fwd, _ := m["forward"].(map[string]any)
		tgs, _ := fwd["targetGroups"].([]any)
		if len(tgs) > max {
			max = len(tgs)
		}
	}
	return max
}
