package stacks

import (
	"fmt"
	"regexp"
	"strings"
)

// Limits on names. They are chosen so that every physical name Phoenix
// derives fits the provider's limits for the longest env and version: the
// target group name "<env>-<version>" is at most 16+1+12 = 29 characters,
// under the ALB limit of 32.
const (
	// MaxEnvLength is the longest env name accepted.
	MaxEnvLength = 16
	// MaxVersionLength is the longest version id accepted.
	MaxVersionLength = 12
)

var (
	envPattern     = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	versionPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
)

// StackName is a parsed Phoenix stack name: an env stack ("dev") or a version
// stack ("dev.3f9a1c2e").
type StackName struct {
	// Env is the environment the stack belongs to.
	Env string
	// Version is empty for an env stack and the version id for a version stack.
	Version string
}

// IsVersion reports whether the name is that of a version stack.
func (n StackName) IsVersion() bool { return n.Version != "" }

// String returns the stack name as Pulumi knows it.
func (n StackName) String() string {
	if n.Version == "" {
		return n.Env
	}
	return n.Env + "." + n.Version
}

// EnvStack returns the name of the env stack this stack belongs to.
func (n StackName) EnvStack() StackName { return StackName{Env: n.Env} }

// ParseStackName parses a stack name of the form "<env>" or "<env>.<version>".
// A fully qualified name ("org/project/dev") is accepted and its last part used.
func ParseStackName(s string) (StackName, error) {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	env, version, isVersion := strings.Cut(s, ".")
	if err := ValidateEnv(env); err != nil {
		return StackName{}, fmt.Errorf("stack %q: %w; stacks are named <env> or <env>.<version>, as in dev or dev.3f9a1c2e", s, err)
	}
	if !isVersion {
		return StackName{Env: env}, nil
	}
	if err := ValidateVersion(version); err != nil {
		return StackName{}, fmt.Errorf("stack %q: %w; stacks are named <env> or <env>.<version>, as in dev or dev.3f9a1c2e", s, err)
	}
	return StackName{Env: env, Version: version}, nil
}

// ValidateEnv checks an env name: 1 to 16 lowercase letters, digits and
// dashes, starting with a letter, not ending with a dash. "internal" and
// names starting with "internal-" are refused: the env's AWS load balancer is
// auto-named "<env>-alb-<suffix>", and AWS refuses names starting "internal-".
func ValidateEnv(env string) error {
	switch {
	case env == "":
		return fmt.Errorf("env name is empty")
	case len(env) > MaxEnvLength:
		return fmt.Errorf("env name %q is %d characters long, the limit is %d", env, len(env), MaxEnvLength)
	case !envPattern.MatchString(env):
		return fmt.Errorf("env name %q may only hold lowercase letters, digits and dashes, and must start with a letter", env)
	case strings.HasSuffix(env, "-"):
		return fmt.Errorf("env name %q must not end with a dash", env)
	case strings.Contains(env, "--"):
		return fmt.Errorf("env name %q must not hold two dashes in a row", env)
	case env == "internal" || strings.HasPrefix(env, "internal-"):
		return fmt.Errorf("env name %q must not be \"internal\" or start with \"internal-\" (AWS refuses load balancer names starting \"internal-\", and the env's is named after it)", env)
	}
	return nil
}

// ValidateVersion checks a version id: 1 to 12 lowercase letters, digits and
// dashes, starting with a letter or digit, not ending with a dash.
func ValidateVersion(version string) error {
	switch {
	case version == "":
		return fmt.Errorf("version is empty")
	case len(version) > MaxVersionLength:
		return fmt.Errorf("version %q is %d characters long, the limit is %d", version, len(version), MaxVersionLength)
	case strings.Contains(version, "."):
		return fmt.Errorf("version %q must not contain a dot", version)
	case !versionPattern.MatchString(version):
		return fmt.Errorf("version %q may only hold lowercase letters, digits and dashes, and must start with a letter or digit", version)
	case strings.HasSuffix(version, "-"):
		return fmt.Errorf("version %q must not end with a dash", version)
	}
	return nil
}
