package orchestrator

// The env stack: its state as its outputs say, its creation, and the
// traffic pointer's updates.

import (
	"github.com/phoenix-iac/phoenix/internal/lease"

	"context"
	"fmt"
	"net/url"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"

	"github.com/phoenix-iac/phoenix/stacks"
)

// EnvState is an env stack as it stands.
type EnvState struct {
	// Exists is false when the env stack has never been deployed.
	Exists bool
	// Traffic is the current traffic pointer.
	Traffic Traffic
	// URL is where the env answers.
	URL string
	// Platform is docker or aws.
	Platform string
	// Retention is how many non-live versions gc keeps.
	Retention int
	// LoadBalancer names the load balancer (stacks.OutLoadBalancer).
	LoadBalancer string
	// LogGroup is the aws platform's log group of the env's versions.
	LogGroup string
}

// envState reads an env stack's outputs.
func (o *Orchestrator) envState(ctx context.Context, env string) (EnvState, auto.Stack, error) {
	st, s, _, err := o.envStateAndRecord(ctx, env)
	return st, s, err
}

// envStateAndRecord reads an env stack's outputs, and returns its state
// record too, from which repair reads the pending operations.
func (o *Orchestrator) envStateAndRecord(ctx context.Context, env string) (EnvState, auto.Stack, stackRecord, error) {
	name := stacks.StackName{Env: env}
	s, rec, err := o.selectStack(ctx, name)
	if isNotFound(err) {
		return EnvState{}, auto.Stack{}, stackRecord{}, nil
	}
	if err != nil {
		return EnvState{}, auto.Stack{}, stackRecord{}, err
	}
	outs := rec.Outputs
	if len(outs) == 0 {
		return EnvState{}, s, rec, nil
	}
	str := func(k string) string {
		v, _ := outs[k].(string)
		return v
	}
	num := func(k string) int {
		v, _ := outs[k].(float64)
		return int(v)
	}
	return EnvState{
		Exists:       true,
		Traffic:      Traffic{Live: str(stacks.OutLive), Candidate: str(stacks.OutCandidate), CandidateWeight: num(stacks.OutCandidateWeight)},
		URL:          str(stacks.OutURL),
		Platform:     str(stacks.OutPlatform),
		Retention:    num(stacks.OutRetention),
		LoadBalancer: str(stacks.OutLoadBalancer),
		LogGroup:     str(stacks.OutLogGroupName),
	}, s, rec, nil
}

// envForChange returns the env stack's state, after repairing what an
// interrupted command left in it.
func (o *Orchestrator) envForChange(ctx context.Context, env string) (EnvState, auto.Stack, error) {
	st, s, rec, err := o.envStateAndRecord(ctx, env)
	if err != nil || s.Name() == "" {
		return st, s, err
	}
	if err := o.repairRecord(ctx, s, stacks.StackName{Env: env}, rec); err != nil {
		return st, s, err
	}
	return st, s, nil
}

// ensureEnv creates or updates the env stack when it has never been
// deployed (or its first up failed), and returns its state.
func (o *Orchestrator) ensureEnv(ctx context.Context, env string) (EnvState, auto.Stack, error) {
	st, s, err := o.envForChange(ctx, env)
	if err != nil || st.Exists {
		return st, s, err
	}
	o.logf("creating env stack %s", env)
	if s.Name() == "" {
		if s, err = o.createStack(ctx, stacks.StackName{Env: env}); err != nil {
			return st, s, err
		}
	}
	if _, err := o.setTraffic(ctx, s, env, Traffic{}, trafficNote{Op: "create"}); err != nil {
		return st, s, fmt.Errorf("creating env stack %s: %w", env, err)
	}
	st, s, err = o.envState(ctx, env)
	return st, s, err
}

// trafficNote is written into the message of every env stack update that
// phoenix makes, so that history can tell cut-overs and rollbacks apart.
type trafficNote struct {
	Op   string // create, candidate, canary, promote, rollback, clear
	From string
	To   string
	// Why is the analysis that decided the change, if any.
	Why string
}

const notePrefix = "phoenix "

func (n trafficNote) message(env, user string, t Traffic) string {
	msg := fmt.Sprintf("%s%s env=%s from=%s to=%s live=%s candidate=%s weight=%d by=%s",
		notePrefix, n.Op, env, dash(n.From), dash(n.To), dash(t.Live), dash(t.Candidate), t.CandidateWeight, user)
	if n.Why != "" {
		msg += " why=" + url.QueryEscape(n.Why)
	}
	return msg
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// setTraffic updates the env stack with traffic t, if the command still
// holds the env's lease.
func (o *Orchestrator) setTraffic(ctx context.Context, s auto.Stack, env string, t Traffic, note trafficNote) (auto.UpResult, error) {
	if err := lease.Fence(ctx); err != nil {
		return auto.UpResult{}, err
	}
	path, err := o.envConfigFile(env, t)
	if err != nil {
		return auto.UpResult{}, err
	}
	return withStackLock(o, ctx, stacks.StackName{Env: env}, func() (auto.UpResult, error) {
		return s.Up(resultless(ctx), o.upOpts(optup.ConfigFile(path), optup.Message(note.message(env, o.opts.User, t)))...)
	})
}
