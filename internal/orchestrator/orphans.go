package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/phoenix-iac/phoenix/internal/dockerengine"
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
	engine, owner, err := o.inventory(ctx, opts.Env)
	if err != nil {
		return res, err
	}
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
	objs, err := engine.List(ctx, map[string]string{stacks.LabelEnv: opts.Env})
	if err != nil {
		return res, err
	}
	objs = o.owned(objs, opts.Env, owner)
	var orphans []dockerengine.Object
	for _, obj := range objs {
		if !held[obj.ID] {
			orphans = append(orphans, obj)
			res.Orphans = append(res.Orphans, orphanOf(obj))
		}
	}
	if opts.DryRun {
		return res, nil
	}
	for _, obj := range removalOrder(orphans) {
		o.logf("removing %s %s (%s)", obj.Kind, obj.Name, shortID(obj.ID))
		if err := engine.Remove(ctx, obj); err != nil {
			return res, fmt.Errorf("gc --orphans stopped: %w", err)
		}
		res.Removed = append(res.Removed, orphanOf(obj))
	}
	return res, nil
}

// sweepOrphans removes what carries stack name's labels but is not in its
// state, and returns how many it removed. On a platform phoenix cannot
// list it says how to look, and removes nothing.
func (o *Orchestrator) sweepOrphans(ctx context.Context, name stacks.StackName) (int, error) {
	engine, owner, err := o.inventory(ctx, name.Env)
	if errors.Is(err, ErrNoInventory) {
		o.logf("%v", err)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	held, err := o.stateIDs(ctx, name)
	if err != nil {
		return 0, err
	}
	labels := map[string]string{stacks.LabelEnv: name.Env}
	if name.IsVersion() {
		labels[stacks.LabelVersion] = name.Version
	}
	objs, err := engine.List(ctx, labels)
	if err != nil {
		return 0, err
	}
	objs = o.owned(objs, name.Env, owner)
	var orphans []dockerengine.Object
	for _, obj := range objs {
		if obj.Labels[stacks.LabelVersion] == name.Version && !held[obj.ID] {
			orphans = append(orphans, obj)
		}
	}
	for _, obj := range removalOrder(orphans) {
		o.logf("removing %s %s (%s): no state holds it", obj.Kind, obj.Name, shortID(obj.ID))
		if err := engine.Remove(ctx, obj); err != nil {
			return 0, err
		}
	}
	return len(orphans), nil
}

// inventory returns the cloud of env's platform, which lists what carries
// phoenix's labels or tags, and whose the env's resources are.
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

// owned keeps the objects that are owner's: an env of the same name in
// another project or backend, on the same engine, is not this env's.
func (o *Orchestrator) owned(objs []dockerengine.Object, env string, owner stacks.Owner) []dockerengine.Object {
	var mine []dockerengine.Object
	others := map[string]int{}
	for _, obj := range objs {
		if owner.Owns(obj.Labels) {
			mine = append(mine, obj)
			continue
		}
		others[stacks.Owner{Project: obj.Labels[stacks.LabelProject], Backend: obj.Labels[stacks.LabelBackend]}.String()]++
	}
	for _, other := range slices.Sorted(maps.Keys(others)) {
		o.logf("leaving alone %d resource(s) labelled %s=%s that are not this env's (%s; this env's: %s)", others[other], stacks.LabelEnv, env, other, owner)
	}
	return mine
}

// stateIDs returns the ids of the resources a stack's state holds.
func (o *Orchestrator) stateIDs(ctx context.Context, name stacks.StackName) (map[string]bool, error) {
	rec, err := o.readRecord(ctx, name)
	return rec.IDs, err
}

// removalOrder sorts objects so that containers go before the networks and
// volumes they use.
func removalOrder(objs []dockerengine.Object) []dockerengine.Object {
	rank := map[string]int{dockerengine.KindContainer: 0, dockerengine.KindNetwork: 1, dockerengine.KindVolume: 2}
	out := append([]dockerengine.Object(nil), objs...)
	sort.SliceStable(out, func(i, j int) bool { return rank[out[i].Kind] < rank[out[j].Kind] })
	return out
}

func orphanOf(obj dockerengine.Object) Orphan {
	return Orphan{Kind: obj.Kind, ID: obj.ID, Name: obj.Name, Version: obj.Labels[stacks.LabelVersion]}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
