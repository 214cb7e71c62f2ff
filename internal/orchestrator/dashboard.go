package orchestrator

// What phoenix dashboard reads besides status and history: an env's
// traffic figures as they come, and a version's resources.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/phoenix-iac/phoenix/internal/analysis"
	"github.com/phoenix-iac/phoenix/stacks"
)

// TrafficSource opens the load balancer's records of env's production
// traffic from since, the source a deploy's canary analysis reads (Caddy's
// access log on docker, CloudWatch on aws). The caller closes it.
func (o *Orchestrator) TrafficSource(ctx context.Context, env string, since time.Time) (analysis.Source, error) {
	if err := stacks.ValidateEnv(env); err != nil {
		return nil, err
	}
	st, _, err := o.envState(ctx, env)
	if err != nil {
		return nil, err
	}
	if !st.Exists {
		return nil, &NotFoundError{What: fmt.Sprintf("env %s has not been deployed; deploy it with: phoenix deploy --env %s", env, env)}
	}
	return o.analysisSource(ctx, env, st, since)
}

// Resource is one resource of a version stack, as its state records it.
type Resource struct {
	// Type is the resource's Pulumi type, such as docker:index/container:Container.
	Type string `json:"type"`
	// Name is its logical name.
	Name string `json:"name"`
}

// Resources lists the custom resources of version's stack in env, by type
// and name, from one export of its state (secrets stay encrypted).
func (o *Orchestrator) Resources(ctx context.Context, env, version string) ([]Resource, error) {
	if err := stacks.ValidateEnv(env); err != nil {
		return nil, err
	}
	if err := stacks.ValidateVersion(version); err != nil {
		return nil, err
	}
	name := stacks.StackName{Env: env, Version: version}
	rec, err := o.readRecord(ctx, name)
	if isNotFound(err) {
		return nil, &NotFoundError{What: fmt.Sprintf("version %s does not exist; phoenix status --env %s lists the env's versions", name, env)}
	}
	if err != nil {
		return nil, err
	}
	out := []Resource{}
	for typ, urns := range rec.URNs {
		for _, u := range urns {
			out = append(out, Resource{Type: typ, Name: resource.URN(u).Name()})
		}
	}
	slices.SortFunc(out, func(a, b Resource) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}
