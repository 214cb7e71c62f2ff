package tests

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// pulumiRun is one run of the Pulumi CLI that phoenix made.
type pulumiRun struct {
	args       string
	code       int
	start, end time.Time
}

// recordingPulumi runs the Pulumi CLI and records each run.
type recordingPulumi struct {
	auto.PulumiCommand
	mu   sync.Mutex
	runs []pulumiRun
}

func (p *recordingPulumi) Run(ctx context.Context, workdir string, stdin io.Reader, out, errOut []io.Writer, env []string, args ...string) (string, string, int, error) {
	start := time.Now()
	stdout, stderr, code, err := p.PulumiCommand.Run(ctx, workdir, stdin, out, errOut, env, args...)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runs = append(p.runs, pulumiRun{args: strings.Join(args, " "), code: code, start: start, end: time.Now()})
	return stdout, stderr, code, err
}

// taken returns the runs recorded so far, in the order they started, and
// forgets them.
func (p *recordingPulumi) taken() []pulumiRun {
	p.mu.Lock()
	defer p.mu.Unlock()
	runs := p.runs
	p.runs = nil
	slices.SortFunc(runs, func(a, b pulumiRun) int { return a.start.Compare(b.start) })
	return runs
}

// TestANewVersionIsCreatedWithoutAReadFirst: a deploy of a new version
// creates its stack with no read of it before (most deploys make a new
// version: the read was a CLI process on every deploy's critical path),
// and its complete tag, set beside the candidate step, is set before the
// version goes live. A deploy of a version that exists finds it when the
// creation is refused, and checks it unchanged, as before.
func TestANewVersionIsCreatedWithoutAReadFirst(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	rec := &recordingPulumi{PulumiCommand: c.h.Pulumi}
	c.pulumi = rec

	c.deploy("v2")
	runs := rec.taken()
	var first string
	var tagged, promoting time.Time
	for _, r := range runs {
		if first == "" && strings.Contains(r.args, "dev.v2") {
			first = r.args
		}
		if r.args == "stack tag set phoenix:complete true --stack dev.v2" && r.code == 0 {
			tagged = r.end
		}
		if strings.HasPrefix(r.args, "up ") && strings.Contains(r.args, "phoenix promote env=dev") {
			promoting = r.start
		}
	}
	var all []string
	for _, r := range runs {
		all = append(all, r.args)
	}
	if !strings.HasPrefix(first, "stack init dev.v2") {
		t.Errorf("the first Pulumi run that names dev.v2 is %q, want its stack init:\n  %s", first, strings.Join(all, "\n  "))
	}
	switch {
	case tagged.IsZero() || promoting.IsZero():
		t.Errorf("want a complete tag on dev.v2 (set: %v) and a promote update (run: %v):\n  %s", !tagged.IsZero(), !promoting.IsZero(), strings.Join(all, "\n  "))
	case tagged.After(promoting):
		t.Errorf("dev.v2's complete tag was set %s after its promotion began: a live version must be tagged complete", tagged.Sub(promoting))
	}
	if st := c.status(); st.Live != "v2" {
		t.Fatalf("after deploying v2 live is %q", st.Live)
	}

	// v1 exists: its creation is refused, and the deploy reads and checks it.
	r := c.deploy("v1")
	if !strings.Contains(r.errOut, "version stack dev.v1 exists: checking that it is unchanged") {
		t.Errorf("the deploy of v1, which exists, did not check it unchanged:\n%s", r.errOut)
	}
	if strings.Contains(r.errOut, "created version stack dev.v1") {
		t.Errorf("the deploy of v1, which exists, says it created it:\n%s", r.errOut)
	}
	if st := c.status(); st.Live != "v1" {
		t.Errorf("after deploying v1 again live is %q, want v1", st.Live)
	}
}
