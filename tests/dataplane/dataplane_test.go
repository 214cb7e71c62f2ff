// Package dataplane proves the docker platform's promise with the real load
// balancer: Phoenix's build of Caddy (lb/, built into .bin/caddy), run on
// the exact edge configuration the docker platform renders
// (caddyconfig.RenderEdge), in front of real processes of the sample app,
// under load while the traffic table is rewritten (caddyconfig.RenderTable)
// for cut-overs, canary steps and rollbacks. Not one request may fail, and
// every request is routed by the table its response names.
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
	"github.com/phoenix-iac/phoenix/internal/header"
	"github.com/phoenix-iac/phoenix/platforms/docker"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// caddyBinary returns the load balancer's Caddy that make tools builds from
// lb/; the test fails, never skips, without it.
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

// lb is a running load balancer and the traffic table it reads.
type lb struct {
	addr  string // where clients connect
	table string
	log   string // Caddy's output: its access log on stdout, the rest on stderr
	cmd   *exec.Cmd
}

func startCaddy(t testing.TB, spec caddyconfig.Spec) *lb {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	l := &lb{addr: fmt.Sprintf("127.0.0.1:%d", port), table: filepath.Join(dir, "traffic.json")}
	edge, err := caddyconfig.RenderEdge(caddyconfig.Edge{Env: "dev", Listen: l.addr, Table: l.table, HealthPath: "/healthz"})
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "caddy.json")
	if err := os.WriteFile(config, edge, 0o644); err != nil {
		t.Fatal(err)
	}
	l.write(t, spec)
	l.cmd = exec.Command(caddyBinary(t), "run", "--config", config)
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

// write renders spec's table with the platform's renderer and replaces
// the table file atomically, as the docker platform's traffic pointer
// does. It returns the table's id.
func (l *lb) write(t testing.TB, spec caddyconfig.Spec) string {
	t.Helper()
	spec.Env = "dev"
	b, err := caddyconfig.RenderTable(spec)
	if err != nil {
		t.Fatal(err)
	}
	tmp := l.table + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, l.table); err != nil {
		t.Fatal(err)
	}
	return caddyconfig.TableID(b)
}

// apply writes spec's table and waits until the load balancer routes by it.
func (l *lb) apply(t testing.TB, spec caddyconfig.Spec) {
	t.Helper()
	id := l.write(t, spec)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + l.addr + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.Header.Get(header.Traffic) == id {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the load balancer does not route by table %s 5s after its write", id)
}

// sample is one request's outcome.
type sample struct {
	at      time.Time
	latency time.Duration
	version string
	table   string // the table that routed it (header.Traffic)
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

func startLoad(url string, workers int, hdr http.Header, newConnPerRequest bool) *load {
	ld := &load{stop: make(chan struct{}), header: hdr}
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
				for k, v := range hdr {
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
					s.status, s.version, s.table = resp.StatusCode, resp.Header.Get("X-Phoenix-Version"), resp.Header.Get(header.Traffic)
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

// step is one traffic table and what may answer under it.
type step struct {
	name   string
	spec   caddyconfig.Spec
	live   []string // versions that may answer production traffic
	cand   string   // version the candidate route must reach ("" = 404)
	action func()   // runs once the step has been in force for a while
	at     time.Time
	id     string // the table's id
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[int(float64(len(ds)-1)*p)]
}

// dwell is how long each step of TestZeroDowntimeCutOvers stays in force.
const dwell = 700 * time.Millisecond

// TestZeroDowntimeCutOvers: 24 traffic changes (cut-overs, canary steps,
// promotions, rollbacks, a broken candidate; replicas killed) under load
// from keep-alive clients and clients that open a new connection for
// every request. Every request must succeed; each must be answered by a
// version that the table named in its response allows; once any response
// names a table, no request sent after it is routed by an older one; and
// every table is in force soon after its write (how soon is printed, with
// the latency during switches against steady).
func TestZeroDowntimeCutOvers(t *testing.T) {
	v1 := startVersion(t, "v1", 2, false)
	v2 := startVersion(t, "v2", 2, false)
	v3 := startVersion(t, "v3", 1, true) // fails its health check
	v4 := startVersion(t, "v4", 2, false)

	first := caddyconfig.Spec{Live: pool("v1", v1)}
	l := startCaddy(t, first)
	url := "http://" + l.addr + "/"
	waitFor(t, url, "v1")

	steady := 2 * time.Second
	prod := startLoad(url, 16, nil, false)
	fresh := startLoad(url, 4, nil, true)
	cand := startLoad(url, 2, http.Header{header.Route: {header.RouteCandidate}}, false)
	time.Sleep(steady)
	switchesStart := time.Now()

	// A cycle of cut-overs, canary steps and rollbacks, repeated.
	steps := []step{{name: "start", spec: first, live: []string{"v1"}, at: time.Time{}}}
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
	// A candidate replica dies during its canary, then a live replica:
	// the table still names them, as it does a container that died on
	// its own, so the load balancer finds out by itself (a failed dial is
	// retried on another upstream, and health checks take it out).
	steps = append(steps,
		step{name: "v4 canary 50%, a replica of each killed", spec: caddyconfig.Spec{Live: pool("v1", v1), Candidate: pool("v4", v4), CandidateWeight: 50}, live: []string{"v1", "v4"}, cand: "v4",
			action: func() {
				v4[0].kill()
				time.Sleep(dwell)
				v1[1].kill()
			}},
		step{name: "promote v4", spec: caddyconfig.Spec{Live: pool("v4", v4)}, live: []string{"v4"}, cand: ""},
		step{name: "rollback to v1", spec: caddyconfig.Spec{Live: pool("v1", v1)}, live: []string{"v1"}, cand: ""},
	)
	for i := 1; i < len(steps); i++ {
		steps[i].at = time.Now()
		steps[i].id = l.write(t, steps[i].spec)
		time.Sleep(dwell)
		if steps[i].action != nil {
			steps[i].action()
			time.Sleep(dwell)
		}
	}
	switchesEnd := time.Now()
	time.Sleep(steady)
	prodSamples, candSamples := append(prod.finish(), fresh.finish()...), cand.finish()
	steps[0].id = caddyconfig.TableID(mustRender(t, first))

	// The cycle repeats tables: a response is attributed to the last step
	// of its table written before the response came back.
	byID := map[string][]int{}
	for i, s := range steps {
		byID[s.id] = append(byID[s.id], i)
	}
	stepOf := func(s sample) (int, bool) {
		is, ok := byID[s.table]
		if !ok {
			return -1, false
		}
		end, at := s.at.Add(s.latency), is[0]
		for _, i := range is {
			if !steps[i].at.After(end) {
				at = i
			}
		}
		return at, true
	}
	// seen[i]: when the first response routed by step i (or a later one)
	// came back. A request sent after that must not be routed by an
	// earlier table.
	seen := make([]time.Time, len(steps))
	for _, s := range append(append([]sample{}, prodSamples...), candSamples...) {
		if i, ok := stepOf(s); ok {
			end := s.at.Add(s.latency)
			if seen[i].IsZero() || end.Before(seen[i]) {
				seen[i] = end
			}
		}
	}
	for i := len(steps) - 2; i >= 0; i-- {
		if !seen[i+1].IsZero() && (seen[i].IsZero() || seen[i+1].Before(seen[i])) {
			seen[i] = seen[i+1]
		}
	}
	// checkTable says what is wrong with a sample's table, if anything.
	checkTable := func(s sample) (int, string) {
		i, ok := stepOf(s)
		if !ok {
			return -1, fmt.Sprintf("routed by unknown table %q", s.table)
		}
		if i+1 < len(steps) && !seen[i+1].IsZero() && s.at.After(seen[i+1]) {
			return i, fmt.Sprintf("routed by %q although %q had already answered %s earlier",
				steps[i].name, steps[i+1].name, s.at.Sub(seen[i+1]).Round(time.Microsecond))
		}
		return i, ""
	}

	var failed, wrong int
	var steadyLat, switchLat []time.Duration
	report := func(s sample, what string) {
		kind := "keep-alive"
		if s.fresh {
			kind = "new connection"
		}
		t.Errorf("request at %s (%s): %s", s.at.Format("15:04:05.000"), kind, what)
	}
	for _, s := range prodSamples {
		if s.err != "" || s.status != http.StatusOK {
			failed++
			if failed <= 10 {
				report(s, fmt.Sprintf("failed: status %d %s (table %s)", s.status, s.err, s.table))
			}
			continue
		}
		i, bad := checkTable(s)
		if bad == "" && !slicesContain(steps[i].live, s.version) {
			bad = fmt.Sprintf("answered by %s under %q", s.version, steps[i].name)
		}
		if bad != "" {
			wrong++
			if wrong <= 10 {
				report(s, bad)
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
		i, bad := checkTable(s)
		switch {
		case bad != "":
		case steps[i].cand == "" && s.status != http.StatusNotFound:
			bad = fmt.Sprintf("candidate route with no candidate answered %d (%s) under %q", s.status, s.version, steps[i].name)
		case steps[i].cand != "" && s.err == "" && s.status == http.StatusOK && s.version != steps[i].cand:
			bad = fmt.Sprintf("candidate route answered by %s under %q, want %s", s.version, steps[i].name, steps[i].cand)
		}
		if bad != "" {
			wrong++
			if wrong <= 10 {
				report(s, bad)
			}
		}
	}
	// How long after its write each table was first seen in a response.
	var took []time.Duration
	for i := 1; i < len(steps); i++ {
		first := time.Time{}
		for _, s := range prodSamples {
			if j, _ := stepOf(s); j == i && (first.IsZero() || s.at.Add(s.latency).Before(first)) {
				first = s.at.Add(s.latency)
			}
		}
		if first.IsZero() {
			t.Errorf("no production request was routed by %q's table", steps[i].name)
			continue
		}
		took = append(took, first.Sub(steps[i].at))
	}
	t.Logf("%d switches; production: %d requests, %d failed, %d routed or answered against their table",
		len(steps)-1, len(prodSamples), failed, wrong)
	t.Logf("switch in force after its write: p50 %s, max %s",
		percentile(took, .5).Round(time.Millisecond), percentile(took, 1).Round(time.Millisecond))
	ratio := float64(percentile(switchLat, .99)) / float64(percentile(steadyLat, .99))
	t.Logf("latency steady: p50 %s p99 %s (%d requests); during switches: p50 %s p99 %s (%d requests); p99 ratio %.2f",
		percentile(steadyLat, .5), percentile(steadyLat, .99), len(steadyLat),
		percentile(switchLat, .5), percentile(switchLat, .99), len(switchLat), ratio)
	if len(prodSamples) < 1000 {
		t.Errorf("only %d requests were made: the load generator did not load", len(prodSamples))
	}
}

func mustRender(t testing.TB, spec caddyconfig.Spec) []byte {
	t.Helper()
	spec.Env = "dev"
	b, err := caddyconfig.RenderTable(spec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func slicesContain(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
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

// TestCaddyMatchesThePinnedImage keeps the Caddy that lb/ builds (the one
// tested here and shipped in the load balancer's image) and the Caddy
// image the docker platform builds it on at the same version.
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
	tag := strings.TrimSuffix(strings.SplitN(docker.DefaultCaddyImage, ":", 2)[1], "-alpine")
	if built == "" || built != tag {
		t.Errorf("the tests run Caddy %q, the docker platform pins %s: rebuild with make tools or move the pin", built, docker.DefaultCaddyImage)
	}
}
