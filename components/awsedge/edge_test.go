package awsedge

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestSubnetCIDRs(t *testing.T) {
	tests := []struct {
		vpc  string
		n    int
		want []string
	}{
		{"10.0.0.0/16", 2, []string{"10.0.0.0/20", "10.0.16.0/20"}},
		{"10.1.0.0/16", 3, []string{"10.1.0.0/20", "10.1.16.0/20", "10.1.32.0/20"}},
		{"192.168.4.0/24", 2, []string{"192.168.4.0/28", "192.168.4.16/28"}},
	}
	for _, tt := range tests {
		got, err := SubnetCIDRs(tt.vpc, tt.n)
		if err != nil {
			t.Fatalf("SubnetCIDRs(%q, %d): %v", tt.vpc, tt.n, err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("SubnetCIDRs(%q, %d) = %v, want %v", tt.vpc, tt.n, got, tt.want)
		}
	}
	for _, bad := range []string{"10.0.0.0/26", "10.0.0.1/16", "fd00::/48", "nonsense"} {
		if _, err := SubnetCIDRs(bad, 2); err == nil {
			t.Errorf("SubnetCIDRs(%q) succeeded, want an error", bad)
		}
	}
}

func TestLifecyclePolicy(t *testing.T) {
	s, err := LifecyclePolicy()
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Rules []struct {
			RulePriority int
			Selection    struct {
				TagStatus   string
				CountType   string
				CountNumber int
			}
			Action struct{ Type string }
		}
	}
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		t.Fatal(err)
	}
	// A tagged image is a version's: no rule may select it, by count or
	// age, or a version kept warm for a rollback could lose its image.
	if len(p.Rules) != 1 {
		t.Fatalf("got %d rules, want 1: %s", len(p.Rules), s)
	}
	r := p.Rules[0]
	if r.Selection.TagStatus != "untagged" || r.Action.Type != "expire" {
		t.Errorf("got rule %+v, want one that expires untagged images only", r)
	}
}

func TestCheckEnvName(t *testing.T) {
	for _, env := range []string{"sg-prod", "SG-dev", "sg-"} {
		if err := CheckEnvName(env); err == nil {
			t.Errorf("CheckEnvName(%q) = nil: EC2 refuses security group names that start with sg-", env)
		}
	}
	for _, env := range []string{"prod", "dev-sg-1", "sgx", "pr-42"} {
		if err := CheckEnvName(env); err != nil {
			t.Errorf("CheckEnvName(%q) = %v", env, err)
		}
	}
}
