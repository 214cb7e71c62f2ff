// Package e2e runs Phoenix's main job for real: the README's command on a
// real Docker engine with a real docker provider plugin (kreuzwerker's
// Terraform provider through pulumi-terraform-bridge, built by
// tools/docker-provider), real image builds and real Caddy. make e2e starts a
// private engine (with-dockerd.sh) and builds what the test needs; run
// alone, the test fails and says so rather than skip.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-iac/phoenix/internal/lockedbuf"
)

// env is what the test needs from make e2e.
type env struct {
	pulumiRoot string // holds bin/pulumi
	plugin     string // the docker provider plugin binary
	caddy      string // a static Caddy for the caddy image stand-in
	gocache    string // the Go build cache the golang stand-in carries
}

func needEnv(t testing.TB) env {
	t.Helper()
	e := env{
		pulumiRoot: os.Getenv("PHOENIX_PULUMI_ROOT"),
		plugin:     os.Getenv("PHOENIX_DOCKER_PLUGIN"),
		caddy:      os.Getenv("PHOENIX_CADDY"),
		gocache:    os.Getenv("PHOENIX_IMAGE_GOCACHE"),
	}
	var missing []string
	for k, v := range map[string]string{"PHOENIX_PULUMI_ROOT": e.pulumiRoot, "PHOENIX_DOCKER_PLUGIN": e.plugin, "PHOENIX_CADDY": e.caddy, "PHOENIX_IMAGE_GOCACHE": e.gocache, "DOCKER_HOST": os.Getenv("DOCKER_HOST")} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%s not set: run this test with make e2e, which starts a Docker engine and builds the Pulumi CLI, Caddy and the docker provider plugin", strings.Join(missing, ", "))
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Fatalf("the Docker engine at DOCKER_HOST=%s does not answer: %v\n%s", os.Getenv("DOCKER_HOST"), err, out)
	}
	return e
}

// project is a fresh copy of the repository's files in which phoenix runs.
type project struct {
	t    testing.TB
	dir  string
	env  []string
	bin  string // the phoenix binary built from the copy
	port int
	// pulumi is the Pulumi CLI phoenix runs.
	pulumi string
}

// TestMainJob is the product's main job, end to end, on a real engine.
func TestMainJob(t *testing.T) {
	e := needEnv(t)
	start := time.Now()
	makeBaseImages(t, e.caddy, e.gocache)

	p := newProject(t, e)
	readme := regexp.MustCompile("(?m)^PULUMI_CONFIG_PASSPHRASE=dev go run ./cmd/phoenix deploy --env dev$")
	if b, err := os.ReadFile(filepath.Join(p.dir, "README.md")); err != nil || !readme.Match(b) {
		t.Fatalf("the README no longer gives `PULUMI_CONFIG_PASSPHRASE=dev go run ./cmd/phoenix deploy --env dev` as its main command; keep this test in step with it")
	}

	// 1. The README's command, as written, in a fresh copy of the project.
	v1 := p.version()
	step := time.Now()
	if code, out := p.run("go", "run", "./cmd/phoenix", "deploy", "--env", "dev"); code != 0 {
		t.Fatalf("the README's deploy exited %d:\n%s", code, out)
	}
	t.Logf("first deploy (README command, go run included): %s", time.Since(step).Round(time.Second))
	p.expectLive(v1)
	p.build()

	// 2. A change to the app, deployed under load with a canary step, then a
	// verified rollback and a forced one: nothing fails, and every answer
	// comes from a version that is live or the candidate.
	p.editApp("// changed by the end-to-end test\n")
	v2 := p.version()
	if v2 == v1 {
		t.Fatalf("a change to the app kept version %s", v1)
	}
	l := startLoad(t, p.url(), 6, 3)
	var switches []time.Time
	phoenix := func(args ...string) {
		t.Helper()
		step := time.Now()
		code, out, marks := p.phoenix(args...)
		switches = append(switches, marks...)
		t.Logf("phoenix %s: exit %d in %s", strings.Join(args, " "), code, time.Since(step).Round(100*time.Millisecond))
		if code != 0 {
			l.stop()
			t.Fatalf("phoenix %s exited %d:\n%s", strings.Join(args, " "), code, out)
		}
	}
	// The step judges a few hundred requests on a 2-core machine that also
	// runs the load, Chromium and the dashboard's reads: the p99 of ~500
	// requests is their 5 slowest, and one scheduling hiccup on the
	// candidate's side delays several at once. CI runs saw 11.7 ms against
	// a bound of 11.3 (ratio 1.2) and 23.3 ms against 15.8 (ratio 2). This
	// test is about what the step shows, not about latency: the latency
	// bound is lifted (as in tests/analysis_test.go); error rates are
	// judged as set (step 3b fails on them).
	//
	// The dashboard watches it in headless Chromium: the split shows the
	// canary's weight, both versions' request counts rise while it runs,
	// the step's verdict appears; then the rollback's split and history.
	// The step lasts 30 s, so that the page is seen during it.
	d := p.openDashboard()
	canary := []string{"deploy", "--env", "dev", "--canary", "50", "--step-wait", "30s", "--gate-timeout", "3m", "--max-latency-ratio", "100"}
	type ran struct {
		code  int
		out   string
		marks []time.Time
		took  time.Duration
	}
	deployed := make(chan ran, 1)
	go func() {
		start := time.Now()
		code, out, marks := p.runMarked(switchLine, p.bin, canary...)
		deployed <- ran{code, out, marks, time.Since(start)}
	}()
	inCanary := split(v1, 50) + fmt.Sprintf(` && document.querySelector('.split[data-env="dev"]').dataset.candidate === %q`, v2)
	var r ran
	seen := false
	for deadline := time.Now().Add(5 * time.Minute); !seen && time.Now().Before(deadline); {
		select {
		case r = <-deployed:
			l.stop()
			t.Fatalf("phoenix %s ended (exit %d) before the dashboard showed its canary step:\n%s", strings.Join(canary, " "), r.code, r.out)
		case <-time.After(250 * time.Millisecond):
			seen = d.value("String("+inCanary+")") == "true"
		}
	}
	if !seen {
		d.waitFor("the canary step: "+v2+" at 50%", inCanary, time.Second)
	}
	d.expectCountsRise(8*time.Second, v1, v2)
	d.screenshot("canary")
	r = <-deployed
	switches = append(switches, r.marks...)
	t.Logf("phoenix %s: exit %d in %s", strings.Join(canary, " "), r.code, r.took.Round(100*time.Millisecond))
	if r.code != 0 {
		l.stop()
		t.Fatalf("phoenix %s exited %d:\n%s", strings.Join(canary, " "), r.code, r.out)
	}
	if strings.Contains(r.out, "building image") || strings.Contains(r.out, "\033[K") {
		t.Errorf("phoenix %s, its output not a terminal, drew a ticker:\n%q", strings.Join(canary, " "), r.out)
	}
	p.expectLive(v2)
	p.expectJudged(v2, "canary 50%: pass")
	d.waitFor("the canary step's verdict", `document.querySelector('section.env[data-env="dev"] [data-verdict][data-step="canary 50%"]')?.dataset.verdict === "pass"`, time.Minute)
	d.screenshot("verdict")
	p.expectLogs(v1, v2)
	time.Sleep(2 * time.Second)
	phoenix("rollback", "--env", "dev")
	p.expectLive(v1)
	d.waitFor("the rollback: "+v1+" live, all traffic", split(v1, 0)+
		` && document.querySelector('section.env[data-env="dev"] table.history tr:nth-child(2) td:nth-child(4)')?.textContent === "rollback"`, time.Minute)
	d.expectCountsRise(8*time.Second, v1)
	d.screenshot("rollback")
	d.close()
	time.Sleep(2 * time.Second)
	phoenix("rollback", "--env", "dev", "--force")
	p.expectLive(v2)
	time.Sleep(2 * time.Second)
	l.stop()
	rep := l.report(switches, 3*time.Second, map[string]bool{v1: true, v2: true})
	t.Log(rep.String())
	if rep.failed > 0 || rep.wrong > 0 || rep.total == 0 {
		t.Errorf("under load: %d requests, %d failed, %d from a version that should not serve", rep.total, rep.failed, rep.wrong)
	}

	// 2b. The version route (and the candidate route) takes only requests
	// that carry the env's route key, a secret output of the env stack as
	// the README reads it; without it a request is production traffic.
	key := p.routeKey()
	for _, tt := range []struct {
		key, want string
	}{{"", v2}, {strings.Repeat("0", 32), v2}, {key, v1}} {
		if got := p.answerer(map[string]string{"X-Phoenix-Version": v1, "X-Phoenix-Key": tt.key}); got != tt.want {
			t.Errorf("version route to %s with key %q answered by %q, want %s", v1, tt.key, got, tt.want)
		}
	}

	// 2c. A pull request's preview holds no passphrase: of the live version
	// it finds no violation on the real provider, whose diffs of the load
	// balancer (its plain Caddy config beside its secret route key) and of
	// the version compare without the secrets, and it prints no secret.
	p.expectRedactedPreview(v2, key)

	// 3. A candidate whose health check fails: the gate refuses it, live is
	// untouched and its containers are gone.
	p.setEnvironment(map[string]string{"PHOENIX_UNHEALTHY": "true"})
	v3 := p.version()
	step = time.Now()
	code, out, _ := p.phoenix("deploy", "--env", "dev", "--gate-timeout", "30s")
	t.Logf("unhealthy candidate %s: exit %d in %s", v3, code, time.Since(step).Round(100*time.Millisecond))
	if code != 3 {
		t.Errorf("deploying an unhealthy version exited %d, want 3 (health gate failed):\n%s", code, out)
	}
	if !strings.Contains(out, "live is still "+v2) {
		t.Errorf("the failed deploy does not say that live is still %s:\n%s", v2, out)
	}
	// Before destroying it, phoenix asked the engine why: the containers'
	// failing health check, with the probe's own output.
	if _, said, ok := strings.Cut(out, "what platform docker recorded about "+v3+":"); !ok || !strings.Contains(said, "health check unhealthy") {
		t.Errorf("the failed deploy does not say what the Docker engine recorded about %s:\n%s", v3, out)
	} else {
		t.Logf("what the Docker engine recorded about %s:%s", v3, said)
	}
	p.expectLive(v2)
	if left := p.docker("ps", "-aq", "--filter", "label=phoenix.version="+v3); left != "" {
		t.Errorf("containers of the refused version %s are left: %s", v3, left)
	}

	// 3b. A candidate that is healthy but fails every 10th request: the
	// canary analysis, reading the load balancer's access log through the
	// engine, aborts it at its first step.
	p.setEnvironment(map[string]string{"PHOENIX_FAIL_EVERY": "10"})
	v3b := p.version()
	l2 := startLoad(t, p.url(), 6, 0)
	step = time.Now()
	// Its job summary (deploy.yml: --summary $GITHUB_STEP_SUMMARY) says so.
	// It runs on a terminal, as from a laptop: its image build draws a
	// line with the time gone (the deploys above, off a terminal, none).
	summary := filepath.Join(t.TempDir(), "step-summary.md")
	code, out = p.phoenixOnTerminal("deploy", "--env", "dev", "--canary", "50", "--step-wait", "3s", "--gate-timeout", "3m", "--min-requests", "50", "--summary", summary)
	l2.stop()
	if !regexp.MustCompile(`dev\.` + v3b + `: building image \S+, \d+:\d\d gone`).MatchString(out) {
		t.Errorf("the deploy on a terminal drew no line for its image build:\n%q", out)
	} else {
		t.Logf("on a terminal, the image build's line: %q", regexp.MustCompile(`dev\.`+v3b+`: building image [^\r\n\033]*`).FindAllString(out, -1))
	}
	t.Logf("candidate %s failing 10%% of requests: exit %d in %s", v3b, code, time.Since(step).Round(100*time.Millisecond))
	if code != 3 || !strings.Contains(out, "the analysis failed "+v3b) || !strings.Contains(out, "live is still "+v2) {
		t.Errorf("deploying a version that fails 10%% of requests exited %d, want 3 with the analysis named and live still %s:\n%s", code, v2, out)
	}
	if b, err := os.ReadFile(summary); err != nil || !strings.Contains(string(b), "version `"+v3b+"`: ❌ failed") ||
		!strings.Contains(string(b), "| canary 50% | ❌ fail |") || !strings.Contains(string(b), "```mermaid\nxychart-beta") {
		t.Errorf("the failed deploy's --summary (%v):\n%s", err, b)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "canary 50%: fail") {
			t.Logf("%s", line)
		}
	}
	p.expectLive(v2)
	p.setEnvironment(nil)

	// 4. A replica removed by hand: a rollback to its version is refused as
	// drift, and live stays.
	replicas := strings.Fields(p.docker("ps", "-q", "--filter", "label=phoenix.version="+v1))
	if len(replicas) == 0 {
		t.Fatalf("no running replica of the warm version %s", v1)
	}
	p.docker("rm", "-f", replicas[0])
	code, out, _ = p.phoenix("rollback", "--env", "dev", "--to", v1)
	if code != 3 || !strings.Contains(out, "drift") {
		t.Errorf("rollback to a version missing a replica exited %d, want 3 naming the drift:\n%s", code, out)
	}
	p.expectLive(v2)

	// 5. Orphans: what carries the env's labels but no stack holds (as an
	// interrupted create leaves it) is listed by a dry run, which removes
	// nothing, and removed by gc --orphans, which touches nothing else: not
	// what an env dev of another checkout (another backend) runs on the
	// same engine. Every resource carries its owner: project and backend.
	owner := p.docker("inspect", "--format", `phoenix.project={{index .Config.Labels "phoenix.project"}} phoenix.backend={{index .Config.Labels "phoenix.backend"}}`, strings.Fields(p.docker("ps", "-q", "--filter", "label=phoenix.version="+v2))[0])
	if want := "phoenix.project=phoenix phoenix.backend=file://" + filepath.Join(p.dir, ".phoenix", "state"); owner != want {
		t.Errorf("a replica's owner labels: %q, want %q", owner, want)
	}
	mine := []string{"--label", "phoenix.env=dev"}
	for _, l := range strings.Fields(owner) {
		mine = append(mine, "--label", l)
	}
	orphanC := p.docker(append(append([]string{"create"}, mine...), "--label", "phoenix.version=v9", "--name", "dev-v9-orphan", "caddy:2.11.9-alpine")...)
	p.docker(append(append([]string{"network", "create"}, mine...), "dev-orphan-net")...)
	p.docker(append(append([]string{"volume", "create"}, mine...), "dev-orphan-vol")...)
	othersC := p.docker("create", "--label", "phoenix.env=dev", "--label", "phoenix.version=v9", "--label", "phoenix.project=phoenix",
		"--label", "phoenix.backend=file:///home/someone/else/.phoenix/state", "--name", "dev-v9-other-checkout", "caddy:2.11.9-alpine")
	code, out, _ = p.phoenix("gc", "--env", "dev", "--orphans", "--dry-run")
	if code != 0 || !strings.Contains(out, "3 orphan(s); would remove") {
		t.Errorf("gc --orphans --dry-run exited %d, want it to list the 3 planted orphans:\n%s", code, out)
	}
	for _, name := range []string{"dev-v9-orphan", "dev-orphan-net", "dev-orphan-vol"} {
		if !strings.Contains(out, name) {
			t.Errorf("the dry run does not name %s:\n%s", name, out)
		}
	}
	if got := p.docker("ps", "-aq", "--no-trunc", "--filter", "name=dev-v9-orphan"); got != orphanC {
		t.Errorf("the dry run removed the orphan container (left: %q)", got)
	}
	code, out, _ = p.phoenix("gc", "--env", "dev", "--orphans")
	if code != 0 || !strings.Contains(out, "removed:") {
		t.Errorf("gc --orphans exited %d:\n%s", code, out)
	}
	for _, what := range [][]string{
		{"ps", "-aq", "--filter", "name=dev-v9-orphan"}, {"network", "ls", "-q", "--filter", "name=dev-orphan-net"}, {"volume", "ls", "-q", "--filter", "name=dev-orphan-vol"},
	} {
		if left := p.docker(what...); left != "" {
			t.Errorf("docker %s: left after gc --orphans: %s", strings.Join(what, " "), left)
		}
	}
	if got := p.docker("ps", "-aq", "--no-trunc", "--filter", "name=dev-v9-other-checkout"); got != othersC {
		t.Errorf("gc --orphans removed another checkout's container of its env dev (left: %q)", got)
	}
	p.docker("rm", othersC)
	p.expectLive(v2)

	// 5b. A review env that disposes of itself: deployed beside dev, on a
	// port of its own, with --ttl 1s, it is destroyed by gc --expired,
	// which leaves dev alone.
	p.expectExpiredEnvDestroyed("pr-1")
	p.expectLive(v2)

	// 5c. Build once, promote everywhere: staging deployed from source,
	// then its artifact promoted to prod, both beside dev.
	p.expectPromotion()
	p.expectLive(v2)

	// 6. destroy leaves no container, network or volume of the env.
	step = time.Now()
	if code, out, _ := p.phoenix("destroy", "--env", "dev", "--yes"); code != 0 {
		t.Fatalf("destroy exited %d:\n%s", code, out)
	}
	t.Logf("destroy: %s", time.Since(step).Round(100*time.Millisecond))
	for _, what := range [][]string{
		{"ps", "-aq"}, {"network", "ls", "-q"}, {"volume", "ls", "-q"},
	} {
		args := append(what, "--filter", "label=phoenix.env=dev")
		if left := p.docker(args...); left != "" {
			t.Errorf("docker %s: left after destroy: %s", strings.Join(args, " "), left)
		}
	}
	t.Logf("end-to-end test: %s in all", time.Since(start).Round(time.Second))
}

// newProject copies the repository's files (tracked, and new ones not
// ignored) to a temp dir, with its own Pulumi home holding the plugin.
func newProject(t testing.TB, e env) *project {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("listing the project's files: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "phoenix")
	for _, name := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		info, err := os.Lstat(src)
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the work tree, or not a file
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	home := filepath.Join(t.TempDir(), "pulumi-home")
	p := &project{t: t, dir: dir, pulumi: filepath.Join(e.pulumiRoot, "bin", "pulumi"), env: append(os.Environ(),
		"PULUMI_HOME="+home,
		"PULUMI_CONFIG_PASSPHRASE=dev",
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PHOENIX_PULUMI_ROOT="+e.pulumiRoot,
	)}
	if code, out := p.run(filepath.Join(e.pulumiRoot, "bin", "pulumi"), "plugin", "install", "resource", "docker", "v4.10.0", "--file", e.plugin); code != 0 {
		t.Fatalf("installing the docker provider plugin: exit %d\n%s", code, out)
	}
	p.port = envPort(t, dir)
	return p
}

// envPort is the dev env's port. When another program holds it, the copy's
// Pulumi.dev.yaml is pointed at a free one.
func envPort(t testing.TB, dir string) int {
	t.Helper()
	cfg := filepath.Join(dir, "Pulumi.dev.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^  phoenix:port: "?(\d+)"?$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s sets no phoenix:port", cfg)
	}
	var port int
	fmt.Sscan(string(m[1]), &port)
	if ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port)); err == nil {
		ln.Close()
		return port
	}
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	free := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	t.Logf("port %d is taken on this machine: the copy's dev env uses %d", port, free)
	b = bytes.Replace(b, m[0], []byte(fmt.Sprintf("  phoenix:port: \"%d\"", free)), 1)
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return free
}

func (p *project) url() string { return fmt.Sprintf("http://127.0.0.1:%d/", p.port) }

// run runs a command in the project and returns its exit code and output.
func (p *project) run(name string, args ...string) (int, string) {
	p.t.Helper()
	code, out, _ := p.runMarked(nil, name, args...)
	return code, out
}

// runMarked is run that also returns when the output printed lines that
// match marks.
func (p *project) runMarked(marks *regexp.Regexp, name string, args ...string) (int, string, []time.Time) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = p.dir
	cmd.Env = p.env
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var out strings.Builder
	var at []time.Time
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if marks != nil && marks.MatchString(line) {
				at = append(at, time.Now())
			}
			out.WriteString(line + "\n")
		}
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), at
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), at
	default:
		p.t.Fatalf("running %s: %v", name, err)
		return -1, "", nil
	}
}

// expectJudged checks that history records the analysis that promoted
// version.
func (p *project) expectJudged(version, want string) {
	p.t.Helper()
	code, out, _ := p.phoenix("history", "--env", "dev", "--json")
	var events []struct{ Op, To, Why string }
	if err := json.Unmarshal([]byte(out), &events); code != 0 || err != nil {
		p.t.Fatalf("phoenix history --json exited %d (%v):\n%s", code, err, out)
	}
	for _, e := range events {
		if e.Op == "promote" && e.To == version {
			if !strings.Contains(e.Why, want) {
				p.t.Errorf("the promotion of %s records %q, want the analysis %q", version, e.Why, want)
			}
			p.t.Logf("promotion of %s: %s", version, e.Why)
			return
		}
	}
	p.t.Errorf("history has no promotion of %s: %s", version, out)
}

// expectLogs checks phoenix logs against the containers' real output: the
// live version's by default, a warm one's with --version and --json, and
// --follow ended by an interrupt, which exits 0.
func (p *project) expectLogs(warm, live string) {
	p.t.Helper()
	code, out, _ := p.phoenix("logs", "--env", "dev")
	if code != 0 || !strings.Contains(out, "phoenix-app "+live) {
		p.t.Errorf("phoenix logs exited %d, want the live version %s's start-up line:\n%s", code, live, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.Contains(line, " "+live+" dev-") {
			p.t.Errorf("phoenix logs line %q is not tagged with the version %s and its replica", line, live)
			break
		}
	}
	code, out, _ = p.phoenix("logs", "--env", "dev", "--version", warm, "--json")
	seen := false
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l struct{ Version, Source, Line string }
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.Version != warm {
			p.t.Errorf("phoenix logs --json line %q: %v, want JSON of version %s", line, err, warm)
			break
		}
		seen = seen || strings.Contains(l.Line, "phoenix-app "+warm)
	}
	if code != 0 || !seen {
		p.t.Errorf("phoenix logs --version %s --json exited %d without the start-up line:\n%s", warm, code, out)
	}

	// Following: once the live version's lines are out, Ctrl-C ends it
	// with exit 0.
	cmd := exec.Command(p.bin, "logs", "--env", "dev", "--follow")
	cmd.Dir, cmd.Env = p.dir, p.env
	buf := &lockedbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(buf.String(), "phoenix-app "+live) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // following by now
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if err != nil || !strings.Contains(buf.String(), "phoenix-app "+live) {
		p.t.Errorf("phoenix logs --follow, interrupted: %v, want exit 0 after the live version's lines:\n%s", err, buf.String())
	}
}

// switchLine matches the lines phoenix prints when it changes the pointer.
var switchLine = regexp.MustCompile(`^phoenix: (routing |canary: |promoting |rolling env |version .* clearing the candidate)`)

// phoenix runs the built phoenix binary.
func (p *project) phoenix(args ...string) (int, string, []time.Time) {
	p.t.Helper()
	return p.runMarked(switchLine, p.bin, args...)
}

// phoenixOnTerminal runs phoenix with its output on a terminal (a pty
// that script(1) makes), as a user on a laptop does; what the terminal
// got is returned as written, redrawn lines and all.
func (p *project) phoenixOnTerminal(args ...string) (int, string) {
	p.t.Helper()
	line := shellQuote(p.bin)
	for _, a := range args {
		line += " " + shellQuote(a)
	}
	saved := p.env
	defer func() { p.env = saved }()
	// The ticker's estimates are kept in the user's cache folder: the
	// test's own, not the machine's.
	p.env = append(slices.Clone(saved), "NO_COLOR=1", "XDG_CACHE_HOME="+p.t.TempDir())
	code, out, _ := p.runMarked(nil, "script", "-qfec", line, "/dev/null")
	return code, out
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// expectRedactedPreview runs phoenix preview of version without the
// passphrase, as preview.yml does, and expects a redacted plan without
// violations, no change of the env's edge but to its pointer (the route
// key's writer, which holds the key, is not compared), and not key in its
// output.
func (p *project) expectRedactedPreview(version, key string) {
	p.t.Helper()
	saved := p.env
	defer func() { p.env = saved }()
	p.env = nil
	for _, kv := range saved {
		if !strings.HasPrefix(kv, "PULUMI_CONFIG_PASSPHRASE=") {
			p.env = append(p.env, kv)
		}
	}
	code, out := p.run(p.bin, "preview", "--env", "dev", "--version", version, "--json")
	var plan struct {
		Redacted   bool
		Violations []struct{ Rule, Resource string }
		Stacks     []struct {
			Stack string
			Steps []struct {
				Op, Type, Name      string
				Diffs               []string
				Pointer, Uncompared bool
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil || code != 0 || !plan.Redacted || len(plan.Violations) != 0 {
		p.t.Errorf("preview --version %s without the passphrase exited %d, want 0 with a redacted plan and no violations (%v):\n%s", version, code, err, out)
		return
	}
	for _, sp := range plan.Stacks {
		for _, st := range sp.Steps {
			p.t.Logf("preview without the passphrase: %s: %s %s %s %v (not compared: %v)", sp.Stack, st.Op, st.Type, st.Name, st.Diffs, st.Uncompared)
			if sp.Stack == "dev" && !st.Pointer && !st.Uncompared {
				p.t.Errorf("the preview plans a change of the env's edge: %s %s %v", st.Op, st.Name, st.Diffs)
			}
			if st.Name == "dev-lb" {
				p.t.Errorf("the preview lists the load balancer (%s, not compared: %v): its state holds no secret and it is unchanged", st.Op, st.Uncompared)
			}
		}
	}
	if strings.Contains(out, key) {
		p.t.Errorf("the preview printed the route key")
	}
}

// addEnv writes the config file of another env beside dev: dev's, on a
// free port of its own, which it returns.
func (p *project) addEnv(env string) int {
	p.t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, "Pulumi.dev.yaml"))
	if err != nil {
		p.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		p.t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// The file may have been rewritten (setEnvironment): any indentation.
	line := regexp.MustCompile(`(?m)^(\s+phoenix:port:\s*)"?\d+"?\s*$`)
	if !line.Match(b) {
		p.t.Fatalf("Pulumi.dev.yaml sets no phoenix:port:\n%s", b)
	}
	b = line.ReplaceAll(b, []byte(fmt.Sprintf("${1}\"%d\"", port)))
	if err := os.WriteFile(filepath.Join(p.dir, "Pulumi."+env+".yaml"), b, 0o644); err != nil {
		p.t.Fatal(err)
	}
	return port
}

// expectExpiredEnvDestroyed deploys env beside dev with --ttl 1s and
// expects gc --expired to destroy it, all of it.
func (p *project) expectExpiredEnvDestroyed(env string) {
	p.t.Helper()
	p.addEnv(env)
	step := time.Now()
	code, out, _ := p.phoenix("deploy", "--env", env, "--ttl", "1s", "--gate-timeout", "2m")
	p.t.Logf("phoenix deploy --env %s --ttl 1s: exit %d in %s", env, code, time.Since(step).Round(100*time.Millisecond))
	if code != 0 {
		p.t.Fatalf("deploying the review env %s exited %d:\n%s", env, code, out)
	}
	if p.docker("ps", "-q", "--filter", "label=phoenix.env="+env) == "" {
		p.t.Fatalf("no container of the review env %s runs", env)
	}
	time.Sleep(time.Until(step.Add(1500 * time.Millisecond)))
	code, out, _ = p.phoenix("gc", "--expired")
	if code != 0 || !strings.Contains(out, "env "+env+" expired at") || !strings.Contains(out, ": destroyed") || strings.Contains(out, "env dev ") {
		p.t.Errorf("gc --expired exited %d, want %s alone destroyed:\n%s", code, env, out)
	}
	for _, what := range [][]string{
		{"ps", "-aq", "--filter", "label=phoenix.env=" + env},
		{"network", "ls", "-q", "--filter", "label=phoenix.env=" + env},
		{"volume", "ls", "-q", "--filter", "label=phoenix.env=" + env},
	} {
		if left := p.docker(what...); left != "" {
			p.t.Errorf("docker %s: left after gc --expired: %s", strings.Join(what, " "), left)
		}
	}
}

// expectPromotion deploys staging from source and promotes its live
// version to prod, twice: the first makes both envs, the second runs a
// change of the app through both, the promotion timed beside staging's
// deploy with its build. Prod must run the very image staging runs, built
// by nobody in between, and answer with a version id of its own. Then
// both envs are destroyed.
func (p *project) expectPromotion() {
	p.t.Helper()
	stagingPort, prodPort := p.addEnv("staging"), p.addEnv("prod")
	p.promotionRound(stagingPort, prodPort, false)
	// Side by side: staging and prod run one artifact, deployed with one
	// program.
	var envs struct {
		SameArtifact, SameProgram bool
		Envs                      []struct{ Env, Live string }
	}
	if _, out := p.timed("envs", "--json"); jsonOf(out, &envs) != nil || !envs.SameArtifact || !envs.SameProgram || len(envs.Envs) != 3 {
		p.t.Errorf("envs --json: %+v, want dev, prod and staging with one artifact and one program:\n%s", envs, out)
	}

	// A change of the app, through staging (built) and then prod (promoted),
	// both envs there already.
	p.editApp("// promoted from staging to prod by the end-to-end test\n")
	deploy, promote := p.promotionRound(stagingPort, prodPort, true)
	p.t.Logf("promotion staging -> prod: %s; staging's deploy of the same change, with its build: %s; ratio %.2f (target <= 0.5)",
		promote.Round(100*time.Millisecond), deploy.Round(100*time.Millisecond), promote.Seconds()/deploy.Seconds())
	p.timed("destroy", "--env", "prod", "--yes")
	p.timed("destroy", "--env", "staging", "--yes")
}

// timed runs phoenix with args, logs how long it took, and fails the
// test when it exits non-zero.
func (p *project) timed(args ...string) (time.Duration, string) {
	p.t.Helper()
	start := time.Now()
	code, out, _ := p.phoenix(args...)
	took := time.Since(start)
	p.t.Logf("phoenix %s: exit %d in %s", strings.Join(args, " "), code, took.Round(100*time.Millisecond))
	if code != 0 {
		p.t.Fatalf("phoenix %s exited %d:\n%s", strings.Join(args, " "), code, out)
	}
	return took, out
}

// traced logs the Pulumi runs that PHOENIX_TRACE_PULUMI printed in
// out: what each step's time went to.
func (p *project) traced(what, out string) {
	p.t.Helper()
	var runs []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "phoenix: pulumi ") {
			runs = append(runs, strings.TrimPrefix(l, "phoenix: "))
		}
	}
	p.t.Logf("%s ran Pulumi %d times:\n  %s", what, len(runs), strings.Join(runs, "\n  "))
}

// promotionRound deploys staging from source and promotes its live
// version to prod (on the ports given), and checks that prod runs the
// very image staging runs, built by nobody in between, under a version id
// of its own. It returns how long the deploy and the promotion took;
// trace logs their Pulumi runs.
func (p *project) promotionRound(stagingPort, prodPort int, trace bool) (deploy, promote time.Duration) {
	p.t.Helper()
	if trace {
		saved := p.env
		defer func() { p.env = saved }()
		p.env = append(slices.Clone(saved), "PHOENIX_TRACE_PULUMI=1")
	}
	deploy, out := p.timed("deploy", "--env", "staging", "--gate-timeout", "2m", "--verbose")
	if _, steps, ok := strings.Cut(out, "steps: "); ok {
		p.t.Logf("staging's deploy, %s", strings.TrimSpace(steps))
	}
	if trace {
		p.traced("staging's deploy", out)
	}
	var staging struct{ Live string }
	if _, out := p.timed("status", "--env", "staging", "--json"); jsonOf(out, &staging) != nil || staging.Live == "" {
		p.t.Fatalf("status of staging: %s", out)
	}
	stagingImage := p.docker("inspect", "--format", "{{.Image}}", strings.Fields(p.docker("ps", "-q", "--filter", "label=phoenix.env=staging", "--filter", "label=phoenix.version="+staging.Live))[0])

	promote, out = p.timed("promote", "--from", "staging", "--to", "prod", "--gate-timeout", "2m", "--json")
	var res struct {
		Version, From, Image string
		Timings              []struct {
			Step    string
			Seconds float64
		}
	}
	if err := jsonOf(out, &res); err != nil || res.From != "staging."+staging.Live || res.Version == "" || res.Version == staging.Live {
		p.t.Fatalf("promote --json: %+v (%v), want staging.%s promoted as a version of prod's own:\n%s", res, err, staging.Live, out)
	}
	var steps []string
	for _, s := range res.Timings {
		steps = append(steps, fmt.Sprintf("%s %.1fs", s.Step, s.Seconds))
	}
	p.t.Logf("the promotion's steps: %s", strings.Join(steps, ", "))
	if trace {
		p.traced("the promotion", out)
	}
	p.expectLiveAt(prodPort, res.Version)
	p.expectLiveAt(stagingPort, staging.Live)
	// Prod runs staging's image: the same id, in every replica.
	replicas := strings.Fields(p.docker("ps", "-q", "--filter", "label=phoenix.env=prod", "--filter", "label=phoenix.version="+res.Version))
	if len(replicas) == 0 {
		p.t.Fatalf("no replica of prod.%s runs", res.Version)
	}
	for _, r := range replicas {
		if got := p.docker("inspect", "--format", "{{.Image}}", r); got != stagingImage || res.Image != stagingImage {
			p.t.Errorf("prod's replica %s runs image %s (promote said %s), want staging's %s", r, got, res.Image, stagingImage)
		}
	}
	// Nothing was built for prod: a build would have tagged the app's
	// image for prod (phoenix-prod:<version>), as staging's is.
	if built := p.docker("images", "-q", "phoenix-prod"); built != "" {
		p.t.Errorf("an app image was built for prod: %s", built)
	}
	if p.docker("images", "-q", "phoenix-staging:"+staging.Live) == "" {
		p.t.Errorf("staging's build left no image phoenix-staging:%s: the check above would prove nothing", staging.Live)
	}
	return deploy, promote
}

// jsonOf decodes the one JSON document in a command's output, which
// starts at a line of its own after the progress lines.
func jsonOf(out string, v any) error {
	i := strings.Index(out, "\n{")
	if strings.HasPrefix(out, "{") {
		i = -1
	} else if i < 0 {
		return fmt.Errorf("no JSON document in the output")
	}
	return json.NewDecoder(strings.NewReader(out[i+1:])).Decode(v)
}

// build builds the phoenix binary from the copy.
func (p *project) build() {
	p.t.Helper()
	p.bin = filepath.Join(p.t.TempDir(), "phoenix")
	if code, out := p.run("go", "build", "-o", p.bin, "./cmd/phoenix"); code != 0 {
		p.t.Fatalf("building phoenix: %s", out)
	}
}

// version is the version id phoenix computes for the dev env now.
func (p *project) version() string {
	p.t.Helper()
	bin := p.bin
	args := []string{"version", "--env", "dev"}
	if bin == "" {
		bin, args = "go", append([]string{"run", "./cmd/phoenix"}, args...)
	}
	code, out := p.run(bin, args...)
	// go run may first say what it downloads (a cold module cache):
	// the version is the last line.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	v := lines[len(lines)-1]
	if code != 0 || !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(v) {
		p.t.Fatalf("phoenix version exited %d: %q", code, out)
	}
	return v
}

// editApp appends text to the app's source: a new version.
func (p *project) editApp(text string) {
	p.t.Helper()
	f, err := os.OpenFile(filepath.Join(p.dir, "app", "main.go"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		p.t.Fatal(err)
	}
}

// setEnvironment sets (or, given nil, removes) phoenix:environment in the
// copy's Pulumi.dev.yaml, which Pulumi also writes to (its encryption salt).
func (p *project) setEnvironment(vars map[string]string) {
	p.t.Helper()
	cfg := filepath.Join(p.dir, "Pulumi.dev.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		p.t.Fatal(err)
	}
	var config *yaml.Node
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "config" {
			config = root.Content[i+1]
		}
	}
	if config == nil {
		p.t.Fatalf("%s has no config section", cfg)
	}
	const key = "phoenix:environment"
	for i := 0; i+1 < len(config.Content); i += 2 {
		if config.Content[i].Value == key {
			config.Content = append(config.Content[:i], config.Content[i+2:]...)
			break
		}
	}
	if vars != nil {
		var value yaml.Node
		if err := value.Encode(vars); err != nil {
			p.t.Fatal(err)
		}
		config.Content = append(config.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, &value)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(cfg, out, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// docker runs the docker CLI and returns its trimmed output.
func (p *project) docker(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// expectLive checks that dev's port answers with version, five times.
func (p *project) expectLive(version string) {
	p.t.Helper()
	p.expectLiveAt(p.port, version)
}

// expectLiveAt checks that port answers with version, five times.
func (p *project) expectLiveAt(port int, version string) {
	p.t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < 5; i++ {
		resp, err := c.Get(url)
		if err != nil {
			p.t.Fatalf("GET %s: %v", url, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("X-Phoenix-Version"); resp.StatusCode != http.StatusOK || got != version {
			p.t.Fatalf("GET %s: %s from version %q, want 200 from %s", url, resp.Status, got, version)
		}
	}
}

// routeKey reads the env's route key with the Pulumi CLI, as the README
// says.
func (p *project) routeKey() string {
	p.t.Helper()
	code, out := p.run("env", "PULUMI_BACKEND_URL=file://"+filepath.Join(p.dir, ".phoenix", "state"),
		p.pulumi, "stack", "output", "routeKey", "--show-secrets", "-s", "dev")
	key := regexp.MustCompile(`(?m)^[0-9a-f]{32}$`).FindString(out)
	if code != 0 || key == "" {
		p.t.Fatalf("pulumi stack output routeKey --show-secrets -s dev: exit %d, no key:\n%s", code, out)
	}
	return key
}

// answerer returns the version that answers a request to the env's port
// with the headers given (an empty value is left out).
func (p *project) answerer(headers map[string]string) string {
	p.t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.url(), nil)
	if err != nil {
		p.t.Fatal(err)
	}
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		p.t.Fatalf("GET %s: %v", p.url(), err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		p.t.Fatalf("GET %s with %v: %s", p.url(), headers, resp.Status)
	}
	return resp.Header.Get("X-Phoenix-Version")
}

// load sends requests to the env's port until stopped: keep-alive clients
// that reuse their connections and clients that open a new connection per
// request, as browsers and scripts do.
type load struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []result
}

type result struct {
	at        time.Time
	latency   time.Duration
	version   string
	err       string // empty when the answer was a 200
	keepAlive bool   // sent on a reused connection's client
}

func startLoad(t *testing.T, url string, keepAlive, perRequest int) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel}
	shared := &http.Transport{MaxIdleConnsPerHost: keepAlive}
	worker := func(c *http.Client, keepAlive bool) {
		defer l.wg.Done()
		for ctx.Err() == nil {
			r := result{at: time.Now(), keepAlive: keepAlive}
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			resp, err := c.Do(req)
			r.latency = time.Since(r.at)
			if err != nil {
				r.err = err.Error()
			} else {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				r.version = resp.Header.Get("X-Phoenix-Version")
				if resp.StatusCode != http.StatusOK {
					r.err = resp.Status
				}
			}
			l.mu.Lock()
			l.results = append(l.results, r)
			l.mu.Unlock()
			// A short pause leaves the CPU to the image builds that a
			// deploy runs on the same two cores.
			time.Sleep(5 * time.Millisecond)
		}
	}
	for i := 0; i < keepAlive; i++ {
		l.wg.Add(1)
		go worker(&http.Client{Timeout: 10 * time.Second, Transport: shared}, true)
	}
	for i := 0; i < perRequest; i++ {
		l.wg.Add(1)
		go worker(&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}, false)
	}
	return l
}

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// report sums up the results. A request counts as during a switch when it
// started within window after a pointer change began.
type report struct {
	total, failed, wrong, switches int
	steady, switching              []time.Duration
	failures                       []string
}

func (l *load) report(switches []time.Time, window time.Duration, allowed map[string]bool) report {
	l.mu.Lock()
	defer l.mu.Unlock()
	rep := report{switches: len(switches)}
	for _, r := range l.results {
		rep.total++
		during := false
		for _, s := range switches {
			if !r.at.Before(s) && r.at.Before(s.Add(window)) {
				during = true
			}
		}
		kind := "new connection"
		if r.keepAlive {
			kind = "keep-alive"
		}
		switch {
		case r.err != "":
			rep.failed++
			rep.failures = append(rep.failures, fmt.Sprintf("%s %s, during a switch: %v: %s", r.at.Format("15:04:05.000"), kind, during, r.err))
		case !allowed[r.version]:
			rep.wrong++
			rep.failures = append(rep.failures, fmt.Sprintf("%s: answered by version %q", r.at.Format("15:04:05.000"), r.version))
		}
		if during {
			rep.switching = append(rep.switching, r.latency)
		} else {
			rep.steady = append(rep.steady, r.latency)
		}
	}
	return rep
}

func (r report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d switches; production: %d requests, %d failed, %d from a version that should not serve\n",
		r.switches, r.total, r.failed, r.wrong)
	fmt.Fprintf(&b, "latency steady: p50 %s p99 %s (%d requests); during switches: p50 %s p99 %s (%d requests)",
		pct(r.steady, 50), pct(r.steady, 99), len(r.steady), pct(r.switching, 50), pct(r.switching, 99), len(r.switching))
	for i, f := range r.failures {
		if i == 20 {
			fmt.Fprintf(&b, "\n... and %d more", len(r.failures)-20)
			break
		}
		b.WriteString("\nfailed: " + f)
	}
	return b.String()
}

// pct returns the p-th percentile of ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[i].Round(10 * time.Microsecond)
}
