package tests

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/phoenix-iac/phoenix/components/caddyconfig"
	"github.com/phoenix-iac/phoenix/components/dockeredge"
	"github.com/phoenix-iac/phoenix/internal/analysis"
	"github.com/phoenix-iac/phoenix/internal/header"
	"github.com/phoenix-iac/phoenix/tests/simcloud"
)

// fakeLB plays the docker platform's load balancer for CLI tests, where no
// Docker engine runs: it routes each request by the traffic table that the
// env stack's traffic pointer wrote, exactly as written, with the routes of
// the edge's config (caddyconfig.RenderEdge: the version route, the
// candidate route, production), names the table in its answers as the
// real one does, and answers as the app of the chosen version would (its
// X-Phoenix-Version header), provided that version's containers exist. As
// on Docker, where each pointer writes the table on the volume when it is
// created and the file stays when it is deleted, the table is that of the
// pointer created last.
type fakeLB struct {
	cloud *simcloud.Cloud
	srv   *http.Server
	port  int
	n     atomic.Uint64

	mu      sync.Mutex
	broken  map[string]bool
	failing map[string]int // version: every Nth request to / answers 500
	served  map[string]int // requests to / per failing version
	paths   map[string]int // requests per path
	table   string         // the table file on the volume; "" before any
	key     string         // the route key the edge's config requires
	// env is the env whose load balancer publishes this one's port,
	// once its container is created: the tables and keys of other envs
	// are theirs.
	env string
	// log is the access log, written as the traffic module writes it.
	log *analysis.AccessLog
}

func startFakeLB(t testing.TB, cloud *simcloud.Cloud) *fakeLB {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lb := &fakeLB{cloud: cloud, port: ln.Addr().(*net.TCPAddr).Port, broken: map[string]bool{}, failing: map[string]int{}, served: map[string]int{}, paths: map[string]int{}, log: analysis.NewAccessLog()}
	cloud.Watch(func(op simcloud.Op, r simcloud.Resource) {
		if op.Kind != "create" || r.Type != "docker:index/container:Container" || !plain(r.Inputs["uploads"]).IsArray() {
			return // a pointer of another platform than docker: no table
		}
		upload := plain(r.Inputs["uploads"]).ArrayValue()[0].ObjectValue()
		content := upload["content"].StringValue()
		lb.mu.Lock()
		defer lb.mu.Unlock()
		if publishes(r, lb.port) {
			lb.env = strings.TrimSuffix(r.Name, "-lb")
		}
		other := func(suffix string) bool {
			return lb.env != "" && strings.TrimSuffix(r.Name, suffix) != lb.env
		}
		switch {
		case strings.HasSuffix(r.Name, "-pointer"):
			if !other("-pointer") {
				lb.table = content
			}
		case strings.HasSuffix(r.Name, "-routekey"):
			// The key writer: what it writes is the key the load
			// balancer's config reads (checked below).
			if !other("-routekey") {
				lb.key = strings.TrimSpace(content)
			}
		case upload["file"].StringValue() == dockeredge.EdgeConfigFile:
			if file, err := caddyconfig.KeyFile([]byte(content)); err != nil || (file != "" && file != dockeredge.RouteKeyFile) {
				t.Errorf("the load balancer's config reads the route key from %q (%v), not the file the key writer writes, %s", file, err, dockeredge.RouteKeyFile)
			}
		}
	})
	lb.srv = &http.Server{Handler: lb}
	go lb.srv.Serve(ln)
	t.Cleanup(func() { lb.srv.Close() })
	return lb
}

// publishes reports whether container r publishes port on the host.
func publishes(r simcloud.Resource, port int) bool {
	ports := plain(r.Inputs["ports"])
	if !ports.IsArray() {
		return false
	}
	for _, p := range ports.ArrayValue() {
		if p.IsObject() {
			if ext := plain(p.ObjectValue()["external"]); ext.IsNumber() && int(ext.NumberValue()) == port {
				return true
			}
		}
	}
	return false
}

// breakVersion makes a version's app answer 503 on every request.
func (lb *fakeLB) breakVersion(v string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.broken[v] = true
}

// failEvery makes a version answer every nth request to / with a 500, as
// the sample app does with PHOENIX_FAIL_EVERY; its health check stays good.
func (lb *fakeLB) failEvery(v string, n int) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.failing[v] = n
}

// table reads the table in force; false before any.
func (lb *fakeLB) current() (fakeTable, string, bool) {
	lb.mu.Lock()
	content := lb.table
	lb.mu.Unlock()
	var t fakeTable
	if content == "" || json.Unmarshal([]byte(content), &t) != nil {
		return t, "", false
	}
	return t, caddyconfig.TableID([]byte(content)), true
}

type fakeTable struct {
	Env             string            `json:"env"`
	Live            *caddyconfig.Pool `json:"live"`
	Candidate       *caddyconfig.Pool `json:"candidate"`
	CandidateWeight int               `json:"candidateWeight"`
}

// requests returns how many requests each path got.
func (lb *fakeLB) requests() map[string]int {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	out := map[string]int{}
	for p, n := range lb.paths {
		out[p] = n
	}
	return out
}

func (lb *fakeLB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lb.mu.Lock()
	lb.paths[r.URL.Path]++
	lb.mu.Unlock()
	t, id, ok := lb.current()
	lb.mu.Lock()
	keyed := lb.key == "" || r.Header.Get(header.Key) == lb.key
	lb.mu.Unlock()
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	if !ok {
		http.Error(w, "no traffic table", http.StatusBadGateway)
		return
	}
	// The version route: any version by its alias, as Docker's DNS does.
	if v := r.Header.Get(header.Version); v != "" && keyed {
		lb.answer(rec, r, caddyconfig.VersionAlias(t.Env, v)+":8080")
		lb.logRequest(caddyconfig.LogRouteVersion, "", rec.status, start)
		return
	}
	w.Header().Set(header.Traffic, id)
	if r.Header.Get(header.Route) == header.RouteCandidate && keyed {
		if t.Candidate == nil {
			http.Error(rec, "phoenix: env has no candidate version", http.StatusNotFound)
		} else {
			lb.answer(rec, r, lb.pick(t.Candidate.Addresses))
		}
		lb.logRequest(caddyconfig.LogRouteCandidate, "", rec.status, start)
		return
	}
	if t.Live == nil {
		http.Error(rec, "phoenix: env has no live version", http.StatusServiceUnavailable)
		lb.logRequest(caddyconfig.LogRouteProduction, "", rec.status, start)
		return
	}
	p := t.Live
	if t.Candidate != nil && t.CandidateWeight > 0 && int(lb.n.Add(1)%100) < t.CandidateWeight {
		p = t.Candidate
	}
	lb.answer(rec, r, lb.pick(p.Addresses))
	lb.logRequest(caddyconfig.LogRouteProduction, p.Version, rec.status, start)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// logRequest writes the access log line the traffic module would.
func (lb *fakeLB) logRequest(route, version string, status int, start time.Time) {
	end := time.Now()
	line := map[string]any{"logger": caddyconfig.AccessLogger, "ts": end.UnixNano(), "duration": end.Sub(start).Nanoseconds(), "status": status,
		caddyconfig.FieldRoute: route}
	if route == caddyconfig.LogRouteProduction {
		line[caddyconfig.FieldVersion] = version
	}
	b, _ := json.Marshal(line)
	lb.log.Add(b)
}

// source is the analysis source of the fake: its access log.
func (lb *fakeLB) source() analysis.Source { return fakeSource{lb.log} }

type fakeSource struct{ log *analysis.AccessLog }

func (s fakeSource) Stats(_ context.Context, from, to time.Time, versions ...string) (map[string]analysis.Stats, error) {
	return s.log.Stats(from, to, versions...)
}
func (fakeSource) Resolution() time.Duration { return 0 }
func (fakeSource) Close() error              { return nil }

// pick chooses an upstream, round robin.
func (lb *fakeLB) pick(ups []string) string {
	return ups[lb.n.Add(1)%uint64(len(ups))]
}

// answer replies as the app of the version behind dial: a replica
// ("dev-v1-0:8080") or the version's alias ("dev-v1:8080"), resolved as
// Docker's DNS would, to the version's replicas if any exist.
func (lb *fakeLB) answer(w http.ResponseWriter, r *http.Request, dial string) {
	host, _, _ := strings.Cut(dial, ":")
	if i := strings.LastIndexByte(host, '-'); i >= 0 {
		if _, err := strconv.Atoi(host[i+1:]); err == nil {
			host = host[:i]
		}
	}
	env, version, ok := strings.Cut(host, "-")
	if !ok || version == "" {
		http.Error(w, "bad upstream "+dial, http.StatusBadGateway)
		return
	}
	running := 0
	for _, c := range lb.cloud.Find("docker:index/container:Container", env+"-"+version+"-") {
		if !c.Stopped {
			running++
		}
	}
	if running == 0 {
		http.Error(w, "upstream "+dial+" does not exist or does not run", http.StatusBadGateway)
		return
	}
	lb.mu.Lock()
	broken := lb.broken[version]
	failing := false
	if n := lb.failing[version]; n > 0 && r.URL.Path == "/" {
		lb.served[version]++
		failing = lb.served[version]%n == 0
	}
	lb.mu.Unlock()
	w.Header().Set("X-Phoenix-Version", version)
	if broken {
		http.Error(w, "unhealthy", http.StatusServiceUnavailable)
		return
	}
	if failing {
		http.Error(w, "failing on purpose", http.StatusInternalServerError)
		return
	}
	w.Write([]byte("ok\n"))
}

// plain is v with every secret in it replaced by its value, as a provider
// that accepts secrets gets it.
func plain(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return plain(v.SecretValue().Element)
	case v.IsArray():
		out := make([]resource.PropertyValue, len(v.ArrayValue()))
		for i, x := range v.ArrayValue() {
			out[i] = plain(x)
		}
		return resource.NewProperty(out)
	case v.IsObject():
		out := resource.PropertyMap{}
		for k, x := range v.ObjectValue() {
			out[k] = plain(x)
		}
		return resource.NewProperty(out)
	}
	return v
}
