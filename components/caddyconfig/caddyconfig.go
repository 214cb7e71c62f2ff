// Package caddyconfig renders the Caddy configuration that is the docker
// platform's traffic pointer. It is the one place that turns live, candidate
// and canary weight into load-balancer behaviour, so the docker components
// and the data-plane tests use exactly the same text.
package caddyconfig

import (
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
	// pool's version. Empty when no upstream was tried (no live version).
	FieldVersion = "phoenix_version"

	LogRouteProduction = "production"
	LogRouteCandidate  = "candidate"
	LogRouteVersion    = "version"
)

// upstreamVersion is the placeholder the production route maps the
// chosen upstream to; Caddy's map handler evaluates it when the access
// log line is written, after the proxy chose (and perhaps retried).
const upstreamVersion = "phoenix.upstream_version"

// VersionAlias returns the network alias that every replica of a version
// answers to, which the version route dials.
func VersionAlias(env, version string) string { return env + "-" + version }

// InheritedListener is the listen address of the socket Caddy inherits from
// phoenix-lb (lb/). With an address it binds, Caddy opens a new SO_REUSEPORT
// socket for each config and closes the old one, which resets connections
// still queued on it. phoenix-lb maps this address to whichever of its two
// sockets (fd 3 or fd 4) a config is loaded on.
const InheritedListener = "fd/3"

// ShutdownDelay is how long the servers of the previous config keep
// serving after a new config is loaded, before they shut down. phoenix-lb
// steers new connections to the new servers first, so the old ones only
// finish what they have, and the first route below tells their keep-alive
// clients to close; at the end of the delay they have nothing half-read.
const ShutdownDelay = time.Second

// Pool is one version's upstreams.
type Pool struct {
	// Version is the version id the upstreams serve.
	Version string
	// Addresses are host:port dial addresses, one per replica.
	Addresses []string
}

// Spec describes the traffic of one env.
type Spec struct {
	// Env is the env name, used in messages.
	Env string
	// Listen is the address Caddy serves on, such as ":8080".
	Listen string
	// Live receives production traffic; nil when no version is live.
	Live *Pool
	// Candidate is reachable through the candidate route; nil when none.
	Candidate *Pool
	// CandidateWeight is the percentage of production traffic for the
	// candidate (0 to 100); it needs both Live and Candidate.
	CandidateWeight int
	// HealthPath is the upstreams' health endpoint, such as "/healthz".
	HealthPath string
	// HealthInterval is the time between active health checks; default 1s.
	HealthInterval time.Duration
	// VersionPort is the app port of every version; when set, a request
	// with header.Version: <version> goes to that version's replicas, by
	// their VersionAlias. 0 leaves the version route out.
	VersionPort int
}

// Render returns the Caddy JSON configuration for spec. The same spec always
// renders the same bytes, so an unchanged pointer is never rewritten.
func Render(spec Spec) ([]byte, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	interval := spec.HealthInterval
	if interval == 0 {
		interval = time.Second
	}
	// While the servers of a previous config wait out ShutdownDelay, their
	// responses close the connection, so that keep-alive clients reconnect
	// to the new servers instead of being cut off at the shutdown.
	routes := []route{{
		Match:  []matcher{{Vars: map[string][]string{"{http.shutting_down}": {"true"}}}},
		Handle: []handler{{Handler: "headers", Response: &headerOps{Set: map[string][]string{"Connection": {"close"}}}}},
	}}
	if spec.VersionPort != 0 {
		// Any version by name: the header must look like a version id
		// (at most stacks.MaxVersionLength characters),
		// and the dial address is the version's alias on the env network
		// (Docker's DNS answers with its replicas), so no config change is
		// needed to reach a warm version.
		routes = append(routes, route{
			Match: []matcher{{HeaderRegexp: map[string]regexpMatch{header.Version: {Pattern: `^[a-z0-9][a-z0-9-]{0,11}$`}}}},
			Handle: []handler{logAppend(FieldRoute, LogRouteVersion), {
				Handler:   "reverse_proxy",
				Upstreams: []upstream{{Dial: fmt.Sprintf("%s-{http.request.header.%s}:%d", spec.Env, header.Version, spec.VersionPort)}},
				LoadBalancing: &loadBalancing{
					SelectionPolicy: selection{Policy: "round_robin"},
					TryDuration:     "2s",
					TryInterval:     "100ms",
				},
			}},
			Terminal: true,
		})
	}
	if spec.Candidate != nil {
		routes = append(routes, route{
			Match:    []matcher{{Header: map[string][]string{header.Route: {header.RouteCandidate}}}},
			Handle:   []handler{logAppend(FieldRoute, LogRouteCandidate), spec.proxy([]*Pool{spec.Candidate}, nil, interval)},
			Terminal: true,
		})
	} else {
		routes = append(routes, route{
			Match:    []matcher{{Header: map[string][]string{header.Route: {header.RouteCandidate}}}},
			Handle:   []handler{logAppend(FieldRoute, LogRouteCandidate), static(404, fmt.Sprintf("phoenix: env %s has no candidate version\n", spec.Env))},
			Terminal: true,
		})
	}
	switch {
	case spec.Live == nil:
		routes = append(routes, route{Handle: []handler{logAppend(FieldRoute, LogRouteProduction), static(503,
			fmt.Sprintf("phoenix: env %s has no live version; deploy one with: phoenix deploy --env %s\n", spec.Env, spec.Env))}})
	case spec.Candidate != nil && spec.CandidateWeight > 0 && spec.Candidate.Version != spec.Live.Version:
		pools := []*Pool{spec.Live, spec.Candidate}
		weights := splitWeights(len(spec.Live.Addresses), len(spec.Candidate.Addresses), spec.CandidateWeight)
		routes = append(routes, route{Handle: production(pools, spec.proxy(pools, weights, interval))})
	default:
		pools := []*Pool{spec.Live}
		routes = append(routes, route{Handle: production(pools, spec.proxy(pools, nil, interval))})
	}
	cfg := config{
		Admin: admin{Disabled: true},
		Apps: apps{HTTP: httpApp{
			// A reload lets in-flight requests finish on the old server.
			GracePeriod:   "10s",
			ShutdownDelay: ShutdownDelay.String(),
			Servers: map[string]server{"phoenix": {
				Listen: []string{spec.Listen},
				Routes: routes,
				Logs:   &serverLogs{DefaultLoggerName: "phoenix"},
			}},
		}},
		Logging: accessLogging(),
	}
	return json.MarshalIndent(cfg, "", "  ")
}

func (s Spec) validate() error {
	if s.Listen == "" {
		return fmt.Errorf("caddy config for env %s: listen address is empty", s.Env)
	}
	if s.CandidateWeight < 0 || s.CandidateWeight > 100 {
		return fmt.Errorf("caddy config for env %s: candidate weight %d is outside 0 to 100", s.Env, s.CandidateWeight)
	}
	if s.CandidateWeight > 0 && (s.Live == nil || s.Candidate == nil) {
		return fmt.Errorf("caddy config for env %s: a candidate weight needs a live and a candidate version", s.Env)
	}
	for _, p := range []*Pool{s.Live, s.Candidate} {
		if p != nil && len(p.Addresses) == 0 {
			return fmt.Errorf("caddy config for env %s: version %s has no upstream addresses", s.Env, p.Version)
		}
	}
	return nil
}

// splitWeights gives each of n live and m candidate upstreams a weight so
// that the candidate pool as a whole gets pct percent of requests.
func splitWeights(n, m, pct int) []int {
	live, cand := (100-pct)*m, pct*n
	g := gcd(live, cand)
	weights := make([]int, 0, n+m)
	for range n {
		weights = append(weights, live/g)
	}
	for range m {
		weights = append(weights, cand/g)
	}
	return weights
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	if a == 0 {
		return 1
	}
	return a
}

func (s Spec) proxy(pools []*Pool, weights []int, interval time.Duration) handler {
	var ups []upstream
	for _, p := range pools {
		for _, a := range p.Addresses {
			ups = append(ups, upstream{Dial: a})
		}
	}
	policy := selection{Policy: "round_robin"}
	if weights != nil {
		policy = selection{Policy: "weighted_round_robin", Weights: weights}
	}
	return handler{
		Handler:   "reverse_proxy",
		Upstreams: ups,
		LoadBalancing: &loadBalancing{
			SelectionPolicy: policy,
			// A request whose upstream fails before answering is tried on
			// another one for up to 5 s: a replica going away never shows.
			TryDuration: "5s",
			TryInterval: "100ms",
		},
		HealthChecks: &healthChecks{
			Active: activeHealth{
				URI: s.HealthPath, Interval: interval.String(), Timeout: interval.String(),
				Passes: 1, Fails: 1, ExpectStatus: 200,
			},
			// Two failed connections take an upstream out for 5 s, so that
			// retries stop choosing a replica that has just gone away.
			Passive: passiveHealth{FailDuration: "5s", MaxFails: 2},
		},
	}
}

// production is the handler chain of the production route: the chosen
// upstream's version and the route name go into the access log.
func production(pools []*Pool, proxy handler) []handler {
	m := handler{Handler: "map", Source: "{http.reverse_proxy.upstream.hostport}", Destinations: []string{"{" + upstreamVersion + "}"}, Defaults: []string{""}}
	for _, p := range pools {
		for _, a := range p.Addresses {
			m.Mappings = append(m.Mappings, mapping{Input: a, Outputs: []string{p.Version}})
		}
	}
	return []handler{m, logAppend(FieldRoute, LogRouteProduction), logAppend(FieldVersion, "{"+upstreamVersion+"}"), proxy}
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

func static(status int, body string) handler {
	return handler{
		Handler:    "static_response",
		StatusCode: status,
		Body:       body,
		Headers:    map[string][]string{"Content-Type": {"text/plain; charset=utf-8"}},
	}
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

type mapping struct {
	Input   string   `json:"input"`
	Outputs []string `json:"outputs"`
}

type admin struct {
	Disabled bool `json:"disabled"`
}

type apps struct {
	HTTP httpApp `json:"http"`
}

type httpApp struct {
	GracePeriod   string            `json:"grace_period,omitempty"`
	ShutdownDelay string            `json:"shutdown_delay,omitempty"`
	Servers       map[string]server `json:"servers"`
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
	Vars         map[string][]string    `json:"vars,omitempty"`
}

type regexpMatch struct {
	Pattern string `json:"pattern"`
}

type headerOps struct {
	Set map[string][]string `json:"set,omitempty"`
}

type handler struct {
	Handler       string              `json:"handler"`
	Upstreams     []upstream          `json:"upstreams,omitempty"`
	LoadBalancing *loadBalancing      `json:"load_balancing,omitempty"`
	HealthChecks  *healthChecks       `json:"health_checks,omitempty"`
	StatusCode    int                 `json:"status_code,omitempty"`
	Body          string              `json:"body,omitempty"`
	Headers       map[string][]string `json:"headers,omitempty"`
	Response      *headerOps          `json:"response,omitempty"`
	// map
	Source       string    `json:"source,omitempty"`
	Destinations []string  `json:"destinations,omitempty"`
	Mappings     []mapping `json:"mappings,omitempty"`
	Defaults     []string  `json:"defaults,omitempty"`
	// log_append
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
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
	Policy  string `json:"policy"`
	Weights []int  `json:"weights,omitempty"`
}

type healthChecks struct {
	Active  activeHealth  `json:"active"`
	Passive passiveHealth `json:"passive"`
}

type activeHealth struct {
	URI          string `json:"uri"`
	Interval     string `json:"interval"`
	Timeout      string `json:"timeout"`
	Passes       int    `json:"passes"`
	Fails        int    `json:"fails"`
	ExpectStatus int    `json:"expect_status"`
}

type passiveHealth struct {
	FailDuration string `json:"fail_duration"`
	MaxFails     int    `json:"max_fails"`
}
