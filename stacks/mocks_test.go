package stacks_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	_ "github.com/phoenix-iac/phoenix/platforms"
	"github.com/phoenix-iac/phoenix/platforms/aws"
	"github.com/phoenix-iac/phoenix/platforms/docker"
	"github.com/phoenix-iac/phoenix/stacks"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// registered is one resource the program asked for, as the mock monitor saw it.
type registered struct {
	Type             string
	Name             string
	Inputs           resource.PropertyMap
	ReplaceOnChanges []string
	Custom           bool
	Parent           string
}

// cloud is a pulumi.MockResourceMonitor that records every registration and
// answers StackReferences from a table of other stacks' outputs.
type cloud struct {
	mu        sync.Mutex
	resources []registered
	// stacks maps a fully qualified stack name to its outputs.
	stacks map[string]map[string]any
}

func (c *cloud) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	if args.TypeToken == "pulumi:pulumi:StackReference" {
		name := args.Name
		if n := args.Inputs["name"]; n.IsString() {
			name = n.StringValue()
		}
		outs, ok := c.stacks[name]
		if !ok && strings.Contains(name[strings.LastIndex(name, "/")+1:], ".") {
			// A version stack reading itself: it exists before its
			// program runs, with no outputs on its first update.
			outs, ok = map[string]any{}, true
		}
		if !ok {
			return "", nil, fmt.Errorf("unknown stack %s", name)
		}
		return name, resource.NewPropertyMapFromMap(map[string]any{
			"name":    name,
			"outputs": outs,
		}), nil
	}
	r := registered{Type: args.TypeToken, Name: args.Name, Inputs: args.Inputs, Custom: args.Custom}
	if rpc := args.RegisterRPC; rpc != nil {
		r.ReplaceOnChanges = rpc.GetReplaceOnChanges()
		r.Parent = rpc.GetParent()
	}
	c.mu.Lock()
	c.resources = append(c.resources, r)
	c.mu.Unlock()

	outs := args.Inputs.Copy()
	id := args.Name + "-id"
	// Computed outputs the program reads.
	set := func(k string, v any) { outs[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	set("arn", "arn:aws:mock:::"+args.Name)
	switch args.TypeToken {
	case "aws:lb/loadBalancer:LoadBalancer":
		set("dnsName", args.Name+".elb.example.com")
	case "aws:ecr/repository:Repository":
		set("repositoryUrl", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/"+args.Name)
		set("registryId", "123456789012")
		set("name", args.Name)
	case "aws:cloudwatch/logGroup:LogGroup":
		set("name", args.Name)
	case "aws:ecs/service:Service":
		set("name", args.Name)
	case "docker:index/network:Network", "docker:index/volume:Volume", "docker:index/container:Container":
		set("name", args.Name)
	case "docker:index/remoteImage:RemoteImage":
		set("imageId", "sha256:"+args.Inputs["name"].StringValue())
	case "docker:index/image:Image":
		set("repoDigest", args.Inputs["imageName"].StringValue()+"@sha256:abc")
	case "docker:index/registryImage:RegistryImage":
		set("sha256Digest", "sha256:abc")
	}
	return id, outs, nil
}

func (c *cloud) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	switch args.Token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		return resource.NewPropertyMapFromMap(map[string]any{
			"names":   []any{"eu-west-1a", "eu-west-1b", "eu-west-1c"},
			"zoneIds": []any{"euw1-az1", "euw1-az2", "euw1-az3"},
			"id":      "eu-west-1",
		}), nil
	case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
		return resource.NewPropertyMapFromMap(map[string]any{
			"userName":           "AWS",
			"password":           "token-password",
			"authorizationToken": "QVdTOnRva2Vu",
			"proxyEndpoint":      "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
			"expiresAt":          "2026-11-26T00:00:00Z",
			"id":                 "123456789012",
		}), nil
	}
	return nil, fmt.Errorf("mock has no function %s", args.Token)
}

// custom returns the custom resources the program registered.
func (c *cloud) custom() []registered {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []registered
	for _, r := range c.resources {
		if r.Custom {
			out = append(out, r)
		}
	}
	return out
}

// ofType returns the registered resources of one type.
// container returns the docker container whose name ends in suffix
// ("-lb"), failing the test without one.
func (c *cloud) container(t *testing.T, suffix string) registered {
	t.Helper()
	for _, r := range c.ofType("docker:index/container:Container") {
		if strings.HasSuffix(r.Name, suffix) {
			return r
		}
	}
	t.Fatalf("no container named *%s", suffix)
	return registered{}
}

func (c *cloud) ofType(typ string) []registered {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []registered
	for _, r := range c.resources {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

func (c *cloud) one(t *testing.T, typ string) registered {
	t.Helper()
	rs := c.ofType(typ)
	if len(rs) != 1 {
		t.Fatalf("got %d resources of type %s, want 1", len(rs), typ)
	}
	return rs[0]
}

// fixture is the environment of one mocked program run.
type fixture struct {
	stack  string
	config map[string]string
	// versions holds the outputs of version stacks by version id.
	versions map[string]map[string]any
	// secret lists the config keys that are secrets.
	secret []string
	// env, when not nil, is the env stack's last outputs (default: a
	// deployed env of the config's platform, created before owner labels).
	env map[string]any
}

// awsEnvOutputs are the env stack outputs a version stack of the aws platform reads.
func awsEnvOutputs() map[string]any {
	return map[string]any{
		stacks.OutPlatform:     "aws",
		aws.OutVPCID:           "vpc-1",
		aws.OutSubnetIDs:       []any{"subnet-1", "subnet-2"},
		aws.OutClusterARN:      "arn:aws:ecs:eu-west-1:123456789012:cluster/dev",
		aws.OutLBSecurityGroup: "sg-alb",
		aws.OutListenerARN:     "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/dev/1/2",
		aws.OutRepositoryURL:   "123456789012.dkr.ecr.eu-west-1.amazonaws.com/dev-app",
		aws.OutRepositoryARN:   "arn:aws:ecr:eu-west-1:123456789012:repository/dev-app",
		aws.OutRegistryID:      "123456789012",
		aws.OutLogGroupName:    "dev-app",
		aws.OutLogGroupARN:     "arn:aws:logs:eu-west-1:123456789012:log-group:dev-app",
	}
}

func dockerEnvOutputs() map[string]any {
	return map[string]any{stacks.OutPlatform: "docker", docker.OutNetworkName: "dev-net-1234567"}
}

// run runs Program under mocks and returns what it registered and its error.
func (f fixture) run(t *testing.T) (*cloud, error) {
	t.Helper()
	name, err := stacks.ParseStackName(f.stack)
	if err != nil {
		t.Fatalf("fixture stack %q: %v", f.stack, err)
	}
	c := &cloud{stacks: map[string]map[string]any{}}
	platform := f.config[stacks.KeyPlatform]
	if platform == "aws" {
		c.stacks["organization/phoenix/"+name.Env] = awsEnvOutputs()
	} else {
		c.stacks["organization/phoenix/"+name.Env] = dockerEnvOutputs()
	}
	if f.env != nil {
		c.stacks["organization/phoenix/"+name.Env] = f.env
	}
	for v, outs := range f.versions {
		c.stacks["organization/phoenix/"+name.Env+"."+v] = outs
	}
	// The project directory is the repository's root, where app/ and lb/ are.
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(pulumi.EnvPulumiRootDirectory, root)
	cfg := map[string]string{stacks.KeyAppPath: "app"}
	for k, v := range f.config {
		cfg[k] = v
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(pulumi.EnvConfig, string(b))
	secret, _ := json.Marshal(append([]string{}, f.secret...))
	t.Setenv(pulumi.EnvConfigSecretKeys, string(secret))
	err = pulumi.RunErr(stacks.Program, pulumi.WithMocks("phoenix", f.stack, c))
	return c, err
}

func (f fixture) mustRun(t *testing.T) *cloud {
	t.Helper()
	c, err := f.run(t)
	if err != nil {
		t.Fatalf("program failed: %v", err)
	}
	return c
}

// strs returns a property holding a list of strings as a Go slice.
func strs(v resource.PropertyValue) []string {
	if !v.IsArray() {
		return nil
	}
	var out []string
	for _, x := range v.ArrayValue() {
		out = append(out, x.StringValue())
	}
	return out
}

// obj returns a nested object property, following a path of keys.
func obj(m resource.PropertyMap, path ...string) resource.PropertyValue {
	v := resource.NewObjectProperty(m)
	for _, k := range path {
		if v.IsSecret() {
			v = v.SecretValue().Element
		}
		if v.IsArray() {
			arr := v.ArrayValue()
			if len(arr) == 0 {
				return resource.NewNullProperty()
			}
			v = arr[0]
		}
		if !v.IsObject() {
			return resource.NewNullProperty()
		}
		v = v.ObjectValue()[resource.PropertyKey(k)]
	}
	return v
}

func str(m resource.PropertyMap, path ...string) string {
	v := obj(m, path...)
	if v.IsString() {
		return v.StringValue()
	}
	if v.IsNumber() {
		return fmt.Sprint(v.NumberValue())
	}
	return ""
}

func containsAll(haystack []string, needles ...string) bool {
	for _, n := range needles {
		if !slices.Contains(haystack, n) {
			return false
		}
	}
	return true
}

func typeNames(rs []registered) string {
	var names []string
	for _, r := range rs {
		names = append(names, r.Type+" "+r.Name)
	}
	return strings.Join(names, "\n")
}

// mapAt follows path like obj and returns the object found, taking the first
// element of a list.
func mapAt(m resource.PropertyMap, path ...string) resource.PropertyMap {
	v := obj(m, path...)
	if v.IsArray() && len(v.ArrayValue()) > 0 {
		v = v.ArrayValue()[0]
	}
	if !v.IsObject() {
		return resource.PropertyMap{}
	}
	return v.ObjectValue()
}
