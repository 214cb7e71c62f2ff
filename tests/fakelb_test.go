package tests

import (
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/phoenix-iac/phoenix/components/caddyconfig"
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

	mu     sync.Mutex
	broken map[string]bool
	paths  map[string]int // requests per path
	config string         // the config file on the volume; "" before any
}

func startFakeLB(t testing.TB, cloud *simcloud.Cloud) *fakeLB {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lb := &fakeLB{cloud: cloud, port: ln.Addr().(*net.TCPAddr).Port, broken: map[string]bool{}, paths: map[string]int{}}
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
		h := rt.Handle[0]
		if h.Handler == "static_response" {
			w.WriteHeader(h.StatusCode)
			return
		}
		if h.Handler != "reverse_proxy" {
			continue // the headers handler of the shutting-down route
		}
		dial := lb.pick(h.Upstreams, h.LoadBalancing.SelectionPolicy.Weights)
		// The version route's dial address holds a placeholder, which
		// Caddy fills in per request.
		dial = strings.ReplaceAll(dial, "{http.request.header."+caddyconfig.VersionHeader+"}", r.Header.Get(caddyconfig.VersionHeader))
		lb.answer(w, dial)
		return
	}
	http.NotFound(w, r)
}

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
func (lb *fakeLB) answer(w http.ResponseWriter, dial string) {
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
	lb.mu.Unlock()
	w.Header().Set("X-Phoenix-Version", version)
	if broken {
		http.Error(w, "unhealthy", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}
