package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/phoenix-iac/phoenix/internal/gate"
	"github.com/phoenix-iac/phoenix/internal/header"
	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// GateOptions tune a health gate.
type GateOptions struct {
	// Need is the number of consecutive good answers; default 5.
	Need int
	// Timeout bounds the gate; default 2 minutes.
	Timeout time.Duration
	// interval is the pause between probes; default 200ms (a rollback's
	// probe of a warm version uses 50ms).
	interval time.Duration
	// Path is probed; default the env's phoenix:healthCheckPath (/healthz
	// unless set).
	Path string
}

// gatePath is the path the gates probe: path when given, else the env's
// phoenix:healthCheckPath.
func (o *Orchestrator) gatePath(env, path string) (string, error) {
	if path != "" {
		return path, nil
	}
	cfg, err := o.envConfig(env)
	if err != nil {
		return "", err
	}
	return cfg.HealthCheckPath, nil
}

// confirmTimeout bounds the wait for the load balancer to serve a new live
// version once the pointer names it.
const confirmTimeout = 30 * time.Second

// confirmLive waits until the load balancer's production route answers
// from version, at the url the env stack now exports (else url): a cut-over is done when traffic has moved, not when the
// pointer's update returned. Where the env stack names its pointer's value
// as the load balancer reports it (stacks.OutTrafficID: docker's traffic
// table), the answers must also come under that very table, so that a
// canary's share before the promotion cannot pass for it.
func (o *Orchestrator) confirmLive(ctx context.Context, env, url, version, path string) error {
	if url == "" {
		return nil
	}
	if path == "" {
		path = "/healthz"
	}
	var traffic string
	if rec, err := o.readRecord(ctx, stacks.StackName{Env: env}); err == nil {
		traffic, _ = rec.Outputs[stacks.OutTrafficID].(string)
		// The update applied the env's config as it is now, which may
		// have moved the url (a certificate, hostname or port).
		if u, _ := rec.Outputs[stacks.OutURL].(string); u != "" && u != url {
			o.logf("env %s now answers at %s (was %s)", env, u, url)
			url = u
		}
	}
	start := time.Now()
	_, err := gate.Probe{
		URL:      strings.TrimRight(url, "/") + path,
		Version:  version,
		Traffic:  traffic,
		Need:     3,
		Timeout:  confirmTimeout,
		Interval: 50 * time.Millisecond,
		Client:   o.opts.HTTPClient,
	}.Run(ctx)
	if err != nil {
		return fmt.Errorf("the traffic pointer names %s live, but the load balancer does not serve it: %w; check it with: curl -i %s", version, err, url)
	}
	if traffic != "" {
		o.logf("the load balancer serves %s (traffic table %s, confirmed %s after the update)", version, traffic, time.Since(start).Round(time.Millisecond))
	} else {
		o.logf("the load balancer serves %s", version)
	}
	return nil
}

// gate probes the candidate route until the version answers well.
func (o *Orchestrator) gate(ctx context.Context, env, url, version string, g GateOptions) error {
	h, err := o.keyed(ctx, env, http.Header{header.Route: {header.RouteCandidate}})
	if err != nil {
		return &GateError{Version: version, Err: err}
	}
	return o.explain(ctx, env, version, o.probe(ctx, url, version, g, h))
}

// probeVersion probes a version, live or warm, through its own route (the
// version header), which needs no change to the traffic pointer.
func (o *Orchestrator) probeVersion(ctx context.Context, env, url, version string, g GateOptions) error {
	h, err := o.keyed(ctx, env, http.Header{header.Version: {version}})
	if err != nil {
		return &GateError{Version: version, Err: err}
	}
	return o.explain(ctx, env, version, o.probe(ctx, url, version, g, h))
}

// diagnoseTimeout bounds the platform's account of a failed gate.
const diagnoseTimeout = 30 * time.Second

// explain adds to a failed gate what env's platform recorded about
// version (platform.Diagnoser): the reasons its scheduler gives. Asking is
// bounded; when it fails, the gate's own error stands, and the failure is
// logged.
func (o *Orchestrator) explain(ctx context.Context, env, version string, err error) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	p, f, perr := o.platformOf(env)
	if perr != nil {
		return err
	}
	d, ok := p.(platform.Diagnoser)
	if !ok {
		return err
	}
	st, _, serr := o.envState(ctx, env)
	if serr != nil {
		o.logf("could not read env %s to ask why %s did not answer: %v", env, version, serr)
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, diagnoseTimeout)
	defer cancel()
	reasons, derr := d.Diagnose(dctx, o.opsEnv(env, f, st), version)
	if derr != nil {
		o.logf("could not ask platform %s why %s did not answer: %v", p.Name(), version, derr)
		return err
	}
	if len(reasons) == 0 {
		return err
	}
	return fmt.Errorf("%w\nwhat platform %s recorded about %s:\n  %s", err, p.Name(), version, strings.Join(reasons, "\n  "))
}

// keyed adds the env's route key to h: the candidate and version routes
// take only requests that carry it. An env stack without one (made by an
// older phoenix, before its next update) has unguarded routes.
func (o *Orchestrator) keyed(ctx context.Context, env string, h http.Header) (http.Header, error) {
	key, err := o.routeKey(ctx, env)
	if err != nil {
		return nil, err
	}
	if key != "" {
		h.Set(header.Key, key)
	}
	return h, nil
}

// routeKey reads the env's route key, a secret output of its env stack,
// once per command: it never changes.
func (o *Orchestrator) routeKey(ctx context.Context, env string) (string, error) {
	o.mu.Lock()
	key, ok := o.keys[env]
	o.mu.Unlock()
	if ok {
		return key, nil
	}
	stdout, stderr, _, err := o.opts.Pulumi.Run(ctx, o.opts.ProjectDir, nil, nil, nil, o.envList(),
		"stack", "output", "--stack", env, "--show-secrets", "--json")
	if err != nil {
		return "", fmt.Errorf("reading the route key of env %s: %w: %s", env, err, strings.TrimSpace(stderr))
	}
	var outs map[string]any
	if err := json.Unmarshal([]byte(stdout), &outs); err != nil {
		return "", fmt.Errorf("reading the route key of env %s: %w", env, err)
	}
	key, _ = outs[stacks.OutRouteKey].(string)
	if key != "" {
		o.mu.Lock()
		if o.keys == nil {
			o.keys = map[string]string{}
		}
		o.keys[env] = key
		o.mu.Unlock()
	}
	return key, nil
}

// probe asks the load balancer, with header, until version answers well.
func (o *Orchestrator) probe(ctx context.Context, url, version string, g GateOptions, header http.Header) error {
	if url == "" {
		return &GateError{Version: version, Err: fmt.Errorf("the env stack has no url output to probe")}
	}
	if g.Need == 0 {
		g.Need = 5
	}
	if g.Timeout == 0 {
		g.Timeout = 2 * time.Minute
	}
	if g.Path == "" {
		g.Path = "/healthz"
	}
	o.logf("health gate: %d consecutive good answers from %s within %s", g.Need, version, g.Timeout)
	p := gate.Probe{
		URL:      strings.TrimRight(url, "/") + g.Path,
		Header:   header,
		Version:  version,
		Need:     g.Need,
		Timeout:  g.Timeout,
		Interval: g.interval,
		Client:   o.opts.HTTPClient,
	}
	if t := o.opts.Ticker; t != nil {
		defer fmt.Fprint(t, clearLine)
		p.Progress = func(r gate.Result, gone time.Duration) {
			last := ""
			if r.Last != "" {
				last = " · last problem: " + r.Last
			}
			fmt.Fprint(t, clearLine+fit(fmt.Sprintf("health gate: %d of %d good answers from %s, %s gone, %s left%s", r.Good, g.Need, version, clock(gone), clock(g.Timeout-gone), last)))
		}
	}
	_, err := p.Run(ctx)
	if err != nil {
		return &GateError{Version: version, Err: err}
	}
	return nil
}
