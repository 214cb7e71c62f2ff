package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/phoenix-iac/phoenix/internal/lease"
	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

// Exit codes. They are part of the CLI's interface (see `phoenix --help`).
const (
	ExitOK    = 0
	ExitError = 1 // anything else; the message says what
	ExitUsage = 2 // bad flags or arguments
	// ExitChangeFailed: a deploy failed (its version stack's up, a gate,
	// a canary step's analysis, the bake) or a rollback failed its drift
	// check or probe; live was left as it was, or put back.
	ExitChangeFailed = 3
	ExitImmutable    = 4 // an existing version stack would change
	ExitLocked       = 5 // another command holds the env, or changed its traffic under this one
	ExitNotFound     = 6 // the env or version does not exist
	ExitViolations   = 7 // phoenix preview found violations of the immutability rules
	ExitCancelled    = 130
	exitCodesUsage   = `Exit codes:
  0  success
  1  error (the message says what and what to do)
  2  bad flags or arguments
  3  a deploy failed (its version stack's up, health gate or a canary step), or a
     rollback failed its drift check or probe; live traffic was left as it was
  4  an existing version stack would change (versions are immutable)
  5  another phoenix command holds the env (see --wait, phoenix unlock), or
     another command changed the env's traffic under this one (nothing written)
  6  the env or version does not exist
  7  phoenix preview found violations of the immutability rules
`
)

// usageError marks errors in how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitCode maps an error to the process's exit code: the one place that does.
func exitCode(err error) int {
	var (
		held      *lease.HeldError
		fenced    *lease.FencedError
		immutable *orchestrator.ImmutableError
		gate      *orchestrator.GateError
		deploy    *orchestrator.DeployError
		drift     *orchestrator.DriftError
		notFound  *orchestrator.NotFoundError
		moved     *orchestrator.TrafficChangedError
		usage     usageError
		viol      violationsError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &usage):
		return ExitUsage
	case errors.As(err, &viol):
		return ExitViolations
	case errors.As(err, &held), errors.As(err, &fenced):
		return ExitLocked
	case errors.As(err, &immutable):
		return ExitImmutable
	case errors.As(err, &gate), errors.As(err, &drift), errors.As(err, &deploy):
		return ExitChangeFailed
	case errors.As(err, &moved):
		return ExitLocked
	case errors.As(err, &notFound):
		return ExitNotFound
	case errors.Is(err, context.Canceled):
		return ExitCancelled
	}
	return ExitError
}
