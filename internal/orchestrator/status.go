package orchestrator

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"golang.org/x/sync/errgroup"

	"github.com/phoenix-iac/phoenix/stacks"
)

// Status is the state of an env.
type Status struct {
	Env             string        `json:"env"`
	Deployed        bool          `json:"deployed"`
	Platform        string        `json:"platform,omitempty"`
	URL             string        `json:"url,omitempty"`
	Live            string        `json:"live,omitempty"`
	Candidate       string        `json:"candidate,omitempty"`
	CandidateWeight int           `json:"candidateWeight"`
	Previous        string        `json:"previous,omitempty"`
	Retention       int           `json:"retention"`
	Versions        []VersionInfo `json:"versions"`
	// Warning says that the newest traffic change failed, and how to
	// finish it; the traffic above is still what the load balancer serves.
	Warning string `json:"warning,omitempty"`
	// Expires is when the env expires (deploy --ttl), if it does.
	Expires *time.Time `json:"expires,omitempty"`
	// History is the env's traffic changes, newest first, as read for
	// this status (phoenix history shows them); not part of its JSON.
	History []Event `json:"-"`
}

// Status reports an env: its traffic and its versions.
func (o *Orchestrator) Status(ctx context.Context, env string) (Status, error) {
	return o.envStatus(ctx, env, true)
}

// envStatus is Status; without full, it reads only what gc needs (traffic,
// versions, history), not each version's artifact and image nor the
// env's expiry.
func (o *Orchestrator) envStatus(ctx context.Context, env string, full bool) (Status, error) {
	return o.envStatusWith(ctx, env, full, nil)
}

// statusReads are the reads of an env's status that a command under the
// env's lease may make ahead of it: its version stacks and its history.
type statusReads struct {
	versions []VersionInfo
	hist     []Event
}

// readAhead starts the reads of statusReads, and returns what waits for
// them.
func (o *Orchestrator) readAhead(ctx context.Context, env string, envStack auto.Stack) func() (statusReads, error) {
	var r statusReads
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { r.versions, err = o.versions(gctx, env); return err })
	g.Go(func() (err error) { r.hist, err = o.history(gctx, envStack); return err })
	return sync.OnceValues(func() (statusReads, error) { return r, g.Wait() })
}

// envStatusWith is envStatus, with the versions and the history read
// ahead when pre is set.
func (o *Orchestrator) envStatusWith(ctx context.Context, env string, full bool, pre *statusReads) (Status, error) {
	st := Status{Env: env, Versions: []VersionInfo{}}
	if err := stacks.ValidateEnv(env); err != nil {
		return st, err
	}
	if o.noState() {
		return st, nil
	}
	es, envStack, err := o.envState(ctx, env)
	if err != nil {
		return st, err
	}
	// Each read is a CLI process: the versions, the history and the tags
	// are read side by side.
	var versions []VersionInfo
	var hist []Event
	var tags map[string]string
	g, gctx := errgroup.WithContext(ctx)
	if pre != nil {
		versions, hist = slices.Clone(pre.versions), slices.Clone(pre.hist)
	} else {
		g.Go(func() (err error) { versions, err = o.versions(gctx, env); return err })
		if es.Exists {
			g.Go(func() (err error) { hist, err = o.history(gctx, envStack); return err })
		}
	}
	if es.Exists && full {
		g.Go(func() (err error) {
			if tags, err = envStack.Workspace().ListTags(gctx, env); err != nil {
				return fmt.Errorf("reading env %s's tags: %w", env, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return st, err
	}
	st.Deployed, st.Platform, st.URL, st.Retention = es.Exists, es.Platform, es.URL, es.Retention
	st.Live, st.CandidateWeight = es.Traffic.Live, es.Traffic.CandidateWeight
	if es.Traffic.Candidate != es.Traffic.Live {
		st.Candidate = es.Traffic.Candidate
	}
	if es.Exists {
		if v, ok := tags[tagExpires]; ok {
			t, err := parseExpiry(env, v)
			if err != nil {
				return st, err
			}
			st.Expires = &t
		}
		st.History = hist
		st.Previous = previousOf(hist, st.Live)
		st.Warning = lastFailed(hist, env)
		// A version's age is its deploy's, not its stack's last update,
		// which a refresh moves; gc keeps the newest by it too.
		deployed := firstRouted(hist)
		for i := range versions {
			versions[i].Deployed = deployed[versions[i].Version]
		}
		sort.SliceStable(versions, func(i, j int) bool { return versions[i].since().After(versions[j].since()) })
	}
	if !full {
		versions = roled(versions, st)
		if versions != nil {
			st.Versions = versions
		}
		return st, nil
	}
	if err := o.describe(ctx, env, versions); err != nil {
		return st, err
	}
	versions = roled(versions, st)
	if versions != nil {
		st.Versions = versions
	}
	return st, nil
}

// roled gives the versions that traffic names their roles.
func roled(versions []VersionInfo, st Status) []VersionInfo {
	for i := range versions {
		switch versions[i].Version {
		case st.Live:
			versions[i].Role = "live"
		case st.Candidate:
			versions[i].Role = "candidate"
		case st.Previous:
			versions[i].Role = "previous"
		}
	}
	return versions
}

// since is when a version came: its deploy, else its stack's last update.
func (v VersionInfo) since() time.Time {
	if !v.Deployed.IsZero() {
		return v.Deployed
	}
	return v.LastUpdate
}

// Age is how long ago the version was deployed (its stack's last update
// when no traffic change names it).
func (v VersionInfo) Age(now time.Time) time.Duration { return now.Sub(v.since()) }
