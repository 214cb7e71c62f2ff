package docker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-iac/phoenix/internal/analysis"
	"github.com/phoenix-iac/phoenix/internal/dockerengine"
	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// client is the Docker engine the provider uses ($DOCKER_HOST, else the
// default socket), for what phoenix reads and removes itself. An engine
// phoenix cannot reach itself (ssh://, TLS) fails naming what needed it
// (needs) and what to do instead (otherwise).
func client(env platform.Env, needs, otherwise string) (*dockerengine.Client, error) {
	c, err := dockerengine.New(dockerengine.Host(env.Getenv), env.Getenv("DOCKER_TLS_VERIFY") != "")
	var unchecked *dockerengine.ErrUnchecked
	if errors.As(err, &unchecked) {
		return nil, &unreachable{unchecked, fmt.Sprintf("%s through the Docker engine's API, which phoenix reaches on unix:// and plain tcp:// hosts only (DOCKER_HOST=%s); %s",
			needs, unchecked.Host, otherwise)}
	}
	return c, err
}

// unreachable is an engine phoenix cannot reach itself, saying what
// needed it.
type unreachable struct {
	*dockerengine.ErrUnchecked
	msg string
}

func (u *unreachable) Error() string { return u.msg }
func (u *unreachable) Unwrap() error { return u.ErrUnchecked }

// Preflight implements platform.Preflighter: the Docker engine answers.
func (Platform) Preflight(ctx context.Context, env platform.Env) error {
	err := dockerengine.Ping(ctx, dockerengine.Host(env.Getenv), env.Getenv("DOCKER_TLS_VERIFY") != "", 10*time.Second)
	var unchecked *dockerengine.ErrUnchecked
	if errors.As(err, &unchecked) {
		env.Logf("%v", err)
		return nil
	}
	return err
}

// AnalysisSource implements platform.Analyzer: Caddy's access log, the
// load balancer container's output, followed from since.
func (Platform) AnalysisSource(ctx context.Context, env platform.Env, since time.Time) (analysis.Source, error) {
	if outputsOf(env).LoadBalancer == "" {
		return nil, fmt.Errorf("env stack %s does not name its load balancer container (output %s), whose access log the analysis reads; update it with phoenix deploy --env %s, or pass --analysis=false",
			env.Name, stacks.OutLoadBalancer, env.Name)
	}
	c, err := client(env, "the canary analysis reads the load balancer's access log", "pass --analysis=false")
	if err != nil {
		return nil, err
	}
	return analysis.NewCaddySource(ctx, c, outputsOf(env).LoadBalancer, since), nil
}

// Inventory implements platform.Inventory: the Docker engine, which lists
// containers, networks and volumes by label.
func (Platform) Inventory(env platform.Env) (platform.Cloud, error) {
	c, err := client(env, "gc --orphans lists what carries the env's labels",
		fmt.Sprintf("list what env %s has with: docker ps -a --filter label=%s=%s", env.Name, stacks.LabelEnv, env.Name))
	var unchecked *dockerengine.ErrUnchecked
	if errors.As(err, &unchecked) {
		return nil, fmt.Errorf("%w: %w", platform.ErrNoInventory, err)
	}
	if err != nil {
		return nil, err
	}
	return cloud{c}, nil
}

// cloud is the Docker engine as platform.Cloud: what carries the env's
// labels.
type cloud struct{ c *dockerengine.Client }

// removalOrder ranks kinds so that containers go before the networks and
// volumes they use.
var removalOrder = map[string]int{dockerengine.KindContainer: 0, dockerengine.KindNetwork: 1, dockerengine.KindVolume: 2}

// List implements platform.Cloud.
func (c cloud) List(ctx context.Context, env string, owner stacks.Owner) (mine, others []platform.Object, err error) {
	objs, err := c.c.List(ctx, map[string]string{stacks.LabelEnv: env})
	if err != nil {
		return nil, nil, err
	}
	slices.SortStableFunc(objs, func(a, b dockerengine.Object) int { return removalOrder[a.Kind] - removalOrder[b.Kind] })
	for _, obj := range objs {
		o := platform.Object{Kind: obj.Kind, ID: obj.ID, Name: obj.Name, Version: obj.Labels[stacks.LabelVersion],
			Owner: stacks.Owner{Project: obj.Labels[stacks.LabelProject], Backend: obj.Labels[stacks.LabelBackend]}.String()}
		if owner.Owns(obj.Labels) {
			mine = append(mine, o)
		} else {
			others = append(others, o)
		}
	}
	return mine, others, nil
}

// Remove implements platform.Cloud.
func (c cloud) Remove(ctx context.Context, obj platform.Object) error {
	return c.c.Remove(ctx, dockerengine.Object{Kind: obj.Kind, ID: obj.ID, Name: obj.Name})
}

// Marked implements platform.Cloud.
func (cloud) Marked(env string) string { return fmt.Sprintf("labelled %s=%s", stacks.LabelEnv, env) }

// Logs implements platform.LogReader: the stdout and stderr of the
// version's containers, found by their labels.
func (Platform) Logs(ctx context.Context, env platform.Env, q platform.LogQuery, out func(platform.LogLine) error) error {
	c, err := client(env, "phoenix logs reads the containers' output", "read it with docker logs")
	if err != nil {
		return err
	}
	objs, err := c.List(ctx, map[string]string{stacks.LabelEnv: env.Name, stacks.LabelVersion: q.Version})
	if err != nil {
		return err
	}
	var containers []dockerengine.Object
	for _, obj := range objs {
		if obj.Kind == dockerengine.KindContainer && env.Owner.Owns(obj.Labels) {
			containers = append(containers, obj)
		}
	}
	if len(containers) == 0 {
		return &platform.NotFoundError{What: fmt.Sprintf("version %s of env %s has no containers on the Docker engine at %s; phoenix status --env %s lists the versions",
			q.Version, env.Name, dockerengine.Host(env.Getenv), env.Name)}
	}
	slices.SortFunc(containers, func(a, b dockerengine.Object) int { return strings.Compare(a.Name, b.Name) })

	var (
		mu    sync.Mutex
		lines []platform.LogLine
	)
	emit := func(l platform.LogLine) error {
		mu.Lock()
		defer mu.Unlock()
		if q.Follow {
			return out(l)
		}
		lines = append(lines, l)
		return nil
	}
	errs := make([]error, len(containers))
	var wg sync.WaitGroup
	for i, ct := range containers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Logs(ctx, ct.ID, dockerengine.LogOptions{Since: q.Since, Follow: q.Follow, Stdout: true, Stderr: true, Timestamps: true},
				func(stream int, b []byte) error {
					l := platform.LogLine{Version: q.Version, Source: ct.Name, Stream: "stdout", Line: string(b)}
					if stream == dockerengine.Stderr {
						l.Stream = "stderr"
					}
					// Docker puts its receive time first: RFC 3339, a space.
					if ts, rest, ok := strings.Cut(l.Line, " "); ok {
						if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
							l.Time, l.Line = t, rest
						}
					}
					return emit(l)
				})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	slices.SortStableFunc(lines, func(a, b platform.LogLine) int { return a.Time.Compare(b.Time) })
	for _, l := range lines {
		if err := out(l); err != nil {
			return err
		}
	}
	return nil
}
