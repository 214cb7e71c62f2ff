package orchestrator

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/phoenix-iac/phoenix/internal/lease"
	"github.com/phoenix-iac/phoenix/stacks"
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
// refresh whose context is resultless, and the exports that exports
// remembers. It creates stateDir, when set, before it runs anything: a
// command refused before its first Pulumi run leaves no state folder
// behind.
type leanPulumi struct {
	auto.PulumiCommand
	stateDir string
	exports  *exports
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
	if p.exports == nil {
		return p.PulumiCommand.Run(ctx, workdir, stdin, out, errOut, env, args...)
	}
	stack, kind := classify(args)
	switch kind {
	case runExport:
		l := lease.FromContext(ctx)
		if state, ok := p.exports.get(l, stack); ok && ctx.Value(freshKey{}) == nil {
			return state, "", 0, nil
		}
		gen := p.exports.generation()
		stdout, stderr, code, err := p.PulumiCommand.Run(ctx, workdir, stdin, out, errOut, env, args...)
		if err == nil {
			p.exports.put(l, stack, stdout, gen)
		}
		return stdout, stderr, code, err
	case runRead:
		return p.PulumiCommand.Run(ctx, workdir, stdin, out, errOut, env, args...)
	default:
		p.exports.forget(stack)
		defer p.exports.forget(stack)
		return p.PulumiCommand.Run(ctx, workdir, stdin, out, errOut, env, args...)
	}
}

// A phoenix command reads an env stack's state many times: before each
// change (pending operations), after it (outputs), and in gc, status and
// the gate; 35 of the 109 Pulumi runs of six deploys and a gc were
// `stack export` of the env stack, most of them of a state that had not
// changed since the last one. exports remembers each export that a command
// makes while it holds the env's lease, and answers the next export of
// that stack from memory until the command runs anything that may write.
// Without the lease nothing is remembered: another machine may change the
// state between two reads. With it, only phoenix's own commands may, and
// every one of them but the reads below forgets the stack it names, or
// everything when it names none (`stack rm NAME`, `stack init NAME`).
// A plain `pulumi up` of the env stack takes no lease, though: a read that
// must see such a change (the check before a traffic write) is fresh.

type freshKey struct{}

// fresh marks ctx so that a stack export run with it reads the backend,
// whatever is remembered.
func fresh(ctx context.Context) context.Context {
	return context.WithValue(ctx, freshKey{}, true)
}

type runKind int

const (
	runWrite  runKind = iota // anything not known to be a read
	runExport                // stack export --stack NAME, exactly
	runRead                  // reads that change nothing
)

// classify says what a Pulumi run does, and of which stack: for an
// export, the stack it reads; for a write, the stack it names with
// --stack, the only one whose state it can change (each stack has a
// checkpoint of its own), or "" when it names none.
func classify(args []string) (string, runKind) {
	if len(args) == 4 && args[0] == "stack" && args[1] == "export" && args[2] == "--stack" {
		return args[3], runExport
	}
	if len(args) >= 1 && args[0] == "version" {
		return "", runRead
	}
	if len(args) >= 2 && args[0] == "stack" {
		switch args[1] {
		case "ls", "history", "output", "export":
			return "", runRead
		}
	}
	stack := ""
	for i, a := range args {
		switch {
		case (a == "--stack" || a == "-s") && i+1 < len(args):
			if stack != "" {
				return "", runWrite
			}
			stack = args[i+1]
		case strings.HasPrefix(a, "--stack="):
			return "", runWrite
		}
	}
	return stack, runWrite
}

// exports are the remembered exports of one command.
type exports struct {
	mu     sync.Mutex
	gen    uint64 // counts forget calls
	lease  *lease.Lease
	states map[string]string
}

// generation is the number of forget calls so far: an export that a write
// overlapped is not remembered.
func (e *exports) generation() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gen
}

// get returns the remembered export of stack, if l is the lease it was
// read under and stack belongs to l's env.
func (e *exports) get(l *lease.Lease, stack string) (string, bool) {
	if !covers(l, stack) {
		return "", false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lease != l {
		return "", false
	}
	state, ok := e.states[stack]
	return state, ok
}

// put remembers an export of stack read under l, unless a write began
// since gen.
func (e *exports) put(l *lease.Lease, stack, state string, gen uint64) {
	if !covers(l, stack) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gen != gen {
		return
	}
	if e.lease != l {
		e.lease, e.states = l, map[string]string{}
	}
	e.states[stack] = state
}

// forget drops what is remembered of stack, or of every stack when stack
// is "".
func (e *exports) forget(stack string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gen++
	if stack == "" {
		e.states = nil
		e.lease = nil
		return
	}
	delete(e.states, stack)
}

// covers reports whether a live lease l keeps other phoenix commands
// off stack.
func covers(l *lease.Lease, stack string) bool {
	if l == nil || l.Lost() {
		return false
	}
	name, err := stacks.ParseStackName(stack)
	return err == nil && name.Env == l.Env()
}

func (p leanPulumi) Version() semver.Version { return p.PulumiCommand.Version() }
