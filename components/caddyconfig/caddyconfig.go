// Package caddyconfig renders what the docker platform's load balancer
// runs on: the Caddy configuration of an env's edge, which is fixed for
// the life of the load balancer's container, and the traffic table, which
// is the env's traffic pointer. The load balancer is Phoenix's build of
// Caddy (lb/) whose traffic module reads the table as data: a cut-over,
// a canary step or a rollback writes a new table and no config is loaded,
// no server restarted, no listener touched. This is the one place that
// turns live, candidate and canary weight into load-balancer behaviour,
// so the docker components and the data-plane tests use exactly the same
// bytes.
package caddyconfig

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/phoenix-iac/phoenix/internal/header"
)

// The access log: Caddy writes one JSON line per request to its stdout,
// through the logger AccessLogger, with two fields of Phoenix's own. The
// canary analysis (internal/analysis) reads it to compare the candidate with
// live on the production traffic each served.
const (
	// AccessLogger is the Caddy logger of the access log.
	AccessLogger = "http.log.access.phoenix"
	// FieldRoute names the route that took a request: LogRouteProduction,
	// LogRouteCandidate or LogRouteVersion.
	FieldRoute = "phoenix_route"
	// FieldVersion names the version whose replica answered a production
	// request, or failed to: the upstream Caddy last tried, mapped to its
	// pool's version by the table that routed the request. Empty when no
	// upstream was tried.
	FieldVersion = "phoenix_version"

	LogRouteProduction = "production"
	LogRouteCandidate  = "candidate"
	LogRouteVersion    = "version"
)

// TableFormat is the format of the traffic table that RenderTable writes
// and the load balancer's traffic module reads (lb/traffic).
const TableFormat = 1

// VersionAlias returns the network alias that every replica of a version
// answers to, which the version route dials.
func VersionAlias(env, version string) string { return env + "-" + version }

// Pool is one version's upstreams.
type Pool struct {
	// Version is the version id the upstreams serve.
	Version string `json:"version"`
	// Addresses are host:port dial addresses, one per replica.
	Addresses []string `json:"upstreams"`
}

// Spec describes the traffic of one env: what the table says.
type Spec struct {
	// Env is the env name, used in the load balancer's own answers.
	Env string
	// Live receives production traffic; nil when no version is live.
	Live *Pool
	// Candidate is reachable through the candidate route; nil when none.
	Candidate *Pool
	// CandidateWeight is the percentage of production traffic for the
	// candidate (0 to 100); it needs both Live and Candidate.
	CandidateWeight int
}

// table is the traffic table's JSON form.
type table struct {
	Format          int    `json:"format"`
	Env             string `json:"env"`
	Live            *Pool  `json:"live,omitempty"`
	Candidate       *Pool  `json:"candidate,omitempty"`
	CandidateWeight int    `json:"candidateWeight,omitempty"`
}

// RenderTable returns the traffic table for spec. The same spec always
// renders the same bytes, so an unchanged pointer is never rewritten. A
// candidate that is also live gets no weight: it is all of production.
func RenderTable(spec Spec) ([]byte, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	t := table{Format: TableFormat, Env: spec.Env, Live: spec.Live, Candidate: spec.Candidate, CandidateWeight: spec.CandidateWeight}
	if t.Live != nil && t.Candidate != nil && t.Live.Version == t.Candidate.Version {
		t.CandidateWeight = 0
	}
	return json.MarshalIndent(t, "", "  ")
}

// TableID names a table by its bytes, as the load balancer does in its
// X-Phoenix-Traffic response header: the first 12 hex digits of their
// SHA-256.
func TableID(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])[:12]
}

func (s Spec) validate() error {
	if s.Env == "" {
		return fmt.Errorf("traffic table: the env name is empty")
	}
	if s.CandidateWeight < 0 || s.CandidateWeight > 100 {
		return fmt.Errorf("traffic table for env %s: candidate weight %d is outside 0 to 100", s.Env, s.CandidateWeight)
	}
	if s.CandidateWeight > 0 && (s.Live == nil || s.Candidate == nil) {
		return fmt.Errorf("traffic table for env %s: a candidate weight needs a live and a candidate version", s.Env)
	}
	for _, p := range []*Pool{s.Live, s.Candidate} {
		if p != nil && len(p.Addresses) == 0 {
			return fmt.Errorf("traffic table for env %s: version %s has no upstream addresses", s.Env, p.Version)
		}
	}
	return nil
}

// Edge describes the load balancer of one env: what its Caddy config says.
type Edge struct {
	// Env is the env name. Required.
	Env string
	// Listen is the address Caddy serves on, such as ":8080". Required.
	Listen string
	// Table is the path of the traffic table in the load balancer. Required.
	Table string
	// HealthPath is the upstreams' health endpoint, such as "/healthz". Required.
	HealthPath string
	// HealthInterval is the time between active health checks; default 1s.
	HealthInterval time.Duration
	// VersionPort is the app port of every version; when set, a request
	// with header.Version: <version> goes to that version's replicas, by
	// their VersionAlias. 0 leaves the version route out.
	VersionPort int
	// KeyFile, when set, is the file in the load balancer that holds the
	// route key: the value header.Key must have for a request to take the
	// version route or the candidate route; any other request is
	// production traffic. The config names the file, never the key, so
	// that it holds no secret; Caddy refuses to load it without the file
	// (lb/traffic.KeyMatcher).
	KeyFile string
}

// KeyFile returns the route key file an edge config requires
// (Edge.KeyFile), or "".
func KeyFile(edgeConfig []byte) (string, error) {
	var cfg config
	if err := json.Unmarshal(edgeConfig, &cfg); err != nil {
		return "", err
	}
	for _, srv := range cfg.Apps.HTTP.Servers {
		for _, r := range srv.Routes {
			for _, m := range r.Match {
				if m.Key != nil {
					return m.Key.File, nil
				}
			}
		}
	}
	return "", nil
}

// keyed adds the route key matcher to m, when the edge has one: the
// matchers of one set must all match.
func (e Edge) keyed(m matcher) matcher {
	if e.KeyFile != "" {
		m.Key = &keyMatcher{Header: header.Key, File: e.KeyFile}
	}
	return m
}

// Traffic module names (lb/traffic).
const (
	trafficHandler = "phoenix_traffic"
	trafficSource  = "phoenix_traffic"
)

// RenderEdge returns the Caddy JSON configuration of an env's load
// balancer. It names no version: which versions get traffic is the
// table's business, read per request.
func RenderEdge(e Edge) ([]byte, error) {
	if e.Env == "" || e.Listen == "" || e.Table == "" || e.HealthPath == "" {
		return nil, fmt.Errorf("caddy config for env %q: env, listen address, table and health path are required", e.Env)
	}
	interval := e.HealthInterval
	if interval == 0 {
		interval = time.Second
	}
	var routes []route
	if e.VersionPort != 0 {
		// Any version by name: the header must look like a version id
		// (at most stacks.MaxVersionLength characters),
		// and the dial address is the version's alias on the env network
		// (Docker's DNS answers with its replicas), so no table change is
		// needed to reach a warm version.
		routes = append(routes, route{
			Match: []matcher{e.keyed(matcher{HeaderRegexp: map[string]regexpMatch{header.Version: {Pattern: `^[a-z0-9][a-z0-9-]{0,11}$`}}})},
			Handle: []handler{logAppend(FieldRoute, LogRouteVersion), {
				Handler:   "reverse_proxy",
				Upstreams: []upstream{{Dial: fmt.Sprintf("%s-{http.request.header.%s}:%d", e.Env, header.Version, e.VersionPort)}},
				LoadBalancing: &loadBalancing{
					SelectionPolicy: selection{Policy: "round_robin"},
					TryDuration:     "2s",
					TryInterval:     "100ms",
				},
			}},
			Terminal: true,
		})
	}
	routes = append(routes,
		route{
			Match:    []matcher{e.keyed(matcher{Header: map[string][]string{header.Route: {header.RouteCandidate}}})},
			Handle:   []handler{e.traffic(LogRouteCandidate, interval), proxy()},
			Terminal: true,
		},
		route{Handle: []handler{e.traffic(LogRouteProduction, interval), proxy()}},
	)
	cfg := config{
		Admin: admin{Disabled: true},
		Apps: apps{HTTP: httpApp{
			// When the container stops, in-flight requests finish.
			GracePeriod: "10s",
			Servers: map[string]server{"phoenix": {
				Listen: []string{e.Listen},
				Routes: routes,
				Logs:   &serverLogs{DefaultLoggerName: "phoenix"},
			}},
		}},
		Logging: accessLogging(),
	}
	return json.MarshalIndent(cfg, "", "  ")
}

// traffic is the traffic module's handler for a route: it picks the pool
// by the table, or answers 404 (no candidate) or 503 (nothing live).
func (e Edge) traffic(route string, interval time.Duration) handler {
	return handler{
		Handler: trafficHandler, Table: e.Table, Route: route, Env: e.Env,
		HealthURI: e.HealthPath, HealthInterval: interval.String(),
	}
}

// proxy is the reverse proxy behind the traffic handler: the pool's
// healthy upstreams come from the traffic module.
func proxy() handler {
	return handler{
		Handler:          "reverse_proxy",
		DynamicUpstreams: &dynamicUpstreams{Source: trafficSource},
		LoadBalancing: &loadBalancing{
			SelectionPolicy: selection{Policy: "round_robin"},
			// A request whose upstream fails before answering is tried on
			// another one for up to 5 s: a replica going away never shows.
			TryDuration: "5s",
			TryInterval: "100ms",
		},
		HealthChecks: &healthChecks{
			// Two failed connections take an upstream out for 5 s, so that
			// retries stop choosing a replica that has just gone away.
			// The active checks are the traffic module's.
			Passive: passiveHealth{FailDuration: "5s", MaxFails: 2},
		},
	}
}

func logAppend(key, value string) handler {
	return handler{Handler: "log_append", Key: key, Value: value}
}

// accessLogging sends the access log, and only it, to stdout as JSON lines
// with integer times (unix nanoseconds) and durations (nanoseconds). The
// lines leave out request and response headers and the query string,
// which may carry credentials; the rest of Caddy's log goes to stderr.
func accessLogging() *logging {
	return &logging{Logs: map[string]logConfig{
		"default": {Exclude: []string{AccessLogger}},
		"phoenix-access": {
			Writer: &logWriter{Output: "stdout"},
			Encoder: &logEncoder{
				Format: "filter",
				Wrap:   &logEncoder{Format: "json", TimeFormat: "unix_nano", DurationFormat: "ns"},
				Fields: map[string]logFilter{
					"request>headers": {Filter: "delete"},
					"request>tls":     {Filter: "delete"},
					"resp_headers":    {Filter: "delete"},
					"request>uri":     {Filter: "regexp", Regexp: `\?.*$`, Value: ""},
				},
			},
			Include: []string{AccessLogger},
		},
	}}
}

// The types below are the subset of Caddy's JSON structure Phoenix writes.

type config struct {
	Admin   admin    `json:"admin"`
	Logging *logging `json:"logging,omitempty"`
	Apps    apps     `json:"apps"`
}

type logging struct {
	Logs map[string]logConfig `json:"logs"`
}

type logConfig struct {
	Writer  *logWriter  `json:"writer,omitempty"`
	Encoder *logEncoder `json:"encoder,omitempty"`
	Include []string    `json:"include,omitempty"`
	Exclude []string    `json:"exclude,omitempty"`
}

type logWriter struct {
	Output string `json:"output"`
}

type logEncoder struct {
	Format         string               `json:"format"`
	Wrap           *logEncoder          `json:"wrap,omitempty"`
	Fields         map[string]logFilter `json:"fields,omitempty"`
	TimeFormat     string               `json:"time_format,omitempty"`
	DurationFormat string               `json:"duration_format,omitempty"`
}

type logFilter struct {
	Filter string `json:"filter"`
	Regexp string `json:"regexp,omitempty"`
	Value  string `json:"value,omitempty"`
}

type serverLogs struct {
	DefaultLoggerName string `json:"default_logger_name"`
}

type admin struct {
	Disabled bool `json:"disabled"`
}

type apps struct {
	HTTP httpApp `json:"http"`
}

type httpApp struct {
	GracePeriod string            `json:"grace_period,omitempty"`
	Servers     map[string]server `json:"servers"`
}

type server struct {
	Listen []string    `json:"listen"`
	Routes []route     `json:"routes"`
	Logs   *serverLogs `json:"logs,omitempty"`
}

type route struct {
	Match    []matcher `json:"match,omitempty"`
	Handle   []handler `json:"handle"`
	Terminal bool      `json:"terminal,omitempty"`
}

type matcher struct {
	Header       map[string][]string    `json:"header,omitempty"`
	HeaderRegexp map[string]regexpMatch `json:"header_regexp,omitempty"`
	Key          *keyMatcher            `json:"phoenix_key,omitempty"`
}

// keyMatcher is lb/traffic's route key matcher.
type keyMatcher struct {
	Header string `json:"header"`
	File   string `json:"file"`
}

type regexpMatch struct {
	Pattern string `json:"pattern"`
}

type handler struct {
	Handler          string            `json:"handler"`
	Upstreams        []upstream        `json:"upstreams,omitempty"`
	DynamicUpstreams *dynamicUpstreams `json:"dynamic_upstreams,omitempty"`
	LoadBalancing    *loadBalancing    `json:"load_balancing,omitempty"`
	HealthChecks     *healthChecks     `json:"health_checks,omitempty"`
	// log_append
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
	// phoenix_traffic
	Table          string `json:"table,omitempty"`
	Route          string `json:"route,omitempty"`
	Env            string `json:"env,omitempty"`
	HealthURI      string `json:"health_uri,omitempty"`
	HealthInterval string `json:"health_interval,omitempty"`
}

type dynamicUpstreams struct {
	Source string `json:"source"`
}

type upstream struct {
	Dial string `json:"dial"`
}

type loadBalancing struct {
	SelectionPolicy selection `json:"selection_policy"`
	TryDuration     string    `json:"try_duration,omitempty"`
	TryInterval     string    `json:"try_interval,omitempty"`
}

type selection struct {
	Policy string `json:"policy"`
}

type healthChecks struct {
	Passive passiveHealth `json:"passive"`
}

type passiveHealth struct {
	FailDuration string `json:"fail_duration"`
	MaxFails     int    `json:"max_fails"`
}
