package orchestrator

import (
	"context"
	"fmt"
	"time"

	"github.com/phoenix-iac/phoenix/internal/platform"
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
type LogLine = platform.LogLine

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
	} else {
		// A version that never existed would read as no output at all
		// where a platform's logs outlive its resources (CloudWatch).
		name := stacks.StackName{Env: opts.Env, Version: opts.Version}
		if _, _, err := o.selectStack(ctx, name); isNotFound(err) {
			return &NotFoundError{What: fmt.Sprintf("version stack %s does not exist; phoenix status --env %s lists the versions", name, opts.Env)}
		} else if err != nil {
			return err
		}
	}
	p, f, err := o.platformOf(opts.Env)
	if err != nil {
		return err
	}
	lr, ok := p.(platform.LogReader)
	if !ok {
		return fmt.Errorf("phoenix logs cannot read the output of versions on platform %s", p.Name())
	}
	return lr.Logs(ctx, o.opsEnv(opts.Env, f, st), platform.LogQuery{Version: opts.Version, Since: opts.Since, Follow: opts.Follow}, out)
}
