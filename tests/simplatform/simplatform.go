// Package simplatform runs Phoenix's registered platforms against the
// engine tests' simulated cloud: their providers are served by the
// simulator (PULUMI_DEBUG_PROVIDERS), so there is no plugin to install,
// and a test may give the traffic figures the canary analysis reads. It
// is the test double of a platform's operations, given to the
// orchestrator as one more registration (orchestrator.Options.Platforms,
// cli.Factory.Platforms); production code has no branch for it.
package simplatform

import (
	"context"
	"fmt"
	"time"

	"github.com/phoenix-iac/phoenix/internal/analysis"
	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// Platform is a registered platform whose plugins the simulator serves.
type Platform struct {
	stacks.Platform
	// Analysis, when set, opens the traffic figures of the canary
	// analysis in place of the platform's own source.
	Analysis func() analysis.Source
}

// Lookup is stacks.LookupPlatform for the simulated cloud.
func Lookup(name stacks.PlatformName) (stacks.Platform, error) {
	return LookupWith(nil)(name)
}

// LookupWith is Lookup with the canary analysis reading source.
func LookupWith(source func() analysis.Source) func(stacks.PlatformName) (stacks.Platform, error) {
	return func(name stacks.PlatformName) (stacks.Platform, error) {
		p, err := stacks.LookupPlatform(name)
		if err != nil {
			return nil, err
		}
		return Platform{Platform: p, Analysis: source}, nil
	}
}

// Plugins implements stacks.Platform: none to install, the simulator
// serves them all.
func (Platform) Plugins() map[string]string { return nil }

// Preflight implements platform.Preflighter with the platform's own check
// (on docker, the simulated engine API answers it).
func (p Platform) Preflight(ctx context.Context, env platform.Env) error {
	if pf, ok := p.Platform.(platform.Preflighter); ok {
		return pf.Preflight(ctx, env)
	}
	return nil
}

// AnalysisSource implements platform.Analyzer: the test's figures, else
// the platform's own source.
func (p Platform) AnalysisSource(ctx context.Context, env platform.Env, since time.Time) (analysis.Source, error) {
	if p.Analysis != nil {
		return p.Analysis(), nil
	}
	if an, ok := p.Platform.(platform.Analyzer); ok {
		return an.AnalysisSource(ctx, env, since)
	}
	return nil, fmt.Errorf("the canary analysis has no source of traffic figures on platform %s; pass --analysis=false", p.Name())
}

// Logs implements platform.LogReader with the platform's own reader.
func (p Platform) Logs(ctx context.Context, env platform.Env, q platform.LogQuery, out func(platform.LogLine) error) error {
	if lr, ok := p.Platform.(platform.LogReader); ok {
		return lr.Logs(ctx, env, q, out)
	}
	return fmt.Errorf("platform %s has no log reader", p.Name())
}

// Inventory implements platform.Inventory with the platform's own.
func (p Platform) Inventory(env platform.Env) (platform.Cloud, error) {
	if inv, ok := p.Platform.(platform.Inventory); ok {
		return inv.Inventory(env)
	}
	return nil, fmt.Errorf("%w on platform %s", platform.ErrNoInventory, p.Name())
}

// Review implements platform.Reviewer with the platform's own rules.
func (p Platform) Review(s platform.PlannedStep) []platform.Finding {
	if r, ok := p.Platform.(platform.Reviewer); ok {
		return r.Review(s)
	}
	return nil
}

// Release implements platform.Releaser with the platform's own (on aws,
// the simulated cloud answers its ECR calls: harness's AWS_ENDPOINT_URL).
func (p Platform) Release(ctx context.Context, env platform.Env, version string) error {
	if r, ok := p.Platform.(platform.Releaser); ok {
		return r.Release(ctx, env, version)
	}
	return nil
}

// Detached implements platform.Detacher with the platform's own.
func (p Platform) Detached(typ string) bool {
	d, ok := p.Platform.(platform.Detacher)
	return ok && d.Detached(typ)
}

// Detach implements platform.Detacher with the platform's own.
func (p Platform) Detach(typ string, props map[string]any) {
	if d, ok := p.Platform.(platform.Detacher); ok {
		d.Detach(typ, props)
	}
}

// Diagnose implements platform.Diagnoser with the platform's own (on aws,
// the simulated cloud answers its ECS calls: harness's
// AWS_ENDPOINT_URL_ECS).
func (p Platform) Diagnose(ctx context.Context, env platform.Env, version string) ([]string, error) {
	if d, ok := p.Platform.(platform.Diagnoser); ok {
		return d.Diagnose(ctx, env, version)
	}
	return nil, nil
}

// Artifact implements platform.Promoter with the platform's own (on
// docker, the simulated engine API answers its image inspect).
func (p Platform) Artifact(ctx context.Context, env platform.Env, version string) (string, error) {
	if pr, ok := p.Platform.(platform.Promoter); ok {
		return pr.Artifact(ctx, env, version)
	}
	return "", fmt.Errorf("platform %s: %w", p.Name(), platform.ErrNoPromotion)
}

// Copy implements platform.Promoter with the platform's own.
func (p Platform) Copy(ctx context.Context, from, to platform.Env, image, version string) (string, error) {
	if pr, ok := p.Platform.(platform.Promoter); ok {
		return pr.Copy(ctx, from, to, image, version)
	}
	return "", fmt.Errorf("platform %s: %w", p.Name(), platform.ErrNoPromotion)
}
