package stacks

import (
	"strings"
	"testing"
)

func TestParseStackName(t *testing.T) {
	tests := []struct {
		in   string
		want StackName
	}{
		{"dev", StackName{Env: "dev"}},
		{"prod-eu", StackName{Env: "prod-eu"}},
		{"dev.3f9a1c2e", StackName{Env: "dev", Version: "3f9a1c2e"}},
		{"organization/phoenix/dev.3f9a1c2e", StackName{Env: "dev", Version: "3f9a1c2e"}},
		{"e1234567890abcde.v1234567890a", StackName{Env: "e1234567890abcde", Version: "v1234567890a"}},
		{"staging.release-7", StackName{Env: "staging", Version: "release-7"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStackName(tt.in)
			if err != nil {
				t.Fatalf("ParseStackName(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseStackName(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if tt.want.IsVersion() != strings.Contains(tt.in, ".") {
				t.Errorf("IsVersion() = %v for %q", got.IsVersion(), tt.in)
			}
		})
	}
}

func TestParseStackNameRefuses(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"", "env name is empty"},
		{"Dev", "lowercase letters"},
		{"dev_eu", "lowercase letters"},
		{"1dev", "must start with a letter"},
		{"dev-", "must not end with a dash"},
		{"dev--eu", "two dashes"},
		{"internal-api", "internal-"},
		{"internal", "internal"},
		{"averyveryverylongenv", "the limit is 16"},
		{"dev.", "version is empty"},
		{".3f9a1c2e", "env name is empty"},
		{"dev.3f9a.1c2e", "must not contain a dot"},
		{"dev.3F9A1C2E", "lowercase letters"},
		{"dev.-abc", "must start with a letter or digit"},
		{"dev.abc-", "must not end with a dash"},
		{"dev.0123456789abc", "the limit is 12"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseStackName(tt.in)
			if err == nil {
				t.Fatalf("ParseStackName(%q) succeeded, want an error", tt.in)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseStackName(%q) = %q, want it to say %q", tt.in, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "<env>.<version>") {
				t.Errorf("error %q does not say what a stack name looks like", err)
			}
		})
	}
}
