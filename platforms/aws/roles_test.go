package aws_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/phoenix-iac/phoenix/components/awsversion"
)

// deployRoleIAM is the deploy role's IAM statements in docs/aws-roles.md.
func deployRoleIAM(t *testing.T) []map[string]any {
	t.Helper()
	b, err := os.ReadFile("../../docs/aws-roles.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- deploy-role-iam -->\n```json\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/aws-roles.md has no deploy-role-iam JSON block")
	}
	var doc struct{ Statement []map[string]any }
	if err := json.Unmarshal([]byte(block), &doc); err != nil {
		t.Fatalf("the deploy role's IAM policy in docs/aws-roles.md is not JSON: %v", err)
	}
	return doc.Statement
}

func actions(st map[string]any) []string {
	switch a := st["Action"].(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

// TestDeployRoleIAM: the deploy role's IAM statements in docs/aws-roles.md
// grant what the program's roles need (the Terraform AWS provider's create,
// read and delete of aws_iam_role and aws_iam_role_policy, and ECS passing
// the roles to tasks), on roles under the path the program gives them
// only; creating a role or putting its policy requires the permissions
// boundary; no statement grants iam:* or IAM on every role; and gc
// --orphans can list by tag, roles and task definitions.
func TestDeployRoleIAM(t *testing.T) {
	sts := deployRoleIAM(t)
	rolesARN := "arn:aws:iam::123456789012:role" + awsversion.RolePath("prod") + "*"
	granted := map[string]map[string]any{}
	for _, st := range sts {
		for _, a := range actions(st) {
			if a == "iam:*" || a == "*" {
				t.Errorf("statement %v grants %s", st["Sid"], a)
			}
			granted[a] = st
		}
	}
	need := []string{"iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:TagRole", "iam:UntagRole", "iam:PutRolePolicy",
		"iam:GetRolePolicy", "iam:DeleteRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
		"iam:ListInstanceProfilesForRole", "iam:PassRole", "iam:CreateServiceLinkedRole",
		// gc --orphans (Account.Remove of a role, Account.List's tags).
		"iam:ListRoleTags", "iam:DetachRolePolicy"}
	for _, a := range need {
		st, ok := granted[a]
		if !ok {
			t.Errorf("the deploy role lacks %s", a)
			continue
		}
		if a == "iam:CreateServiceLinkedRole" {
			if !strings.Contains(mustJSON(st["Condition"]), "iam:AWSServiceName") {
				t.Errorf("%s is not limited to the ELB and ECS service-linked roles: %v", a, st["Condition"])
			}
			continue
		}
		if st["Resource"] != rolesARN {
			t.Errorf("%s is granted on %v, want only the versions' roles %s", a, st["Resource"], rolesARN)
		}
	}
	for _, a := range []string{"iam:CreateRole", "iam:PutRolePolicy"} {
		if c := mustJSON(granted[a]["Condition"]); !strings.Contains(c, "iam:PermissionsBoundary") {
			t.Errorf("%s does not require the permissions boundary: %s", a, c)
		}
	}
	if c := mustJSON(granted["iam:PassRole"]["Condition"]); !strings.Contains(c, `"iam:PassedToService":"ecs-tasks.amazonaws.com"`) {
		t.Errorf("iam:PassRole is not limited to ECS tasks: %s", c)
	}
	if slices.Contains(actions(granted["iam:PassRole"]), "iam:CreateRole") {
		t.Error("iam:CreateRole shares the PassRole statement")
	}
	// Account.List's listings, which take no resource ARN.
	for _, a := range []string{"tag:GetResources", "iam:ListRoles", "ecs:ListTaskDefinitions"} {
		if st, ok := granted[a]; !ok || st["Resource"] != "*" {
			t.Errorf("the deploy role lacks %s on *, which gc --orphans lists with", a)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
