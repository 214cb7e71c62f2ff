package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLaptopPath: the README's "By hand, with plain pulumi" block, line by
// line and verbatim, with the Pulumi CLI as a user types it (no Automation
// API) and the Go language host that make tools builds next to it: an
// env, a version, traffic pointed at it, a preview of a change. Then what
// phoenix does on top of stacks plain pulumi made, a plain pulumi up of
// the env that keeps the traffic where it is, a plain destroy, and bad
// input that the program refuses.
func TestLaptopPath(t *testing.T) {
	e := needEnv(t)
	makeBaseImages(t, e.caddy, e.gocache)
	p := newProject(t, e)
	host := filepath.Join(e.pulumiRoot, "bin", "pulumi-language-go")
	if _, err := os.Stat(host); err != nil {
		t.Fatalf("no Go language host next to the Pulumi CLI (make tools builds it): %v", err)
	}
	t.Logf("Go language host: %s (phoenix's test build, tools/language-go; users have the official one)", host)
	p.env = append(p.env, "PATH="+filepath.Join(e.pulumiRoot, "bin")+":"+os.Getenv("PATH"))

	readme, err := os.ReadFile(filepath.Join(p.dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)<!-- by-hand -->\n```sh\n(.*?)```").FindSubmatch(readme)
	if block == nil {
		t.Fatal("the README has no by-hand block (<!-- by-hand --> then a sh block)")
	}
	var exports []string
	sh := func(line string) (int, string) {
		t.Helper()
		start := time.Now()
		script := strings.Join(append(append([]string{}, exports...), line), "\n")
		code, out := p.run("bash", "-c", script)
		t.Logf("$ %s\nexit %d in %s", line, code, time.Since(start).Round(100*time.Millisecond))
		return code, out
	}
	for _, line := range strings.Split(strings.TrimSpace(string(block[1])), "\n") {
		switch {
		case strings.HasPrefix(line, "export "):
			exports = append(exports, line)
			continue
		case strings.HasPrefix(line, "curl "):
			// The copy's env may have moved off 8080 (envPort).
			line = strings.Replace(line, "localhost:8080", "localhost:"+strconv.Itoa(p.port), 1)
		case strings.HasPrefix(line, "pulumi preview"):
			// "after a change": the change, then the preview.
			p.editApp("// changed by the laptop path test\n")
		}
		code, out := sh(line)
		if code != 0 {
			t.Fatalf("README by-hand line exited %d:\n$ %s\n%s", code, line, out)
		}
		switch {
		case strings.HasPrefix(line, "curl "):
			if !strings.Contains(out, "X-Phoenix-Version: v1") {
				t.Errorf("curl: not answered by v1:\n%s", out)
			}
		case strings.HasPrefix(line, "pulumi preview"):
			if !regexp.MustCompile(`\d+ to replace`).MatchString(out) || regexp.MustCompile(`\d+ to update`).MatchString(out) {
				t.Errorf("preview of version dev.v1 after a change: want replacements and no update\n%s", out)
			}
		}
	}
	p.expectLive("v1")
	cfg, err := os.ReadFile(filepath.Join(p.dir, "Pulumi.dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`phoenix:(live|candidate|candidateWeight|expectTraffic):`).Match(cfg) {
		t.Errorf("Pulumi.dev.yaml holds traffic keys after the README's commands:\n%s", cfg)
	}

	// A plain up of the env keeps production where it is.
	if code, out := sh("pulumi up -s dev --yes"); code != 0 {
		t.Fatalf("plain pulumi up -s dev: exit %d\n%s", code, out)
	}
	p.expectLive("v1")

	// Bad input: the program refuses it, and v1 keeps serving, from the
	// same containers.
	before := p.docker("ps", "-q", "--filter", "label=phoenix.version=v1")
	for _, bad := range []struct{ line, want string }{
		{"pulumi stack init dev.NOT_A_VERSION && pulumi up -s dev.NOT_A_VERSION --config-file Pulumi.dev.yaml --yes", "NOT_A_VERSION"},
		// The app was changed for the preview above: v1, live, is not
		// rebuilt in place.
		{"pulumi up -s dev.v1 --config-file Pulumi.dev.yaml --yes", "was built from other app sources"},
	} {
		code, out := sh(bad.line)
		t.Logf("refused as:\n%s", linesWith(out, bad.want))
		if code == 0 || !strings.Contains(out, bad.want) {
			t.Errorf("$ %s: exit %d, want a refusal naming %q\n%s", bad.line, code, bad.want, out)
		}
		p.expectLive("v1")
	}
	// A version stack without --config-file, where the env's file sets
	// something else than the project's defaults: refused by the program.
	envFile := filepath.Join(p.dir, "Pulumi.dev.yaml")
	orig, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	three := strings.Replace(string(orig), `phoenix:replicas: "2"`, `phoenix:replicas: "3"`, 1)
	if three == string(orig) {
		t.Fatalf("Pulumi.dev.yaml sets no phoenix:replicas \"2\":\n%s", orig)
	}
	if err := os.WriteFile(envFile, []byte(three), 0o644); err != nil {
		t.Fatal(err)
	}
	line := "pulumi stack init dev.v9 && pulumi up -s dev.v9 --yes"
	code, out := sh(line)
	t.Logf("refused as:\n%s", lastLines(out, 6))
	if code == 0 || !strings.Contains(out, "--config-file Pulumi.dev.yaml") || !strings.Contains(out, "phoenix:replicas") {
		t.Errorf("$ %s: exit %d, want a refusal naming phoenix:replicas and --config-file Pulumi.dev.yaml\n%s", line, code, out)
	}
	if err := os.WriteFile(envFile, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	p.expectLive("v1")
	if after := p.docker("ps", "-q", "--filter", "label=phoenix.version=v1"); after != before || before == "" {
		t.Errorf("v1's containers were %q, are %q after the refused commands", before, after)
	}

	// phoenix on top of what plain pulumi made.
	p.build()
	code, out, _ = p.phoenix("status", "--env", "dev")
	if code != 0 || !strings.Contains(out, "v1") {
		t.Fatalf("phoenix status on stacks plain pulumi made: exit %d\n%s", code, out)
	}
	v2 := p.version()
	if code, out, _ := p.phoenix("deploy", "--env", "dev", "--gate-timeout", "3m"); code != 0 {
		t.Fatalf("phoenix deploy on stacks plain pulumi made: exit %d\n%s", code, out)
	}
	p.expectLive(v2)

	// A plain destroy of the version plain pulumi made, now previous,
	// kept warm by phoenix until then.
	if p.docker("ps", "-q", "--filter", "label=phoenix.version=v1") == "" {
		t.Errorf("phoenix's deploy removed v1, its previous version")
	}
	if code, out := sh("pulumi destroy -s dev.v1 --config-file Pulumi.dev.yaml --yes"); code != 0 {
		t.Fatalf("plain pulumi destroy -s dev.v1: exit %d\n%s", code, out)
	}
	if left := p.docker("ps", "-aq", "--filter", "label=phoenix.version=v1"); left != "" {
		t.Errorf("containers of v1 left after pulumi destroy: %s", left)
	}
	p.expectLive(v2)

	p.costs(sh)

	if code, out, _ := p.phoenix("destroy", "--env", "dev", "--yes"); code != 0 {
		t.Fatalf("phoenix destroy: exit %d\n%s", code, out)
	}
}

// costs prints what phoenix costs on top of plain pulumi on the real
// engine, each change made both ways in one run: a new version (a version
// stack and the pointer moved to it), a pointer change (a forced
// rollback, and a verified one), and the time from deploy's "is live"
// line to the first request the new version answered (negative: it
// answered before phoenix said so). Figures, not assertions: the test
// machine's load moves them.
func (p *project) costs(sh func(string) (int, string)) {
	t := p.t
	t.Helper()
	timedSh := func(line string) time.Duration {
		t.Helper()
		start := time.Now()
		if code, out := sh(line); code != 0 {
			t.Fatalf("$ %s: exit %d\n%s", line, code, out)
		}
		return time.Since(start)
	}
	pointer := func(v string) time.Duration {
		return timedSh("cp Pulumi.dev.yaml .phoenix/traffic.yaml && pulumi up -s dev --config-file .phoenix/traffic.yaml --config phoenix:live=" + v + " --config phoenix:candidate=" + v + " --yes")
	}
	steps := regexp.MustCompile(`steps: (.*)`)
	phoenix := func(args ...string) (time.Duration, string, []time.Time) {
		t.Helper()
		start := time.Now()
		code, out, marks := p.runMarked(regexp.MustCompile(` is live in env `), p.bin, append(args, "--verbose")...)
		took := time.Since(start)
		t.Logf("phoenix %s: exit %d in %s", strings.Join(args, " "), code, took.Round(100*time.Millisecond))
		if code != 0 {
			t.Fatalf("phoenix %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		if m := steps.FindStringSubmatch(out); m != nil {
			t.Logf("  steps: %s", m[1])
		}
		return took, out, marks
	}

	// A new version: plain, a version stack and the pointer; phoenix, a
	// deploy. Each builds a change of the app.
	p.editApp("// a change deployed with plain pulumi\n")
	plainDeploy := timedSh("pulumi stack init dev.v3 && pulumi up -s dev.v3 --config-file Pulumi.dev.yaml --yes") + pointer("v3")
	p.expectLive("v3")
	p.editApp("// a change deployed with phoenix\n")
	v4 := p.version()
	first := make(chan time.Time, 1)
	stop := make(chan struct{})
	go func() {
		c := &http.Client{Timeout: 2 * time.Second}
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			resp, err := c.Get(p.url())
			if err != nil {
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.Header.Get("X-Phoenix-Version") == v4 {
				first <- time.Now()
				return
			}
		}
	}()
	deploy, out, marks := phoenix("deploy", "--env", "dev", "--gate-timeout", "3m")
	close(stop)
	p.expectLive(v4)
	gate := 0.0
	if m := regexp.MustCompile(`candidate ([\d.]+)s`).FindStringSubmatch(out); m != nil {
		gate, _ = strconv.ParseFloat(m[1], 64)
	}
	t.Logf("new version: phoenix deploy %s, plain pulumi (stack init, up of the version, up of the env) %s: ratio %.2f (target <= 1.2 plus the gate's wait); without the candidate step (%.1fs: routing and the health gate) %.2f",
		deploy.Round(100*time.Millisecond), plainDeploy.Round(100*time.Millisecond), deploy.Seconds()/plainDeploy.Seconds(), gate, (deploy.Seconds()-gate)/plainDeploy.Seconds())
	select {
	case at := <-first:
		if len(marks) == 0 {
			t.Errorf("phoenix deploy printed no \"is live in env\" line:\n%s", out)
		} else {
			t.Logf("from \"is live\" printed to the first request answered by %s: %s (target <= 0: served before it is said)", v4, at.Sub(marks[0]).Round(time.Millisecond))
		}
	default:
		t.Errorf("no request was answered by %s while it was deployed", v4)
	}

	// The pointer alone: plain, twice (there and back); phoenix, a forced
	// rollback and a verified one.
	plain := (pointer("v3") + pointer(v4)) / 2
	forced, _, _ := phoenix("rollback", "--env", "dev", "--to", "v3", "--force")
	p.expectLive("v3")
	verified, _, _ := phoenix("rollback", "--env", "dev", "--to", v4)
	p.expectLive(v4)
	t.Logf("pointer change: plain pulumi up of the env %s; phoenix rollback --force %s: ratio %.2f (target <= 1.3); verified rollback %s: ratio %.2f (target <= 2.0)",
		plain.Round(100*time.Millisecond), forced.Round(100*time.Millisecond), forced.Seconds()/plain.Seconds(), verified.Round(100*time.Millisecond), verified.Seconds()/plain.Seconds())
	// What each plain pulumi up spends before the engine starts: the
	// language host builds the program (as the official one does).
	start := time.Now()
	if code, out := p.run("go", "build", "-o", filepath.Join(t.TempDir(), "program"), "."); code != 0 {
		t.Fatalf("go build of the program: exit %d\n%s", code, out)
	}
	t.Logf("of each plain pulumi up, the Go program's build (go build ., warm cache): %s; phoenix runs the program in its own process", time.Since(start).Round(100*time.Millisecond))
}

// linesWith is the lines of out that contain want (the program's message
// among the CLI's own output), else its last lines.
func linesWith(out, want string) string {
	var with []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, want) {
			with = append(with, l)
		}
	}
	if len(with) == 0 {
		return lastLines(out, 6)
	}
	return strings.Join(with, "\n")
}

// lastLines is the last n lines of out.
func lastLines(out string, n int) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
