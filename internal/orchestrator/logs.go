package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/phoenix-iac/phoenix/internal/awslogs"
	"github.com/phoenix-iac/phoenix/internal/dockerengine"
	"github.com/phoenix-iac/phoenix/stacks"
)

// LogsOptions select the output phoenix logs shows.
type LogsOptions struct {
	// Env is the env. Required.
	Env string
	// Version is the version whose output is shown; default the live one.
	Version string
	// Since is the earliest time of the lines shown; zero for all.
	Since time.Time
	// Follow keeps streaming new lines until ctx ends.
	Follow bool
}

// LogLine is one line of a version's output.
type LogLine struct {
	Time time.Time `json:"time"`
	// Version is the version the line came from; Source the container (or
	// log stream) within it.
	Version string `json:"version"`
	Source  string `json:"source"`
	// Stream is stdout or stderr; empty on aws, where the two are one.
	Stream string `json:"stream,omitempty"`
	Line   string `json:"line"`
}

// Logs calls out with each line of the version's output: its containers'
// on docker. Without Follow the lines come in time order once all are
// read; with it, as they come, until ctx ends (then it returns nil).
func (o *Orchestrator) Logs(ctx context.Context, opts LogsOptions, out func(LogLine) error) error {
	if err := stacks.ValidateEnv(opts.Env); err != nil {
		return err
	}
	if opts.Version != "" {
		if err := stacks.ValidateVersion(opts.Version); err != nil {
			return err
		}
	}
	st, _, err := o.envState(ctx, opts.Env)
	if err != nil {
		return err
	}
	if !st.Exists {
		return &NotFoundError{What: fmt.Sprintf("env %s has not been deployed; deploy it with: phoenix deploy --env %s", opts.Env, opts.Env)}
	}
	if opts.Version == "" {
		opts.Version = st.Traffic.Live
		if opts.Version == "" {
			return &NotFoundError{What: fmt.Sprintf("env %s has no live version; name one with --version (phoenix status --env %s lists them)", opts.Env, opts.Env)}
		}
	}
	switch stacks.Platform(st.Platform) {
	case stacks.PlatformDocker:
		return o.dockerLogs(ctx, opts, out)
	case stacks.PlatformAWS:
		if st.LogGroup == "" {
			return fmt.Errorf("env stack %s names no log group (output %s)", opts.Env, stacks.OutLogGroupName)
		}
		cfg, err := o.awsConfig(ctx, opts.Env)
		if err != nil {
			return err
		}
		return awslogs.Read(ctx, cloudwatchlogs.NewFromConfig(cfg), awslogs.Options{Group: st.LogGroup, Version: opts.Version, Since: opts.Since, Follow: opts.Follow},
			func(e awslogs.Event) error {
				// The stream is <version>/<container>/<task id>: the task
				// is the replica.
				source := e.Stream
				if parts := strings.Split(e.Stream, "/"); len(parts) == 3 {
					source = parts[2]
				}
				return out(LogLine{Time: e.Time, Version: opts.Version, Source: source, Line: e.Message})
			})
	default:
		return fmt.Errorf("phoenix logs does not know platform %q", st.Platform)
	}
}

func (o *Orchestrator) dockerLogs(ctx context.Context, opts LogsOptions, out func(LogLine) error) error {
	c, err := dockerengine.New(dockerengine.Host(o.getenv), o.getenv("DOCKER_TLS_VERIFY") != "")
	if err != nil {
		var unchecked *dockerengine.ErrUnchecked
		if errors.As(err, &unchecked) {
			return fmt.Errorf("phoenix logs reaches the Docker engine on unix:// and plain tcp:// hosts only (DOCKER_HOST=%s); read the containers with docker logs", unchecked.Host)
		}
		return err
	}
	objs, err := c.List(ctx, map[string]string{stacks.LabelEnv: opts.Env, stacks.LabelVersion: opts.Version})
	if err != nil {
		return err
	}
	var containers []dockerengine.Object
	for _, obj := range objs {
		if obj.Kind == dockerengine.KindContainer {
			containers = append(containers, obj)
		}
	}
	if len(containers) == 0 {
		return &NotFoundError{What: fmt.Sprintf("version %s of env %s has no containers on the Docker engine at %s; phoenix status --env %s lists the versions",
			opts.Version, opts.Env, dockerengine.Host(o.getenv), opts.Env)}
	}
	slices.SortFunc(containers, func(a, b dockerengine.Object) int { return strings.Compare(a.Name, b.Name) })

	var (
		mu    sync.Mutex
		lines []LogLine
	)
	emit := func(l LogLine) error {
		mu.Lock()
		defer mu.Unlock()
		if opts.Follow {
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
			errs[i] = c.Logs(ctx, ct.ID, dockerengine.LogOptions{Since: opts.Since, Follow: opts.Follow, Stdout: true, Stderr: true, Timestamps: true},
				func(stream int, b []byte) error {
					l := LogLine{Version: opts.Version, Source: ct.Name, Stream: "stdout", Line: string(b)}
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
	slices.SortStableFunc(lines, func(a, b LogLine) int { return a.Time.Compare(b.Time) })
	for _, l := range lines {
		if err := out(l); err != nil {
			return err
		}
	}
	return nil
}
