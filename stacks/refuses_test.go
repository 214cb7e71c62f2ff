package stacks_test

import (
	"testing"

	"github.com/phoenix-iac/phoenix/stacks"
	"github.com/phoenix-iac/phoenix/stacks/configtest"
)

// TestParseConfigRefuses: the keys every platform shares; each platform's
// package tests its own.
func TestParseConfigRefuses(t *testing.T) {
	configtest.Refuses(t, []configtest.Refusal{
		configtest.Case("unknown platform", configtest.With(nil, stacks.KeyPlatform, "k8s"), stacks.KeyPlatform, "use one of docker, aws"),
		configtest.Case("port not a number", configtest.With(nil, stacks.KeyAppPort, "http"), stacks.KeyAppPort, "whole number from 1 to 65535"),
		configtest.Case("port out of range", configtest.With(nil, stacks.KeyAppPort, "70000"), stacks.KeyAppPort, "whole number from 1 to 65535"),
		configtest.Case("no replicas", configtest.With(nil, stacks.KeyReplicas, "0"), stacks.KeyReplicas, "from 1 to 100"),
		configtest.Case("negative retention", configtest.With(nil, stacks.KeyRetention, "-1"), stacks.KeyRetention, "from 0 to 100"),
		configtest.Case("relative health path", configtest.With(nil, stacks.KeyHealthCheckPath, "healthz"), stacks.KeyHealthCheckPath, "absolute URL path"),
		configtest.Case("health command not CMD", configtest.With(nil, stacks.KeyHealthCheck, `["curl","x"]`), stacks.KeyHealthCheck, "CMD or CMD-SHELL"),
		configtest.Case("environment not an object", configtest.With(nil, stacks.KeyEnvironment, `["A=1"]`), stacks.KeyEnvironment, "object of string values"),
		configtest.Case("environment sets PORT", configtest.With(nil, stacks.KeyEnvironment, `{"PORT":"1"}`), stacks.KeyEnvironment, "Phoenix sets PORT"),
		configtest.Case("environment bad name", configtest.With(nil, stacks.KeyEnvironment, `{"1X":"1"}`), stacks.KeyEnvironment, "letters, digits and underscores"),
		configtest.Case("bad live version", configtest.With(nil, stacks.KeyLive, "V1"), stacks.KeyLive, "lowercase"),
		configtest.Case("bad candidate version", configtest.With(nil, stacks.KeyCandidate, "a.b"), stacks.KeyCandidate, "must not contain a dot"),
		configtest.Case("weight over 100", configtest.With(nil, stacks.KeyLive, "v1", stacks.KeyCandidate, "v2", stacks.KeyCandidateWeight, "150"), stacks.KeyCandidateWeight, "from 0 to 100"),
		configtest.Case("weight without candidate", configtest.With(nil, stacks.KeyLive, "v1", stacks.KeyCandidateWeight, "10"), stacks.KeyCandidateWeight, "needs both phoenix:live and phoenix:candidate"),
		configtest.Case("analysis not an object", configtest.With(nil, stacks.KeyAnalysis, `[1]`), stacks.KeyAnalysis, "use an object"),
		configtest.Case("analysis error rate as a percentage", configtest.With(nil, stacks.KeyAnalysis, `{"maxErrorRate":5}`), stacks.KeyAnalysis+".maxErrorRate", "fraction from 0 to 1"),
		configtest.Case("analysis latency ratio below 1", configtest.With(nil, stacks.KeyAnalysis, `{"maxLatencyRatio":0.5}`), stacks.KeyAnalysis+".maxLatencyRatio", "multiple of 1 or more"),
		configtest.Case("analysis no requests", configtest.With(nil, stacks.KeyAnalysis, `{"minRequests":0}`), stacks.KeyAnalysis+".minRequests", "from 1 to 1000000"),
		configtest.Case("analysis bake not a duration", configtest.With(nil, stacks.KeyAnalysis, `{"bake":"5"}`), stacks.KeyAnalysis+".bake", "duration such as 5m"),
		configtest.Case("analysis unknown field", configtest.With(nil, stacks.KeyAnalysis, `{"maxErrors":1}`), stacks.KeyAnalysis+".maxErrors", "the settings are maxErrorRate"),
	})
}
