package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/phoenix-iac/phoenix/internal/header"
	"github.com/phoenix-iac/phoenix/stacks"
)

// routeKey reads the env's route key as its team would: a secret output
// of the env stack.
func (c *cliEnv) routeKey() string {
	c.t.Helper()
	stdout, stderr, _, err := c.h.Pulumi.Run(context.Background(), c.project, nil, nil, nil, envList(c.h.Env),
		"stack", "output", "--stack", "dev", "--show-secrets", "--json")
	if err != nil {
		c.t.Fatalf("stack output: %v: %s", err, stderr)
	}
	var outs map[string]any
	if err := json.Unmarshal([]byte(stdout), &outs); err != nil {
		c.t.Fatal(err)
	}
	key, _ := outs[stacks.OutRouteKey].(string)
	return key
}

// TestCLIRoutesNeedTheRouteKey: the candidate route and the version routes
// take only requests that carry the env's route key (X-Phoenix-Key); any
// other request is production traffic, on both platforms. So the candidate
// under test and the warm versions are not open to everyone who can reach
// the load balancer, and phoenix's own gate and rollback probes, which
// carry the key, still reach them. The key is a secret: no stack's state
// holds it in plain text.
func TestCLIRoutesNeedTheRouteKey(t *testing.T) {
	t.Parallel()
	for _, platform := range []string{"docker", "aws"} {
		t.Run(platform, func(t *testing.T) {
			t.Parallel()
			var c *cliEnv
			client := http.DefaultClient
			if platform == "aws" {
				c = newAWSCLIEnv(t)
				client = c.httpClient
			} else {
				c = newCLIEnv(t)
			}
			c.deploy("v1")
			c.deploy("v2")
			c.must("rollback", "--env", "dev", "--to", "v1", "--gate-count", "3", "--gate-timeout", "5s")
			c.plainTrafficUp(stacks.Traffic{Live: "v1", Candidate: "v2"})
			url := c.status().URL
			key := c.routeKey()
			if len(key) != 32 {
				t.Fatalf("the env's route key is %q, want 32 hex digits", key)
			}
			for _, tt := range []struct {
				name string
				h    http.Header
				want string
			}{
				{"the candidate route without the key", http.Header{header.Route: {header.RouteCandidate}}, "v1"},
				{"the candidate route with another key", http.Header{header.Route: {header.RouteCandidate}, header.Key: {strings.Repeat("0", 32)}}, "v1"},
				{"the candidate route with the key", http.Header{header.Route: {header.RouteCandidate}, header.Key: {key}}, "v2"},
				{"a version route without the key", http.Header{header.Version: {"v2"}}, "v1"},
				{"a version route with the key", http.Header{header.Version: {"v2"}, header.Key: {key}}, "v2"},
			} {
				req, err := http.NewRequest(http.MethodGet, strings.TrimRight(url, "/")+"/healthz", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header = tt.h
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				resp.Body.Close()
				if got := resp.Header.Get(header.Version); resp.StatusCode != http.StatusOK || got != tt.want {
					t.Errorf("%s: %d from %q, want 200 from %s", tt.name, resp.StatusCode, got, tt.want)
				}
			}
			for _, s := range []string{"dev", "dev.v1", "dev.v2"} {
				stdout, stderr, _, err := c.h.Pulumi.Run(context.Background(), c.project, nil, nil, nil, envList(c.h.Env), "stack", "export", "--stack", s)
				if err != nil {
					t.Fatalf("stack export %s: %v: %s", s, err, stderr)
				}
				if strings.Contains(stdout, key) {
					t.Errorf("the state of %s holds the route key in plain text", s)
				}
			}
		})
	}
}
