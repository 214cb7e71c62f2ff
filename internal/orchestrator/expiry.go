package orchestrator

// Envs that dispose of themselves: a deploy with a TTL records, as a tag of
// the env stack, when the env expires; gc --expired destroys every env of
// the project past its expiry.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/phoenix-iac/phoenix/stacks"
)

// tagExpires is the env stack's tag that holds its expiry (RFC 3339, UTC).
const tagExpires = "phoenix:expires"

// setExpiry records that env expires at t.
func (o *Orchestrator) setExpiry(ctx context.Context, env string, t time.Time) error {
	ws, err := o.workspace(ctx)
	if err != nil {
		return err
	}
	if err := ws.SetTag(ctx, env, tagExpires, t.UTC().Format(time.RFC3339)); err != nil {
		return fmt.Errorf("recording env %s's expiry: %w", env, err)
	}
	o.logf("env %s expires at %s (phoenix gc --expired destroys it after that)", env, t.UTC().Format(time.RFC3339))
	return nil
}

// expiries returns the expiry of every env stack of the project that has
// one.
func (o *Orchestrator) expiries(ctx context.Context) (map[string]time.Time, error) {
	if o.noState() {
		return map[string]time.Time{}, nil
	}
	stdout, stderr, _, err := o.opts.Pulumi.Run(ctx, o.opts.ProjectDir, nil, nil, nil, o.envList(),
		"stack", "ls", "--json", "--tag", tagExpires)
	if err != nil {
		return nil, fmt.Errorf("listing the envs that expire: %w: %s", err, strings.TrimSpace(stderr))
	}
	var list []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		return nil, fmt.Errorf("listing the envs that expire: %w", err)
	}
	ws, err := o.workspace(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for _, s := range list {
		name, err := stacks.ParseStackName(shortName(s.Name))
		if err != nil || name.IsVersion() {
			continue // not an env stack of phoenix's
		}
		v, err := ws.GetTag(ctx, name.String(), tagExpires)
		if err != nil {
			return nil, fmt.Errorf("reading env %s's expiry: %w", name, err)
		}
		t, err := parseExpiry(name.Env, v)
		if err != nil {
			return nil, err
		}
		out[name.Env] = t
	}
	return out, nil
}

// parseExpiry reads env's expiry tag.
func parseExpiry(env, tag string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(tag))
	if err != nil {
		return t, fmt.Errorf("env %s's tag %s is %q, not a time: set it again with phoenix deploy --env %s --ttl DURATION", env, tagExpires, tag, env)
	}
	return t, nil
}

// ExpiredOptions are the options of GCExpired.
type ExpiredOptions struct {
	// DryRun lists the expired envs and destroys nothing.
	DryRun bool
	// Wait is how long to wait for another command on an env to finish.
	Wait time.Duration
	// Now is the time to compare expiries with; default time.Now.
	Now time.Time
}

// ExpiredEnv is an env past its expiry.
type ExpiredEnv struct {
	Env     string    `json:"env"`
	Expires time.Time `json:"expires"`
	// Destroyed is set once the env is destroyed.
	Destroyed bool `json:"destroyed"`
	// Error says why it was not.
	Error string `json:"error,omitempty"`
}

// ExpiredResult says what gc --expired found and did.
type ExpiredResult struct {
	DryRun bool         `json:"dryRun"`
	Envs   []ExpiredEnv `json:"envs"`
	// Kept counts the envs that expire later.
	Kept int `json:"kept"`
}

// GCExpired destroys every env of the project past its expiry, as
// DestroyEnv does (each under its lease, versions first), oldest expiry
// first. An env it cannot destroy is reported and the others go on; the
// error then names them all.
func (o *Orchestrator) GCExpired(ctx context.Context, opts ExpiredOptions) (ExpiredResult, error) {
	res := ExpiredResult{DryRun: opts.DryRun, Envs: []ExpiredEnv{}}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	all, err := o.expiries(ctx)
	if err != nil {
		return res, err
	}
	for env, t := range all {
		if t.After(now) {
			res.Kept++
			continue
		}
		res.Envs = append(res.Envs, ExpiredEnv{Env: env, Expires: t})
	}
	sort.Slice(res.Envs, func(i, j int) bool {
		a, b := res.Envs[i], res.Envs[j]
		return a.Expires.Before(b.Expires) || a.Expires.Equal(b.Expires) && a.Env < b.Env
	})
	if opts.DryRun {
		return res, nil
	}
	var failed []string
	for i := range res.Envs {
		e := &res.Envs[i]
		if _, err := o.envFile(e.Env); err != nil {
			// Destroying runs the program on the env's config: a review
			// env's file is made from a template in another job.
			e.Error = fmt.Sprintf("%s is not in this checkout: create it as the env was made (a review env: cp Pulumi.review.yaml %[1]s), then run phoenix gc --expired again",
				filepath.Base(o.envConfigPath(e.Env)))
			failed = append(failed, e.Env)
			o.logf("env %s: %s", e.Env, e.Error)
			continue
		}
		o.logf("env %s expired at %s: destroying it", e.Env, e.Expires.UTC().Format(time.RFC3339))
		if _, err := o.DestroyEnv(ctx, e.Env, opts.Wait); err != nil {
			e.Error = err.Error()
			failed = append(failed, e.Env)
			o.logf("env %s: %v", e.Env, err)
			continue
		}
		e.Destroyed = true
	}
	if len(failed) > 0 {
		return res, fmt.Errorf("%d expired env(s) not destroyed: %s; see each one's error, then run phoenix gc --expired again", len(failed), strings.Join(failed, ", "))
	}
	return res, nil
}

// errBadTTL is returned, wrapped, for a TTL of 0 or less.
var errBadTTL = errors.New("a TTL must be over 0")
