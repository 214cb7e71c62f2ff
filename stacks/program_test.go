package stacks_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	_ "github.com/phoenix-iac/phoenix/platforms"
	"github.com/phoenix-iac/phoenix/platforms/aws"
	"github.com/phoenix-iac/phoenix/platforms/docker"
	"github.com/phoenix-iac/phoenix/stacks"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/phoenix-iac/phoenix/components/caddyconfig"
	"github.com/phoenix-iac/phoenix/internal/buildcontext"
)

const testVersion = "3f9a1c2e"

var platformConfigs = map[string]map[string]string{
	"docker": {stacks.KeyPlatform: "docker"},
	"aws":    {stacks.KeyPlatform: "aws", aws.KeyRegion: "eu-west-1"},
}

// wantVersionTypes are the custom resources each platform's version stack must hold.
var wantVersionTypes = map[string][]string{
	"docker": {
		"docker:index/remoteImage:RemoteImage",
		"docker:index/container:Container",
	},
	"aws": {
		"docker:index/image:Image",
		"aws:iam/role:Role",
		"aws:iam/rolePolicy:RolePolicy",
		"aws:ecs/taskDefinition:TaskDefinition",
		"aws:ec2/securityGroup:SecurityGroup",
		"aws:lb/targetGroup:TargetGroup",
		"aws:lb/listenerRule:ListenerRule",
		"aws:ecs/service:Service",
	},
}

func TestVersionStackResourcesAreImmutableAndStamped(t *testing.T) {
	for platform, cfg := range platformConfigs {
		t.Run(platform, func(t *testing.T) {
			c := fixture{stack: "dev." + testVersion, config: cfg}.mustRun(t)
			rs := c.custom()
			for _, want := range wantVersionTypes[platform] {
				if len(c.ofType(want)) == 0 {
					t.Errorf("version stack has no %s; it registered:\n%s", want, typeNames(rs))
				}
			}
			for _, r := range rs {
				if !slices.Equal(r.ReplaceOnChanges, []string{"*"}) {
					t.Errorf("%s %s: got replaceOnChanges %q, want [\"*\"]", r.Type, r.Name, r.ReplaceOnChanges)
				}
				if !strings.Contains(r.Name, testVersion) {
					t.Errorf("%s %s: name does not contain the version %s", r.Type, r.Name, testVersion)
				}
				if stacks.Untaggable(r.Type) {
					continue
				}
				switch {
				case strings.HasPrefix(r.Type, "aws:"):
					if got := str(r.Inputs, "tags", stacks.TagVersion); got != testVersion {
						t.Errorf("%s %s: got tag %s=%q, want %q", r.Type, r.Name, stacks.TagVersion, got, testVersion)
					}
					if got := str(r.Inputs, "tags", stacks.TagEnv); got != "dev" {
						t.Errorf("%s %s: got tag %s=%q, want dev", r.Type, r.Name, stacks.TagEnv, got)
					}
				case strings.HasPrefix(r.Type, "docker:"):
					if got := dockerLabel(r.Inputs, stacks.LabelVersion); got != testVersion {
						t.Errorf("%s %s: got label %s=%q, want %q", r.Type, r.Name, stacks.LabelVersion, got, testVersion)
					}
				}
			}
		})
	}
}

func dockerLabel(inputs resource.PropertyMap, key string) string {
	labels := inputs["labels"]
	if !labels.IsArray() {
		return ""
	}
	for _, l := range labels.ArrayValue() {
		m := l.ObjectValue()
		if m["label"].StringValue() == key {
			return m["value"].StringValue()
		}
	}
	return ""
}

func TestEnvStackResourcesAreLongLivedAndTagged(t *testing.T) {
	for platform, cfg := range platformConfigs {
		t.Run(platform, func(t *testing.T) {
			c := fixture{stack: "dev", config: cfg}.mustRun(t)
			rs := c.custom()
			if len(rs) < 4 {
				t.Fatalf("env stack registered only:\n%s", typeNames(rs))
			}
			for _, r := range rs {
				if len(r.ReplaceOnChanges) != 0 {
					t.Errorf("%s %s: env stack resource has replaceOnChanges %q; the env stack is long-lived", r.Type, r.Name, r.ReplaceOnChanges)
				}
				if stacks.Untaggable(r.Type) {
					continue
				}
				if strings.HasPrefix(r.Type, "aws:") && str(r.Inputs, "tags", stacks.TagEnv) != "dev" {
					t.Errorf("%s %s: no %s tag", r.Type, r.Name, stacks.TagEnv)
				}
				if strings.HasPrefix(r.Type, "docker:") && dockerLabel(r.Inputs, stacks.LabelEnv) != "dev" {
					t.Errorf("%s %s: no %s label", r.Type, r.Name, stacks.LabelEnv)
				}
			}
		})
	}
}

func TestVersionStackReplicas(t *testing.T) {
	tests := []struct {
		platform string
		replicas string
		want     int
	}{
		{"docker", "", 2},
		{"docker", "3", 3},
		{"aws", "4", 4},
	}
	for _, tt := range tests {
		t.Run(tt.platform+"/"+tt.replicas, func(t *testing.T) {
			cfg := map[string]string{}
			for k, v := range platformConfigs[tt.platform] {
				cfg[k] = v
			}
			if tt.replicas != "" {
				cfg[stacks.KeyReplicas] = tt.replicas
			}
			c := fixture{stack: "dev." + testVersion, config: cfg}.mustRun(t)
			if tt.platform == "docker" {
				if got := len(c.ofType("docker:index/container:Container")); got != tt.want {
					t.Errorf("got %d containers, want %d", got, tt.want)
				}
				for _, r := range c.ofType("docker:index/container:Container") {
					if r.Inputs.HasValue("ports") && len(r.Inputs["ports"].ArrayValue()) > 0 {
						t.Errorf("%s publishes host ports; replicas are reached through the load balancer only", r.Name)
					}
					if str(r.Inputs, "restart") != "unless-stopped" {
						t.Errorf("%s: got restart %q, want unless-stopped", r.Name, str(r.Inputs, "restart"))
					}
					if len(strs(obj(r.Inputs, "healthcheck", "tests"))) == 0 {
						t.Errorf("%s has no health check", r.Name)
					}
				}
				return
			}
			svc := c.one(t, "aws:ecs/service:Service")
			if got := str(svc.Inputs, "desiredCount"); got != tt.replicas {
				t.Errorf("got desiredCount %s, want %s", got, tt.replicas)
			}
			if got := obj(svc.Inputs, "deploymentCircuitBreaker", "enable"); !got.IsBool() || !got.BoolValue() {
				t.Errorf("deployment circuit breaker is not enabled")
			}
		})
	}
}

func TestTargetGroupNameFitsLongestNames(t *testing.T) {
	env := strings.Repeat("e", stacks.MaxEnvLength)
	version := strings.Repeat("9", stacks.MaxVersionLength)
	cfg := platformConfigs["aws"]
	c, err := fixture{stack: env + "." + version, config: cfg}.run(t)
	if err != nil {
		t.Fatalf("program failed for the longest names: %v", err)
	}
	tg := c.one(t, "aws:lb/targetGroup:TargetGroup")
	name := str(tg.Inputs, "name")
	if name != env+"-"+version {
		t.Errorf("got target group name %q, want %q", name, env+"-"+version)
	}
	if len(name) > 32 {
		t.Errorf("target group name %q is %d characters, the ALB limit is 32", name, len(name))
	}
}

func TestAWSSecurityAndRegistry(t *testing.T) {
	cfg := map[string]string{stacks.KeyPlatform: "aws", aws.KeyRegion: "eu-west-1", aws.KeyAllowedCIDRs: `["203.0.113.0/24","198.51.100.0/24"]`}
	env := fixture{stack: "dev", config: cfg}.mustRun(t)
	version := fixture{stack: "dev." + testVersion, config: cfg}.mustRun(t)

	t.Run("ECR tags are immutable and scanned on push", func(t *testing.T) {
		repo := env.one(t, "aws:ecr/repository:Repository")
		if got := str(repo.Inputs, "imageTagMutability"); got != "IMMUTABLE" {
			t.Errorf("got imageTagMutability %q, want IMMUTABLE", got)
		}
		if got := obj(repo.Inputs, "imageScanningConfiguration", "scanOnPush"); !got.IsBool() || !got.BoolValue() {
			t.Errorf("got scanOnPush %v, want true", got)
		}
		policy := str(env.one(t, "aws:ecr/lifecyclePolicy:LifecyclePolicy").Inputs, "policy")
		if !strings.Contains(policy, `"untagged"`) || strings.Contains(policy, `"any"`) || strings.Contains(policy, `"tagged"`) {
			t.Errorf("lifecycle policy must expire untagged images and select no tagged one: %s", policy)
		}
	})

	t.Run("ALB admits 80 and 443 from the allowed networks only", func(t *testing.T) {
		var alb registered
		for _, sg := range env.ofType("aws:ec2/securityGroup:SecurityGroup") {
			if strings.HasSuffix(sg.Name, "-alb") {
				alb = sg
			}
		}
		rules := alb.Inputs["ingress"].ArrayValue()
		if len(rules) != 2 {
			t.Fatalf("got %d ingress rules, want 2", len(rules))
		}
		var ports []string
		for _, r := range rules {
			m := r.ObjectValue()
			ports = append(ports, str(m, "fromPort"))
			if str(m, "fromPort") != str(m, "toPort") {
				t.Errorf("ingress rule opens a port range %s-%s", str(m, "fromPort"), str(m, "toPort"))
			}
			if got := strs(m["cidrBlocks"]); !slices.Equal(got, []string{"203.0.113.0/24", "198.51.100.0/24"}) {
				t.Errorf("port %s: got cidrBlocks %v, want the allowed networks", str(m, "fromPort"), got)
			}
			if len(strs(m["securityGroups"])) != 0 {
				t.Errorf("port %s admits security groups %v", str(m, "fromPort"), strs(m["securityGroups"]))
			}
		}
		if !containsAll(ports, "80", "443") {
			t.Errorf("got ingress ports %v, want 80 and 443", ports)
		}
	})

	t.Run("tasks admit the app port from the ALB security group only", func(t *testing.T) {
		sg := version.one(t, "aws:ec2/securityGroup:SecurityGroup")
		rules := sg.Inputs["ingress"].ArrayValue()
		if len(rules) != 1 {
			t.Fatalf("got %d ingress rules, want 1", len(rules))
		}
		m := rules[0].ObjectValue()
		if got := strs(m["securityGroups"]); !slices.Equal(got, []string{"sg-alb"}) {
			t.Errorf("got source security groups %v, want [sg-alb]", got)
		}
		if got := strs(m["cidrBlocks"]); len(got) != 0 {
			t.Errorf("got cidrBlocks %v, want none", got)
		}
		if str(m, "fromPort") != "8080" || str(m, "toPort") != "8080" {
			t.Errorf("got ports %s-%s, want 8080", str(m, "fromPort"), str(m, "toPort"))
		}
	})

	t.Run("the execution role may read only its repository and write only its own logs", func(t *testing.T) {
		policy := str(version.one(t, "aws:iam/rolePolicy:RolePolicy").Inputs, "policy")
		for _, want := range []string{
			`"Resource":"arn:aws:ecr:eu-west-1:123456789012:repository/dev-app"`,
			`"Resource":"arn:aws:logs:eu-west-1:123456789012:log-group:dev-app:log-stream:` + testVersion + `/*"`,
		} {
			if !strings.Contains(policy, want) {
				t.Errorf("execution policy lacks %s:\n%s", want, policy)
			}
		}
		if strings.Count(policy, `"Resource":"*"`) != 1 || !strings.Contains(policy, `"Action":["ecr:GetAuthorizationToken"],"Resource":"*"`) {
			t.Errorf("only ecr:GetAuthorizationToken may use Resource *:\n%s", policy)
		}
	})

	t.Run("the image is built for amd64 and pushed with the version as its tag and a secret password, by one resource that needs no machine's Docker after", func(t *testing.T) {
		want := "123456789012.dkr.ecr.eu-west-1.amazonaws.com/dev-app:" + testVersion
		for _, typ := range []string{"docker:index/remoteImage:RemoteImage", "docker:index/registryImage:RegistryImage"} {
			if n := len(version.ofType(typ)); n != 0 {
				t.Errorf("the version holds %d %s: its refresh reads the build machine's Docker or the ECR token that expires after 12 hours", n, typ)
			}
		}
		img := version.one(t, "docker:index/image:Image")
		if got := str(img.Inputs, "imageName"); got != want {
			t.Errorf("got a pushed image named %q, want %q", got, want)
		}
		if got := obj(img.Inputs, "build", "platform"); !got.IsString() || got.StringValue() != "linux/amd64" {
			t.Errorf("got build platform %v, want linux/amd64 (what the task definition runs)", got)
		}
		if skip := img.Inputs["skipPush"]; skip.IsBool() && skip.BoolValue() {
			t.Error("skipPush is set: the task pulls the image from ECR")
		}
		if pw := obj(img.Inputs, "registry", "password"); !pw.ContainsSecrets() {
			t.Errorf("registry password is not a secret: %v", pw)
		}
		if got := obj(img.Inputs, "registry", "server"); !got.IsString() || got.StringValue() != "123456789012.dkr.ecr.eu-west-1.amazonaws.com" {
			t.Errorf("got registry server %v, want the repository's host", got)
		}
	})
}

func TestAWSListeners(t *testing.T) {
	const cert = "arn:aws:acm:eu-west-1:123456789012:certificate/abc-123"
	tgARN := func(v string) map[string]any {
		return map[string]any{aws.OutTargetGroupARN: "arn:tg/" + v}
	}
	tests := []struct {
		name        string
		config      map[string]string
		wantPointer string // port of the pointer listener
		wantAction  func(t *testing.T, action resource.PropertyMap)
		wantRule    func(t *testing.T, action resource.PropertyMap)
		wantRedir   bool
	}{
		{
			name:        "nothing live answers 503",
			config:      map[string]string{},
			wantPointer: "80",
			wantAction: func(t *testing.T, a resource.PropertyMap) {
				if str(a, "type") != "fixed-response" || str(a, "fixedResponse", "statusCode") != "503" {
					t.Errorf("got %v, want a fixed 503", a)
				}
				if !strings.Contains(str(a, "fixedResponse", "messageBody"), "no live version") {
					t.Errorf("503 body does not say why: %q", str(a, "fixedResponse", "messageBody"))
				}
			},
			wantRule: func(t *testing.T, a resource.PropertyMap) {
				if str(a, "type") != "fixed-response" || str(a, "fixedResponse", "statusCode") != "404" {
					t.Errorf("got candidate action %v, want a fixed 404", a)
				}
			},
		},
		{
			name:        "live only",
			config:      map[string]string{stacks.KeyLive: "v1"},
			wantPointer: "80",
			wantAction: func(t *testing.T, a resource.PropertyMap) {
				if str(a, "type") != "forward" || str(a, "targetGroupArn") != "arn:tg/v1" {
					t.Errorf("got %v, want forward to arn:tg/v1", a)
				}
			},
		},
		{
			name:        "live plus weighted candidate",
			config:      map[string]string{stacks.KeyLive: "v1", stacks.KeyCandidate: "v2", stacks.KeyCandidateWeight: "10"},
			wantPointer: "80",
			wantAction: func(t *testing.T, a resource.PropertyMap) {
				tgs := obj(a, "forward", "targetGroups")
				if str(a, "type") != "forward" || !tgs.IsArray() || len(tgs.ArrayValue()) != 2 {
					t.Fatalf("got %v, want a weighted forward to two target groups", a)
				}
				got := map[string]string{}
				for _, tg := range tgs.ArrayValue() {
					got[str(tg.ObjectValue(), "arn")] = str(tg.ObjectValue(), "weight")
				}
				if got["arn:tg/v1"] != "90" || got["arn:tg/v2"] != "10" {
					t.Errorf("got weights %v, want v1=90 v2=10", got)
				}
			},
			wantRule: func(t *testing.T, a resource.PropertyMap) {
				if str(a, "type") != "forward" || str(a, "targetGroupArn") != "arn:tg/v2" {
					t.Errorf("got candidate action %v, want forward to arn:tg/v2", a)
				}
			},
		},
		{
			name:        "candidate equal to live after a promotion sends everything to live",
			config:      map[string]string{stacks.KeyLive: "v2", stacks.KeyCandidate: "v2"},
			wantPointer: "80",
			wantAction: func(t *testing.T, a resource.PropertyMap) {
				if str(a, "type") != "forward" || str(a, "targetGroupArn") != "arn:tg/v2" {
					t.Errorf("got %v, want forward to arn:tg/v2", a)
				}
			},
		},
		{
			name:        "certificate: HTTPS pointer and HTTP redirect",
			config:      map[string]string{stacks.KeyLive: "v1", aws.KeyCertificateARN: cert, aws.KeyHostname: "app.example.com"},
			wantPointer: "443",
			wantRedir:   true,
			wantAction: func(t *testing.T, a resource.PropertyMap) {
				if str(a, "targetGroupArn") != "arn:tg/v1" {
					t.Errorf("got %v, want forward to arn:tg/v1", a)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := map[string]string{stacks.KeyPlatform: "aws", aws.KeyRegion: "eu-west-1"}
			for k, v := range tt.config {
				cfg[k] = v
			}
			c := fixture{stack: "dev", config: cfg, versions: map[string]map[string]any{
				"v1": tgARN("v1"), "v2": tgARN("v2"),
			}}.mustRun(t)
			var pointer, redirect *registered
			listeners := c.ofType("aws:lb/listener:Listener")
			for i, l := range listeners {
				if str(l.Inputs, "defaultActions", "type") == "redirect" {
					redirect = &listeners[i]
				} else {
					pointer = &listeners[i]
				}
			}
			if pointer == nil {
				t.Fatalf("no pointer listener among %d listeners", len(listeners))
			}
			if got := str(pointer.Inputs, "port"); got != tt.wantPointer {
				t.Errorf("got pointer listener port %s, want %s", got, tt.wantPointer)
			}
			if tt.wantPointer == "443" {
				if str(pointer.Inputs, "protocol") != "HTTPS" || str(pointer.Inputs, "certificateArn") != cert {
					t.Errorf("pointer listener is not HTTPS with the certificate: %v", pointer.Inputs)
				}
			}
			if tt.wantRedir != (redirect != nil) {
				t.Fatalf("got redirect listener %v, want %v", redirect != nil, tt.wantRedir)
			}
			if redirect != nil {
				r := mapAt(redirect.Inputs, "defaultActions", "redirect")
				if str(r, "port") != "443" || str(r, "protocol") != "HTTPS" || str(r, "statusCode") != "HTTP_301" {
					t.Errorf("got redirect %v, want HTTP_301 to HTTPS 443", r)
				}
				if str(redirect.Inputs, "port") != "80" {
					t.Errorf("redirect listener is on port %s, want 80", str(redirect.Inputs, "port"))
				}
			}
			tt.wantAction(t, mapAt(pointer.Inputs, "defaultActions"))

			rule := c.one(t, "aws:lb/listenerRule:ListenerRule")
			hdr := mapAt(rule.Inputs, "conditions", "httpHeader")
			if str(hdr, "httpHeaderName") != "X-Phoenix-Route" || !slices.Equal(strs(hdr["values"]), []string{"candidate"}) {
				t.Errorf("got candidate rule condition %v, want X-Phoenix-Route: candidate", hdr)
			}
			if tt.wantRule != nil {
				tt.wantRule(t, mapAt(rule.Inputs, "actions"))
			}
		})
	}
}

func TestDockerPointerWritesTheRenderedTable(t *testing.T) {
	ups := func(v string) map[string]any {
		return map[string]any{docker.OutUpstreams: []any{"dev-" + v + "-0:8080", "dev-" + v + "-1:8080"}}
	}
	pool := func(v string) *caddyconfig.Pool {
		return &caddyconfig.Pool{Version: v, Addresses: []string{"dev-" + v + "-0:8080", "dev-" + v + "-1:8080"}}
	}
	tests := []struct {
		name   string
		config map[string]string
		want   caddyconfig.Spec
	}{
		{"nothing live", map[string]string{}, caddyconfig.Spec{}},
		{"live only", map[string]string{stacks.KeyLive: "v1"}, caddyconfig.Spec{Live: pool("v1")}},
		{"canary", map[string]string{stacks.KeyLive: "v1", stacks.KeyCandidate: "v2", stacks.KeyCandidateWeight: "25"},
			caddyconfig.Spec{Live: pool("v1"), Candidate: pool("v2"), CandidateWeight: 25}},
		{"candidate without weight", map[string]string{stacks.KeyLive: "v1", stacks.KeyCandidate: "v2"},
			caddyconfig.Spec{Live: pool("v1"), Candidate: pool("v2")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := map[string]string{stacks.KeyPlatform: "docker"}
			for k, v := range tt.config {
				cfg[k] = v
			}
			c := fixture{stack: "dev", config: cfg, versions: map[string]map[string]any{"v1": ups("v1"), "v2": ups("v2")}}.mustRun(t)
			writer := c.container(t, "-pointer")
			spec := tt.want
			spec.Env = "dev"
			want, err := caddyconfig.RenderTable(spec)
			if err != nil {
				t.Fatal(err)
			}
			if got := str(writer.Inputs, "uploads", "content"); got != string(want) {
				t.Errorf("pointer writes:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestVersionStackNeedsBuildContext(t *testing.T) {
	_, err := fixture{stack: "dev." + testVersion, config: map[string]string{stacks.KeyPlatform: "docker", stacks.KeyAppPath: "does-not-exist"}}.run(t)
	if err == nil || !strings.Contains(err.Error(), "phoenix:appPath") {
		t.Fatalf("got %v, want an error naming phoenix:appPath", err)
	}
}

func TestEnvStackRefusesMissingVersion(t *testing.T) {
	_, err := fixture{stack: "dev", config: map[string]string{stacks.KeyPlatform: "docker", stacks.KeyLive: "nothere"}}.run(t)
	if err == nil || !strings.Contains(err.Error(), "dev.nothere") {
		t.Fatalf("got %v, want an error naming the version stack dev.nothere", err)
	}
}

// TestSecretEnvironmentStaysSecret: an app environment set with
// `pulumi config set --secret` must reach the resources as a secret, so that
// state and previews keep it encrypted.
func TestSecretEnvironmentStaysSecret(t *testing.T) {
	for platform, base := range platformConfigs {
		t.Run(platform, func(t *testing.T) {
			cfg := map[string]string{stacks.KeyEnvironment: `{"DB_PASSWORD":"hunter2"}`}
			for k, v := range base {
				cfg[k] = v
			}
			c := fixture{stack: "dev." + testVersion, config: cfg, secret: []string{stacks.KeyEnvironment}}.mustRun(t)
			var inputs []resource.PropertyValue
			switch platform {
			case "docker":
				for _, r := range c.ofType("docker:index/container:Container") {
					inputs = append(inputs, r.Inputs["envs"])
				}
			case "aws":
				inputs = append(inputs, c.one(t, "aws:ecs/taskDefinition:TaskDefinition").Inputs["containerDefinitions"])
			}
			if len(inputs) == 0 {
				t.Fatal("no resource carries the environment")
			}
			for _, v := range inputs {
				if !v.ContainsSecrets() {
					t.Errorf("the environment reaches a resource in plain text: %v", v)
				}
			}
		})
	}
}

// TestDockerLoadBalancerRunsTheEdgeConfig: the load balancer is Phoenix's
// Caddy built from lb/ on the pinned Caddy image, running the edge's config
// (uploaded, never reloaded), with the traffic table on a read-only volume.
func TestDockerLoadBalancerRunsTheEdgeConfig(t *testing.T) {
	c := fixture{stack: "dev", config: map[string]string{stacks.KeyPlatform: "docker", docker.KeyPort: "9090"}}.mustRun(t)
	img := c.one(t, "docker:index/remoteImage:RemoteImage")
	if got := str(img.Inputs, "build", "context"); got != "lb" {
		t.Errorf("load balancer image built from %q, want lb", got)
	}
	if got := str(img.Inputs, "build", "buildArgs", "CADDY_IMAGE"); got != docker.DefaultCaddyImage {
		t.Errorf("load balancer image based on %q, want %s", got, docker.DefaultCaddyImage)
	}
	if got := str(img.Inputs, "name"); !regexp.MustCompile(`^phoenix-lb-dev:[0-9a-f]{12}$`).MatchString(got) {
		t.Errorf("load balancer image named %q, want phoenix-lb-dev:<12 hex digits of its content>", got)
	}
	if !img.Inputs["keepLocally"].IsBool() || !img.Inputs["keepLocally"].BoolValue() {
		t.Errorf("load balancer image is not kept locally: %v", img.Inputs["keepLocally"])
	}
	lbc := c.container(t, "-lb")
	if got, want := str(lbc.Inputs, "image"), "sha256:"+str(img.Inputs, "name"); got != want {
		t.Errorf("load balancer container runs image %q, want the built image's id %q", got, want)
	}
	if got := str(lbc.Inputs, "uploads", "file"); got != "/etc/phoenix-lb/caddy.json" {
		t.Errorf("load balancer config uploaded to %q, want /etc/phoenix-lb/caddy.json (the image's entrypoint reads it)", got)
	}
	content := obj(lbc.Inputs, "uploads", "content")
	if content.IsSecret() || content.ContainsSecrets() || resource.NewObjectProperty(lbc.Inputs).ContainsSecrets() {
		t.Errorf("the load balancer's inputs hold a secret: they must not (the route key has a writer of its own), so that a preview without the passphrase compares them")
	}
	if n := len(obj(lbc.Inputs, "uploads").ArrayValue()); n != 1 {
		t.Errorf("load balancer has %d uploads, want 1: its config", n)
	}
	writer := c.container(t, "-routekey")
	keyValue := obj(writer.Inputs, "uploads", "content")
	if !keyValue.IsSecret() {
		t.Errorf("the route key upload is not a secret")
	} else if key := keyValue.SecretValue().Element.StringValue(); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(key) {
		t.Errorf("the route key upload holds %q, want 32 hex digits", key)
	}
	if got := strings.Join(strs(obj(writer.Inputs, "entrypoints")), " "); !strings.Contains(got, "/etc/phoenix/route-key") {
		t.Errorf("the route key writer runs %q, want it to write /etc/phoenix/route-key", got)
	}
	if vol := mapAt(writer.Inputs, "volumes"); str(vol, "containerPath") != "/etc/phoenix" || (vol["readOnly"].IsBool() && vol["readOnly"].BoolValue()) {
		t.Errorf("route key writer volume %v, want the table's volume at /etc/phoenix, writable", vol)
	}
	wantEdge, err := caddyconfig.RenderEdge(caddyconfig.Edge{Env: "dev", Listen: ":8080", Table: "/etc/phoenix/traffic.json", HealthPath: "/healthz", VersionPort: 8080, KeyFile: "/etc/phoenix/route-key"})
	if err != nil {
		t.Fatal(err)
	}
	if got := content.StringValue(); got != string(wantEdge) {
		t.Errorf("load balancer config:\n%s\nwant:\n%s", got, wantEdge)
	}
	vol := mapAt(lbc.Inputs, "volumes")
	if str(vol, "containerPath") != "/etc/phoenix" || !vol["readOnly"].IsBool() || !vol["readOnly"].BoolValue() {
		t.Errorf("load balancer volume %v, want the table's volume at /etc/phoenix, read-only", vol)
	}
	ports := mapAt(lbc.Inputs, "ports")
	if str(ports, "internal") != "8080" || str(ports, "external") != "9090" {
		t.Errorf("load balancer ports %v, want 8080 published on 9090", ports)
	}
	if got := str(ports, "ip"); got != "127.0.0.1" {
		t.Errorf("load balancer published on %q, want 127.0.0.1 by default (this machine only)", got)
	}
	wide := fixture{stack: "dev", config: map[string]string{stacks.KeyPlatform: "docker", docker.KeyListenAddress: "0.0.0.0"}}.mustRun(t)
	if got := str(mapAt(wide.container(t, "-lb").Inputs, "ports"), "ip"); got != "0.0.0.0" {
		t.Errorf("with phoenix:listenAddress 0.0.0.0, published on %q", got)
	}
}

// TestDockerVersionRunsItsOwnImage: a docker version builds its image
// locally (RemoteImage with a build, tag = version, kept when the version is
// destroyed), its replicas run that very image, and their creation does not
// wait for health: the health gate decides, within --gate-timeout.
func TestDockerVersionRunsItsOwnImage(t *testing.T) {
	c := fixture{stack: "dev." + testVersion, config: map[string]string{stacks.KeyPlatform: "docker"}}.mustRun(t)
	img := c.one(t, "docker:index/remoteImage:RemoteImage")
	if got, want := str(img.Inputs, "name"), "phoenix-dev:"+testVersion; got != want {
		t.Errorf("image named %q, want %q", got, want)
	}
	if got := str(img.Inputs, "build", "context"); got != "app" {
		t.Errorf("image built from %q, want the relative app path", got)
	}
	if !img.Inputs["keepLocally"].IsBool() || !img.Inputs["keepLocally"].BoolValue() {
		t.Errorf("image not kept locally: %v", img.Inputs["keepLocally"])
	}
	replicas := c.ofType("docker:index/container:Container")
	if len(replicas) != 2 {
		t.Fatalf("got %d replicas, want 2", len(replicas))
	}
	for _, r := range replicas {
		if got, want := str(r.Inputs, "image"), "sha256:phoenix-dev:"+testVersion; got != want {
			t.Errorf("%s runs image %q, want the built image's id %q", r.Name, got, want)
		}
		if w, ok := r.Inputs["wait"]; ok && w.IsBool() && w.BoolValue() {
			t.Errorf("%s waits for health at creation; the health gate is the one gate", r.Name)
		}
	}
}

// TestAWSRefusesSGEnvNames: an env named sg-* on aws is refused by the
// program, env and version stacks alike, before any resource: EC2 refuses
// security group names in the form of its ids, and phoenix names them
// after the env.
func TestAWSRefusesSGEnvNames(t *testing.T) {
	for _, stack := range []string{"sg-prod", "sg-prod." + testVersion} {
		c, err := fixture{stack: stack, config: platformConfigs["aws"]}.run(t)
		if err == nil || !strings.Contains(err.Error(), "EC2 refuses") {
			t.Errorf("stack %s: %v, want the program to refuse the env name", stack, err)
		}
		if c != nil {
			for _, typ := range []string{"aws:ec2/securityGroup:SecurityGroup", "aws:ec2/vpc:Vpc", "docker:index/image:Image"} {
				if n := len(c.ofType(typ)); n != 0 {
					t.Errorf("stack %s: %d %s registered before the refusal", stack, n, typ)
				}
			}
		}
	}
}

// TestAWSVersionRolesAreScoped: a version's roles live under the env's
// role path, which the deploy role's IAM permissions are scoped to, and
// carry the env's permissions boundary when it names one.
func TestAWSVersionRolesAreScoped(t *testing.T) {
	const boundary = "arn:aws:iam::123456789012:policy/phoenix-boundary"
	for _, withBoundary := range []bool{false, true} {
		cfg := map[string]string{}
		for k, v := range platformConfigs["aws"] {
			cfg[k] = v
		}
		if withBoundary {
			cfg[aws.KeyPermissionsBoundary] = boundary
		}
		c := fixture{stack: "dev." + testVersion, config: cfg}.mustRun(t)
		roles := c.ofType("aws:iam/role:Role")
		if len(roles) != 2 {
			t.Fatalf("got %d roles, want the execution and task roles", len(roles))
		}
		for _, r := range roles {
			if got := str(r.Inputs, "path"); got != "/phoenix/dev/" {
				t.Errorf("role %s has path %q, want /phoenix/dev/", r.Name, got)
			}
			got := str(r.Inputs, "permissionsBoundary")
			if withBoundary && got != boundary || !withBoundary && got != "" {
				t.Errorf("role %s (boundary set: %v) has permissions boundary %q", r.Name, withBoundary, got)
			}
		}
	}
}

// TestVersionRefusesAChangedApp: an update of a version stack whose app
// changed since it was made (a plain pulumi up -s dev.<v> after a code
// change) stops before it registers anything; one with the same app goes
// through, and the stack records the app's digest.
func TestVersionRefusesAChangedApp(t *testing.T) {
	digest, err := buildcontext.Digest("../app")
	if err != nil {
		t.Fatal(err)
	}
	changed := fixture{stack: "dev." + testVersion, config: map[string]string{stacks.KeyPlatform: "docker"},
		versions: map[string]map[string]any{testVersion: {stacks.OutAppDigest: "0123456789abcdef"}}}
	c, err := changed.run(t)
	if err == nil || !strings.Contains(err.Error(), "was built from other app sources") {
		t.Fatalf("update of a version whose app changed: %v, want a refusal", err)
	}
	if n := len(c.resources); n != 0 {
		t.Errorf("the refused update registered %d resources", n)
	}
	same := changed
	same.versions = map[string]map[string]any{testVersion: {stacks.OutAppDigest: digest}}
	same.mustRun(t)
}
