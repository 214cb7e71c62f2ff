package orchestrator

// The project's stacks in the backend: listing, selecting, creating,
// destroying and removing them, and the checks that a version stack is
// unchanged.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optremove"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/phoenix-iac/phoenix/internal/lease"
	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// noState reports whether the project's own backend (a local folder) has
// not been made yet. It is made by the first command that changes
// something: before that there is no stack, and a read makes nothing.
func (o *Orchestrator) noState() bool {
	if d := o.opts.StateDir; d != "" {
		_, err := os.Stat(d)
		return errors.Is(err, fs.ErrNotExist)
	}
	return false
}

// stackNames lists the project's stacks with their summaries.
func (o *Orchestrator) stackNames(ctx context.Context) (map[string]auto.StackSummary, error) {
	if o.noState() {
		return map[string]auto.StackSummary{}, nil
	}
	ws, err := o.workspace(ctx)
	if err != nil {
		return nil, err
	}
	list, err := ws.ListStacks(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing stacks: %w", cliError(err))
	}
	out := map[string]auto.StackSummary{}
	for _, s := range list {
		out[shortName(s.Name)] = s
	}
	return out, nil
}

// cliError is err from the Automation API told by the Pulumi CLI's own
// error line ("error: ..." on its stderr), which the API's message holds
// among the run's exit code and both outputs; err when it has none.
func cliError(err error) error {
	_, stderr, ok := strings.Cut(err.Error(), "\nstderr: ")
	if !ok {
		return err
	}
	for _, line := range strings.Split(stderr, "\n") {
		if msg, ok := strings.CutPrefix(strings.TrimSpace(line), "error: "); ok {
			return &cliFailure{msg: msg, err: err}
		}
	}
	return err
}

// cliFailure is a Pulumi CLI run's failure, told by its error line.
type cliFailure struct {
	msg string
	err error
}

func (e *cliFailure) Error() string { return e.msg }
func (e *cliFailure) Unwrap() error { return e.err }

// selectStack returns an existing stack, with its state record; err
// satisfies isNotFound when there is no such stack. Every command phoenix
// runs on a stack names it (--stack), so nothing is selected in the
// workspace: the one CLI call is the export that reads the state.
func (o *Orchestrator) selectStack(ctx context.Context, name stacks.StackName) (auto.Stack, stackRecord, error) {
	if o.noState() {
		return auto.Stack{}, stackRecord{}, fmt.Errorf("stack %s: %w", name, errNoStack)
	}
	ws, err := o.workspace(ctx)
	if err != nil {
		return auto.Stack{}, stackRecord{}, err
	}
	rec, err := o.readRecord(ctx, name)
	if err != nil {
		return auto.Stack{}, rec, err
	}
	s, err := auto.SelectStack(ctx, name.String(), noSelect{ws})
	return s, rec, err
}

// noSelect is a workspace whose SelectStack does nothing: phoenix names the
// stack in every command, and selecting one costs a CLI run.
type noSelect struct{ auto.Workspace }

func (noSelect) SelectStack(context.Context, string) error { return nil }

// errNoStack is returned, wrapped, for a stack that does not exist.
var errNoStack = errors.New("no such stack")

// isNotFound reports whether err says a stack does not exist.
func isNotFound(err error) bool {
	return errors.Is(err, errNoStack) || auto.IsSelectStack404Error(err)
}

// createStack creates a stack; a version stack first gets the env's config
// file, so that both share one secrets salt (with image, the image it
// runs: writeVersionConfig).
func (o *Orchestrator) createStack(ctx context.Context, name stacks.StackName, image string) (auto.Stack, error) {
	ws, err := o.stackToBe(ctx, name, image)
	if err != nil {
		return auto.Stack{}, err
	}
	s, err := withNewStackLock(o, ctx, name, func() (auto.Stack, error) { return auto.NewStack(ctx, name.String(), ws) })
	if err != nil {
		return s, fmt.Errorf("creating stack %s: %w", name, err)
	}
	return s, nil
}

// stackToBe writes what a stack about to be created needs (a version's
// config file) and returns the workspace to create it in.
func (o *Orchestrator) stackToBe(ctx context.Context, name stacks.StackName, image string) (auto.Workspace, error) {
	if name.IsVersion() {
		if err := o.writeVersionConfig(name, image); err != nil {
			return nil, err
		}
	}
	return o.workspace(ctx)
}

// tryCreateStack creates a stack that is most likely new, without reading
// it first. created is false, with no error, when the stack exists, and
// when a Pulumi lock, or a lock file that a killed pulumi left half
// written, kept the attempt from knowing: the caller reads the stack then,
// and createStack deals with the lock if it is absent.
func (o *Orchestrator) tryCreateStack(ctx context.Context, name stacks.StackName, image string) (s auto.Stack, created bool, err error) {
	ws, err := o.stackToBe(ctx, name, image)
	if err != nil {
		return s, false, err
	}
	s, err = auto.NewStack(ctx, name.String(), ws)
	switch {
	case err == nil:
		return s, true, nil
	case auto.IsCreateStack409Error(err),
		strings.Contains(err.Error(), "the stack is currently locked"),
		strings.Contains(err.Error(), "unexpected end of JSON input"):
		return auto.Stack{}, false, nil
	}
	return auto.Stack{}, false, fmt.Errorf("creating stack %s: %w", name, err)
}

// destroyVersion destroys a version stack and removes it, if the command
// still holds the env's lease. What the platform says the version left
// outside its stack is released between the two: a release that fails
// leaves the (empty) stack, so that the next gc or destroy tries again.
func (o *Orchestrator) destroyVersion(ctx context.Context, name stacks.StackName) error {
	if err := lease.Fence(ctx); err != nil {
		return err
	}
	s, rec, err := o.selectStack(ctx, name)
	if err != nil {
		return err
	}
	if err := o.repairRecord(ctx, s, name, rec); err != nil {
		return err
	}
	if err := o.detach(ctx, name, rec); err != nil {
		return err
	}
	if _, err := withStackLock(o, ctx, name, func() (auto.DestroyResult, error) {
		return s.Destroy(ctx, o.destroyOpts()...)
	}); err != nil {
		return fmt.Errorf("destroying %s: %w", name, err)
	}
	if err := o.release(ctx, name); err != nil {
		return err
	}
	if err := o.removeStack(ctx, name); err != nil {
		return err
	}
	_ = os.Remove(o.versionConfigPath(name))
	return nil
}

// release removes what the platform says a destroyed version left outside
// its stack.
func (o *Orchestrator) release(ctx context.Context, name stacks.StackName) error {
	p, f, err := o.platformOf(name.Env)
	if err != nil {
		return err
	}
	r, ok := p.(platform.Releaser)
	if !ok {
		return nil
	}
	st, _, err := o.envState(ctx, name.Env)
	if err != nil {
		return err
	}
	if err := r.Release(ctx, o.opsEnv(name.Env, f, st), name.Version); err != nil {
		return fmt.Errorf("releasing what version %s left outside its stack: %w; its stack is destroyed and kept, empty: run this command again", name, err)
	}
	return nil
}

// detachedURNs are the URNs of the resources of a stack of env that its
// platform says phoenix must not read or delete through their provider
// (platform.Detacher); none where the platform names none or is unknown.
func (o *Orchestrator) detachedURNs(env string, rec stackRecord) []string {
	p, _, err := o.platformOf(env)
	if err != nil {
		return nil
	}
	d, ok := p.(platform.Detacher)
	if !ok {
		return nil
	}
	var urns []string
	for typ, us := range rec.URNs {
		if d.Detached(typ) {
			urns = append(urns, us...)
		}
	}
	sort.Strings(urns)
	return urns
}

// detach edits the recorded state of a version stack's detached resources
// (platform.Detacher) so that the destroy that follows leaves what they
// made to the platform's Release. Stacks that hold none, all that the
// current releases make, are not touched.
func (o *Orchestrator) detach(ctx context.Context, name stacks.StackName, rec stackRecord) error {
	if len(o.detachedURNs(name.Env, rec)) == 0 {
		return nil
	}
	p, _, err := o.platformOf(name.Env)
	if err != nil {
		return err
	}
	d := p.(platform.Detacher)
	state, err := o.exportState(ctx, name)
	if err != nil {
		return err
	}
	dep, _ := state["deployment"].(map[string]any)
	resources, _ := dep["resources"].([]any)
	var what []string
	for _, r := range resources {
		res, _ := r.(map[string]any)
		typ, _ := res["type"].(string)
		if !d.Detached(typ) {
			continue
		}
		for _, k := range []string{"inputs", "outputs"} {
			if props, ok := res[k].(map[string]any); ok {
				d.Detach(typ, props)
			}
		}
		what = append(what, resource.URN(fmt.Sprint(res["urn"])).Name())
	}
	o.logf("%s holds %s, which an older phoenix made and whose provider cannot delete it from every machine: phoenix removes what they made after the destroy", name, strings.Join(what, ", "))
	if err := o.importState(ctx, name, state); err != nil {
		return fmt.Errorf("detaching %s in %s: %w", strings.Join(what, ", "), name, err)
	}
	return nil
}

// exportState is a stack's state as `pulumi stack export` gives it
// (secrets encrypted).
func (o *Orchestrator) exportState(ctx context.Context, name stacks.StackName) (map[string]any, error) {
	stdout, stderr, _, err := o.opts.Pulumi.Run(ctx, o.opts.ProjectDir, nil, nil, nil, o.envList(), "stack", "export", "--stack", name.String())
	if err != nil {
		return nil, fmt.Errorf("reading the state of %s: %w: %s", name, err, strings.TrimSpace(stderr))
	}
	var state map[string]any
	if err := json.Unmarshal([]byte(stdout), &state); err != nil {
		return nil, fmt.Errorf("reading the state of %s: %w", name, err)
	}
	return state, nil
}

// writeTemp writes b to a new file in dir (os.CreateTemp's dir and
// pattern) and returns its name; on failure it leaves no file.
func writeTemp(dir, pattern string, b []byte) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// importState writes a stack's state back with `pulumi stack import`.
func (o *Orchestrator) importState(ctx context.Context, name stacks.StackName, state map[string]any) error {
	b, err := json.Marshal(state)
	if err != nil {
		return err
	}
	file, err := writeTemp("", "phoenix-state-*.json", b)
	if err != nil {
		return err
	}
	defer os.Remove(file)
	if _, stderr, _, err := o.opts.Pulumi.Run(ctx, o.opts.ProjectDir, nil, nil, nil, o.envList(), "stack", "import", "--stack", name.String(), "--file", file); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr))
	}
	return nil
}

// removeStack removes an empty stack from the backend. `pulumi stack rm`
// also deletes the stack's config file, which for an env stack is the
// user's own Pulumi.<env>.yaml: so it runs in a scratch directory.
func (o *Orchestrator) removeStack(ctx context.Context, name stacks.StackName) error {
	if err := lease.Fence(ctx); err != nil {
		return err
	}
	scratch, err := os.MkdirTemp("", "phoenix-rm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	project, err := os.ReadFile(filepath.Join(o.opts.ProjectDir, "Pulumi.yaml"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(scratch, "Pulumi.yaml"), project, 0o644); err != nil {
		return err
	}
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(scratch), auto.Program(o.opts.Program),
		auto.Pulumi(o.opts.Pulumi), auto.EnvVars(o.opts.EnvVars))
	if err != nil {
		return err
	}
	if err := ws.RemoveStack(ctx, name.String(), optremove.Force()); err != nil {
		return fmt.Errorf("removing stack %s: %w", name, err)
	}
	return nil
}

// stackNameOf returns the name of a stack that phoenix selected or created.
func stackNameOf(s auto.Stack) stacks.StackName {
	sn, _ := stacks.ParseStackName(shortName(s.Name()))
	return sn
}

// shortName drops the organization and project from a fully qualified
// stack name ("organization/phoenix/dev" -> "dev").
func shortName(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// checkUnchanged previews an existing version stack and fails when the
// engine plans any change: a version stack is never updated.
func (o *Orchestrator) checkUnchanged(ctx context.Context, s auto.Stack) error {
	res, err := withStackLock(o, ctx, stackNameOf(s), func() (auto.PreviewResult, error) {
		return s.Preview(ctx, optpreview.SuppressProgress(), optpreview.SuppressOutputs())
	})
	if err != nil {
		return fmt.Errorf("previewing %s: %w", s.Name(), err)
	}
	var changes []string
	for op, n := range res.ChangeSummary {
		if op != "same" && op != "read" && n > 0 {
			changes = append(changes, fmt.Sprintf("%d %s", n, op))
		}
	}
	if len(changes) > 0 {
		sort.Strings(changes)
		return &ImmutableError{Stack: s.Name(), Changes: strings.Join(changes, ", ")}
	}
	return nil
}

// refreshUnchanged refreshes a version stack and fails when it found drift:
// a resource changed or gone in the cloud. The stack's reference to its env
// stack is not drift: it reads the env's traffic outputs, which move.
//
// The refresh leaves out the resources that the platform says are read
// through no provider (exclude, platform.Detacher).
func (o *Orchestrator) refreshUnchanged(ctx context.Context, s auto.Stack, exclude []string) error {
	drift, err := collect(func(e events.EngineEvent) (string, bool) {
		// A refresh's outcome per resource is in its outputs event.
		if e.ResOutputsEvent == nil {
			return "", false
		}
		md := e.ResOutputsEvent.Metadata
		if md.Type == "pulumi:pulumi:StackReference" || md.Type == "pulumi:pulumi:Stack" {
			return "", false
		}
		if md.Op != apitype.OpUpdate && md.Op != apitype.OpDelete {
			return "", false
		}
		return fmt.Sprintf("%s %s (%s)", md.Op, resource.URN(md.URN).Name(), strings.Join(md.Diffs, ", ")), true
	}, func(ch chan<- events.EngineEvent) error {
		_, err := withStackLock(o, ctx, stackNameOf(s), func() (auto.RefreshResult, error) {
			return s.Refresh(resultless(ctx), optrefresh.SuppressProgress(), optrefresh.SuppressOutputs(), optrefresh.EventStreams(ch), optrefresh.Exclude(exclude))
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("refreshing %s: %w", s.Name(), err)
	}
	if len(drift) > 0 {
		sort.Strings(drift)
		return &DriftError{Stack: s.Name(), Drift: strings.Join(drift, ", ")}
	}
	return nil
}
