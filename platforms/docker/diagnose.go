package docker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/phoenix-iac/phoenix/internal/dockerengine"
	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// outputLines is how many of a container's last output lines Diagnose
// quotes.
const outputLines = 3

// Diagnose implements platform.Diagnoser: what the Docker engine says of
// the version's containers, by their labels: a process that exited (its
// code, out of memory), restarts, a failing health check (its last
// output), and the container's last lines of output.
func (Platform) Diagnose(ctx context.Context, env platform.Env, version string) ([]string, error) {
	c, err := client(env, "phoenix reads why a version does not answer", "read it with docker inspect and docker logs")
	if err != nil {
		return nil, err
	}
	objs, err := c.List(ctx, map[string]string{stacks.LabelEnv: env.Name, stacks.LabelVersion: version})
	if err != nil {
		return nil, err
	}
	var containers []dockerengine.Object
	for _, obj := range objs {
		if obj.Kind == dockerengine.KindContainer && env.Owner.Owns(obj.Labels) {
			containers = append(containers, obj)
		}
	}
	if len(containers) == 0 {
		// Removed behind phoenix's back (docker rm), or never created.
		return []string{fmt.Sprintf("the Docker engine at %s has no containers of version %s (labelled %s=%s)",
			dockerengine.Host(env.Getenv), version, stacks.LabelVersion, version)}, nil
	}
	slices.SortFunc(containers, func(a, b dockerengine.Object) int { return strings.Compare(a.Name, b.Name) })
	var reasons []string
	for _, ct := range containers {
		st, err := c.Inspect(ctx, ct.ID)
		if err != nil {
			return reasons, err
		}
		reasons = append(reasons, describeContainer(ct.Name, st)...)
		var tail []string
		// The output is the app's own account; an engine that cannot give
		// it leaves the state to speak.
		_ = c.Logs(ctx, ct.ID, dockerengine.LogOptions{Tail: outputLines, Stdout: true, Stderr: true}, func(_ int, b []byte) error {
			if line := strings.TrimSpace(string(b)); line != "" {
				tail = append(tail, line)
			}
			return nil
		})
		for _, line := range tail {
			reasons = append(reasons, fmt.Sprintf("%s said: %s", ct.Name, line))
		}
	}
	return reasons, nil
}

// describeContainer says what is wrong with a container's process; nothing
// for one that runs and passes its health check.
func describeContainer(name string, st dockerengine.ContainerState) []string {
	var out []string
	switch st.Status {
	case "running", "":
	case "exited", "dead", "restarting":
		what := fmt.Sprintf("%s: %s (exit code %d", name, st.Status, st.ExitCode)
		if st.OOMKilled {
			what += ", killed: out of memory"
		}
		what += ")"
		if st.Error != "" {
			what += ": " + st.Error
		}
		out = append(out, what)
	default:
		what := fmt.Sprintf("%s: %s", name, st.Status)
		if st.Error != "" {
			what += ": " + st.Error
		}
		out = append(out, what)
	}
	if st.RestartCount > 0 {
		out = append(out, fmt.Sprintf("%s: restarted %d times", name, st.RestartCount))
	}
	if st.Health == "unhealthy" || st.FailingStreak > 0 {
		h := fmt.Sprintf("%s: health check %s (%d failed in a row)", name, st.Health, st.FailingStreak)
		if st.HealthOutput != "" {
			h += ": " + st.HealthOutput
		}
		out = append(out, h)
	}
	return out
}
