package tests

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/components/caddyconfig"
	"github.com/phoenix-iac/phoenix/internal/analysis"
	"github.com/phoenix-iac/phoenix/internal/header"
	"github.com/phoenix-iac/phoenix/tests/simcloud"
)

// fakeLB plays the docker platform's load balancer for CLI tests, where no
// Docker engine runs: it routes each request by the Caddy config that the
// env stack's traffic pointer wrote, exactly as written, and answers as the
// app of the chosen version would (its X-Phoenix-Version header), provided
// that version's containers exist. As on Docker, where each pointer writes
// the config file on the volume when it is created and the file stays when
// it is deleted, the config is that of the pointer created last.
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
	config  string         // the config file on the volume; "" before any
	// log is the access log, written as Caddy writes it by the config's
	// log_append and map handlers.
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
		if op.Kind != "create" || r.Type != "docker:index/container:Container" || !strings.HasSuffix(r.Name, "-pointer") {
			return
		}
		content := r.Inputs["uploads"].ArrayValue()[0].ObjectValue()["content"].StringValue()
		lb.mu.Lock()
		lb.config = content
		lb.mu.Unlock()
	})
	lb.srv = &http.Server{Handler: lb}
	go lb.srv.Serve(ln)
	t.Cleanup(func() { lb.srv.Close() })
	return lb
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

type lbRoute struct {
	Match []struct {
		Header       map[string][]string `json:"header"`
		HeaderRegexp map[string]struct {
			Pattern string `json:"pattern"`
		} `json:"header_regexp"`
		Vars map[string][]string `json:"vars"`
	} `json:"match"`
	Handle []struct {
		Handler       string `json:"handler"`
		StatusCode    int    `json:"status_code"`
		Upstreams     []struct{ Dial string }
		LoadBalancing struct {
			SelectionPolicy struct {
				Weights []int `json:"weights"`
			} `json:"selection_policy"`
		} `json:"load_balancing"`
		// log_append
		Key   string `json:"key"`
		Value string `json:"value"`
		// map
		Mappings []struct {
			Input   string   `json:"input"`
			Outputs []string `json:"outputs"`
		} `json:"mappings"`
	} `json:"handle"`
}

func (lb *fakeLB) routes() ([]lbRoute, bool) {
	lb.mu.Lock()
	content := lb.config
	lb.mu.Unlock()
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []lbRoute `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if content == "" || json.Unmarshal([]byte(content), &cfg) != nil {
		return nil, false
	}
	return cfg.Apps.HTTP.Servers["phoenix"].Routes, true
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
	routes, ok := lb.routes()
	if !ok {
		http.Error(w, "no load balancer config", http.StatusBadGateway)
		return
	}
	for _, rt := range routes {
		if len(rt.Match) > 0 && !matches(rt.Match[0].Header, rt.Match[0].HeaderRegexp, rt.Match[0].Vars, r) {
			continue
		}
		// The last handler answers; those before it add to the access log.
		h := rt.Handle[len(rt.Handle)-1]
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		dial := ""
		switch h.Handler {
		case "static_response":
			rec.WriteHeader(h.StatusCode)
		case "reverse_proxy":
			dial = lb.pick(h.Upstreams, h.LoadBalancing.SelectionPolicy.Weights)
			// The version route's dial address holds a placeholder, which
			// Caddy fills in per request.
			dial = strings.ReplaceAll(dial, "{http.request.header."+header.Version+"}", r.Header.Get(header.Version))
			lb.answer(rec, r, dial)
		default:
			continue // the headers handler of the shutting-down route
		}
		lb.logRequest(rt, dial, rec.status, start)
		return
	}
	http.NotFound(w, r)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// logRequest writes the access log line Caddy would: the fields of the
// route's log_append handlers, whose values may be the map handler's
// placeholder, evaluated with the upstream dialled.
func (lb *fakeLB) logRequest(rt lbRoute, dial string, status int, start time.Time) {
	end := time.Now()
	line := map[string]any{"logger": caddyconfig.AccessLogger, "ts": end.UnixNano(), "duration": end.Sub(start).Nanoseconds(), "status": status}
	mapped := ""
	for _, h := range rt.Handle {
		if h.Handler != "map" {
			continue
		}
		for _, m := range h.Mappings {
			if m.Input == dial {
				mapped = m.Outputs[0]
			}
		}
	}
	for _, h := range rt.Handle {
		if h.Handler != "log_append" {
			continue
		}
		v := h.Value
		if strings.HasPrefix(v, "{") {
			v = mapped
		}
		line[h.Key] = v
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

// matches applies a route's matcher as Caddy does; a fake load balancer
// never shuts down, so a vars matcher never matches.
func matches(header map[string][]string, re map[string]struct {
	Pattern string `json:"pattern"`
}, vars map[string][]string, r *http.Request) bool {
	if len(vars) > 0 {
		return false
	}
	for k, want := range header {
		if len(want) == 0 || r.Header.Get(k) != want[0] {
			return false
		}
	}
	for k, p := range re {
		if !regexp.MustCompile(p.Pattern).MatchString(r.Header.Get(k)) {
			return false
		}
	}
	return true
}

// pick chooses an upstream, by weight when there are weights.
func (lb *fakeLB) pick(ups []struct{ Dial string }, weights []int) string {
	n := lb.n.Add(1)
	if len(weights) != len(ups) {
		return ups[n%uint64(len(ups))].Dial
	}
	total := 0
	for _, w := range weights {
		total += w
	}
	at := int(n % uint64(total))
	for i, w := range weights {
		if at < w {
			return ups[i].Dial
		}
		at -= w
	}
	return ups[0].Dial
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
