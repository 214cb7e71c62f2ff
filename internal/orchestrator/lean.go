package orchestrator

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// After every up and refresh the Automation API reads the stack's outputs
// (twice: once more with --show-secrets, which derives the passphrase key)
// and its newest history entry, to fill in the result: about 0.6 s of the
// 1.3 s that a traffic switch takes on the engine tests' backend. Phoenix
// uses neither (it reads state with one `stack export`), so the updates it
// makes carry resultless in their context, and leanPulumi answers those
// two reads with empty results instead of running them.

type resultlessKey struct{}

// resultless marks ctx so that an up or refresh run with it skips reading
// its result.
func resultless(ctx context.Context) context.Context {
	return context.WithValue(ctx, resultlessKey{}, true)
}

// leanPulumi runs the Pulumi CLI, except the result reads of an up or
// refresh whose context is resultless. It creates stateDir, when set,
// before it runs anything: a command refused before its first Pulumi run
// leaves no state folder behind.
type leanPulumi struct {
	auto.PulumiCommand
	stateDir string
}

func (p leanPulumi) Run(ctx context.Context, workdir string, stdin io.Reader, out, errOut []io.Writer, env []string, args ...string) (string, string, int, error) {
	if ctx.Value(resultlessKey{}) != nil && len(args) >= 2 && args[0] == "stack" {
		switch args[1] {
		case "output":
			return "{}", "", 0, nil
		case "history":
			return "[]", "", 0, nil
		}
	}
	if p.stateDir != "" {
		if err := os.MkdirAll(p.stateDir, 0o755); err != nil {
			return "", "", -1, fmt.Errorf("creating the state folder: %w", err)
		}
	}
	return p.PulumiCommand.Run(ctx, workdir, stdin, out, errOut, env, args...)
}

func (p leanPulumi) Version() semver.Version { return p.PulumiCommand.Version() }
