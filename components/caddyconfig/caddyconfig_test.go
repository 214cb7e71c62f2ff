package caddyconfig

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
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

var cases = []struct {
	name string
	spec Spec
}{
	{"no-live", Spec{}},
	{"live-only", Spec{Live: pool("v1", 2)}},
	{"canary", Spec{Live: pool("v1", 2), Candidate: pool("v2", 1), CandidateWeight: 10}},
	{"candidate-route", Spec{Live: pool("v1", 2), Candidate: pool("v2", 2)}},
	{"version-route", Spec{Live: pool("v1", 2), VersionPort: 8080}},
}

func render(t *testing.T, spec Spec) []byte {
	t.Helper()
	spec.Env, spec.Listen, spec.HealthPath = "dev", ":8080", "/healthz"
	b, err := Render(spec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRenderGolden(t *testing.T) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got := render(t, tt.spec)
			path := filepath.Join("testdata", tt.name+".json")
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
				t.Errorf("Render differs from %s (go test -update rewrites it):\n%s", path, got)
			}
		})
	}
}

// decoded is the part of the config the behaviour tests look at.
type decoded struct {
	Apps struct {
		HTTP struct {
			Servers map[string]struct {
				Routes []decodedRoute `json:"routes"`
			} `json:"servers"`
		} `json:"http"`
	} `json:"apps"`
}

type decodedRoute struct {
	Match  []map[string]map[string][]string `json:"match"`
	Handle []decodedHandler                 `json:"handle"`
}

type decodedHandler struct {
	Handler       string `json:"handler"`
	StatusCode    int    `json:"status_code"`
	Body          string `json:"body"`
	Upstreams     []struct{ Dial string }
	LoadBalancing struct {
		SelectionPolicy struct {
			Policy  string `json:"policy"`
			Weights []int  `json:"weights"`
		} `json:"selection_policy"`
	} `json:"load_balancing"`
	HealthChecks struct {
		Active struct {
			URI string `json:"uri"`
		} `json:"active"`
	} `json:"health_checks"`
	Key   string `json:"key"`
	Value string `json:"value"`
}

// answer is the handler that answers a route's requests: the last one,
// after those that only add to the access log.
func (r decodedRoute) answer() decodedHandler { return r.Handle[len(r.Handle)-1] }

func decode(t *testing.T, b []byte) decoded {
	t.Helper()
	var d decoded
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func dials(h []struct{ Dial string }) []string {
	var out []string
	for _, u := range h {
		out = append(out, u.Dial)
	}
	return out
}

func TestRenderBehaviour(t *testing.T) {
	t.Run("nothing live answers 503 and says so", func(t *testing.T) {
		routes := decode(t, render(t, Spec{})).Apps.HTTP.Servers["phoenix"].Routes
		last := routes[len(routes)-1].answer()
		if last.Handler != "static_response" || last.StatusCode != 503 || !strings.Contains(last.Body, "no live version") {
			t.Errorf("got %+v, want a 503 saying no version is live", last)
		}
	})
	t.Run("live only balances over live with health checks", func(t *testing.T) {
		routes := decode(t, render(t, Spec{Live: pool("v1", 2)})).Apps.HTTP.Servers["phoenix"].Routes
		h := routes[len(routes)-1].answer()
		if got := dials(h.Upstreams); !slices.Equal(got, []string{"dev-v1-0:8080", "dev-v1-1:8080"}) {
			t.Errorf("got upstreams %v", got)
		}
		if h.LoadBalancing.SelectionPolicy.Policy != "round_robin" || h.HealthChecks.Active.URI != "/healthz" {
			t.Errorf("got policy %q and health URI %q", h.LoadBalancing.SelectionPolicy.Policy, h.HealthChecks.Active.URI)
		}
	})
	t.Run("canary weights the candidate pool as a whole", func(t *testing.T) {
		routes := decode(t, render(t, Spec{Live: pool("v1", 2), Candidate: pool("v2", 1), CandidateWeight: 10})).Apps.HTTP.Servers["phoenix"].Routes
		h := routes[len(routes)-1].answer()
		p := h.LoadBalancing.SelectionPolicy
		if p.Policy != "weighted_round_robin" {
			t.Fatalf("got policy %q", p.Policy)
		}
		// Two live upstreams at 45% each, one candidate at 10%.
		if !slices.Equal(p.Weights, []int{9, 9, 2}) {
			t.Errorf("got weights %v, want [9 9 2]", p.Weights)
		}
		if got := dials(h.Upstreams); !slices.Equal(got, []string{"dev-v1-0:8080", "dev-v1-1:8080", "dev-v2-0:8080"}) {
			t.Errorf("got upstreams %v", got)
		}
	})
	t.Run("the header route reaches only the candidate", func(t *testing.T) {
		routes := decode(t, render(t, Spec{Live: pool("v1", 2), Candidate: pool("v2", 2)})).Apps.HTTP.Servers["phoenix"].Routes
		first := routes[1] // after the shutting-down route
		if got := first.Match[0]["header"][header.Route]; !slices.Equal(got, []string{header.RouteCandidate}) {
			t.Fatalf("first route matches %v, want %s: %s", first.Match, header.Route, header.RouteCandidate)
		}
		if got := dials(first.answer().Upstreams); !slices.Equal(got, []string{"dev-v2-0:8080", "dev-v2-1:8080"}) {
			t.Errorf("candidate route upstreams %v", got)
		}
		live := routes[len(routes)-1].answer()
		if got := dials(live.Upstreams); !slices.Equal(got, []string{"dev-v1-0:8080", "dev-v1-1:8080"}) {
			t.Errorf("without a weight, production goes to live only; got %v", got)
		}
	})
	t.Run("no candidate answers 404 on the header route", func(t *testing.T) {
		routes := decode(t, render(t, Spec{Live: pool("v1", 1)})).Apps.HTTP.Servers["phoenix"].Routes
		h := routes[1].answer()
		if h.StatusCode != 404 || !strings.Contains(h.Body, "no candidate") {
			t.Errorf("got %+v", h)
		}
	})
}

// TestRenderDrainsOldServers: after a load, the previous config's servers
// keep serving for ShutdownDelay and close their keep-alive connections, so
// that no request is cut off when they shut down.
func TestRenderDrainsOldServers(t *testing.T) {
	var cfg struct {
		Apps struct {
			HTTP struct {
				ShutdownDelay string `json:"shutdown_delay"`
				Servers       map[string]struct {
					Routes []struct {
						Match  []map[string]map[string][]string `json:"match"`
						Handle []struct {
							Handler  string                         `json:"handler"`
							Response map[string]map[string][]string `json:"response"`
						} `json:"handle"`
						Terminal bool `json:"terminal"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(render(t, Spec{Live: pool("v1", 1)}), &cfg); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Apps.HTTP.ShutdownDelay; got != ShutdownDelay.String() {
		t.Errorf("shutdown_delay %q, want %s", got, ShutdownDelay)
	}
	first := cfg.Apps.HTTP.Servers["phoenix"].Routes[0]
	if got := first.Match[0]["vars"]["{http.shutting_down}"]; !slices.Equal(got, []string{"true"}) || first.Terminal {
		t.Errorf("first route matches %v (terminal %v), want a non-terminal match on {http.shutting_down}", first.Match, first.Terminal)
	}
	if got := first.Handle[0].Response["set"]["Connection"]; first.Handle[0].Handler != "headers" || !slices.Equal(got, []string{"close"}) {
		t.Errorf("first route handles %+v, want Connection: close set", first.Handle)
	}
}

func TestSplitWeights(t *testing.T) {
	tests := []struct {
		n, m, pct int
		want      []int
	}{
		{1, 1, 10, []int{9, 1}},
		{2, 2, 50, []int{1, 1, 1, 1}},
		{2, 1, 10, []int{9, 9, 2}},
		{3, 2, 25, []int{2, 2, 2, 1, 1}},
		{1, 1, 100, []int{0, 1}},
	}
	for _, tt := range tests {
		got := splitWeights(tt.n, tt.m, tt.pct)
		if !slices.Equal(got, tt.want) {
			t.Errorf("splitWeights(%d, %d, %d) = %v, want %v", tt.n, tt.m, tt.pct, got, tt.want)
		}
		var live, cand int
		for i, w := range got {
			if i < tt.n {
				live += w
			} else {
				cand += w
			}
		}
		if cand*100 != tt.pct*(live+cand) {
			t.Errorf("splitWeights(%d, %d, %d): candidate share %d/%d is not %d%%", tt.n, tt.m, tt.pct, cand, live+cand, tt.pct)
		}
	}
}

func TestRenderRefuses(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"no listen address", Spec{Env: "dev"}, "listen address is empty"},
		{"weight without candidate", Spec{Env: "dev", Listen: ":1", Live: pool("v1", 1), CandidateWeight: 5}, "needs a live and a candidate"},
		{"weight over 100", Spec{Env: "dev", Listen: ":1", CandidateWeight: 101}, "outside 0 to 100"},
		{"pool without addresses", Spec{Env: "dev", Listen: ":1", Live: &Pool{Version: "v1"}}, "no upstream addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Render(tt.spec); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
