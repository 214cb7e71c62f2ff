package docker

import (
	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// The docker platform's own stack outputs, beside stacks' shared ones.
const (
	// OutNetworkName is the env stack's network, which versions join.
	OutNetworkName = "networkName"
	// OutUpstreams are a version stack's replicas' addresses.
	OutUpstreams = "upstreams"
)

// envOutputs are what phoenix's operations on a docker env read of its
// env stack's outputs.
type envOutputs struct {
	// LoadBalancer is the load balancer container, whose output is the
	// access log (stacks.OutLoadBalancer).
	LoadBalancer string
}

func outputsOf(env platform.Env) envOutputs {
	return envOutputs{LoadBalancer: env.Output(stacks.OutLoadBalancer)}
}
