package caddyconfig

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/phoenix-iac/phoenix/internal/header"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func pool(v string, n int) *Pool {
	p := &Pool{Version: v}
	for i := range n {
		p.Addresses = append(p.Addresses, "dev-"+v+"-"+string(rune('0'+i))+":8080")
	}
	return p
}

var tables = []struct {
	name string
	spec Spec
}{
	{"table-no-live", Spec{}},
	{"table-live-only", Spec{Live: pool("v1", 2)}},
	{"table-canary", Spec{Live: pool("v1", 2), Candidate: pool("v2", 1), CandidateWeight: 10}},
	{"table-candidate", Spec{Live: pool("v1", 2), Candidate: pool("v2", 2)}},
	{"table-promoted", Spec{Live: pool("v2", 2), Candidate: pool("v2", 2), CandidateWeight: 50}},
}

var edges = []struct {
	name string
	edge Edge
}{
	{"edge", Edge{Env: "dev", Listen: ":8080", Table: "/etc/phoenix/traffic.json", HealthPath: "/healthz"}},
	{"edge-version-route", Edge{Env: "dev", Listen: ":8080", Table: "/etc/phoenix/traffic.json", HealthPath: "/healthz", VersionPort: 8080}},
	{"edge-keyed", Edge{Env: "dev", Listen: ":8080", Table: "/etc/phoenix/traffic.json", HealthPath: "/healthz", VersionPort: 8080, KeyFile: "/etc/phoenix/route-key"}},
}

// TestKeyFile: the key file an edge config requires reads back; an
// unkeyed config requires none.
func TestKeyFile(t *testing.T) {
	for _, tt := range edges {
		b, err := RenderEdge(tt.edge)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := KeyFile(b); err != nil || got != tt.edge.KeyFile {
			t.Errorf("%s: KeyFile = %q, %v; want %q", tt.name, got, err, tt.edge.KeyFile)
		}
	}
}

func renderTable(t *testing.T, spec Spec) []byte {
	t.Helper()
	spec.Env = "dev"
	b, err := RenderTable(spec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("rendered output differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

func TestRenderGolden(t *testing.T) {
	for _, tt := range tables {
		t.Run(tt.name, func(t *testing.T) { golden(t, tt.name, renderTable(t, tt.spec)) })
	}
	for _, tt := range edges {
		t.Run(tt.name, func(t *testing.T) {
			b, err := RenderEdge(tt.edge)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, b)
		})
	}
}

// decodedTable is the table as the load balancer's traffic module reads it.
type decodedTable struct {
	Format int    `json:"format"`
	Env    string `json:"env"`
	Live   *struct {
		Version   string   `json:"version"`
		Upstreams []string `json:"upstreams"`
	} `json:"live"`
	Candidate *struct {
		Version   string   `json:"version"`
		Upstreams []string `json:"upstreams"`
	} `json:"candidate"`
	CandidateWeight int `json:"candidateWeight"`
}

func TestRenderTable(t *testing.T) {
	decode := func(t *testing.T, b []byte) decodedTable {
		t.Helper()
		var d decodedTable
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		if d.Format != TableFormat || d.Env != "dev" {
			t.Errorf("got format %d env %q, want %d dev", d.Format, d.Env, TableFormat)
		}
		return d
	}
	t.Run("nothing live names no pool", func(t *testing.T) {
		if d := decode(t, renderTable(t, Spec{})); d.Live != nil || d.Candidate != nil {
			t.Errorf("got %+v, want no pools", d)
		}
	})
	t.Run("a canary names both pools and the weight", func(t *testing.T) {
		d := decode(t, renderTable(t, Spec{Live: pool("v1", 2), Candidate: pool("v2", 1), CandidateWeight: 10}))
		if d.Live.Version != "v1" || !slices.Equal(d.Live.Upstreams, []string{"dev-v1-0:8080", "dev-v1-1:8080"}) {
			t.Errorf("got live %+v", d.Live)
		}
		if d.Candidate.Version != "v2" || !slices.Equal(d.Candidate.Upstreams, []string{"dev-v2-0:8080"}) || d.CandidateWeight != 10 {
			t.Errorf("got candidate %+v weight %d", d.Candidate, d.CandidateWeight)
		}
	})
	t.Run("a candidate that is live gets no weight", func(t *testing.T) {
		if d := decode(t, renderTable(t, Spec{Live: pool("v2", 1), Candidate: pool("v2", 1), CandidateWeight: 50})); d.CandidateWeight != 0 {
			t.Errorf("got weight %d, want 0", d.CandidateWeight)
		}
	})
	t.Run("the same spec renders the same bytes and id", func(t *testing.T) {
		a, b := renderTable(t, Spec{Live: pool("v1", 2)}), renderTable(t, Spec{Live: pool("v1", 2)})
		if string(a) != string(b) || TableID(a) != TableID(b) {
			t.Error("two renders of one spec differ")
		}
		if c := renderTable(t, Spec{Live: pool("v2", 2)}); TableID(a) == TableID(c) {
			t.Error("two tables share an id")
		}
		if len(TableID(a)) != 12 {
			t.Errorf("got id %q, want 12 hex digits", TableID(a))
		}
	})
}

// decodedEdge is the part of the edge config the behaviour tests look at.
type decodedEdge struct {
	Admin struct {
		Disabled bool `json:"disabled"`
	} `json:"admin"`
	Apps struct {
		HTTP struct {
			ShutdownDelay string `json:"shutdown_delay"`
			Servers       map[string]struct {
				Listen []string `json:"listen"`
				Routes []struct {
					Match    []map[string]map[string]any `json:"match"`
					Handle   []edgeHandler               `json:"handle"`
					Terminal bool                        `json:"terminal"`
				} `json:"routes"`
			} `json:"servers"`
		} `json:"http"`
	} `json:"apps"`
}

// edgeHandler is a handler of the edge config as the tests read it.
type edgeHandler struct {
	Handler          string `json:"handler"`
	Table            string `json:"table"`
	Route            string `json:"route"`
	Env              string `json:"env"`
	HealthURI        string `json:"health_uri"`
	Upstreams        []struct{ Dial string }
	DynamicUpstreams struct {
		Source string `json:"source"`
	} `json:"dynamic_upstreams"`
	Key   string `json:"key"`
	Value string `json:"value"`
}

func TestRenderEdge(t *testing.T) {
	b, err := RenderEdge(edges[1].edge)
	if err != nil {
		t.Fatal(err)
	}
	var d decodedEdge
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if !d.Admin.Disabled {
		t.Error("the admin endpoint is on: nothing should load a config into the load balancer")
	}
	if d.Apps.HTTP.ShutdownDelay != "" {
		t.Errorf("shutdown_delay %q: no config is ever reloaded, so nothing drains", d.Apps.HTTP.ShutdownDelay)
	}
	srv := d.Apps.HTTP.Servers["phoenix"]
	if !slices.Equal(srv.Listen, []string{":8080"}) || len(srv.Routes) != 3 {
		t.Fatalf("got listen %v and %d routes, want :8080 and version, candidate, production", srv.Listen, len(srv.Routes))
	}
	version, cand, prod := srv.Routes[0], srv.Routes[1], srv.Routes[2]
	if _, ok := version.Match[0]["header_regexp"][header.Version]; !ok || !version.Terminal {
		t.Errorf("first route matches %v, want the version header", version.Match)
	}
	if got := version.Handle[1].Upstreams[0].Dial; got != "dev-{http.request.header."+header.Version+"}:8080" {
		t.Errorf("version route dials %q", got)
	}
	if got := cand.Match[0]["header"][header.Route]; len(got.([]any)) != 1 || got.([]any)[0] != header.RouteCandidate || !cand.Terminal {
		t.Errorf("second route matches %v, want %s: %s", cand.Match, header.Route, header.RouteCandidate)
	}
	for _, r := range []struct {
		name   string
		handle []edgeHandler
	}{{LogRouteCandidate, cand.Handle}, {LogRouteProduction, prod.Handle}} {
		if len(r.handle) != 2 {
			t.Fatalf("%s route has %d handlers, want the traffic handler and the proxy", r.name, len(r.handle))
		}
		h, p := r.handle[0], r.handle[1]
		if h.Handler != "phoenix_traffic" || h.Route != r.name || h.Table != "/etc/phoenix/traffic.json" || h.Env != "dev" || h.HealthURI != "/healthz" {
			t.Errorf("%s route's first handler is %+v", r.name, h)
		}
		if p.Handler != "reverse_proxy" || p.DynamicUpstreams.Source != "phoenix_traffic" || len(p.Upstreams) != 0 {
			t.Errorf("%s route proxies with %+v, want upstreams from phoenix_traffic only", r.name, p)
		}
	}
	if len(prod.Match) != 0 {
		t.Errorf("the production route matches %v, want everything else", prod.Match)
	}
	t.Run("without a version port there is no version route", func(t *testing.T) {
		b, err := RenderEdge(edges[0].edge)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), header.Version) {
			t.Errorf("config mentions %s:\n%s", header.Version, b)
		}
	})
}

func TestRenderRefuses(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"no env", Spec{}, "env name is empty"},
		{"weight without candidate", Spec{Env: "dev", Live: pool("v1", 1), CandidateWeight: 5}, "needs a live and a candidate"},
		{"weight over 100", Spec{Env: "dev", CandidateWeight: 101}, "outside 0 to 100"},
		{"pool without addresses", Spec{Env: "dev", Live: &Pool{Version: "v1"}}, "no upstream addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := RenderTable(tt.spec); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	for _, e := range []Edge{{Listen: ":1", Table: "/t", HealthPath: "/h"}, {Env: "dev", Table: "/t", HealthPath: "/h"}, {Env: "dev", Listen: ":1", HealthPath: "/h"}, {Env: "dev", Listen: ":1", Table: "/t"}} {
		if _, err := RenderEdge(e); err == nil || !strings.Contains(err.Error(), "required") {
			t.Errorf("RenderEdge(%+v) = %v, want an error naming what is required", e, err)
		}
	}
}

// TestTheLoadBalancerReadsWhatIsRendered keeps the load balancer's traffic
// module (lb/traffic, a module of its own that cannot import this package)
// reading the table format, module names and access log fields rendered
// here; the data-plane test runs the two together.
func TestTheLoadBalancerReadsWhatIsRendered(t *testing.T) {
	var src strings.Builder
	for _, f := range []string{"table.go", "modules.go"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "lb", "traffic", f))
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	for _, want := range []string{
		`const Format = ` + strconv.Itoa(TableFormat),
		`FieldRoute   = "` + FieldRoute + `"`,
		`FieldVersion = "` + FieldVersion + `"`,
		`RouteProduction = "` + LogRouteProduction + `"`,
		`RouteCandidate  = "` + LogRouteCandidate + `"`,
		`"http.handlers.` + trafficHandler + `"`,
		`"http.reverse_proxy.upstreams.` + trafficSource + `"`,
		"`json:\"upstreams\"`",
		"`json:\"candidateWeight,omitempty\"`",
	} {
		if !strings.Contains(src.String(), want) {
			t.Errorf("lb/traffic does not say %s", want)
		}
	}
}
