package orchestrator

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

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
	// settle readies the backend for another read after a torn one (see
	// read); nil waits a moment.
	settle func()
	// trace, when set, is told of every run (Options.TracePulumi).
	trace *tracer
}

// tracer prints each Pulumi run and its wall time, one line each. The
// values given to `pulumi config` are not printed: they may be secrets.
type tracer struct {
	logf func(format string, args ...any)
}

func (t *tracer) run(args []string, took time.Duration, code int) {
	shown := args
	if len(args) > 0 && args[0] == "config" {
		shown = append(slices.Clip(args[:min(2, len(args))]), "(values not shown)")
	}
	failed := ""
	if code != 0 {
		failed = fmt.Sprintf(", exit %d", code)
	}
	t.logf("pulumi %s: %.2fs%s", strings.Join(shown, " "), took.Seconds(), failed)
}

// exec runs the Pulumi CLI: a process, which the tracer is told of. (The
// reads that Run answers from memory run none.)
func (p leanPulumi) exec(ctx context.Context, workdir string, stdin io.Reader, out, errOut []io.Writer, env []string, args ...string) (string, string, int, error) {
	start := time.Now()
	stdout, stderr, code, err := p.PulumiCommand.Run(ctx, workdir, stdin, out, errOut, env, args...)
	if p.trace != nil {
		if err != nil && code == 0 {
			code = -1
		}
		p.trace.run(args, time.Since(start), code)
	}
	return stdout, stderr, code, err
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
	stack, kind := classify(args)
	if p.exports == nil {
		if kind == runWrite && !rereadable(args) && !idempotent(args) {
			return p.exec(ctx, workdir, stdin, out, errOut, env, args...)
		}
		return p.read(ctx, workdir, stdin, out, errOut, env, args...)
	}
	switch kind {
	case runExport:
		l := lease.FromContext(ctx)
		if state, ok := p.exports.get(l, stack); ok && ctx.Value(freshKey{}) == nil {
			return state, "", 0, nil
		}
		gen := p.exports.generation()
		stdout, stderr, code, err := p.read(ctx, workdir, stdin, out, errOut, env, args...)
		if err == nil {
			p.exports.put(l, stack, stdout, gen)
		}
		return stdout, stderr, code, err
	case runRead:
		return p.read(ctx, workdir, stdin, out, errOut, env, args...)
	default:
		p.exports.forget(stack)
		defer p.exports.forget(stack)
		if rereadable(args) || idempotent(args) {
			return p.read(ctx, workdir, stdin, out, errOut, env, args...)
		}
		return p.exec(ctx, workdir, stdin, out, errOut, env, args...)
	}
}

// readTries is how many times a read that met a torn object is run.
const readTries = 4

// read runs a Pulumi command that changes no state, once more (up to
// readTries in all) when it fails on a torn read. The file store
// (gocloud.dev's fileblob) renames an object's new content into place,
// but rewrites its attribute file (<object>.attrs) in place, truncating
// it first: a read of the object while another command writes it (a
// `phoenix status` beside a deploy, a CI runner's preview beside a
// laptop's up) can find that file empty and fail with "EOF" (CI saw
// `pulumi stack history` fail so: "failed to load checkpoint: EOF"). A
// moment later the file is whole; a killed writer's empty one is removed
// by settle. A read changes nothing, so running it again is safe (one
// whose output streams somewhere, or that reads input, is run once).
func (p leanPulumi) read(ctx context.Context, workdir string, stdin io.Reader, out, errOut []io.Writer, env []string, args ...string) (string, string, int, error) {
	for try := 1; ; try++ {
		stdout, stderr, code, err := p.exec(ctx, workdir, stdin, out, errOut, env, args...)
		if err == nil || try == readTries || !tornRead(stderr) || ctx.Err() != nil || stdin != nil || len(out)+len(errOut) > 0 {
			return stdout, stderr, code, err
		}
		if p.settle != nil {
			p.settle()
		} else {
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// tornRead reports whether a Pulumi command's stderr tells of an object
// read while it was being written: its attribute file, empty or cut
// short, failed to decode.
func tornRead(stderr string) bool {
	return strings.Contains(stderr, ": EOF") || strings.Contains(stderr, "unexpected EOF")
}

// rereadable reports whether a Pulumi run that classify does not call a
// read changes no state either: selecting a stack (the workspace's
// choice, which is the same when made twice) and reading its tags.
func rereadable(args []string) bool {
	if len(args) >= 2 && args[0] == "stack" && args[1] == "select" {
		return !slices.Contains(args, "--create") && !slices.Contains(args, "-c")
	}
	return len(args) >= 3 && args[0] == "stack" && args[1] == "tag" && (args[2] == "ls" || args[2] == "get")
}

// idempotent reports whether a Pulumi run that writes may be run again
// after a torn read: setting a stack's tag (it reads the stack's
// checkpoint, which an up beside it may be writing, before it writes the
// tags; run again, it sets the same value).
func idempotent(args []string) bool {
	return len(args) >= 3 && args[0] == "stack" && args[1] == "tag" && args[2] == "set"
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
