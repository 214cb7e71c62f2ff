package orchestrator

// The Pulumi locks on an env's stacks in the backend, which phoenix unlock
// --force clears.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/phoenix-iac/phoenix/internal/lease"
	"github.com/phoenix-iac/phoenix/stacks"
)

// StackLock is a Pulumi lock on one stack: a pulumi command on a stack
// takes one for its run, and one killed leaves it behind.
type StackLock struct {
	Stack string    `json:"stack"`
	User  string    `json:"user"`
	Host  string    `json:"host"`
	PID   int       `json:"pid"`
	Since time.Time `json:"since"`
}

// stackLocksPrefix is where a project-scoped DIY backend keeps the locks of
// the project's stacks, one folder per stack.
const stackLocksPrefix = ".pulumi/locks/organization/" + ProjectName + "/"

// ClearStackLocks removes the Pulumi locks of env's stacks (the env stack
// and its versions) from the backend, whoever holds them, and returns
// them: what `pulumi cancel` does for each stack, in one listing. It is
// for a holder whose machine is gone; a pulumi that still runs would go on
// writing its stack's state unguarded.
func (o *Orchestrator) ClearStackLocks(ctx context.Context, env string) ([]StackLock, error) {
	if err := stacks.ValidateEnv(env); err != nil {
		return nil, err
	}
	backend := o.opts.EnvVars["PULUMI_BACKEND_URL"]
	b, err := lease.OpenBucket(ctx, backend)
	if errors.Is(err, lease.ErrNotABucket) {
		return o.cancelStacks(ctx, env)
	}
	if err != nil {
		return nil, err
	}
	defer b.Close()
	out := []StackLock{}
	iter := b.List(&blob.ListOptions{Prefix: stackLocksPrefix})
	for {
		obj, err := iter.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, fmt.Errorf("listing the stack locks in %s: %w", backend, err)
		}
		stack := path.Base(path.Dir(obj.Key))
		sn, err := stacks.ParseStackName(stack)
		if err != nil || sn.Env != env || !strings.HasSuffix(obj.Key, ".json") {
			continue
		}
		l := StackLock{Stack: stack}
		if data, err := b.ReadAll(ctx, obj.Key); err == nil {
			var c struct {
				PID       int       `json:"pid"`
				Username  string    `json:"username"`
				Hostname  string    `json:"hostname"`
				Timestamp time.Time `json:"timestamp"`
			}
			if json.Unmarshal(data, &c) == nil {
				l.PID, l.User, l.Host, l.Since = c.PID, c.Username, c.Hostname, c.Timestamp
			}
		}
		if err := b.Delete(ctx, obj.Key); err != nil && lease.ErrorCode(err) != gcerrors.NotFound {
			return out, fmt.Errorf("removing the lock of stack %s: %w", stack, err)
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stack < out[j].Stack })
	return out, nil
}

// cancelStacks runs `pulumi cancel` on each of env's stacks, for a backend
// phoenix cannot read as a bucket (Pulumi Cloud), where the CLI names no
// holder.
func (o *Orchestrator) cancelStacks(ctx context.Context, env string) ([]StackLock, error) {
	names, err := o.stackNames(ctx)
	if err != nil {
		return nil, err
	}
	out := []StackLock{}
	for name := range names {
		sn, err := stacks.ParseStackName(name)
		if err != nil || sn.Env != env {
			continue
		}
		_, stderr, _, err := o.opts.Pulumi.Run(ctx, o.opts.ProjectDir, nil, nil, nil, o.envList(), "cancel", "--yes", "--stack", name)
		switch {
		case err == nil:
			out = append(out, StackLock{Stack: name})
		case strings.Contains(stderr, "no update") || strings.Contains(stderr, "not currently"):
		default:
			return out, fmt.Errorf("pulumi cancel --stack %s: %w: %s", name, err, strings.TrimSpace(stderr))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stack < out[j].Stack })
	return out, nil
}
