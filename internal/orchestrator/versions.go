package orchestrator

// The version stacks of an env, as status and gc list them.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"golang.org/x/sync/errgroup"

	"github.com/phoenix-iac/phoenix/stacks"
)

// VersionInfo describes one version stack.
type VersionInfo struct {
	Version string `json:"version"`
	Stack   string `json:"stack"`
	// LastUpdate is the stack's last update, a refresh (a rollback's
	// drift check) included.
	LastUpdate time.Time `json:"lastUpdate,omitempty"`
	// Deployed is when the version was first routed (as the candidate of
	// its deploy), from the env's history; zero when it never was.
	Deployed  time.Time `json:"deployed,omitempty"`
	Resources int       `json:"resources"`
	Role      string    `json:"role"` // live, candidate, previous, warm, incomplete, failed
	// Complete is false for a version stack whose first up failed or was
	// interrupted: it is not a version that can take traffic.
	Complete bool `json:"complete"`
	// Failed is true for a version whose deploy failed and that was kept
	// for inspection (deploy --keep-failed): not a warm version; gc
	// destroys it.
	Failed bool `json:"failed,omitempty"`
	// Artifact is the artifact id of the version's app, the hash of its
	// build context alone (version.Artifact), as its deploy recorded it.
	Artifact string `json:"artifact,omitempty"`
	// Image is the image the version runs, as its stack records it:
	// docker, the image id; aws, the ECR image by digest.
	Image string `json:"image,omitempty"`
	// Program is the hash of the program the version was deployed with
	// (version.Program), as its deploy recorded it.
	Program string `json:"program,omitempty"`
	// PromotedFrom is the version stack whose artifact a promoted version
	// runs (<env>.<version>); empty for a version built from source.
	PromotedFrom string `json:"promotedFrom,omitempty"`
}

// The version stack's tags that say where its definition came from.
const (
	// tagArtifact holds its artifact id.
	tagArtifact = "phoenix:artifact"
	// tagProgram holds the hash of the program it was deployed with.
	tagProgram = "phoenix:program"
	// tagPromotedFrom holds, for a promoted version, the version stack it
	// was promoted from.
	tagPromotedFrom = "phoenix:promotedFrom"
)

// describe fills in each version's artifact and image, from its stack's
// outputs and tags, reading up to four stacks at a time.
func (o *Orchestrator) describe(ctx context.Context, env string, vs []VersionInfo) error {
	ws, err := o.workspace(ctx)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := range vs {
		v := &vs[i]
		g.Go(func() error {
			// A stack that another machine's gc removed since the listing
			// is left as it was listed.
			rec, err := o.readRecord(gctx, stacks.StackName{Env: env, Version: v.Version})
			if isNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			v.Image, _ = rec.Outputs[stacks.OutImage].(string)
			tags, err := ws.ListTags(gctx, v.Stack)
			if err != nil && strings.Contains(err.Error(), "no stack named") {
				return nil
			}
			if err != nil {
				return fmt.Errorf("reading %s's tags: %w", v.Stack, err)
			}
			v.Artifact, v.Program, v.PromotedFrom = tags[tagArtifact], tags[tagProgram], tags[tagPromotedFrom]
			return nil
		})
	}
	return g.Wait()
}

// versions lists the version stacks of env, newest first.
func (o *Orchestrator) versions(ctx context.Context, env string) ([]VersionInfo, error) {
	// Three listings, side by side: each is a CLI process.
	var names map[string]auto.StackSummary
	var complete, failed map[string]bool
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { names, err = o.stackNames(gctx); return err })
	g.Go(func() (err error) { complete, err = o.completeStacks(gctx); return err })
	g.Go(func() (err error) { failed, err = o.failedStacks(gctx); return err })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []VersionInfo
	for name, sum := range names {
		sn, err := stacks.ParseStackName(name)
		if err != nil || sn.Env != env || !sn.IsVersion() {
			continue
		}
		v := VersionInfo{Version: sn.Version, Stack: name, Role: "warm", Complete: complete[name]}
		if !v.Complete {
			// Untagged: incomplete, or complete but interrupted before its
			// tag was set, or deployed with a plain pulumi up.
			_, rec, err := o.selectStack(ctx, sn)
			if err != nil {
				return nil, err
			}
			v.Complete = rec.complete()
		}
		switch {
		case !v.Complete:
			v.Role = "incomplete"
		case failed[name]:
			v.Role, v.Failed = "failed", true
		}
		if sum.ResourceCount != nil {
			v.Resources = *sum.ResourceCount
		}
		if t, err := time.Parse(time.RFC3339, sum.LastUpdate); err == nil {
			v.LastUpdate = t
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastUpdate.Equal(out[j].LastUpdate) {
			return out[i].LastUpdate.After(out[j].LastUpdate)
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

func warmList(vs []VersionInfo, except ...string) string {
	var names []string
	for _, v := range vs {
		skip := v.Resources == 0 || !v.Complete || v.Failed
		for _, e := range except {
			skip = skip || v.Version == e
		}
		if !skip {
			names = append(names, v.Version)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
