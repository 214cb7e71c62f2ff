package traffic

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Handler{})
	caddy.RegisterModule(Source{})
}

// Routes a Handler serves.
const (
	RouteProduction = "production"
	RouteCandidate  = "candidate"
)

// Access log fields, as phoenix's canary analysis reads them.
const (
	FieldRoute   = "phoenix_route"
	FieldVersion = "phoenix_version"
)

// HeaderTraffic is the response header that names the table a request
// was routed by (its ID).
const HeaderTraffic = "X-Phoenix-Traffic"

// selectionVar is the request variable that carries the pools a request
// was given from the Handler to the Source.
const selectionVar = "phoenix.traffic.selection"

// routers are the Routers in use, one per table file, shared by the
// handlers of one config.
var routers = caddy.NewUsagePool()

// Handler routes a request by the env's traffic table. It must be
// followed by a reverse_proxy whose dynamic_upstreams source is
// phoenix_traffic.
type Handler struct {
	// Table is the table file. Required.
	Table string `json:"table"`
	// Route is RouteProduction or RouteCandidate. Required.
	Route string `json:"route"`
	// Env names the env in answers given before a table is read. Required.
	Env string `json:"env"`
	// HealthURI is the path of the upstreams' health check. Required.
	HealthURI string `json:"health_uri"`
	// HealthInterval is the time between checks; default 1s.
	HealthInterval caddy.Duration `json:"health_interval,omitempty"`
	// HealthTimeout bounds one check; default HealthInterval.
	HealthTimeout caddy.Duration `json:"health_timeout,omitempty"`
	// Poll is how often the table file is looked at; default 20ms.
	Poll caddy.Duration `json:"poll,omitempty"`

	router *Router
}

// CaddyModule implements caddy.Module.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.phoenix_traffic",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision implements caddy.Provisioner: it starts, or joins, the
// Router of the table file. Handlers of one table share its health
// settings; the first one provisioned sets them.
func (h *Handler) Provision(ctx caddy.Context) error {
	if h.HealthInterval == 0 {
		h.HealthInterval = caddy.Duration(time.Second)
	}
	if h.HealthTimeout == 0 {
		h.HealthTimeout = h.HealthInterval
	}
	if h.Poll == 0 {
		h.Poll = caddy.Duration(20 * time.Millisecond)
	}
	log := ctx.Logger()
	r, _, err := routers.LoadOrNew(h.Table, func() (caddy.Destructor, error) {
		return NewRouter(h.Table, time.Duration(h.Poll), HealthCheck{
			URI: h.HealthURI, Interval: time.Duration(h.HealthInterval), Timeout: time.Duration(h.HealthTimeout),
		}, log), nil
	})
	if err != nil {
		return err
	}
	h.router = r.(*Router)
	return nil
}

// Validate implements caddy.Validator.
func (h *Handler) Validate() error {
	switch {
	case h.Table == "":
		return errors.New("phoenix_traffic: table is required")
	case h.Route != RouteProduction && h.Route != RouteCandidate:
		return fmt.Errorf("phoenix_traffic: route %q is neither %s nor %s", h.Route, RouteProduction, RouteCandidate)
	case h.Env == "":
		return errors.New("phoenix_traffic: env is required")
	case h.HealthURI == "":
		return errors.New("phoenix_traffic: health_uri is required")
	}
	return nil
}

// Cleanup implements caddy.CleanerUpper.
func (h *Handler) Cleanup() error {
	_, err := routers.Delete(h.Table)
	return err
}

// selection is the pools one request may go to.
type selection struct {
	primary, fallback *pool
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	snap := h.router.snapshot()
	extra, _ := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields)
	if extra != nil {
		extra.Add(zap.String(FieldRoute, h.Route))
	}
	env := h.Env
	if snap.table != nil {
		env = snap.table.Env
		w.Header().Set(HeaderTraffic, snap.id)
	}
	var sel selection
	switch h.Route {
	case RouteCandidate:
		if snap.candidate == nil {
			return answer(w, http.StatusNotFound, fmt.Sprintf("phoenix: env %s has no candidate version\n", env))
		}
		sel.primary = snap.candidate
	default:
		if snap.live == nil {
			return answer(w, http.StatusServiceUnavailable,
				fmt.Sprintf("phoenix: env %s has no live version; deploy one with: phoenix deploy --env %s\n", env, env))
		}
		sel.primary, sel.fallback = snap.choose(&h.router.picks)
	}
	caddyhttp.SetVar(r.Context(), selectionVar, &sel)
	err := next.ServeHTTP(w, r)
	if h.Route == RouteProduction && extra != nil {
		// The version whose upstream Caddy tried last: the one that
		// answered, or failed to. Empty when none was tried.
		repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		var version string
		if repl != nil {
			if addr, ok := repl.GetString("http.reverse_proxy.upstream.hostport"); ok {
				version = snap.versionOf[addr]
			}
		}
		extra.Add(zap.String(FieldVersion, version))
	}
	return err
}

func answer(w http.ResponseWriter, status int, body string) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write([]byte(body))
	return err
}

// Source gives reverse_proxy the healthy upstreams of the pool the
// Handler chose for the request, or of its fallback when none of the
// first is healthy (a production request never fails for a canary whose
// replicas all went away).
type Source struct{}

// CaddyModule implements caddy.Module.
func (Source) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.upstreams.phoenix_traffic",
		New: func() caddy.Module { return new(Source) },
	}
}

// GetUpstreams implements reverseproxy.UpstreamSource.
func (Source) GetUpstreams(r *http.Request) ([]*reverseproxy.Upstream, error) {
	sel, ok := caddyhttp.GetVar(r.Context(), selectionVar).(*selection)
	if !ok {
		return nil, errors.New("phoenix_traffic upstreams need the phoenix_traffic handler earlier in the route")
	}
	ups := sel.primary.healthy()
	if len(ups) == 0 && sel.fallback != nil {
		ups = sel.fallback.healthy()
	}
	return ups, nil
}

// healthy returns new Upstream values (reverse_proxy fills them in) for
// the pool's upstreams that passed their last check.
func (p *pool) healthy() []*reverseproxy.Upstream {
	out := make([]*reverseproxy.Upstream, 0, len(p.targets))
	for _, c := range p.targets {
		if !c.unhealthy.Load() {
			out = append(out, &reverseproxy.Upstream{Dial: c.addr})
		}
	}
	return out
}

var (
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ reverseproxy.UpstreamSource = Source{}
)
