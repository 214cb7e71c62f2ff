package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// Orphan is something in the cloud that carries an env's labels but that no
// stack of the env holds: left by a create the engine had begun when it
// was killed, or by a stack removed without being destroyed.
type Orphan struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// OrphansOptions describe one gc --orphans.
type OrphansOptions struct {
	Env string
	// DryRun lists without removing.
	DryRun bool
	// Wait is how long to wait for the env lock.
	Wait time.Duration
}

// OrphansResult lists the orphans found and those removed.
type OrphansResult struct {
	Env     string   `json:"env"`
	Orphans []Orphan `json:"orphans"`
	Removed []Orphan `json:"removed"`
	DryRun  bool     `json:"dryRun"`
}

// ErrNoInventory is returned on platforms whose cloud phoenix cannot list.
var ErrNoInventory = platform.ErrNoInventory

// GCOrphans finds the env's orphans and, unless DryRun, removes them.
func (o *Orchestrator) GCOrphans(ctx context.Context, opts OrphansOptions) (OrphansResult, error) {
	res := OrphansResult{Env: opts.Env, Orphans: []Orphan{}, Removed: []Orphan{}, DryRun: opts.DryRun}
	if err := stacks.ValidateEnv(opts.Env); err != nil {
		return res, err
	}
	if err := o.preflight(ctx, opts.Env); err != nil {
		return res, err
	}
	ctx, unlock, err := o.lock(ctx, opts.Env, "gc", opts.Wait)
	if err != nil {
		return res, err
	}
	defer unlock()
	names, err := o.stackNames(ctx)
	if err != nil {
		return res, err
	}
	held := map[string]bool{}
	for name := range names {
		sn, err := stacks.ParseStackName(name)
		if err != nil || sn.Env != opts.Env {
			continue
		}
		ids, err := o.stateIDs(ctx, sn)
		if err != nil {
			return res, err
		}
		for id := range ids {
			held[id] = true
		}
	}
	cloud, orphans, err := o.orphans(ctx, opts.Env, held, func(platform.Object) bool { return true })
	if err != nil {
		return res, err
	}
	for _, obj := range orphans {
		res.Orphans = append(res.Orphans, orphanOf(obj))
	}
	if opts.DryRun {
		return res, nil
	}
	err = o.removeOrphans(ctx, cloud, orphans, "", func(obj platform.Object) { res.Removed = append(res.Removed, orphanOf(obj)) })
	if err != nil {
		return res, fmt.Errorf("gc --orphans stopped: %w", err)
	}
	return res, nil
}

// sweepOrphans removes what carries stack name's mark but is not in its
// state, and returns how many it removed. On a platform phoenix cannot
// list it says how to look, and removes nothing. When the cloud cannot be
// listed (a deploy role without the listing permissions, for one), it
// warns, names the command that finishes the sweep, and removes nothing:
// the repair goes on, as it did before the platform could list.
func (o *Orchestrator) sweepOrphans(ctx context.Context, name stacks.StackName) (int, error) {
	held, err := o.stateIDs(ctx, name)
	if err != nil {
		return 0, err
	}
	cloud, orphans, err := o.orphans(ctx, name.Env, held, func(obj platform.Object) bool { return obj.Version == name.Version })
	if errors.Is(err, ErrNoInventory) {
		o.logf("%v", err)
		return 0, nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return 0, err
		}
		o.logf("warning: could not look in the cloud for what the interrupted creates of %s left: %v\nonce it can, find and remove it with: phoenix gc --env %s --orphans --dry-run, then without --dry-run", name, err, name.Env)
		return 0, nil
	}
	return len(orphans), o.removeOrphans(ctx, cloud, orphans, ": no state holds it", nil)
}

// orphans finds in env's cloud what carries its mark, is its owner's,
// is one of those that mine selects, and is not held: in the order the
// cloud can remove them. It names what it leaves alone because another
// owner's.
func (o *Orchestrator) orphans(ctx context.Context, env string, held map[string]bool, mine func(platform.Object) bool) (platform.Cloud, []platform.Object, error) {
	cloud, owner, err := o.inventory(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	objs, others, err := cloud.List(ctx, env, owner)
	if err != nil {
		return nil, nil, err
	}
	count := map[string]int{}
	for _, obj := range others {
		// One a stack holds is the env's, whatever its mark says (an aws
		// version's made before owners were tagged).
		if mine(obj) && !held[obj.ID] {
			count[obj.Owner]++
		}
	}
	ownerName := owner.String()
	if n, ok := cloud.(platform.OwnerNamer); ok {
		ownerName = n.OwnerName(owner)
	}
	for _, other := range slices.Sorted(maps.Keys(count)) {
		o.logf("leaving alone %d resource(s) %s that are not this env's (%s; this env's: %s)", count[other], cloud.Marked(env), other, ownerName)
	}
	var orphans []platform.Object
	for _, obj := range objs {
		if mine(obj) && !held[obj.ID] {
			orphans = append(orphans, obj)
		}
	}
	return cloud, orphans, nil
}

// removeOrphans removes orphans one by one, in order, each with a line
// (ending in why), and calls removed, if set, after each.
func (o *Orchestrator) removeOrphans(ctx context.Context, cloud platform.Cloud, orphans []platform.Object, why string, removed func(platform.Object)) error {
	for _, obj := range orphans {
		o.logf("removing %s %s (%s)%s", obj.Kind, obj.Name, shortID(obj.ID), why)
		if err := cloud.Remove(ctx, obj); err != nil {
			return err
		}
		if removed != nil {
			removed(obj)
		}
	}
	return nil
}

// inventory returns the cloud of env's platform, which lists what carries
// the env's mark, and whose the env's resources are.
func (o *Orchestrator) inventory(ctx context.Context, env string) (platform.Cloud, stacks.Owner, error) {
	st, _, err := o.envState(ctx, env)
	if err != nil {
		return nil, stacks.Owner{}, err
	}
	p, f, err := o.platformOf(env)
	if err != nil {
		return nil, stacks.Owner{}, err
	}
	inv, ok := p.(platform.Inventory)
	if !ok {
		return nil, stacks.Owner{}, fmt.Errorf("%w: phoenix cannot list what env %s has on platform %s", ErrNoInventory, env, p.Name())
	}
	ops := o.opsEnv(env, f, st)
	c, err := inv.Inventory(ops)
	return c, ops.Owner, err
}

// stateIDs returns the ids of the resources a stack's state holds.
func (o *Orchestrator) stateIDs(ctx context.Context, name stacks.StackName) (map[string]bool, error) {
	rec, err := o.readRecord(ctx, name)
	return rec.IDs, err
}

func orphanOf(obj platform.Object) Orphan {
	return Orphan{Kind: obj.Kind, ID: obj.ID, Name: obj.Name, Version: obj.Version}
}

// shortID shortens a Docker id to its first 12 characters, as Docker
// does; an ARN, which names what it is, stays whole.
func shortID(id string) string {
	if len(id) > 12 && !strings.HasPrefix(id, "arn:") {
		return id[:12]
	}
	return id
}
