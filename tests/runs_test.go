package tests

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
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
// version goes live; the env's url after the candidate's update comes
// from that update's events, not from a read. A deploy of a version that
// exists finds it when the creation is refused, and checks it unchanged,
// as before.
func TestANewVersionIsCreatedWithoutAReadFirst(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	rec := &recordingPulumi{PulumiCommand: c.h.Pulumi}
	c.pulumi = rec

	c.deploy("v2")
	runs := rec.taken()
	var first string
	var tagged, promoting, routed time.Time
	for _, r := range runs {
		if strings.HasPrefix(r.args, "up ") && strings.Contains(r.args, "phoenix candidate env=dev") {
			routed = r.end
		}
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
	// Between the candidate's update and the promotion's, the env stack
	// is read once: the check before the traffic write. The url the gate
	// probes comes from the candidate update's own events.
	reads := 0
	for _, r := range runs {
		if r.args == "stack export --stack dev" && r.start.After(routed) && r.start.Before(promoting) {
			reads++
		}
	}
	if routed.IsZero() || reads != 1 {
		t.Errorf("between the candidate's update (run: %v) and the promotion's the env stack was read %d times, want once:\n  %s", !routed.IsZero(), reads, strings.Join(all, "\n  "))
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

// TestTheGCAfterADeployKeepsTheVersionItReplaced: the gc after a deploy
// reads the env's versions and history while the version is promoted,
// before the history holds that promotion. Deploying again a version that
// was live before (its older promotion is in the history) must still
// keep the version it replaced, which is the previous one now: with
// retention 0 nothing else protects it.
func TestTheGCAfterADeployKeepsTheVersionItReplaced(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t, "phoenix:retention", "0")
	for _, v := range []string{"v1", "v2", "v3"} {
		c.deploy(v)
	}
	if got, want := c.versionsInCloud(), map[string]bool{"v2": true, "v3": true}; !maps.Equal(got, want) {
		t.Fatalf("after 3 deploys with retention 0 the cloud holds %v, want live v3 and previous v2", got)
	}
	c.deploy("v2")
	if got, want := c.versionsInCloud(), map[string]bool{"v2": true, "v3": true}; !maps.Equal(got, want) {
		t.Errorf("after deploying v2 again the cloud holds %v, want live v2 and previous v3", got)
	}
	if st := c.status(); st.Live != "v2" || st.Previous != "v3" {
		t.Errorf("after deploying v2 again live is %q and previous %q, want v2 and v3", st.Live, st.Previous)
	}
}

// TestTheGateProbesWhereTheEnvAnswersNow: a deploy whose config moves the
// env's url (here its load balancer's port) gates and confirms the new
// version where the env answers after the candidate's update, which that
// update's events tell.
func TestTheGateProbesWhereTheEnvAnswersNow(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	was := c.lb.port
	c.lb = startFakeLB(t, c.h.Cloud)
	c.writeConfig()
	r := c.deploy("v2")
	want := fmt.Sprintf("env dev now answers at http://localhost:%d (was http://localhost:%d)", c.lb.port, was)
	if !strings.Contains(r.errOut, want) {
		t.Errorf("the deploy that moved the port does not say %q:\n%s", want, r.errOut)
	}
	if code, version := c.production(); code != http.StatusOK || version != "v2" {
		t.Errorf("on the new port production answered %d from %q, want v2", code, version)
	}
}
