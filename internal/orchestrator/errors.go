package orchestrator

import (
	"fmt"

	"github.com/phoenix-iac/phoenix/internal/platform"
)

// ImmutableError is returned when an existing version stack would change.
type ImmutableError struct {
	Stack   string
	Changes string
}

func (e *ImmutableError) Error() string {
	return fmt.Sprintf("version stack %s already exists and its preview plans changes (%s); versions are immutable: "+
		"commit the change so that a new version is computed, or pass a new --version", e.Stack, e.Changes)
}

// GateError is returned when a version fails its health gate.
type GateError struct {
	Version string
	Err     error
}

func (e *GateError) Error() string { return e.Err.Error() }
func (e *GateError) Unwrap() error { return e.Err }

// DriftError is returned when a version stack no longer matches its state.
type DriftError struct {
	Stack string
	Drift string
}

func (e *DriftError) Error() string {
	return fmt.Sprintf("version stack %s has drifted (%s); it is not safe to send traffic to it: deploy a new version, or pass --force to roll back anyway", e.Stack, e.Drift)
}

// NotFoundError is returned for a version or env that does not exist.
type NotFoundError = platform.NotFoundError

// DeployError is returned when a deploy failed before the new version took
// production traffic (its version stack's up, routing it as the candidate,
// a canary step, the promotion): live was left as it was.
type DeployError struct {
	Err error
}

func (e *DeployError) Error() string { return e.Err.Error() }
func (e *DeployError) Unwrap() error { return e.Err }
