package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/stacks"
	"github.com/phoenix-iac/phoenix/tests/harness"
	"github.com/phoenix-iac/phoenix/tests/simcloud"
)

// The kill-point test runs the phoenix binary as a process group of its
// own against the engine harness and kills it, with SIGKILL, at eight points
// spread over each verb that changes things: the whole group dies, the
// Pulumi CLI and its engine with it, while the simulated cloud (in this
// process, like a real cloud) finishes whatever call it was in. After each
// kill it checks that production still answers from a version whose
// resources exist, that the same command run again succeeds with no step
// in between, and that the stacks' state and the cloud agree.

const killPoints = 8

var (
	phoenixBinOnce sync.Once
	phoenixBin     string
	phoenixBinErr  error
)

// buildPhoenix builds the phoenix CLI once per test binary: cmd/phoenix
// with its platforms on the simulated cloud (tests/simphoenix).
func buildPhoenix(t testing.TB) string {
	t.Helper()
	phoenixBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "phoenix-bin-")
		if err != nil {
			phoenixBinErr = err
			return
		}
		phoenixBin = filepath.Join(dir, "phoenix")
		cmd := exec.Command("go", "build", "-o", phoenixBin, "./tests/simphoenix")
		cmd.Dir = harness.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			phoenixBinErr = fmt.Errorf("building phoenix: %v\n%s", err, out)
		}
	})
	if phoenixBinErr != nil {
		t.Fatal(phoenixBinErr)
	}
	return phoenixBin
}

// proc is one run of the phoenix binary.
type proc struct {
	cmd      *exec.Cmd
	out, err bytes.Buffer
	done     chan struct{}
	code     int
}

// start runs the phoenix binary in the project, in a process group of its
// own, with the harness's backend, engine and simulated cloud.
func (c *cliEnv) start(bin string, args ...string) *proc {
	c.t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(bin, append(args, "--project", c.project)...)
	p.cmd.Env = os.Environ()
	for k, v := range c.h.Env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Env = append(p.cmd.Env, "PHOENIX_PULUMI_ROOT="+harness.PulumiRoot())
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	return p
}

// killAfter kills p's whole process group after d, unless it ended first;
// it reports whether the kill landed.
func (p *proc) killAfter(d time.Duration) bool {
	select {
	case <-p.done:
		return false
	case <-time.After(d):
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	return true
}

func (p *proc) wait(timeout time.Duration) {
	select {
	case <-p.done:
	case <-time.After(timeout):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func (p *proc) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", p.code, p.out.String(), p.err.String())
}

// runBin runs the phoenix binary to its end.
func (c *cliEnv) runBin(bin string, args ...string) *proc {
	c.t.Helper()
	p := c.start(bin, args...)
	p.wait(5 * time.Minute)
	return p
}

// production returns the load balancer's answer on the production route:
// its status and the version that answered.
func (c *cliEnv) production() (int, string) {
	c.t.Helper()
	resp, err := http.Get(c.url() + "/healthz")
	if err != nil {
		c.t.Fatalf("asking the load balancer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Phoenix-Version")
}

// disagreement compares the cloud with the states of the env's stacks: what
// the cloud holds that no state does (orphans), and what a state holds
// that the cloud does not.
func (c *cliEnv) disagreement(ctx context.Context) (orphans, missing []string) {
	c.t.Helper()
	held := map[string]string{}
	stdout, stderr, _, err := c.h.Pulumi.Run(ctx, c.project, nil, nil, nil, envList(c.h.Env), "stack", "ls", "--json")
	if err != nil {
		c.t.Fatalf("listing stacks: %v\n%s", err, stderr)
	}
	var list []struct{ Name string }
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		c.t.Fatal(err)
	}
	for _, s := range list {
		stdout, stderr, _, err := c.h.Pulumi.Run(ctx, c.project, nil, nil, nil, envList(c.h.Env), "stack", "export", "--stack", s.Name)
		if err != nil {
			c.t.Fatalf("exporting %s: %v\n%s", s.Name, err, stderr)
		}
		var dep struct {
			Deployment struct {
				Resources []struct {
					URN    string `json:"urn"`
					ID     string `json:"id"`
					Type   string `json:"type"`
					Custom bool   `json:"custom"`
				} `json:"resources"`
			} `json:"deployment"`
		}
		if err := json.Unmarshal([]byte(stdout), &dep); err != nil {
			c.t.Fatal(err)
		}
		for _, r := range dep.Deployment.Resources {
			if r.Custom && !strings.HasPrefix(r.Type, "pulumi:") {
				held[r.ID] = r.URN
			}
		}
	}
	inCloud := map[string]bool{}
	for _, r := range c.h.Cloud.Inventory() {
		inCloud[r.ID] = true
		if _, ok := held[r.ID]; !ok {
			orphans = append(orphans, r.Type+" "+r.Name+" "+r.ID)
		}
	}
	for id, urn := range held {
		if !inCloud[id] {
			missing = append(missing, urn+" "+id)
		}
	}
	sort.Strings(orphans)
	sort.Strings(missing)
	return orphans, missing
}

func envList(env map[string]string) []string {
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// killCase is one verb under the kill-point test.
type killCase struct {
	verb string
	// setup brings the env to where the verb's i-th run starts, and
	// returns the verb's arguments.
	setup func(c *cliEnv, i int) []string
	// emptyAfter is true when the verb ends with nothing live (destroy).
	emptyAfter bool
}

func gateFlags() []string { return []string{"--gate-count", "2", "--gate-timeout", "20s"} }

// killEachVerb is the kill-point test (TestLong/KillPoints): each
// changing verb killed at killPoints points, each time run again.
func killEachVerb(t *testing.T) {
	bin := buildPhoenix(t)
	cases := []killCase{
		{verb: "deploy", setup: func(c *cliEnv, i int) []string {
			if i == 0 {
				c.deploy("v0")
			}
			return append([]string{"deploy", "--env", "dev", "--version", fmt.Sprintf("v%d", i+1)}, gateFlags()...)
		}},
		{verb: "rollback", setup: func(c *cliEnv, i int) []string {
			if i == 0 {
				c.deploy("v1")
				c.deploy("v2")
			}
			// Back and forth between v1 and v2, verified (drift check,
			// probe through the candidate route, switch).
			to := []string{"v1", "v2"}[i%2]
			return append([]string{"rollback", "--env", "dev", "--to", to}, gateFlags()...)
		}},
		{verb: "canary", setup: func(c *cliEnv, i int) []string {
			if i == 0 {
				c.deploy("v0")
			}
			// The deploy case kills the gc after a deploy; this one, the steps.
			return append([]string{"deploy", "--env", "dev", "--version", fmt.Sprintf("v%d", i+1), "--canary", "20,50", "--step-wait", "200ms", "--analysis=false", "--no-gc"}, gateFlags()...)
		}},
		{verb: "promote", setup: func(c *cliEnv, i int) []string {
			if i == 0 {
				c.copyProgram()
				c.addEnv("staging")
			}
			// A new version of staging each time, built from source; its
			// artifact is then promoted to dev, which the kills hit.
			c.must(append([]string{"deploy", "--env", "staging", "--version", fmt.Sprintf("s%d", i)}, gateFlags()...)...)
			return append([]string{"promote", "--from", "staging", "--to", "dev"}, gateFlags()...)
		}},
		{verb: "gc", setup: func(c *cliEnv, i int) []string {
			if i == 0 {
				c.deploy("v0", "--no-gc")
				c.deploy("v1", "--no-gc")
			}
			// One more version each time: with --keep 0 the oldest
			// besides live and previous is collected (by gc, not by the
			// deploy).
			c.deploy(fmt.Sprintf("v%d", i+2), "--no-gc")
			return []string{"gc", "--env", "dev", "--keep", "0"}
		}},
		{verb: "destroy", emptyAfter: true, setup: func(c *cliEnv, i int) []string {
			c.deploy("v1")
			return []string{"destroy", "--env", "dev", "--yes"}
		}},
	}
	for _, kc := range cases {
		t.Run(kc.verb, func(t *testing.T) {
			t.Parallel()
			killVerb(t, bin, kc)
		})
	}
}

func killVerb(t *testing.T, bin string, kc killCase) {
	c := newCLIEnv(t)
	ctx := context.Background()
	// In the runs that are killed, every cloud call takes a while, as a
	// real one does, so that kills land while the engine waits on the
	// cloud and leave pending operations in the state, and things in the
	// cloud the state lacks. The setup and the run again need no delay:
	// nothing kills them.
	slow := func() { c.h.Cloud.Inject(simcloud.Fault{Delay: 300 * time.Millisecond}) }

	// Measure a whole run first.
	args := kc.setup(c, 0)
	slow()
	start := time.Now()
	if p := c.runBin(bin, args...); p.code != 0 {
		t.Fatalf("phoenix %s (measured run): %s", strings.Join(args, " "), p)
	}
	d := time.Since(start)
	c.h.Cloud.ClearFaults()
	t.Logf("phoenix %s takes %s; killing it at %d points spread over that", kc.verb, d.Round(10*time.Millisecond), killPoints)

	recovered, landed := 0, 0
	// What the re-runs repaired, by the lines phoenix printed.
	repairs := map[string]int{}
	phrases := []string{"took over the lock", "is incomplete", "left unfinished", "no state holds it", "which is gone: clearing its lock", "nothing to do", "clearing the candidate"}
	for i := 1; i <= killPoints; i++ {
		args := kc.setup(c, i)
		at := d * time.Duration(i) / time.Duration(killPoints+1)
		slow()
		began := time.Now()
		p := c.start(bin, args...)
		killed := p.killAfter(at)
		// A call the killed engine made goes on in the cloud, with its
		// delay, and ends before the run again starts, as the seconds a
		// person takes to run it again would see; later calls have no
		// delay.
		c.h.Cloud.ClearFaults()
		c.h.Cloud.Settle()
		if killed {
			landed++
		} else if took := time.Since(began); took < d {
			// The measured run was slower than this one (the machine was
			// busier then): spread the later points over this run's time.
			t.Logf("kill point %d: the run ended after %s, before its kill; the later points spread over that", i, took.Round(10*time.Millisecond))
			d = took
		}
		ok := true
		fail := func(format string, a ...any) {
			t.Helper()
			ok = false
			t.Errorf("kill point %d (%s into %s, killed=%v): %s", i, at.Round(time.Millisecond), kc.verb, killed, fmt.Sprintf(format, a...))
		}

		// Production answers from a version whose resources exist (the
		// load balancer answers 502 for a version whose containers are
		// gone); a destroy may already have pointed it at nothing.
		code, version := c.production()
		switch {
		case code == http.StatusOK && version != "":
		case kc.emptyAfter && code == http.StatusServiceUnavailable && version == "":
		default:
			fail("production answered %d from %q", code, version)
		}

		// The same command again succeeds, with no step in between.
		again := c.runBin(bin, args...)
		for _, ph := range phrases {
			if strings.Contains(again.err.String(), ph) {
				repairs[ph]++
			}
		}
		if again.code != 0 {
			fail("phoenix %s run again: %s\nthe killed run: %s", strings.Join(args, " "), again, p)
		}
		code, version = c.production()
		if kc.emptyAfter {
			if code != http.StatusBadGateway && code != http.StatusServiceUnavailable {
				fail("after destroy production answered %d from %q", code, version)
			}
		} else if code != http.StatusOK || version == "" {
			fail("after the run again production answered %d from %q", code, version)
		}

		// State and cloud agree.
		orphans, missing := c.disagreement(ctx)
		if len(orphans) > 0 {
			fail("in the cloud but in no state: %v", orphans)
		}
		if len(missing) > 0 {
			fail("in a state but not in the cloud: %v", missing)
		}
		if ok {
			recovered++
		} else {
			t.Logf("output of the run again:\n%s", again)
		}
	}
	t.Logf("%s: %d/%d recovered (%d kills landed before the command ended); the re-runs said: %v", kc.verb, recovered, killPoints, landed, repairs)
	if landed < killPoints/2 {
		t.Errorf("%s: only %d of %d kills landed before the command ended", kc.verb, landed, killPoints)
	}
}

// TestKillDuringFirstVersionUp kills a deploy while its version stack's
// first up waits on the cloud to create a replica: the re-run finishes that
// version (resuming it, not refusing it as changed), and removes the
// replica that the interrupted create made but no state recorded.
func TestKillDuringFirstVersionUp(t *testing.T) {
	t.Parallel()
	bin := buildPhoenix(t)
	c := newCLIEnv(t)
	c.deploy("v1")
	c.h.Cloud.Inject(simcloud.Fault{Kind: "create", NameContains: "dev-v2-1", Delay: 3 * time.Second, Times: 1})
	p := c.start(bin, append([]string{"deploy", "--env", "dev", "--version", "v2"}, gateFlags()...)...)
	deadline := time.Now().Add(time.Minute)
	for len(c.h.Cloud.Find("docker:index/container:Container", "dev-v2-0")) == 0 {
		if time.Now().After(deadline) {
			p.wait(0)
			t.Fatalf("the version's first replica never appeared: %s", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !p.killAfter(500 * time.Millisecond) {
		t.Fatalf("the deploy ended before the kill: %s", p)
	}
	// The cloud finishes the create the engine was waiting on.
	deadline = time.Now().Add(10 * time.Second)
	for len(c.h.Cloud.Find("docker:index/container:Container", "dev-v2-1")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the interrupted create never finished in the cloud")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := c.status(); st.Live != "v1" {
		t.Errorf("after the kill live is %q, want v1", st.Live)
	}

	again := c.runBin(bin, append([]string{"deploy", "--env", "dev", "--version", "v2"}, gateFlags()...)...)
	if again.code != 0 {
		t.Fatalf("deploy run again: %s", again)
	}
	for _, want := range []string{"took over the lock of env dev from phoenix deploy", "dev.v2 is incomplete", "resuming it", "no state holds it"} {
		if !strings.Contains(again.err.String(), want) {
			t.Errorf("the re-run did not say %q: %s", want, again)
		}
	}
	if code, version := c.production(); code != http.StatusOK || version != "v2" {
		t.Errorf("production answers %d from %q, want v2", code, version)
	}
	orphans, missing := c.disagreement(context.Background())
	if len(orphans) > 0 || len(missing) > 0 {
		t.Errorf("state and cloud disagree: orphans %v, missing %v", orphans, missing)
	}
}

// TestCtrlCDuringTheGCAfterADeploy: Ctrl-C (SIGINT to the command's
// process group, as a terminal sends it) while the gc after a deploy
// destroys an old version. The new version stays live, but the command did
// not finish: it exits 130, saying so and naming phoenix gc, which then
// finishes the work.
func TestCtrlCDuringTheGCAfterADeploy(t *testing.T) {
	t.Parallel()
	bin := buildPhoenix(t)
	c := newCLIEnv(t, stacks.KeyRetention, "0")
	for _, v := range []string{"v1", "v2", "v3"} {
		c.deploy(v, "--no-gc")
	}
	// Each delete takes a while, as a real one does: the interrupt lands
	// with the version's destroy under way.
	c.h.Cloud.Inject(simcloud.Fault{Kind: "delete", Delay: 500 * time.Millisecond})
	p := c.start(bin, append([]string{"deploy", "--env", "dev", "--version", "v4"}, gateFlags()...)...)
	interrupted := make(chan struct{})
	go func() {
		for {
			select {
			case <-p.done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, op := range c.h.Cloud.Ops() {
				if op.Kind == "delete" && strings.Contains(op.Name, "v1") {
					syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT)
					close(interrupted)
					return
				}
			}
		}
	}()
	p.wait(5 * time.Minute)
	c.h.Cloud.ClearFaults()
	select {
	case <-interrupted:
	default:
		t.Fatalf("the deploy ended before its gc destroyed anything of v1:\n%s", p)
	}
	if p.code != 130 {
		t.Errorf("interrupted in its gc, the deploy exited %d, want 130\n%s", p.code, p)
	}
	for _, want := range []string{"v4 is live in env dev, but the gc after it was interrupted", "phoenix gc --env dev"} {
		if !strings.Contains(p.err.String(), want) {
			t.Errorf("the message does not say %q:\n%s", want, p)
		}
	}
	if st := c.status(); st.Live != "v4" {
		t.Errorf("after the interrupted gc live is %q, want v4", st.Live)
	}
	c.must("gc", "--env", "dev")
	var held []string
	for _, v := range c.status().Versions {
		held = append(held, v.Version)
	}
	slices.Sort(held)
	if !slices.Equal(held, []string{"v3", "v4"}) {
		t.Errorf("after phoenix gc the env holds %v, want live v4 and previous v3", held)
	}
	if orphans, missing := c.disagreement(context.Background()); len(orphans)+len(missing) > 0 {
		t.Errorf("the state and the cloud disagree: in the cloud only %v; in the state only %v", orphans, missing)
	}
}
