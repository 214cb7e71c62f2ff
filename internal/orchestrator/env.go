package orchestrator

// The env stack: its state as its outputs say, its creation, and the
// traffic pointer's updates.

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"

	"github.com/phoenix-iac/phoenix/internal/lease"
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
	// Outputs are all the env stack's outputs: its platform's operations
	// read their own (platform.Env.Outputs).
	Outputs map[string]any
	// Owner is whose the env's resources are (their owner labels); zero
	// for an env created before phoenix labelled owners.
	Owner stacks.Owner
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
		Exists:    true,
		Traffic:   Traffic{Live: str(stacks.OutLive), Candidate: str(stacks.OutCandidate), CandidateWeight: num(stacks.OutCandidateWeight)},
		URL:       str(stacks.OutURL),
		Platform:  str(stacks.OutPlatform),
		Retention: num(stacks.OutRetention),
		Outputs:   outs,
		Owner:     stacks.OwnerOf(outs[stacks.OutOwner]),
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
		if s, err = o.createStack(ctx, stacks.StackName{Env: env}, ""); err != nil {
			return st, s, err
		}
	}
	if _, err := o.setTraffic(ctx, s, env, nil, Traffic{}, trafficNote{Op: "create"}); err != nil {
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
// holds the env's lease and, when expect is set, the env stack's traffic
// is still expect: what this command last read or wrote. The check runs in
// the update, under the stack's lock (phoenix:expectTraffic), so nothing
// can change the traffic between the check and the write; when it fails
// nothing changed, and the error (a *TrafficChangedError) says who changed
// the traffic, when, and what it is now.
func (o *Orchestrator) setTraffic(ctx context.Context, s auto.Stack, env string, expect *Traffic, t Traffic, note trafficNote) (auto.UpResult, error) {
	if err := lease.Fence(ctx); err != nil {
		return auto.UpResult{}, err
	}
	// Read first, from the backend (a by-hand pulumi up takes no lease): a
	// refused write should not appear in the stack's history as a failed
	// traffic change. The check in the update below is the one that
	// cannot race.
	if expect != nil {
		if st, _, err := o.envState(fresh(ctx), env); err == nil && st.Exists && st.Traffic != *expect {
			return auto.UpResult{}, o.trafficChanged(ctx, s, env, *expect)
		}
	}
	path, done, err := o.envConfigFile(env, t, expect)
	if err != nil {
		return auto.UpResult{}, err
	}
	defer done()
	res, err := withStackLock(o, ctx, stacks.StackName{Env: env}, func() (auto.UpResult, error) {
		return upWithOutputs(resultless(ctx), s, o.upOpts(optup.ConfigFile(path), optup.Message(note.message(env, o.opts.User, t))))
	})
	if err != nil && expect != nil && strings.Contains(err.Error(), stacks.TrafficChanged) {
		return res, o.trafficChanged(ctx, s, env, *expect)
	}
	return res, err
}

// upWithOutputs runs an up of s whose context is resultless, and fills in
// its result's outputs from the engine's own events: the stack's outputs
// as the update saved them (a secret one reads "[secret]"), with no CLI
// process to read them again. They stay empty when the events did not
// tell them.
func upWithOutputs(ctx context.Context, s auto.Stack, opts []optup.Option) (auto.UpResult, error) {
	ch := make(chan events.EngineEvent)
	got := make(chan auto.OutputMap, 1)
	go func() {
		var out auto.OutputMap
		for e := range ch {
			r := e.ResOutputsEvent
			if r == nil || r.Metadata.Type != "pulumi:pulumi:Stack" || r.Metadata.New == nil {
				continue
			}
			out = auto.OutputMap{}
			for k, v := range r.Metadata.New.Outputs {
				out[k] = auto.OutputValue{Value: v}
			}
		}
		got <- out
	}()
	res, err := s.Up(ctx, append(opts, optup.EventStreams(ch))...)
	if err != nil {
		// An up that failed before it ran the engine never closes its
		// stream: nothing waits for it.
		return res, err
	}
	select {
	case res.Outputs = <-got:
	case <-time.After(5 * time.Second):
	}
	return res, nil
}

// urlAfterUpdate is the env's url after an update of its stack, which
// applies the env's config as it is now: a new certificate, hostname or
// port moves the url, and what comes next (the gate, the confirmation)
// must probe where the env answers now. It is the update's own url
// output (outputs), else read from the state; on a failed read it is was.
func (o *Orchestrator) urlAfterUpdate(ctx context.Context, env, was string, outputs auto.OutputMap) string {
	now, _ := outputs[stacks.OutURL].Value.(string)
	if now == "" {
		if st, _, err := o.envState(ctx, env); err == nil {
			now = st.URL
		}
	}
	if now == "" {
		return was
	}
	if now != was {
		o.logf("env %s now answers at %s (was %s)", env, now, was)
	}
	return now
}

// TrafficChangedError is returned when a traffic write found the env's
// traffic other than the command last read or wrote it: another command
// changed it (a by-hand pulumi up, or a phoenix command that took the
// env's lease over). Nothing was written.
type TrafficChangedError struct {
	Env      string
	Expected Traffic
	// Now is the traffic as the other command left it.
	Now Traffic
	// Last is the newest traffic change in the env's history, if any.
	Last *Event
}

func (e *TrafficChangedError) Error() string {
	msg := fmt.Sprintf("the traffic of env %s changed under this command: it expected %s, and it is now %s", e.Env, e.Expected, e.Now)
	if l := e.Last; l != nil {
		msg += fmt.Sprintf(" (last change: %s by %s at %s, update %d)", l.Op, dash(l.By), l.Time.Format(time.RFC3339), l.Update)
	} else {
		msg += " (set by a command that phoenix did not run, such as a plain pulumi up)"
	}
	return msg + "; it was left as the other command set it: see phoenix history --env " + e.Env
}

// trafficChanged reads what the env's traffic is now, and who set it.
func (o *Orchestrator) trafficChanged(ctx context.Context, s auto.Stack, env string, expect Traffic) error {
	e := &TrafficChangedError{Env: env, Expected: expect}
	if st, _, err := o.envState(ctx, env); err == nil {
		e.Now = st.Traffic
	}
	if hist, err := o.history(ctx, s); err == nil && len(hist) > 0 {
		e.Last = &hist[0]
	}
	return e
}
