package orchestrator

// The project's stacks in the backend: listing, selecting, creating,
// destroying and removing them, and the checks that a version stack is
// unchanged.

import (
	"github.com/phoenix-iac/phoenix/internal/lease"

	"context"
	"errors"
	"fmt"
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

	"github.com/phoenix-iac/phoenix/stacks"
)

// stackNames lists the project's stacks with their summaries.
func (o *Orchestrator) stackNames(ctx context.Context) (map[string]auto.StackSummary, error) {
	ws, err := o.workspace(ctx)
	if err != nil {
		return nil, err
	}
	list, err := ws.ListStacks(ctx)
	if err != nil && strings.Contains(err.Error(), "EOF") {
		o.settleSidecars()
		list, err = ws.ListStacks(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("listing stacks: %w", err)
	}
	out := map[string]auto.StackSummary{}
	for _, s := range list {
		out[shortName(s.Name)] = s
	}
	return out, nil
}

// selectStack returns an existing stack, with its state record; err
// satisfies isNotFound when there is no such stack. Every command phoenix
// runs on a stack names it (--stack), so nothing is selected in the
// workspace: the one CLI call is the export that reads the state.
func (o *Orchestrator) selectStack(ctx context.Context, name stacks.StackName) (auto.Stack, stackRecord, error) {
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
// file, so that both share one secrets salt.
func (o *Orchestrator) createStack(ctx context.Context, name stacks.StackName) (auto.Stack, error) {
	if name.IsVersion() {
		if err := o.writeVersionConfig(name); err != nil {
			return auto.Stack{}, err
		}
	}
	ws, err := o.workspace(ctx)
	if err != nil {
		return auto.Stack{}, err
	}
	s, err := withNewStackLock(o, ctx, name, func() (auto.Stack, error) { return auto.NewStack(ctx, name.String(), ws) })
	if err != nil {
		return s, fmt.Errorf("creating stack %s: %w", name, err)
	}
	return s, nil
}

// destroyVersion destroys a version stack and removes it, if the command
// still holds the env's lease.
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
	if _, err := withStackLock(o, ctx, name, func() (auto.DestroyResult, error) {
		return s.Destroy(ctx, o.destroyOpts()...)
	}); err != nil {
		return fmt.Errorf("destroying %s: %w", name, err)
	}
	if err := o.removeStack(ctx, name); err != nil {
		return err
	}
	_ = os.Remove(o.versionConfigPath(name))
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
func (o *Orchestrator) refreshUnchanged(ctx context.Context, s auto.Stack) error {
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
			return s.Refresh(resultless(ctx), optrefresh.SuppressProgress(), optrefresh.SuppressOutputs(), optrefresh.EventStreams(ch))
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
