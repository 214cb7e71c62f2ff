package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/phoenix-iac/phoenix/internal/lease"
	"github.com/phoenix-iac/phoenix/stacks"
)

// What a killed or failed command leaves behind, and how the next command
// repairs it:
//
//   - a version stack whose first up did not finish: it has no "version"
//     output (the program exports it only once every resource exists) and
//     no phoenix:complete tag. It is not a version: deploy resumes it, gc
//     removes it, rollback refuses it, status lists it as incomplete.
//   - pending operations in a stack's state: operations the engine had
//     started when it died. Before changing a stack phoenix refreshes it,
//     dropping pending creates, and then removes what those creates left
//     in the cloud (see orphans.go).
//   - a Pulumi stack lock (the file backend's) held by a pulumi process of
//     this host that is gone: cleared with `pulumi cancel`, as phoenix's
//     own env lock is taken over.

// tagComplete marks a version stack whose first up succeeded. The tag is
// set after the up, so a stack can be complete without it (killed between
// the two): its "version" output decides then, and the tag is set late.
const tagComplete = "phoenix:complete"

// complete reports whether a version stack's first up succeeded: it has
// the "version" output.
func (r stackRecord) complete() bool {
	v, _ := r.Outputs[stacks.OutVersion].(string)
	return v != ""
}

// tagFailed marks a version stack whose deploy failed and that was kept
// for inspection (deploy --keep-failed): complete, but never a version to
// keep warm. gc destroys it; a later deploy of the same version that goes
// live sets it to false.
const tagFailed = "phoenix:failed"

// markFailed tags a kept version stack as failed, or no longer failed.
func (o *Orchestrator) markFailed(ctx context.Context, name stacks.StackName, failed bool) error {
	ws, err := o.workspace(ctx)
	if err != nil {
		return err
	}
	if err := ws.SetTag(ctx, name.String(), tagFailed, strconv.FormatBool(failed)); err != nil {
		return fmt.Errorf("marking %s failed=%v: %w", name, failed, err)
	}
	return nil
}

// markComplete tags a version stack as complete.
func (o *Orchestrator) markComplete(ctx context.Context, s auto.Stack) error {
	if err := s.Workspace().SetTag(ctx, s.Name(), tagComplete, "true"); err != nil {
		return fmt.Errorf("marking %s complete: %w", s.Name(), err)
	}
	return nil
}

// completeStacks returns the names of the stacks tagged complete: one CLI
// call, however many versions there are.
func (o *Orchestrator) completeStacks(ctx context.Context) (map[string]bool, error) {
	return o.taggedStacks(ctx, tagComplete, "complete")
}

// failedStacks returns the names of the version stacks kept after a failed
// deploy (tagFailed).
func (o *Orchestrator) failedStacks(ctx context.Context) (map[string]bool, error) {
	return o.taggedStacks(ctx, tagFailed, "failed")
}

// taggedStacks returns the names of the stacks whose tag is "true", with
// one CLI call.
func (o *Orchestrator) taggedStacks(ctx context.Context, tag, what string) (map[string]bool, error) {
	if o.noState() {
		return map[string]bool{}, nil
	}
	stdout, stderr, _, err := o.opts.Pulumi.Run(ctx, o.opts.ProjectDir, nil, nil, nil, o.envList(),
		"stack", "ls", "--json", "--tag", tag+"=true")
	if err != nil {
		return nil, fmt.Errorf("listing %s version stacks: %w: %s", what, err, strings.TrimSpace(stderr))
	}
	var list []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		return nil, fmt.Errorf("listing %s version stacks: %w", what, err)
	}
	out := map[string]bool{}
	for _, s := range list {
		out[shortName(s.Name)] = true
	}
	return out, nil
}

// envList returns the Pulumi environment as KEY=VALUE pairs.
func (o *Orchestrator) envList() []string {
	out := make([]string, 0, len(o.opts.EnvVars))
	for k, v := range o.opts.EnvVars {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// pendingOp is an operation the engine had begun when it was stopped.
type pendingOp struct {
	Type     string // creating, updating, deleting, reading, ...
	URN      string
	Resource struct {
		Type   string
		ID     string
		Custom bool
	}
}

func (p pendingOp) String() string {
	return fmt.Sprintf("%s %s", p.Type, resource.URN(p.URN).Name())
}

// stackRecord is what phoenix reads of a stack's state, with one
// `pulumi stack export` (secrets stay encrypted): the stack's outputs, the
// operations an interrupted engine left pending, and the ids of its
// resources.
type stackRecord struct {
	// Outputs are the stack's outputs; a secret one is left encrypted.
	Outputs map[string]any
	Pending []pendingOp
	// IDs are its resources' ids and, where they have one, their ARNs
	// (how AWS's tagging API names them; a task definition's id is its
	// family).
	IDs map[string]bool
	// URNs are the URNs of its custom resources, by type.
	URNs map[string][]string
	// raw is the state as exported, secrets encrypted.
	raw []byte
}

// readRecord reads a stack's state.
func (o *Orchestrator) readRecord(ctx context.Context, name stacks.StackName) (stackRecord, error) {
	rec := stackRecord{Outputs: map[string]any{}, IDs: map[string]bool{}, URNs: map[string][]string{}}
	// A torn read is run again by leanPulumi; an EOF that outlasts it is
	// an empty checkpoint.
	stdout, stderr, _, err := o.opts.Pulumi.Run(ctx, o.opts.ProjectDir, nil, nil, nil, o.envList(),
		"stack", "export", "--stack", name.String())
	if err != nil {
		if strings.Contains(stderr, "no stack named") {
			return rec, fmt.Errorf("stack %s: %w", name, errNoStack)
		}
		if strings.Contains(stderr, "failed to load checkpoint: EOF") && o.dropEmptyCheckpoint(ctx, name) == nil {
			return rec, fmt.Errorf("stack %s: %w", name, errNoStack)
		}
		return rec, fmt.Errorf("reading the state of %s: %w: %s", name, err, strings.TrimSpace(stderr))
	}
	var dep struct {
		Deployment struct {
			Resources []struct {
				URN     string         `json:"urn"`
				ID      string         `json:"id"`
				Type    string         `json:"type"`
				Custom  bool           `json:"custom"`
				Outputs map[string]any `json:"outputs"`
			} `json:"resources"`
			PendingOperations []struct {
				Type     string `json:"type"`
				Resource struct {
					URN    string `json:"urn"`
					Type   string `json:"type"`
					ID     string `json:"id"`
					Custom bool   `json:"custom"`
				} `json:"resource"`
			} `json:"pending_operations"`
		} `json:"deployment"`
	}
	if err := json.Unmarshal([]byte(stdout), &dep); err != nil {
		return rec, fmt.Errorf("reading the state of %s: %w", name, err)
	}
	rec.raw = []byte(stdout)
	for _, r := range dep.Deployment.Resources {
		switch {
		case r.Type == "pulumi:pulumi:Stack":
			if r.Outputs != nil {
				rec.Outputs = r.Outputs
			}
		case r.Custom && r.ID != "":
			rec.IDs[r.ID] = true
			if arn, ok := r.Outputs["arn"].(string); ok && arn != "" {
				rec.IDs[arn] = true
			}
			rec.URNs[r.Type] = append(rec.URNs[r.Type], r.URN)
		}
	}
	for _, p := range dep.Deployment.PendingOperations {
		op := pendingOp{Type: p.Type, URN: p.Resource.URN}
		op.Resource.Type, op.Resource.ID, op.Resource.Custom = p.Resource.Type, p.Resource.ID, p.Resource.Custom
		rec.Pending = append(rec.Pending, op)
	}
	return rec, nil
}

// repairRecord makes a stack safe to change after an interrupted command,
// given its state: it resolves pending operations, saying what it did. On a
// healthy stack it does nothing. (A dead pulumi process's lock on the stack
// is cleared by withStackLock around each change.)
func (o *Orchestrator) repairRecord(ctx context.Context, s auto.Stack, name stacks.StackName, rec stackRecord) error {
	ops := rec.Pending
	if len(ops) == 0 {
		return nil
	}
	var what []string
	for _, op := range ops {
		what = append(what, op.String())
	}
	o.logf("stack %s holds %d operation(s) that an interrupted command left unfinished: %s", name, len(ops), strings.Join(what, ", "))
	o.logf("refreshing %s from the cloud and dropping the unfinished creates", name)
	if _, err := withStackLock(o, ctx, name, func() (auto.RefreshResult, error) {
		return s.Refresh(resultless(ctx), optrefresh.ClearPendingCreates(), optrefresh.SuppressProgress(), optrefresh.SuppressOutputs(),
			optrefresh.Exclude(o.detachedURNs(name.Env, rec)))
	}); err != nil {
		return fmt.Errorf("repairing %s: %w", name, err)
	}
	creates := 0
	for _, op := range ops {
		if op.Type == "creating" {
			creates++
		}
	}
	if creates > 0 {
		removed, err := o.sweepOrphans(ctx, name)
		if err != nil {
			return fmt.Errorf("repairing %s: %w", name, err)
		}
		if removed > 0 {
			o.logf("removed %d resource(s) of %s that the interrupted creates had made but no state holds", removed, name)
		}
	}
	return nil
}

// stackLockPattern matches a holder in the file backend's refusal: "the
// lock file's URL: created by user@host (pid 123) at 2026-...Z".
var stackLockPattern = regexp.MustCompile(`(\S+\.json)\S*: created by (\S*)@(\S*) \(pid (\d+)\) at (\S+)`)

// DefaultStackLockWait is how long a change waits for a live pulumi's
// lock on a stack, unless Options.StackLockWait says otherwise: a preview
// or a read holds one for seconds.
const DefaultStackLockWait = 30 * time.Second

// withStackLock runs op; when it fails because a pulumi process that is
// gone still locks the stack, it clears that lock with `pulumi cancel` and
// runs op once more. A live holder, or one that may be, is waited for up
// to Options.StackLockWait (op fails before it changes anything while the stack is
// locked), then left alone and its error returned.
func withStackLock[T any](o *Orchestrator, ctx context.Context, name stacks.StackName, op func() (T, error)) (T, error) {
	return retryLocked(o, ctx, name, false, op)
}

// withNewStackLock is withStackLock for creating a stack that does not
// exist: a lock on it is what a pulumi killed while it created or removed
// the stack left behind (see stackLockGone).
func withNewStackLock[T any](o *Orchestrator, ctx context.Context, name stacks.StackName, op func() (T, error)) (T, error) {
	return retryLocked(o, ctx, name, true, op)
}

// retryLocked is withStackLock; absent says that the stack did not exist
// when the command looked.
func retryLocked[T any](o *Orchestrator, ctx context.Context, name stacks.StackName, absent bool, op func() (T, error)) (T, error) {
	wait := o.opts.StackLockWait
	deadline := time.Now().Add(wait)
	res, err := op()
	if err != nil && strings.Contains(err.Error(), "unexpected end of JSON input") && o.dropHalfWrittenLocks() > 0 {
		res, err = op()
	}
	var holders [][]string
	var why string
	waited := false
	for {
		if err == nil || !strings.Contains(err.Error(), "the stack is currently locked") {
			return res, err
		}
		if holders = stackLockPattern.FindAllStringSubmatch(err.Error(), -1); len(holders) == 0 {
			return res, err
		}
		live := ""
		for _, h := range holders {
			pid, _ := strconv.Atoi(h[4])
			at, _ := time.Parse(time.RFC3339, h[5])
			gone, reason := stackLockGone(ctx, h[3], pid, at, absent)
			if !gone {
				live = fmt.Sprintf("pid %s on %s", h[4], h[3])
				break
			}
			why = reason
		}
		if live == "" {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%w\nanother pulumi command (%s) has held stack %s for over %s: let it finish, or if its machine is gone, clear it with: phoenix unlock --env %s --force", err, live, name, wait, name.Env)
		}
		if !waited {
			o.logf("stack %s is locked by another pulumi command (%s): waiting up to %s for it", name, live, wait)
			waited = true
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(time.Second):
		}
		res, err = op()
	}
	o.logf("stack %s is locked by pulumi (pid %s, %s@%s, since %s), which is gone (%s): clearing its lock", name, holders[0][4], holders[0][2], holders[0][3], holders[0][5], why)
	if _, stderr, _, cerr := o.opts.Pulumi.Run(ctx, o.opts.ProjectDir, nil, nil, nil, o.envList(),
		"cancel", "--yes", "--stack", name.String()); cerr != nil {
		// A pulumi killed between removing a stack and releasing its lock
		// leaves the lock of a stack that no longer exists, which cancel
		// cannot name and which refuses creating the stack again. A file
		// backend's lock is a file: remove it.
		if rerr := removeLockFiles(holders); rerr != nil {
			return res, fmt.Errorf("%w\nclearing the dead lock failed: %v: %s (%v)", err, cerr, strings.TrimSpace(stderr), rerr)
		}
	}
	return op()
}

// stackLockGone judges the pulumi process that took a stack's lock on host
// as pid at time at. Pulumi's lock names no pid namespace, so a pid that is
// gone here proves nothing about a process of another machine with the
// same host name; what does is the env's lease, which this command holds:
//   - a lock taken before this command took the env's lease over from a
//     holder on that host belongs to that holder's command, which is gone
//     or was fenced when its lease expired;
//   - a lock of this host whose pid runs no more here, or runs a process
//     that started after the lock was taken, is gone if it was taken while
//     the lease's previous holder held it and that holder ran on this
//     machine: this boot and this pid namespace, so that the pid is one of
//     this namespace (a pulumi's command's child, such as one killed alone,
//     out of memory). A lock with no such witness (a `pulumi up` by hand, a
//     preview, or a twin container that shares the host name but not the
//     pids) is left to `phoenix unlock --force`;
//   - a lock of this host on a stack that does not exist (absent), whose
//     pid runs no more here or runs a newer process, taken before this
//     command took the lease, is gone whoever took it: creating or
//     removing a stack holds its lock only for that moment, so the lock
//     outlived a pulumi killed in it. (The witness above cannot vouch for
//     it when the command that ran after the killed one, and found the
//     stack already removed, released the lease normally.)
func stackLockGone(ctx context.Context, host string, pid int, at time.Time, absent bool) (bool, string) {
	l := lease.FromContext(ctx)
	if l == nil || at.IsZero() || pid <= 0 || !at.Before(l.Since()) {
		return false, ""
	}
	if l.TookOver != nil && l.TookOver.Host == host {
		return true, fmt.Sprintf("its command's lease was taken over from phoenix %s, pid %d on %s", l.TookOver.Command, l.TookOver.PID, host)
	}
	self := lease.Self()
	if host != self.Host {
		return false, ""
	}
	prev := l.Previous
	witnessed := prev != nil && prev.Host == host && prev.Machine != "" && prev.Machine == self.Machine && !at.Before(prev.Since)
	if !witnessed && !absent {
		return false, ""
	}
	var why string
	switch {
	case lease.ProcessGone(pid):
		why = "no process has its pid on this host"
	case lease.ProcessNewer(pid, at):
		why = "its pid now names a process that started after the lock was taken"
	default:
		return false, ""
	}
	if !witnessed {
		why += ", and the stack it locks does not exist"
	}
	return true, why
}

// removeLockFiles removes the lock files of a file backend's refusal.
func removeLockFiles(holders [][]string) error {
	for _, h := range holders {
		u, err := url.Parse(h[1])
		if err != nil || u.Scheme != "file" {
			return fmt.Errorf("the lock %s is not a file", h[1])
		}
		if err := os.Remove(u.Path); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// settleSidecars readies a file backend for another read after one
// failed on an empty attribute file ("EOF"): a killed pulumi's is removed
// (dropEmptySidecars); one that a running pulumi is writing (another
// command, or a by-hand pulumi up, updating a stack) is whole a moment
// later.
func (o *Orchestrator) settleSidecars() {
	if o.dropEmptySidecars() == 0 {
		time.Sleep(200 * time.Millisecond)
	}
}

// dropEmptySidecars removes the empty attribute files that a pulumi killed
// while it wrote a file backend's object left, and returns how many. The
// file store (gocloud.dev's fileblob) writes an object's attributes to
// <object>.attrs, truncating the file first, before it renames the
// object's new content into place: a kill in between leaves the object as
// it was and its attributes empty, which every later read of the object
// (`pulumi stack ls`, `stack export`) fails on with "EOF". An absent
// attribute file is read as no attributes, so removing it loses nothing.
func (o *Orchestrator) dropEmptySidecars() int {
	backend := o.opts.EnvVars["PULUMI_BACKEND_URL"]
	if !strings.HasPrefix(backend, "file://") {
		return 0
	}
	root := filepath.Join(strings.TrimPrefix(stacks.BackendID(backend, ""), "file://"), ".pulumi")
	n := 0
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".attrs") {
			return nil
		}
		if info, err := d.Info(); err == nil && info.Size() == 0 && os.Remove(path) == nil {
			o.logf("removed %s: an empty attribute file that a killed pulumi left", path)
			n++
		}
		return nil
	})
	return n
}

// halfWrittenAge is how old a lock's temporary file must be to be a
// killed writer's: a live pulumi renames it into place within a moment.
const halfWrittenAge = 2 * time.Second

// dropHalfWrittenLocks removes the lock files that a pulumi killed while it
// wrote them left in a file backend, and returns how many. The file store
// writes a lock to <lock>.json.<n>.tmp beside it and renames it into
// place; a kill in between leaves the temporary file, which every later
// command on the stack lists as another holder's lock and fails to parse
// ("unexpected end of JSON input"), so that no pulumi command can run on
// the stack again. Such a file never held a lock: removing it loses
// nothing. One younger than halfWrittenAge may still be renamed by a live
// pulumi: it is waited for first.
func (o *Orchestrator) dropHalfWrittenLocks() int {
	backend := o.opts.EnvVars["PULUMI_BACKEND_URL"]
	if !strings.HasPrefix(backend, "file://") {
		return 0
	}
	root := filepath.Join(strings.TrimPrefix(stacks.BackendID(backend, ""), "file://"), ".pulumi", "locks")
	var temps []string
	young := false
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".tmp") {
			return nil
		}
		temps = append(temps, path)
		if info, err := d.Info(); err == nil && time.Since(info.ModTime()) < halfWrittenAge {
			young = true
		}
		return nil
	})
	if young {
		time.Sleep(halfWrittenAge)
	}
	n := 0
	for _, path := range temps {
		if os.Remove(path) == nil {
			o.logf("removed %s: a lock file that a killed pulumi left half written", path)
			n++
		}
	}
	return n
}

// dropEmptyCheckpoint removes the checkpoint of a stack that is empty:
// `pulumi stack init` was killed before it wrote anything, and no Pulumi
// command can load the stack again. Nothing was ever deployed in it, so
// the stack is as good as absent and is created anew. A checkpoint with
// any content is never touched.
func (o *Orchestrator) dropEmptyCheckpoint(ctx context.Context, name stacks.StackName) error {
	b, err := lease.OpenBucket(ctx, o.opts.EnvVars["PULUMI_BACKEND_URL"])
	if err != nil {
		return err
	}
	defer b.Close()
	key := ".pulumi/stacks/" + ProjectName + "/" + name.String() + ".json"
	a, err := b.Attributes(ctx, key)
	if err != nil {
		return err
	}
	if a.Size != 0 {
		return fmt.Errorf("the checkpoint of %s is not empty", name)
	}
	o.logf("stack %s has an empty checkpoint (its creation was cut off): creating it anew", name)
	return b.Delete(ctx, key)
}
