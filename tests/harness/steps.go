package harness

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Step is one step the engine planned or took, from its event stream.
type Step struct {
	// Op is the engine's operation: create, update, same, replace,
	// create-replacement, delete-replaced, delete, refresh, read ...
	Op string
	// Type is the resource type token.
	Type string
	// Name is the resource's logical name.
	Name string
	// Diffs are the properties that changed.
	Diffs []string
}

func (s Step) String() string { return fmt.Sprintf("%s %s %s", s.Op, s.Type, s.Name) }

// Steps is the engine's plan or record of one operation.
type Steps []Step

// Changes returns the steps that change something (not same, read or refresh).
func (ss Steps) Changes() Steps {
	var out Steps
	for _, s := range ss {
		switch s.Op {
		case "same", "read", "refresh":
			continue
		}
		if strings.HasPrefix(s.Type, "pulumi:") {
			continue // the stack and provider resources
		}
		out = append(out, s)
	}
	return out
}

// Ops counts the steps by operation.
func (ss Steps) Ops() map[string]int {
	m := map[string]int{}
	for _, s := range ss {
		m[s.Op]++
	}
	return m
}

func (ss Steps) String() string {
	lines := make([]string, len(ss))
	for i, s := range ss {
		lines[i] = s.String()
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// collect gathers resource steps from an event stream until it closes.
func collect(ch <-chan events.EngineEvent) <-chan Steps {
	return collectFrom(ch, false)
}

// collectFrom collects steps from the engine's events: the steps it begins
// or, with outcomes, what each step ended as (a refresh begins a "refresh"
// of every resource and ends it as same, update or delete).
func collectFrom(ch <-chan events.EngineEvent, outcomes bool) <-chan Steps {
	done := make(chan Steps, 1)
	go func() {
		var steps Steps
		for e := range ch {
			var md *apitype.StepEventMetadata
			switch {
			case outcomes && e.ResOutputsEvent != nil:
				md = &e.ResOutputsEvent.Metadata
			case !outcomes && e.ResourcePreEvent != nil:
				md = &e.ResourcePreEvent.Metadata
			case e.ResOpFailedEvent != nil:
				continue
			default:
				continue
			}
			name := resource.URN(md.URN).Name()
			steps = append(steps, Step{Op: string(md.Op), Type: md.Type, Name: name, Diffs: md.Diffs})
		}
		done <- steps
	}()
	return done
}

// wait returns the collected steps. The Automation API closes the event
// channel when the engine's stream ends; an operation that failed before the
// engine started never opens it, so then only a short wait is allowed.
func wait(done <-chan Steps, err error) Steps {
	limit := time.Minute
	if err != nil {
		limit = 2 * time.Second
	}
	select {
	case steps := <-done:
		return steps
	case <-time.After(limit):
		return nil
	}
}

// Up runs `pulumi up` and returns its result and the steps it took.
func Up(ctx context.Context, s auto.Stack, opts ...optup.Option) (auto.UpResult, Steps, error) {
	ch := make(chan events.EngineEvent)
	done := collect(ch)
	res, err := s.Up(ctx, append(opts, optup.EventStreams(ch), optup.SuppressProgress())...)
	return res, wait(done, err), err
}

// Preview runs `pulumi preview` and returns its result and the planned steps.
func Preview(ctx context.Context, s auto.Stack, opts ...optpreview.Option) (auto.PreviewResult, Steps, error) {
	ch := make(chan events.EngineEvent)
	done := collect(ch)
	res, err := s.Preview(ctx, append(opts, optpreview.EventStreams(ch), optpreview.SuppressProgress())...)
	return res, wait(done, err), err
}

// Refresh runs `pulumi refresh` and returns its result and what each
// resource's refresh ended as (same, update or delete).
func Refresh(ctx context.Context, s auto.Stack, opts ...optrefresh.Option) (auto.RefreshResult, Steps, error) {
	ch := make(chan events.EngineEvent)
	done := collectFrom(ch, true)
	res, err := s.Refresh(ctx, append(opts, optrefresh.EventStreams(ch), optrefresh.SuppressProgress())...)
	return res, wait(done, err), err
}

// Destroy runs `pulumi destroy` and returns its result and steps.
func Destroy(ctx context.Context, s auto.Stack, opts ...optdestroy.Option) (auto.DestroyResult, Steps, error) {
	ch := make(chan events.EngineEvent)
	done := collect(ch)
	res, err := s.Destroy(ctx, append(opts, optdestroy.EventStreams(ch), optdestroy.SuppressProgress())...)
	return res, wait(done, err), err
}
