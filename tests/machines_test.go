package tests

// Many machines, one env: phoenix processes on two "machines" (two
// checkouts; machine B in its own UTS and pid namespace, so with its own
// host name and pids) share one state backend on a real S3 API (moto), with
// the Pulumi state, Pulumi's stack locks and phoenix's env lease in one
// bucket.

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/internal/cli"
	"github.com/phoenix-iac/phoenix/internal/lockedbuf"
	"github.com/phoenix-iac/phoenix/internal/orchestrator"
	"github.com/phoenix-iac/phoenix/tests/harness"
	"github.com/phoenix-iac/phoenix/tests/moto"
)

// machine is one checkout of the project on one machine.
type machine struct {
	t       testing.TB
	name    string
	project string
	env     []string
	// own is set for a machine in its own UTS and pid namespace.
	own bool
}

// mproc is a phoenix command running on a machine.
type mproc struct {
	cmd         *exec.Cmd
	out, errOut lockedbuf.Buffer
	done        chan struct{}
	res         result
}

// start runs phoenix on the machine, in a process group of its own.
func (m *machine) start(args ...string) *mproc {
	m.t.Helper()
	full := append([]string{buildPhoenix(m.t)}, append(args, "--project", m.project)...)
	var cmd *exec.Cmd
	if m.own {
		// phoenix is pid 1 of the new pid namespace: when it ends, the
		// kernel ends whatever it left there.
		cmd = exec.Command("unshare", append([]string{"--uts", "--pid", "--mount", "--fork", "--mount-proc", "--kill-child",
			"sh", "-c", `hostname "$0" && exec "$@"`, m.name}, full...)...)
	} else {
		cmd = exec.Command(full[0], full[1:]...)
	}
	p := &mproc{cmd: cmd, done: make(chan struct{})}
	cmd.Env, cmd.Stdout, cmd.Stderr = m.env, &p.out, &p.errOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("starting phoenix on %s: %v", m.name, err)
	}
	m.t.Cleanup(func() { p.signal(syscall.SIGKILL); <-p.done })
	go func() {
		err := cmd.Wait()
		p.res = result{code: cmd.ProcessState.ExitCode(), out: p.out.String(), errOut: p.errOut.String()}
		if err != nil && p.res.code < 0 {
			p.res.code = -1
		}
		close(p.done)
	}()
	return p
}

// signal sends sig to the command's process group.
func (p *mproc) signal(sig syscall.Signal) { syscall.Kill(-p.cmd.Process.Pid, sig) }

func (p *mproc) wait() result { <-p.done; return p.res }

// run runs phoenix on the machine and waits for it.
func (m *machine) run(args ...string) result { return m.start(args...).wait() }

// must runs phoenix and fails the test unless it exits 0.
func (m *machine) must(args ...string) result {
	m.t.Helper()
	r := m.run(args...)
	if r.code != 0 {
		m.t.Fatalf("phoenix %s on %s: %s", strings.Join(args, " "), m.name, r)
	}
	return r
}

// stderrHas waits until the command's stderr holds s, or it ends.
func (p *mproc) stderrHas(t testing.TB, s string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			if strings.Contains(p.res.errOut, s) {
				return
			}
			t.Fatalf("the command ended before it said %q: %s", s, p.res)
		default:
		}
		if strings.Contains(p.errOut.String(), s) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the command did not say %q within %s", s, within)
}

// teamEnv is an env "dev" that two machines change through one bucket.
type teamEnv struct {
	t    testing.TB
	h    *harness.Harness
	lb   *fakeLB
	a, b *machine
	// passed lists the versions that passed a gate (a deploy or a
	// rollback to them exited 0): the only ones live may name.
	passed map[string]bool
	// bad counts the bad interleavings found.
	bad int
}

// errorf records a bad interleaving.
func (te *teamEnv) errorf(format string, args ...any) {
	te.t.Helper()
	te.bad++
	te.t.Errorf(format, args...)
}

func newTeamEnv(t testing.TB, leaseTTL string) *teamEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the two-machine test runs machine B in its own namespaces, which needs root (CI runs as root)")
	}
	h := harness.New(t)
	lb := startFakeLB(t, h.Cloud)
	srv := moto.Start(t)
	srv.Bucket(t, "state")
	backend, creds := srv.BackendURL("state", "team")
	te := &teamEnv{t: t, h: h, lb: lb, passed: map[string]bool{}}
	for _, name := range []string{"machine-a", "machine-b"} {
		project := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(filepath.Join(project, "home"), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(h.Root, "Pulumi.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(project, "Pulumi.yaml"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		h.LinkProjectDirs(project)
		cfg := fmt.Sprintf("config:\n  phoenix:platform: docker\n  phoenix:appPath: %s\n  phoenix:port: %q\n", filepath.Join(h.Root, "app"), fmt.Sprint(lb.port))
		if err := os.WriteFile(filepath.Join(project, "Pulumi.dev.yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(project, "home"), "USER=" + name,
			"PULUMI_BACKEND_URL=" + backend, "PULUMI_HOME=" + filepath.Join(project, "home"),
			"PHOENIX_PULUMI_ROOT=" + harness.PulumiRoot(), "PHOENIX_LEASE_TTL=" + leaseTTL}
		for _, k := range []string{"PULUMI_CONFIG_PASSPHRASE", "PULUMI_SKIP_UPDATE_CHECK", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION",
			"PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK", "PULUMI_DEBUG_PROVIDERS", "DOCKER_HOST"} {
			env = append(env, k+"="+h.Env[k])
		}
		m := &machine{t: t, name: name, project: project, env: append(env, creds...), own: name == "machine-b"}
		if m.own {
			te.b = m
		} else {
			te.a = m
		}
	}
	// The first deploy writes the secrets salt into the env's config
	// file, which the team commits: B pulls it.
	te.deploy(te.a, "v1")
	b, err := os.ReadFile(filepath.Join(te.a.project, "Pulumi.dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(te.b.project, "Pulumi.dev.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return te
}

var teamGateFlags = []string{"--gate-count", "2", "--gate-timeout", "20s", "--analysis=false"}

func (te *teamEnv) deploy(m *machine, version string, extra ...string) result {
	te.t.Helper()
	r := m.must(append(append([]string{"deploy", "--env", "dev", "--version", version}, teamGateFlags...), extra...)...)
	te.passed[version] = true
	return r
}

// status and history read the env, from machine A.
func (te *teamEnv) status() orchestrator.Status {
	te.t.Helper()
	var st orchestrator.Status
	r := te.a.must("status", "--env", "dev", "--json")
	if err := json.Unmarshal([]byte(r.out), &st); err != nil {
		te.t.Fatalf("status --json: %v\n%s", err, r.out)
	}
	return st
}

func (te *teamEnv) history() []orchestrator.Event {
	te.t.Helper()
	var ev []orchestrator.Event
	r := te.a.must("history", "--env", "dev", "--json")
	if err := json.Unmarshal([]byte(r.out), &ev); err != nil {
		te.t.Fatalf("history --json: %v\n%s", err, r.out)
	}
	return ev
}

// check asserts what must hold after any interleaving: live names a
// version that passed its gate, no traffic change failed half way, the
// history is a true chain (every change's from is what the one before it
// left live, so no change was silently undone), and state and cloud agree.
func (te *teamEnv) check(label string) {
	te.t.Helper()
	st := te.status()
	if st.Warning != "" {
		te.errorf("%s: status warns: %s", label, st.Warning)
	}
	if st.Live != "" && !te.passed[st.Live] {
		te.errorf("%s: live is %s, which no command saw pass its gate (passed: %v)", label, st.Live, te.passed)
	}
	var hist []orchestrator.Event
	if st.Deployed {
		// A destroyed env has no history (and history says so, exit 6).
		hist = te.history()
	}
	live := ""
	for i := len(hist) - 1; i >= 0; i-- {
		e := hist[i]
		if e.Result != "succeeded" {
			continue
		}
		switch e.Op {
		case "promote", "rollback":
			if e.From != live {
				te.errorf("%s: update %d (%s %s→%s by %s) says from %s, but %s was live", label, e.Update, e.Op, e.From, e.To, e.By, dashOr(e.From), dashOr(live))
			}
			live = e.To
		case "candidate", "canary":
			if e.From != live {
				te.errorf("%s: update %d (%s of %s by %s) says live %s, but %s was live", label, e.Update, e.Op, e.To, e.By, dashOr(e.From), dashOr(live))
			}
		case "clear":
			if e.To != "" && e.To != live {
				te.errorf("%s: update %d (clear by %s) leaves %s live, but %s was live", label, e.Update, e.By, e.To, dashOr(live))
			}
		}
	}
	if live != st.Live {
		te.errorf("%s: history leaves %s live, status says %s", label, dashOr(live), dashOr(st.Live))
	}
	if te.t.Failed() {
		for _, e := range hist {
			te.t.Logf("  history: update %d %s from=%s to=%s weight=%d by=%s result=%s at %s", e.Update, e.Op, dashOr(e.From), dashOr(e.To), e.Weight, e.By, e.Result, e.Time.Format(time.RFC3339))
		}
	}
	var stacks []string
	for _, v := range st.Versions {
		stacks = append(stacks, v.Version)
	}
	var cloud []string
	for v := range (&cliEnv{h: te.h}).versionsInCloud() {
		cloud = append(cloud, v)
	}
	sort.Strings(stacks)
	sort.Strings(cloud)
	if !slices.Equal(stacks, cloud) {
		te.errorf("%s: version stacks %v, but the cloud runs %v", label, stacks, cloud)
	}
}

func dashOr(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// raceRounds is how many times each pairing runs: PHOENIX_RACE_ROUNDS, or
// 2 (the soak runs 20).
func raceRounds(t *testing.T) int {
	if v := os.Getenv("PHOENIX_RACE_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("PHOENIX_RACE_ROUNDS=%q is not a positive number", v)
		}
		return n
	}
	return 2
}

// tally counts a pairing's outcomes for the log.
type tally struct {
	name                           string
	runs, bothRan, cleanLoser, bad int
}

func (c tally) String() string {
	return fmt.Sprintf("%s: %d runs, %d with both commands succeeding, %d with a clean loser (exit %d, nothing changed by it), %d bad interleavings",
		c.name, c.runs, c.bothRan, c.cleanLoser, cli.ExitLocked, c.bad)
}

// race starts first on A and second on B, B after a random offset of up
// to max, and returns both results.
func race(first, second func() *mproc, max time.Duration) (result, result) {
	pa := first()
	time.Sleep(time.Duration(rand.Int64N(int64(max))))
	pb := second()
	return pa.wait(), pb.wait()
}

// runPairing reports whether the pairing named name runs: all do unless
// PHOENIX_RACE_ONLY names a word of the ones to run ("destroy", "canary").
func runPairing(name string) bool {
	only := os.Getenv("PHOENIX_RACE_ONLY")
	return only == "" || strings.Contains(name, only)
}

// TestTwoMachinesRace runs the pairings of the race matrix: two machines
// changing one env at once, each pairing raceRounds times with random
// offsets, with check after each.
func TestTwoMachinesRace(t *testing.T) {
	t.Parallel()
	te := newTeamEnv(t, "30s")
	rounds := raceRounds(t)
	roundsFor := func(pairing string) int {
		if runPairing(pairing) {
			return rounds
		}
		return 0
	}
	var tallies []tally
	outcome := func(c *tally, label string, rs ...result) {
		c.runs++
		bad := te.bad
		defer func() { c.bad += te.bad - bad }()
		ok, locked := 0, 0
		for _, r := range rs {
			switch {
			case r.code == 0:
				ok++
			case r.code == cli.ExitLocked && (strings.Contains(r.errOut, "locked by") || strings.Contains(r.errOut, "changed under this command")):
				locked++
			default:
				te.errorf("%s: a command neither ran nor stopped cleanly: %s", label, r)
			}
		}
		if locked > 0 {
			c.cleanLoser++
		} else if ok == len(rs) {
			c.bothRan++
		}
		te.check(label)
	}
	deploy := func(m *machine, v string, extra ...string) func() *mproc {
		return func() *mproc {
			return m.start(append(append([]string{"deploy", "--env", "dev", "--version", v}, teamGateFlags...), extra...)...)
		}
	}
	pass := func(v string, r result) {
		if r.code == 0 {
			te.passed[v] = true
		}
	}

	// Deploy vs deploy, different versions.
	c := tally{name: "deploy vs deploy (two versions)"}
	for i := range roundsFor(c.name) {
		va, vb := fmt.Sprintf("d%da", i), fmt.Sprintf("d%db", i)
		ra, rb := race(deploy(te.a, va), deploy(te.b, vb), 1500*time.Millisecond)
		pass(va, ra)
		pass(vb, rb)
		outcome(&c, c.name+" #"+fmt.Sprint(i), ra, rb)
	}
	tallies = append(tallies, c)

	// Deploy vs deploy of one version (one commit deployed by CI and by a
	// laptop): the loser is refused, or finds it live already.
	c = tally{name: "deploy vs deploy (one version)"}
	for i := range roundsFor(c.name) {
		v := fmt.Sprintf("s%d", i)
		ra, rb := race(deploy(te.a, v), deploy(te.b, v), 1500*time.Millisecond)
		pass(v, ra)
		pass(v, rb)
		outcome(&c, c.name+" #"+fmt.Sprint(i), ra, rb)
	}
	tallies = append(tallies, c)

	// A canary deploy vs a rollback: the rollback is refused while the
	// deploy holds the env, or rolls the deploy back once it is done; it
	// is never undone by the deploy's later steps.
	c = tally{name: "canary deploy vs rollback"}
	for i := range roundsFor(c.name) {
		v := fmt.Sprintf("c%d", i)
		before := te.status().Live
		ra, rb := race(deploy(te.a, v, "--canary", "50", "--step-wait", "1s"),
			func() *mproc { return te.b.start("rollback", "--env", "dev", "--gate-count", "2") }, 3*time.Second)
		pass(v, ra)
		label := c.name + " #" + fmt.Sprint(i)
		outcome(&c, label, ra, rb)
		if h := te.history(); ra.code == 0 && rb.code == 0 && len(h) > 0 && h[0].Op == "rollback" {
			// The rollback ran last: what it set stands.
			if live := te.status().Live; live != before {
				te.errorf("%s: deploy of %s and a rollback both ran, but live is %s, not %s (the rollback was undone)", label, v, live, before)
			}
		}
	}
	tallies = append(tallies, c)

	// Preview vs a deploy of the same commit: the preview writes nothing
	// that the deploy reads, so both succeed.
	c = tally{name: "preview vs deploy (one version)"}
	for i := range roundsFor(c.name) {
		v := fmt.Sprintf("p%d", i)
		ra, rb := race(deploy(te.a, v), func() *mproc {
			return te.b.start("preview", "--env", "dev", "--version", v, "--format", "json")
		}, 2*time.Second)
		pass(v, ra)
		if ra.code != 0 || rb.code != 0 {
			te.errorf("preview vs deploy of %s: deploy %s\npreview %s", v, ra, rb)
		}
		outcome(&c, c.name+" #"+fmt.Sprint(i), ra, rb)
	}
	tallies = append(tallies, c)

	// gc --keep 0 vs deploy: gc keeps live and candidate whatever it
	// reads, and runs before or after the deploy, never inside it.
	c = tally{name: "gc --keep 0 vs deploy"}
	for i := range roundsFor(c.name) {
		v := fmt.Sprintf("g%d", i)
		ra, rb := race(deploy(te.a, v), func() *mproc { return te.b.start("gc", "--env", "dev", "--keep", "0") }, 3*time.Second)
		pass(v, ra)
		outcome(&c, c.name+" #"+fmt.Sprint(i), ra, rb)
	}
	tallies = append(tallies, c)

	// Destroy vs deploy: the env is destroyed before or after the deploy,
	// never under it; a deploy after the destroy creates the env anew.
	c = tally{name: "destroy vs deploy"}
	for i := range roundsFor(c.name) {
		if !te.status().Deployed {
			te.deploy(te.a, fmt.Sprintf("x%dbase", i))
		}
		v := fmt.Sprintf("x%d", i)
		ra, rb := race(deploy(te.a, v), func() *mproc { return te.b.start("destroy", "--env", "dev", "--yes") }, 3*time.Second)
		pass(v, ra)
		label := c.name + " #" + fmt.Sprint(i)
		outcome(&c, label, ra, rb)
		if rb.code == 0 && ra.code != 0 {
			if st := te.status(); st.Deployed || len(st.Versions) != 0 {
				te.errorf("%s: the destroy won, but the env is %+v", label, st)
			}
		}
	}
	tallies = append(tallies, c)

	for _, c := range tallies {
		if c.runs > 0 {
			t.Log(c)
		}
	}
}

// TestTwoMachinesWaitAndTakeover: machine B's --wait waits for machine A's
// deploy and then runs; a holder killed mid-deploy (its whole process group,
// SIGKILL) is taken over by the other machine after the lease's expiry with
// no manual step; a holder paused past its expiry (SIGSTOP) is fenced when
// it resumes.
func TestTwoMachinesWaitAndTakeover(t *testing.T) {
	t.Parallel()
	te := newTeamEnv(t, "5s")

	// --wait on another machine's lease.
	pa := te.a.start(append([]string{"deploy", "--env", "dev", "--version", "w1", "--canary", "50", "--step-wait", "4s"}, teamGateFlags...)...)
	pa.stderrHas(t, "canary: 50%", time.Minute)
	pb := te.b.start(append([]string{"deploy", "--env", "dev", "--version", "w2", "--wait", "5m"}, teamGateFlags...)...)
	ra, rb := pa.wait(), pb.wait()
	if ra.code != 0 || rb.code != 0 || !strings.Contains(rb.errOut, "env dev is held by phoenix deploy") {
		t.Fatalf("deploy on A, deploy --wait on B:\nA %s\nB %s", ra, rb)
	}
	te.passed["w1"], te.passed["w2"] = true, true
	if st := te.status(); st.Live != "w2" {
		t.Errorf("after A's deploy and B's waiting one, live is %s, want w2", st.Live)
	}
	te.check("wait")

	// SIGKILL of A's process group during a canary step.
	pa = te.a.start(append([]string{"deploy", "--env", "dev", "--version", "k1", "--canary", "50", "--step-wait", "60s"}, teamGateFlags...)...)
	pa.stderrHas(t, "canary: 50%", time.Minute)
	pa.signal(syscall.SIGKILL)
	pa.wait()
	start := time.Now()
	rb = te.b.run(append([]string{"deploy", "--env", "dev", "--version", "k2", "--wait", "2m"}, teamGateFlags...)...)
	if rb.code != 0 || !strings.Contains(rb.errOut, "took over the lock of env dev from phoenix deploy") {
		t.Fatalf("deploy on B after A was killed: %s", rb)
	}
	te.passed["k2"] = true
	t.Logf("B took over A's lease and deployed k2 %s after A was killed (lease TTL 5s)", time.Since(start).Round(time.Second))
	if st := te.status(); st.Live != "k2" || st.CandidateWeight != 0 {
		t.Errorf("after the takeover: %+v", st)
	}

	// SIGSTOP of A past its expiry: B takes over and deploys; A, resumed,
	// is fenced at its next step and changes nothing.
	pa = te.a.start(append([]string{"deploy", "--env", "dev", "--version", "z1", "--canary", "50", "--step-wait", "2s"}, teamGateFlags...)...)
	pa.stderrHas(t, "canary: 50%", time.Minute)
	pa.signal(syscall.SIGSTOP)
	rb = te.b.run(append([]string{"deploy", "--env", "dev", "--version", "z2", "--wait", "2m"}, teamGateFlags...)...)
	if rb.code != 0 || !strings.Contains(rb.errOut, "took over the lock of env dev") {
		pa.signal(syscall.SIGCONT)
		t.Fatalf("deploy on B while A is stopped: %s", rb)
	}
	te.passed["z2"] = true
	pa.signal(syscall.SIGCONT)
	ra = pa.wait()
	if ra.code != cli.ExitLocked || !strings.Contains(ra.errOut, "was taken over by") {
		t.Errorf("A resumed after its lease was taken over: %s\nwant exit %d saying it was taken over", ra, cli.ExitLocked)
	}
	if st := te.status(); st.Live != "z2" {
		t.Errorf("after the fenced A, live is %s, want z2", st.Live)
	}
	te.check("takeover")
}

// BenchmarkLeaseCost measures what the env lease in the S3 backend costs a
// deploy and a rollback, against the same commands with the lease in a
// local folder (PHOENIX_LEASE_URL=file://...: what the old per-checkout
// lock cost), in one run, alternating, on one S3 backend (moto). Each
// iteration deploys a new version and rolls back to the one before it
// (verified: drift check and probe), once with each lease.
//
//	go test ./tests -run '^$' -bench LeaseCost -benchtime 5x
func BenchmarkLeaseCost(b *testing.B) {
	te := newTeamEnv(b, "2m")
	local := "PHOENIX_LEASE_URL=file://" + filepath.Join(b.TempDir(), "leases")
	base := te.a.env
	var took = map[string]time.Duration{}
	timed := func(key string, extraEnv []string, args ...string) {
		te.a.env = append(append([]string{}, base...), extraEnv...)
		start := time.Now()
		te.a.must(args...)
		took[key] += time.Since(start)
	}
	b.ResetTimer()
	for i := range b.N {
		for _, lease := range []struct {
			name string
			env  []string
		}{{"s3", nil}, {"file", []string{local}}} {
			v := fmt.Sprintf("b%d%s", i, lease.name)
			timed("deploy-"+lease.name, lease.env, append([]string{"deploy", "--env", "dev", "--version", v}, teamGateFlags...)...)
			timed("rollback-"+lease.name, lease.env, "rollback", "--env", "dev", "--gate-count", "2")
		}
	}
	b.StopTimer()
	te.a.env = base
	for k, d := range took {
		b.ReportMetric(float64(d.Milliseconds())/float64(b.N), k+"-ms/op")
	}
	for _, verb := range []string{"deploy", "rollback"} {
		b.ReportMetric(float64(took[verb+"-s3"])/float64(took[verb+"-file"]), verb+"-s3/file")
	}
}
