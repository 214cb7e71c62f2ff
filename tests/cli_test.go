package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/internal/cli"
	"github.com/phoenix-iac/phoenix/internal/iostreams"
	"github.com/phoenix-iac/phoenix/internal/lease"
	"github.com/phoenix-iac/phoenix/internal/orchestrator"
	"github.com/phoenix-iac/phoenix/stacks"
	"github.com/phoenix-iac/phoenix/tests/harness"
	"github.com/phoenix-iac/phoenix/tests/simcloud"
	"github.com/phoenix-iac/phoenix/tests/simplatform"
)

// cliEnv is a project directory with an env "dev" on the docker platform,
// the engine harness, and the fake load balancer the env's URL points at.
type cliEnv struct {
	t       testing.TB
	h       *harness.Harness
	lb      *fakeLB
	project string
	// leases is the folder of the env leases in the file backend.
	leases string
	// program replaces stacks.Program when set, to plant a change.
	program pulumi.RunFunc
	// httpClient, when set, is the client phoenix probes the env with.
	httpClient *http.Client
	// noPassphrase runs phoenix, and the Pulumi CLI it runs, without the
	// secrets' passphrase, as a pull request's preview runs.
	noPassphrase bool
	// pulumi, when set, is the Pulumi CLI phoenix runs instead of the
	// harness's (a recorder around it).
	pulumi auto.PulumiCommand
}

func newCLIEnv(t testing.TB, extraConfig ...string) *cliEnv {
	t.Helper()
	h := harness.New(t)
	lb := startFakeLB(t, h.Cloud)
	project := t.TempDir()
	b, err := os.ReadFile(filepath.Join(h.Root, "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(project, "Pulumi.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	h.LinkProjectDirs(project)
	// Locks live beside the file backend's state, where phoenix unlock looks.
	c := &cliEnv{t: t, h: h, lb: lb, project: project, leases: filepath.Join(strings.TrimPrefix(h.Env["PULUMI_BACKEND_URL"], "file://"), lease.Prefix, orchestrator.ProjectName)}
	c.writeConfig(extraConfig...)
	return c
}

// writeConfig writes Pulumi.dev.yaml: docker, the sample app, the fake LB's port.
func (c *cliEnv) writeConfig(extra ...string) {
	c.t.Helper()
	lines := []string{
		"config:",
		"  phoenix:platform: docker",
		fmt.Sprintf("  phoenix:appPath: %s", filepath.Join(c.h.Root, "app")),
		fmt.Sprintf("  phoenix:port: %q", fmt.Sprint(c.lb.port)),
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if strings.HasPrefix(extra[i+1], "{") {
			lines = append(lines, fmt.Sprintf("  %s: %s", extra[i], extra[i+1])) // a YAML flow mapping
			continue
		}
		lines = append(lines, fmt.Sprintf("  %s: %q", extra[i], extra[i+1]))
	}
	if err := os.WriteFile(filepath.Join(c.project, "Pulumi.dev.yaml"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// addEnv writes the config file of another env of the project: dev's,
// on a port of its own, where a fake load balancer of its own answers.
// (No dash in env's name: the fake load balancer reads a version from a
// container's name.)
func (c *cliEnv) addEnv(env string) *fakeLB {
	c.t.Helper()
	cfg, err := os.ReadFile(filepath.Join(c.project, "Pulumi.dev.yaml"))
	if err != nil {
		c.t.Fatal(err)
	}
	lb := startFakeLB(c.t, c.h.Cloud)
	own := strings.Replace(string(cfg), fmt.Sprintf("phoenix:port: %q", fmt.Sprint(c.lb.port)), fmt.Sprintf("phoenix:port: %q", fmt.Sprint(lb.port)), 1)
	if own == string(cfg) {
		c.t.Fatalf("Pulumi.dev.yaml sets no phoenix:port %d:\n%s", c.lb.port, cfg)
	}
	if err := os.WriteFile(filepath.Join(c.project, "Pulumi."+env+".yaml"), []byte(own), 0o644); err != nil {
		c.t.Fatal(err)
	}
	return lb
}

// copyProgram copies the program's own source (what version.Program
// hashes) into the project, so that deploys record its hash.
func (c *cliEnv) copyProgram() {
	c.t.Helper()
	for _, f := range []string{"main.go", "go.mod", "go.sum"} {
		copyFile(c.t, filepath.Join(c.h.Root, f), filepath.Join(c.project, f))
	}
	for _, d := range []string{"stacks", "components", "platforms", "internal/header"} {
		err := filepath.WalkDir(filepath.Join(c.h.Root, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			rel, _ := filepath.Rel(c.h.Root, p)
			copyFile(c.t, p, filepath.Join(c.project, rel))
			return nil
		})
		if err != nil {
			c.t.Fatal(err)
		}
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (c *cliEnv) factory(io *iostreams.IOStreams) *cli.Factory {
	f := cli.NewFactory(io)
	env := map[string]string{
		"PULUMI_CONFIG_PASSPHRASE": c.h.Env["PULUMI_CONFIG_PASSPHRASE"],
		"PULUMI_BACKEND_URL":       c.h.Env["PULUMI_BACKEND_URL"],
	}
	vars := c.h.Env
	if c.noPassphrase {
		delete(env, "PULUMI_CONFIG_PASSPHRASE")
		vars = maps.Clone(c.h.Env)
		delete(vars, "PULUMI_CONFIG_PASSPHRASE")
	}
	f.Getenv = func(k string) string { return env[k] }
	f.Orchestrator = func(ctx context.Context, g *cli.GlobalOptions) (cli.Orchestrator, error) {
		dir, err := f.ProjectDir(g)
		if err != nil {
			return nil, err
		}
		pulumiCmd := c.h.Pulumi
		if c.pulumi != nil {
			pulumiCmd = c.pulumi
		}
		return c.orchestrator(orchestrator.Options{
			ProjectDir: dir, Pulumi: pulumiCmd, EnvVars: vars, Leases: c.leaseStore, Redact: f.Redact(g),
			Log: io.ErrOut, User: "tester", Program: c.program, HTTPClient: c.httpClient,
			// A planted lock of another machine is waited for this long,
			// not the default 30 s, before the change gives up.
			StackLockWait: 3 * time.Second,
			Platforms:     simplatform.LookupWith(c.lb.source),
		})
	}
	return f
}

// orchestrator is orchestrator.New as the Factory's interface: nil, not a
// typed nil, on failure.
func (c *cliEnv) orchestrator(opts orchestrator.Options) (cli.Orchestrator, error) {
	o, err := orchestrator.New(opts)
	if err != nil {
		return nil, err
	}
	return o, nil
}

type result struct {
	code        int
	out, errOut string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.errOut)
}

// run runs phoenix with args in the project.
func (c *cliEnv) run(args ...string) result {
	c.t.Helper()
	io, _, out, errOut := iostreams.Test()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	code := cli.Main(ctx, append(args, "--project", c.project), c.factory(io))
	return result{code, out.String(), errOut.String()}
}

// must runs phoenix and fails the test unless it exits 0.
func (c *cliEnv) must(args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("phoenix %s: %s", strings.Join(args, " "), r)
	}
	return r
}

func (c *cliEnv) deploy(version string, extra ...string) result {
	c.t.Helper()
	return c.must(append([]string{"deploy", "--env", "dev", "--version", version, "--gate-count", "3", "--gate-timeout", "5s"}, extra...)...)
}

func (c *cliEnv) status() orchestrator.Status {
	c.t.Helper()
	return c.statusOf("dev")
}

func (c *cliEnv) statusOf(env string) orchestrator.Status {
	c.t.Helper()
	var st orchestrator.Status
	r := c.must("status", "--env", env, "--json")
	if err := json.Unmarshal([]byte(r.out), &st); err != nil {
		c.t.Fatalf("status --json: %v\n%s", err, r.out)
	}
	return st
}

func (c *cliEnv) history() []orchestrator.Event {
	c.t.Helper()
	var ev []orchestrator.Event
	r := c.must("history", "--env", "dev", "--json")
	if err := json.Unmarshal([]byte(r.out), &ev); err != nil {
		c.t.Fatalf("history --json: %v\n%s", err, r.out)
	}
	return ev
}

func (c *cliEnv) versionsInCloud() map[string]bool {
	out := map[string]bool{}
	for _, r := range c.h.Cloud.Find("docker:index/container:Container", "dev-") {
		if strings.HasSuffix(r.Name, "-lb") || strings.HasSuffix(r.Name, "-pointer") {
			continue
		}
		parts := strings.Split(r.Name, "-")
		if len(parts) >= 3 {
			out[parts[1]] = true
		}
	}
	return out
}

// TestCLIGateProbesTheHealthCheckPath: the gates probe the env's
// phoenix:healthCheckPath, not a fixed /healthz.
func TestCLIGateProbesTheHealthCheckPath(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t, "phoenix:healthCheckPath", "/ready")
	c.deploy("v1")
	c.deploy("v2")
	c.must("rollback", "--env", "dev", "--gate-count", "3", "--gate-timeout", "5s")
	got := c.lb.requests()
	if got["/ready"] == 0 || got["/healthz"] != 0 {
		t.Errorf("requests by path %v, want the gates on /ready only", got)
	}
}

func TestCLIDeployPromotesAndIsIdempotent(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	r := c.deploy("v1")
	if !strings.Contains(r.out, "v1 is live in env dev") {
		t.Errorf("deploy output: %s", r)
	}
	st := c.status()
	if st.Live != "v1" || st.Candidate != "" || !st.Deployed {
		t.Fatalf("after deploy: %+v", st)
	}
	if !c.versionsInCloud()["v1"] {
		t.Fatal("v1's containers are not in the cloud")
	}

	// The same definition again changes nothing.
	updates := len(c.history())
	ops := len(c.h.Cloud.Ops())
	r = c.deploy("v1")
	if !strings.Contains(r.out, "already live") {
		t.Errorf("second deploy of v1: %s", r)
	}
	if got := len(c.h.Cloud.Ops()); got != ops {
		t.Errorf("a no-op deploy made %d changes in the cloud", got-ops)
	}
	if got := len(c.history()); got != updates {
		t.Errorf("a no-op deploy made %d traffic changes", got-updates)
	}

	// A second version: promoted, v1 kept warm as previous.
	c.deploy("v2", "--json")
	st = c.status()
	if st.Live != "v2" || st.Previous != "v1" {
		t.Fatalf("after deploying v2: live %q previous %q, want v2 and v1", st.Live, st.Previous)
	}
	if !c.versionsInCloud()["v1"] {
		t.Error("v1 is no longer warm")
	}
	hist := c.history()
	if len(hist) == 0 || hist[0].Op != "promote" || hist[0].From != "v1" || hist[0].To != "v2" || hist[0].By != "tester" {
		t.Errorf("newest history entry %+v, want promote v1 -> v2 by tester", hist)
	}
	if r := c.must("status", "--env", "dev"); !strings.Contains(r.out, "live       v2") || !strings.Contains(r.out, "previous   v1") {
		t.Errorf("status:\n%s", r.out)
	}
}

func TestCLIGateFailureKeepsLive(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	c.lb.breakVersion("v2")

	r := c.run("deploy", "--env", "dev", "--version", "v2", "--gate-count", "3", "--gate-timeout", "2s")
	if r.code != cli.ExitChangeFailed {
		t.Fatalf("deploy of a broken version: %s\nwant exit %d", r, cli.ExitChangeFailed)
	}
	for _, want := range []string{"did not pass the health gate", "live is still v1", "dev.v2 was destroyed"} {
		if !strings.Contains(r.errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.errOut)
		}
	}
	st := c.status()
	if st.Live != "v1" || st.Candidate != "" {
		t.Errorf("after a failed gate: live %q candidate %q, want v1 and none", st.Live, st.Candidate)
	}
	if c.versionsInCloud()["v2"] {
		t.Error("the failed version's containers are still in the cloud")
	}
	for _, v := range st.Versions {
		if v.Version == "v2" {
			t.Error("the failed version's stack still exists")
		}
	}

	// --keep-failed keeps it for inspection.
	r = c.run("deploy", "--env", "dev", "--version", "v2", "--gate-count", "3", "--gate-timeout", "2s", "--keep-failed")
	if r.code != cli.ExitChangeFailed || !strings.Contains(r.errOut, "was kept (--keep-failed)") {
		t.Fatalf("deploy --keep-failed: %s", r)
	}
	if !c.versionsInCloud()["v2"] {
		t.Error("--keep-failed did not keep v2")
	}
	st = c.status()
	if st.Live != "v1" {
		t.Errorf("live is %q, want v1", st.Live)
	}
	for _, v := range st.Versions {
		if v.Version == "v2" && (v.Role != "failed" || !v.Failed) {
			t.Errorf("the kept version: role %q, failed %v; want failed", v.Role, v.Failed)
		}
	}
	// Fixed (here: its app answers again), the same version deployed again
	// goes live and is a version like any other.
	c.lb.mu.Lock()
	delete(c.lb.broken, "v2")
	c.lb.mu.Unlock()
	c.deploy("v2")
	for _, v := range c.status().Versions {
		if v.Version == "v2" && (v.Role != "live" || v.Failed) {
			t.Errorf("v2 deployed again: role %q, failed %v; want live, not failed", v.Role, v.Failed)
		}
	}
}

func TestCLIRefusesToChangeAnExistingVersion(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	ops := len(c.h.Cloud.Ops())
	// Same version id, different definition: the preview plans changes.
	c.writeConfig("phoenix:replicas", "3")
	r := c.run("deploy", "--env", "dev", "--version", "v1")
	if r.code != cli.ExitImmutable || !strings.Contains(r.errOut, "versions are immutable") {
		t.Fatalf("deploy over a changed version: %s\nwant exit %d", r, cli.ExitImmutable)
	}
	if got := len(c.h.Cloud.Ops()); got != ops {
		t.Errorf("the refused deploy made %d changes in the cloud", got-ops)
	}
}

func TestCLIRollback(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	c.deploy("v2")

	// Refused: a version that does not exist; nothing changes.
	ops := len(c.h.Cloud.Ops())
	r := c.run("rollback", "--env", "dev", "--to", "v9")
	if r.code != cli.ExitNotFound || !strings.Contains(r.errOut, "dev.v9 does not exist; warm versions: v1") {
		t.Fatalf("rollback to a missing version: %s", r)
	}
	if len(c.h.Cloud.Ops()) != ops {
		t.Error("a refused rollback changed the cloud")
	}

	// Back to the previous version, verified: a drift check and a probe
	// through the version's own route, then one env change, the switch,
	// and nothing else in the cloud.
	updates := len(c.history())
	ops = len(c.h.Cloud.Ops())
	r = c.must("rollback", "--env", "dev", "--gate-count", "3", "--gate-timeout", "5s")
	if got := len(c.history()) - updates; got != 1 {
		t.Errorf("a verified rollback made %d env changes, want 1", got)
	}
	for _, op := range c.h.Cloud.Ops()[ops:] {
		if !strings.HasSuffix(op.Name, "-pointer") {
			t.Errorf("verified rollback: %s of %s %s", op.Kind, op.Type, op.Name)
		}
	}
	if !strings.Contains(r.out, "live is now v1 (was v2)") {
		t.Errorf("rollback output: %s", r)
	}
	st := c.status()
	if st.Live != "v1" || st.Previous != "v2" {
		t.Errorf("after rollback: live %q previous %q, want v1 and v2", st.Live, st.Previous)
	}
	// The drift check refreshed v1's stack, which moves its last update:
	// its age, and the order gc keeps by, stay those of its deploy.
	if len(st.Versions) != 2 || st.Versions[0].Version != "v2" || !st.Versions[1].Deployed.Before(st.Versions[0].Deployed) ||
		!st.Versions[1].LastUpdate.After(st.Versions[0].LastUpdate) {
		t.Errorf("after a verified rollback the versions are %+v; want v2 then v1 by deploy time, v1's stack updated last", st.Versions)
	}
	if h := c.history(); h[0].Op != "rollback" || h[0].From != "v2" || h[0].To != "v1" {
		t.Errorf("newest history entry %+v, want rollback v2 -> v1", h[0])
	}

	// Refused: a version that drifted (a container changed by hand).
	v2 := c.h.Cloud.Find("docker:index/container:Container", "dev-v2-0")[0]
	if err := c.h.Cloud.Drift(v2.ID, "restart", "no"); err != nil {
		t.Fatal(err)
	}
	r = c.run("rollback", "--env", "dev", "--to", "v2")
	if r.code != cli.ExitChangeFailed || !strings.Contains(r.errOut, "dev.v2 has drifted") {
		t.Fatalf("rollback to a drifted version: %s", r)
	}
	if st := c.status(); st.Live != "v1" {
		t.Fatalf("a refused rollback moved live to %q", st.Live)
	}

	// Forced: only the traffic pointer changes in the cloud.
	ops = len(c.h.Cloud.Ops())
	c.must("rollback", "--env", "dev", "--to", "v2", "--force")
	for _, op := range c.h.Cloud.Ops()[ops:] {
		if !strings.HasSuffix(op.Name, "-pointer") {
			t.Errorf("forced rollback: %s of %s %s", op.Kind, op.Type, op.Name)
		}
	}
	if st := c.status(); st.Live != "v2" {
		t.Errorf("live %q, want v2", st.Live)
	}

	// Refused: a version whose stack was destroyed.
	c.must("gc", "--env", "dev", "--keep", "0")
	c.deploy("v3")
	c.deploy("v4")
	c.must("gc", "--env", "dev", "--keep", "0")
	r = c.run("rollback", "--env", "dev", "--to", "v2")
	if r.code != cli.ExitNotFound {
		t.Errorf("rollback to a destroyed version: %s", r)
	}
}

func TestCLICanarySteps(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	c.deploy("v2", "--canary", "10,50", "--step-wait", "100ms", "--analysis=false")
	var steps []string
	for _, e := range c.history() {
		if e.To == "v2" {
			steps = append([]string{fmt.Sprintf("%s:%d", e.Op, e.Weight)}, steps...)
		}
	}
	if got, want := strings.Join(steps, " "), "candidate:0 canary:10 canary:50 promote:0"; got != want {
		t.Errorf("traffic steps %q, want %q", got, want)
	}
	if st := c.status(); st.Live != "v2" || st.CandidateWeight != 0 {
		t.Errorf("after the canary: %+v", st)
	}
}

func TestCLIGCKeepsLiveCandidateAndPrevious(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	for _, v := range []string{"v1", "v2", "v3", "v4"} {
		c.deploy(v)
	}
	// v5 failed its gate and was kept for inspection: the newest version
	// stack, but not a warm version.
	c.lb.breakVersion("v5")
	if r := c.run("deploy", "--env", "dev", "--version", "v5", "--gate-timeout", "1s", "--keep-failed"); r.code != cli.ExitChangeFailed || !strings.Contains(r.errOut, "status lists it as failed") {
		t.Fatalf("deploy v5: %s", r)
	}
	roles := map[string]string{}
	for _, v := range c.status().Versions {
		roles[v.Version] = v.Role
	}
	if roles["v5"] != "failed" || roles["v2"] != "warm" {
		t.Errorf("status lists roles %v, want v5 failed and v2 warm", roles)
	}
	if r := c.must("status", "--env", "dev"); !strings.Contains(r.out, "v5") || !strings.Contains(r.out, "failed") {
		t.Errorf("status does not show v5 as failed:\n%s", r.out)
	}

	r := c.must("gc", "--env", "dev", "--keep", "1", "--dry-run", "--json")
	var plan orchestrator.GCResult
	if err := json.Unmarshal([]byte(r.out), &plan); err != nil {
		t.Fatal(err)
	}
	if strings.Join(plan.Destroyed, ",") != "v5,v1" {
		t.Errorf("dry run would destroy %v, want the failed v5 and v1 (keeping live v4, previous v3, and the newest warm one, v2)", plan.Destroyed)
	}
	if !c.versionsInCloud()["v1"] {
		t.Fatal("the dry run destroyed something")
	}
	c.must("gc", "--env", "dev", "--keep", "1")
	got := c.versionsInCloud()
	for v, want := range map[string]bool{"v1": false, "v2": true, "v3": true, "v4": true, "v5": false} {
		if got[v] != want {
			t.Errorf("after gc: %s in cloud %v, want %v", v, got[v], want)
		}
	}
}

// TestCLIDeployKeepsRetention: each successful deploy destroys the
// versions beyond phoenix:retention, as gc does, so an env's versions stay
// bounded without anyone running gc; --no-gc skips it, and a gc that
// stops leaves the deploy standing and says what to run.
func TestCLIDeployKeepsRetention(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t, "phoenix:retention", "1")
	for _, v := range []string{"v1", "v2", "v3"} {
		if r := c.deploy(v); strings.Contains(r.out, "gc:") {
			t.Errorf("deploy %s destroyed a version within retention: %s", v, r)
		}
	}
	r := c.deploy("v4")
	if !strings.Contains(r.out, "gc: destroyed v1") {
		t.Errorf("deploy v4 did not report destroying v1: %s", r)
	}
	want := map[string]bool{"v2": true, "v3": true, "v4": true}
	if got := c.versionsInCloud(); !maps.Equal(got, want) {
		t.Errorf("after 4 deploys with retention 1 the cloud holds %v, want live v4, previous v3 and warm v2", got)
	}

	c.deploy("v5", "--no-gc")
	if !c.versionsInCloud()["v2"] {
		t.Error("deploy --no-gc destroyed v2")
	}

	// v2's and v3's destroys will fail: the deploy of v6 stands.
	c.h.Cloud.Inject(simcloud.Fault{Kind: "delete", Type: "docker:index/container:Container", NameContains: "dev-v2-", Times: 10, Err: "device or resource busy"})
	r = c.deploy("v6", "--json")
	var res orchestrator.DeployResult
	if err := json.Unmarshal([]byte(r.out), &res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.GCError, "device or resource busy") || !strings.Contains(r.errOut, "phoenix gc --env dev") {
		t.Errorf("a failed gc after the deploy: gcError %q, want the cause, and a log naming phoenix gc: %s", res.GCError, r)
	}
	if st := c.status(); st.Live != "v6" {
		t.Errorf("after a deploy whose gc failed live is %q, want v6", st.Live)
	}
	c.h.Cloud.ClearFaults()
	c.must("gc", "--env", "dev")
	want = map[string]bool{"v4": true, "v5": true, "v6": true}
	if got := c.versionsInCloud(); !maps.Equal(got, want) {
		t.Errorf("after gc the cloud holds %v, want %v", got, want)
	}
}

func TestCLIConcurrentDeploysAreRefused(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")

	// Another deploy holds the env.
	store, err := c.leaseStore(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	l, err := store.Acquire(context.Background(), "dev", "deploy", lease.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := c.run("deploy", "--env", "dev", "--version", "v2")
	if r.code != cli.ExitLocked || !strings.Contains(r.errOut, `locked by "phoenix deploy"`) {
		t.Fatalf("deploy while locked: %s", r)
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("refusing took %s; it should be at once", time.Since(start))
	}
	if r := c.run("unlock", "--env", "dev"); r.code != cli.ExitLocked {
		t.Errorf("unlock of a lock whose holder runs: %s", r)
	}
	if err := l.Release(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A lease left by a process of this machine that died is taken over,
	// with a line naming the dead holder; phoenix unlock clears one too.
	self := lease.Self()
	stale := fmt.Sprintf(`{"command":"gc","user":"x","host":%q,"pid":%d,"machine":%q,"since":%q,"ttl":"2m0s"}`,
		self.Host, deadPID(t), self.Machine, time.Now().UTC().Format(time.RFC3339))
	if err := os.WriteFile(filepath.Join(c.leases, "dev", "00000000010000000000.json"), []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	r = c.must("status", "--env", "dev")
	if r = c.run("gc", "--env", "dev", "--dry-run"); r.code != 0 || !strings.Contains(r.errOut, "took over the lock of env dev from phoenix gc (pid") {
		t.Fatalf("gc with a stale lock: %s", r)
	}
	if err := os.WriteFile(filepath.Join(c.leases, "dev", "00000000020000000000.json"), []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := c.must("unlock", "--env", "dev"); !strings.Contains(r.out, "cleared the lock of env dev held by phoenix gc") {
		t.Errorf("unlock: %s", r)
	}

	// Two deploys at once: one wins, the other is refused.
	results := make(chan result, 2)
	for _, v := range []string{"v2", "v3"} {
		go func() {
			io, _, out, errOut := iostreams.Test()
			code := cli.Main(context.Background(), []string{"deploy", "--env", "dev", "--version", v, "--gate-count", "2", "--project", c.project}, c.factory(io))
			results <- result{code, out.String(), errOut.String()}
		}()
	}
	a, b := <-results, <-results
	codes := map[int]int{a.code: 1}
	codes[b.code]++
	if codes[0] != 1 || codes[cli.ExitLocked] != 1 {
		t.Errorf("two concurrent deploys: %s\n---\n%s\nwant one success and one exit %d", a, b, cli.ExitLocked)
	}
}

// deadPID returns the pid of a process that has exited.
// leaseStore opens the env leases in the test's file backend.
func (c *cliEnv) leaseStore(ctx context.Context) (*lease.Store, error) {
	s, _, err := lease.Open(ctx, c.h.Env["PULUMI_BACKEND_URL"], orchestrator.ProjectName)
	return s, err
}

func deadPID(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestCLIDestroy(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	c.deploy("v2")
	if r := c.run("destroy", "--env", "dev"); r.code != cli.ExitUsage || !strings.Contains(r.errOut, "pass --yes") {
		t.Fatalf("destroy without a terminal or --yes: %s", r)
	}
	if len(c.h.Cloud.Inventory()) == 0 {
		t.Fatal("the refused destroy destroyed")
	}
	c.must("destroy", "--env", "dev", "--yes")
	for _, r := range c.h.Cloud.Inventory() {
		t.Errorf("left in the cloud: %s %s", r.Type, r.Name)
	}
	if _, err := os.Stat(filepath.Join(c.project, "Pulumi.dev.yaml")); err != nil {
		t.Errorf("destroy removed the env's own config file: %v", err)
	}
	if st := c.status(); st.Deployed || len(st.Versions) != 0 {
		t.Errorf("after destroy: %+v", st)
	}
}

// TestCLITrafficWritesAreCompareAndSwap: traffic changed under a deploy by
// a command that holds no lease (a plain pulumi up of the env stack, as the
// README's by-hand section does) is never overwritten. The deploy's next
// write finds it changed, fails (exit 3) saying who changed it and what it
// is now, restores nothing, and history keeps the truth.
func TestCLITrafficWritesAreCompareAndSwap(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")

	done := make(chan result, 1)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		io, _, out, errOut := iostreams.Test()
		code := cli.Main(context.Background(), []string{"deploy", "--env", "dev", "--version", "v2", "--canary", "50",
			"--step-wait", "20s", "--analysis=false", "--gate-count", "2", "--gate-timeout", "5s", "--project", c.project}, c.factory(io))
		done <- result{code, out.String(), errOut.String()}
	}()
	// A failure below leaves the deploy running: the test's folders are
	// removed only once it has ended.
	t.Cleanup(func() { <-ended })
	// Wait for the canary step, then send everything back to v1 by hand.
	deadline := time.Now().Add(2 * time.Minute)
	for c.status().CandidateWeight != 50 {
		if time.Now().After(deadline) {
			t.Fatal("the deploy never reached its canary step")
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.plainTrafficUp(stacks.Traffic{Live: "v1", Candidate: "v1"})

	r := <-done
	if r.code != cli.ExitChangeFailed || !strings.Contains(r.errOut, "changed under this command: it expected live=v1 candidate=v2 weight=50, and it is now live=v1 candidate=v1 weight=0") ||
		!strings.Contains(r.errOut, "left as the other command set it") {
		t.Fatalf("deploy whose traffic was changed under it: %s", r)
	}
	if st := c.status(); st.Live != "v1" || st.CandidateWeight != 0 || st.Warning != "" {
		t.Errorf("after the refused write, traffic is %+v; want the by-hand change kept", st)
	}
	if got := c.versionsInCloud(); got["v2"] {
		t.Errorf("the failed deploy's version v2 is still in the cloud: %v", got)
	}
	// The deploy wrote no traffic after the by-hand change.
	if h := c.history(); len(h) == 0 || h[0].To != "v2" || h[0].Op != "canary" {
		t.Errorf("newest phoenix change %+v; want the canary step (the by-hand up is not phoenix's, and nothing after it)", h)
	}
}

// plainTrafficUp sets the env's traffic as a by-hand `pulumi up -s dev
// --config phoenix:live=...` does: no lease, no expected traffic.
func (c *cliEnv) plainTrafficUp(t stacks.Traffic) {
	c.t.Helper()
	ctx := context.Background()
	b, err := os.ReadFile(filepath.Join(c.project, "Pulumi.dev.yaml"))
	if err != nil {
		c.t.Fatal(err)
	}
	keys := fmt.Sprintf("config:\n  %s: %q\n  %s: %q\n  %s: %q\n", stacks.KeyLive, t.Live, stacks.KeyCandidate, t.Candidate, stacks.KeyCandidateWeight, fmt.Sprint(t.CandidateWeight))
	cfg := strings.Replace(string(b), "config:\n", keys, 1)
	path := filepath.Join(c.t.TempDir(), "Pulumi.dev.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		c.t.Fatal(err)
	}
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(c.project), auto.Program(stacks.ProgramIn(c.project, c.h.Env["PULUMI_BACKEND_URL"])),
		auto.Pulumi(c.h.Pulumi), auto.EnvVars(c.h.Env))
	if err != nil {
		c.t.Fatal(err)
	}
	s, err := auto.SelectStack(ctx, "dev", ws)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := s.Up(ctx, optup.ConfigFile(path), optup.Message("by hand")); err != nil {
		c.t.Fatalf("by-hand up of the env stack: %v", err)
	}
}

// TestCLIUnlockForceClearsStackLocks: a pulumi killed on another machine
// (a cancelled CI job) leaves its lock on a stack in the shared backend.
// phoenix leaves a lock it cannot prove dead alone, says how to clear it,
// and phoenix unlock --force clears it, naming it.
func TestCLIUnlockForceClearsStackLocks(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	state := strings.TrimPrefix(c.h.Env["PULUMI_BACKEND_URL"], "file://")
	dir := filepath.Join(state, ".pulumi", "locks", "organization", "phoenix", "dev")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	planted := `{"pid":4242,"username":"runner","hostname":"ci-runner-7","timestamp":"2026-11-30T10:00:00Z"}`
	if err := os.WriteFile(filepath.Join(dir, "5f0c0a52-0b1d-4c57-9a0e-3c3a8c1d2e4f.json"), []byte(planted), 0o644); err != nil {
		t.Fatal(err)
	}
	r := c.run("deploy", "--env", "dev", "--version", "v2", "--gate-count", "2")
	if r.code == 0 || !strings.Contains(r.errOut, "pid 4242 on ci-runner-7") || !strings.Contains(r.errOut, "phoenix unlock --env dev --force") {
		t.Fatalf("a change while another machine's pulumi locks the env stack: %s", r)
	}
	r = c.must("unlock", "--env", "dev", "--force")
	if !strings.Contains(r.out, "cleared the Pulumi lock of stack dev held by pulumi (pid 4242, runner@ci-runner-7, since 2026-11-30 10:00:00 UTC)") {
		t.Errorf("unlock --force: %s", r)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("locks left after unlock --force: %v", left)
	}
	c.deploy("v2")
}

// TestCLIGateFailureSaysWhatTheEngineSays: a candidate whose container
// stops (a crash its restart policy gave up on) fails its gate, and the
// message carries what the Docker engine says of it; live stays.
func TestCLIGateFailureSaysWhatTheEngineSays(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	c.h.Cloud.Watch(func(op simcloud.Op, r simcloud.Resource) {
		if op.Kind == "create" && r.Type == "docker:index/container:Container" && strings.Contains(r.Name, "v2") {
			c.h.Cloud.Stop(r.ID)
		}
	})
	r := c.run("deploy", "--env", "dev", "--version", "v2", "--gate-count", "3", "--gate-timeout", "3s")
	if r.code != cli.ExitChangeFailed {
		t.Fatalf("a candidate whose container stopped: want exit 3\n%s", r)
	}
	for _, want := range []string{"did not pass the health gate", "what platform docker recorded about v2:", "exited (exit code 137)"} {
		if !strings.Contains(r.errOut, want) {
			t.Errorf("the message does not say %q:\n%s", want, r.errOut)
		}
	}
	if st := c.status(); st.Live != "v1" {
		t.Errorf("live is %q, want v1", st.Live)
	}
}
