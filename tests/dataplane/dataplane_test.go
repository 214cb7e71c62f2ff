// Package dataplane proves the docker platform's promise with the real load
// balancer: Caddy, started with --watch on the exact configuration the
// docker platform renders (caddyconfig.Render), in front of real processes
// of the sample app, under load while the configuration is rewritten for
// cut-overs, canary steps and rollbacks. Not one request may fail.
package dataplane

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/components/caddyconfig"
	"github.com/phoenix-iac/phoenix/components/dockeredge"
	"github.com/phoenix-iac/phoenix/internal/header"
	"github.com/phoenix-iac/phoenix/stacks"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// caddyBinary returns the Caddy the tools module builds; the test fails,
// never skips, without it.
func caddyBinary(t testing.TB) string {
	p := os.Getenv("PHOENIX_CADDY")
	if p == "" {
		p = filepath.Join(repoRoot(), ".bin", "caddy")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("Caddy is not at %s: build it with `make tools` (or set PHOENIX_CADDY)", p)
	}
	return p
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// buildApp compiles the sample app once per test binary.
var (
	appOnce sync.Once
	appPath string
	appErr  error
)

func buildApp(t testing.TB) string {
	appOnce.Do(func() {
		dir, err := os.MkdirTemp("", "phoenix-app-")
		if err != nil {
			appErr = err
			return
		}
		appPath = filepath.Join(dir, "phoenix-app")
		cmd := exec.Command("go", "build", "-o", appPath, ".")
		cmd.Dir = filepath.Join(repoRoot(), "app")
		if out, err := cmd.CombinedOutput(); err != nil {
			appErr = fmt.Errorf("building the app: %v\n%s", err, out)
		}
	})
	if appErr != nil {
		t.Fatal(appErr)
	}
	return appPath
}

// buildLauncher compiles phoenix-lb (lb/), the docker platform's launcher.
func buildLauncher(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "phoenix-lb")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = filepath.Join(repoRoot(), "lb")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building phoenix-lb: %v\n%s", err, b)
	}
	return out
}

// replica is one running app process.
type replica struct {
	addr string
	cmd  *exec.Cmd
}

// startVersion starts n replicas of the app as version v.
func startVersion(t testing.TB, v string, n int, unhealthy bool, env ...string) []*replica {
	t.Helper()
	bin := buildApp(t)
	var out []*replica
	for range n {
		port := freePort(t)
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "PHOENIX_ENV=dev", "PHOENIX_VERSION="+v,
			fmt.Sprintf("PHOENIX_UNHEALTHY=%v", unhealthy))
		cmd.Env = append(cmd.Env, env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := &replica{addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd}
		t.Cleanup(func() { r.kill() })
		waitListening(t, r.addr)
		out = append(out, r)
	}
	return out
}

func (r *replica) kill() {
	if r.cmd.Process != nil {
		r.cmd.Process.Signal(syscall.SIGKILL)
		r.cmd.Wait()
	}
}

func waitListening(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

func pool(v string, rs []*replica) *caddyconfig.Pool {
	p := &caddyconfig.Pool{Version: v}
	for _, r := range rs {
		p.Addresses = append(p.Addresses, r.addr)
	}
	return p
}

// lb is a running Caddy and the file it watches.
type lb struct {
	listen string // as Caddy's config names it
	addr   string // where clients connect
	config string
	log    string // Caddy's output: its access log on stdout, the rest on stderr
	cmd    *exec.Cmd
}

// setSysctls applies the load balancer container's network settings
// (dockeredge.LoadBalancerSysctls), which phoenix-lb relies on, for the
// test's duration.
func setSysctls(t testing.TB) {
	t.Helper()
	for key, want := range dockeredge.LoadBalancerSysctls {
		path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("reading %s: %v (the kernel needs to be 5.14 or newer)", path, err)
		}
		if strings.TrimSpace(string(old)) == want {
			continue
		}
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatalf("setting %s=%s, as the docker platform does on its load balancer's container: %v; run the test as root, or run: sysctl -w %s=%s", key, want, err, key, want)
		}
		t.Cleanup(func() { os.WriteFile(path, old, 0o644) })
	}
}

func startCaddy(t testing.TB, spec caddyconfig.Spec) *lb {
	t.Helper()
	setSysctls(t)
	dir := t.TempDir()
	// Caddy runs under phoenix-lb, the docker platform's launcher, which
	// owns the listening sockets and loads each config (see lb/main.go).
	port := freePort(t)
	l := &lb{listen: caddyconfig.InheritedListener, addr: fmt.Sprintf("127.0.0.1:%d", port), config: filepath.Join(dir, "caddy.json")}
	l.write(t, spec)
	l.cmd = exec.Command(buildLauncher(t), "-listen", l.addr, "-config", l.config, "-caddy", caddyBinary(t))
	l.log = filepath.Join(dir, "caddy.log")
	logf, err := os.Create(l.log)
	if err != nil {
		t.Fatal(err)
	}
	l.cmd.Stdout, l.cmd.Stderr = logf, logf
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.cmd.Process.Signal(syscall.SIGTERM)
		l.cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("caddy log (last 4000 bytes):\n%s", tail(string(b), 4000))
		}
	})
	waitListening(t, l.addr)
	return l
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// write renders spec with the platform's renderer and replaces the watched
// file atomically, as the docker platform's traffic pointer does.
func (l *lb) write(t testing.TB, spec caddyconfig.Spec) {
	t.Helper()
	spec.Env, spec.Listen, spec.HealthPath = "dev", l.listen, "/healthz"
	b, err := caddyconfig.Render(spec)
	if err != nil {
		t.Fatal(err)
	}
	tmp := l.config + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, l.config); err != nil {
		t.Fatal(err)
	}
}

// sample is one request's outcome.
type sample struct {
	at      time.Time
	latency time.Duration
	version string
	status  int
	err     string
	fresh   bool // sent on a new connection
}

// load sends requests from workers clients until stopped: keep-alive
// clients that reuse their connections, or clients that open a new
// connection for every request.
type load struct {
	mu      sync.Mutex
	samples []sample
	stop    chan struct{}
	wg      sync.WaitGroup
	header  http.Header
}

func startLoad(url string, workers int, header http.Header, newConnPerRequest bool) *load {
	ld := &load{stop: make(chan struct{}), header: header}
	for range workers {
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableKeepAlives: newConnPerRequest}}
			for {
				select {
				case <-ld.stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				for k, v := range header {
					req.Header[k] = v
				}
				start := time.Now()
				resp, err := client.Do(req)
				s := sample{at: start, latency: time.Since(start), fresh: newConnPerRequest}
				if err != nil {
					s.err = err.Error()
				} else {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					s.status, s.version = resp.StatusCode, resp.Header.Get("X-Phoenix-Version")
				}
				ld.mu.Lock()
				ld.samples = append(ld.samples, s)
				ld.mu.Unlock()
			}
		}()
	}
	return ld
}

func (ld *load) finish() []sample {
	close(ld.stop)
	ld.wg.Wait()
	return ld.samples
}

// step is one traffic configuration and what may answer under it.
type step struct {
	name   string
	spec   caddyconfig.Spec
	live   []string // versions that may answer production traffic
	cand   string   // version the candidate route must reach ("" = 404)
	action func()   // runs once the step is written
	at     time.Time
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[int(float64(len(ds)-1)*p)]
}

func TestZeroDowntimeCutOvers(t *testing.T) {
	v1 := startVersion(t, "v1", 2, false)
	v2 := startVersion(t, "v2", 2, false)
	v3 := startVersion(t, "v3", 1, true) // fails its health check
	v4 := startVersion(t, "v4", 2, false)

	l := startCaddy(t, caddyconfig.Spec{Live: pool("v1", v1)})
	url := "http://" + l.addr + "/"
	waitFor(t, url, "v1")

	const workers = 16
	steady := 3 * time.Second
	prod := startLoad(url, workers, nil, false)
	fresh := startLoad(url, 4, nil, true)
	cand := startLoad(url, 2, http.Header{header.Route: {header.RouteCandidate}}, false)
	time.Sleep(steady)
	switchesStart := time.Now()

	// A cycle of cut-overs, canary steps and rollbacks, repeated.
	var steps []step
	for range 3 {
		steps = append(steps,
			step{name: "v2 as candidate", spec: caddyconfig.Spec{Live: pool("v1", v1), Candidate: pool("v2", v2)}, live: []string{"v1"}, cand: "v2"},
			step{name: "canary 10%", spec: caddyconfig.Spec{Live: pool("v1", v1), Candidate: pool("v2", v2), CandidateWeight: 10}, live: []string{"v1", "v2"}, cand: "v2"},
			step{name: "canary 50%", spec: caddyconfig.Spec{Live: pool("v1", v1), Candidate: pool("v2", v2), CandidateWeight: 50}, live: []string{"v1", "v2"}, cand: "v2"},
			step{name: "promote v2", spec: caddyconfig.Spec{Live: pool("v2", v2), Candidate: pool("v2", v2)}, live: []string{"v2"}, cand: "v2"},
			step{name: "broken v3 as candidate", spec: caddyconfig.Spec{Live: pool("v2", v2), Candidate: pool("v3", v3)}, live: []string{"v2"}, cand: "v3"},
			step{name: "rollback to v1", spec: caddyconfig.Spec{Live: pool("v1", v1), Candidate: pool("v3", v3)}, live: []string{"v1"}, cand: "v3"},
			step{name: "candidate cleared", spec: caddyconfig.Spec{Live: pool("v1", v1)}, live: []string{"v1"}, cand: ""},
		)
	}
	// A candidate whose process dies during its canary, then a live
	// replica that dies: retries keep every request whole.
	steps = append(steps,
		step{name: "v4 canary 50%", spec: caddyconfig.Spec{Live: pool("v1", v1), Candidate: pool("v4", v4), CandidateWeight: 50}, live: []string{"v1", "v4"}, cand: "v4"},
		step{name: "v4 replica killed in canary", spec: caddyconfig.Spec{Live: pool("v1", v1), Candidate: pool("v4", v4), CandidateWeight: 50}, live: []string{"v1", "v4"}, cand: "v4",
			action: func() { v4[0].kill() }},
		step{name: "live replica killed", spec: caddyconfig.Spec{Live: pool("v1", v1), Candidate: pool("v4", v4), CandidateWeight: 50}, live: []string{"v1", "v4"}, cand: "v4",
			action: func() { v1[1].kill() }},
	)
	const dwell = 1500 * time.Millisecond
	for i := range steps {
		steps[i].at = time.Now()
		l.write(t, steps[i].spec)
		if steps[i].action != nil {
			steps[i].action()
		}
		time.Sleep(dwell)
	}
	switchesEnd := time.Now()
	time.Sleep(steady)
	prodSamples, candSamples := append(prod.finish(), fresh.finish()...), cand.finish()

	// The step in force at time at, and the one before it: while Caddy
	// reloads, either may answer.
	stepAt := func(at time.Time) (cur, prev *step) {
		for i := range steps {
			if !steps[i].at.After(at) {
				cur = &steps[i]
				if i > 0 {
					prev = &steps[i-1]
				}
			}
		}
		return cur, prev
	}
	allowedLive := func(at time.Time) map[string]bool {
		cur, prev := stepAt(at)
		ok := map[string]bool{}
		for _, s := range []*step{cur, prev} {
			if s == nil {
				ok["v1"] = true
				continue
			}
			for _, v := range s.live {
				ok[v] = true
			}
		}
		if cur != nil && at.Sub(cur.at) > time.Second+200*time.Millisecond {
			// Caddy polls the file once a second: past that, only the
			// current step may answer.
			ok = map[string]bool{}
			for _, v := range cur.live {
				ok[v] = true
			}
		}
		return ok
	}

	var failed, wrong int
	var steadyLat, switchLat []time.Duration
	for _, s := range prodSamples {
		if s.err != "" || s.status != http.StatusOK {
			failed++
			if failed <= 10 {
				cur, _ := stepAt(s.at)
				name := "start"
				if cur != nil {
					name = fmt.Sprintf("%s, %s after it began", cur.name, s.at.Sub(cur.at).Round(time.Millisecond))
				}
				kind := "keep-alive"
				if s.fresh {
					kind = "new connection"
				}
				t.Errorf("request at %s (%s) failed during %q: status %d %s", s.at.Format("15:04:05.000"), kind, name, s.status, s.err)
			}
			continue
		}
		if !allowedLive(s.at)[s.version] {
			wrong++
			if wrong <= 10 {
				cur, _ := stepAt(s.at)
				name := "start"
				if cur != nil {
					name = cur.name
				}
				t.Errorf("request at %s answered by %s during %q", s.at.Format("15:04:05.000"), s.version, name)
			}
		}
		if s.version == "v3" {
			t.Errorf("the broken candidate v3 answered production traffic at %s", s.at.Format("15:04:05.000"))
		}
		if s.at.After(switchesStart) && s.at.Before(switchesEnd) {
			switchLat = append(switchLat, s.latency)
		} else {
			steadyLat = append(steadyLat, s.latency)
		}
	}
	for _, s := range candSamples {
		cur, _ := stepAt(s.at)
		if cur == nil || s.at.Sub(cur.at) < 1200*time.Millisecond {
			continue // reload in progress: the route may still be the previous one
		}
		switch {
		case cur.cand == "" && s.status != http.StatusNotFound:
			t.Errorf("candidate route with no candidate answered %d (%s) during %q", s.status, s.version, cur.name)
		case cur.cand != "" && s.err == "" && s.status == http.StatusOK && s.version != cur.cand:
			t.Errorf("candidate route answered by %s during %q, want %s", s.version, cur.name, cur.cand)
		}
	}
	t.Logf("%d switches; production: %d requests, %d failed, %d from a version that should not serve",
		len(steps), len(prodSamples), failed, wrong)
	t.Logf("latency steady: p50 %s p99 %s (%d requests); during switches: p50 %s p99 %s (%d requests)",
		percentile(steadyLat, .5), percentile(steadyLat, .99), len(steadyLat),
		percentile(switchLat, .5), percentile(switchLat, .99), len(switchLat))
	if len(prodSamples) < 1000 {
		t.Errorf("only %d requests were made: the load generator did not load", len(prodSamples))
	}
}

// waitFor waits until url answers 200 from version v.
func waitFor(t testing.TB, url, v string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && resp.Header.Get("X-Phoenix-Version") == v {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never answered from %s", url, v)
}

// TestCaddyMatchesThePinnedImage keeps the tested Caddy and the image the
// docker platform runs at the same version.
func TestCaddyMatchesThePinnedImage(t *testing.T) {
	out, err := exec.Command("go", "version", "-m", caddyBinary(t)).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	var built string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[0] == "dep" || f[0] == "mod") && f[1] == "github.com/caddyserver/caddy/v2" {
			built = strings.TrimPrefix(f[2], "v")
		}
	}
	tag := strings.TrimSuffix(strings.SplitN(stacks.DefaultCaddyImage, ":", 2)[1], "-alpine")
	if built == "" || built != tag {
		t.Errorf("the tests run Caddy %q, the docker platform pins %s: rebuild with make tools or move the pin", built, stacks.DefaultCaddyImage)
	}
}
