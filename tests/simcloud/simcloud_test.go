package simcloud

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"
)

func props(m map[string]any) resource.PropertyMap { return resource.NewPropertyMapFromMap(m) }

// TestOneListenerPerPort: ELB refuses a second listener on a load
// balancer's port, on create and on a port change; another load balancer's
// port is free.
func TestOneListenerPerPort(t *testing.T) {
	c := New()
	const typ = "aws:lb/listener:Listener"
	http, err := c.create(typ, "a", props(map[string]any{"loadBalancerArn": "arn:lb/1", "port": 80}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.create(typ, "b", props(map[string]any{"loadBalancerArn": "arn:lb/1", "port": 80})); err == nil || !strings.Contains(err.Error(), "DuplicateListener") {
		t.Errorf("a second listener on port 80: %v, want DuplicateListener", err)
	}
	if _, err := c.create(typ, "c", props(map[string]any{"loadBalancerArn": "arn:lb/2", "port": 80})); err != nil {
		t.Errorf("port 80 of another load balancer: %v", err)
	}
	https, err := c.create(typ, "d", props(map[string]any{"loadBalancerArn": "arn:lb/1", "port": 443}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.update(https.ID, typ, "d", props(map[string]any{"loadBalancerArn": "arn:lb/1", "port": 80})); err == nil {
		t.Error("moving a listener onto a port another one holds succeeded")
	}
	if _, err := c.update(http.ID, typ, "a", props(map[string]any{"loadBalancerArn": "arn:lb/1", "port": 80, "x": 1})); err != nil {
		t.Errorf("updating a listener in place on its own port: %v", err)
	}
}

// TestImmutableTags: a repository's tag is pushed once; pulumi-docker's
// Image never deletes it, a RegistryImage deletes it (unless keepRemotely),
// and then it can be pushed again.
func TestImmutableTags(t *testing.T) {
	c := New()
	const repo = "123.dkr.ecr.eu-west-1.amazonaws.com/app"
	img, err := c.create("docker:index/image:Image", "v1", props(map[string]any{"imageName": repo + ":v1", "registry": map[string]any{"server": "x"}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.delete(img.ID, img.Type, img.Name); err != nil {
		t.Fatal(err)
	}
	if got := c.Tags(repo); len(got) != 1 {
		t.Errorf("after deleting an Image the repository holds %v, want [v1]: Image does not delete what it pushed", got)
	}
	if _, err := c.create("docker:index/registryImage:RegistryImage", "v1", props(map[string]any{"name": repo + ":v1"})); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Errorf("pushing v1 twice: %v, want the immutable-tag refusal", err)
	}
	reg, err := c.create("docker:index/registryImage:RegistryImage", "v2", props(map[string]any{"name": repo + ":v2"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.delete(reg.ID, reg.Type, reg.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := c.create("docker:index/registryImage:RegistryImage", "v2", props(map[string]any{"name": repo + ":v2"})); err != nil {
		t.Errorf("pushing v2 after its RegistryImage was deleted: %v", err)
	}
	kept, err := c.create("docker:index/registryImage:RegistryImage", "v3", props(map[string]any{"name": repo + ":v3", "keepRemotely": true}))
	if err != nil {
		t.Fatal(err)
	}
	c.delete(kept.ID, kept.Type, kept.Name)
	if got := c.Tags(repo); !strings.Contains(strings.Join(got, ","), "v3") {
		t.Errorf("keepRemotely: v3 left the repository (%v)", got)
	}
}

// TestExplicitNamesReplaceDeleteFirst: as the Terraform bridge does, a
// replacement of an auto-nameable resource whose name the program set is
// delete-before-replace; an auto-named one is create-before-delete; docker
// containers are delete-before-replace whatever their name.
func TestExplicitNamesReplaceDeleteFirst(t *testing.T) {
	p := &provider{pkg: "aws", cloud: New()}
	diff := func(typ, name string, olds, news map[string]any) *pulumirpc.DiffResponse {
		t.Helper()
		urn := "urn:pulumi:dev::phoenix::" + typ + "::" + name
		check := func(m map[string]any, prior *structpb.Struct) *structpb.Struct {
			in, err := marshal(props(m))
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn, News: in, Olds: prior, RandomSeed: []byte("seed")})
			if err != nil {
				t.Fatal(err)
			}
			return res.Inputs
		}
		o := check(olds, nil)
		n := check(news, o)
		res, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: urn, Olds: o, OldInputs: o, News: n})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	tg := "aws:lb/targetGroup:TargetGroup"
	if d := diff(tg, "dev-v1-tg", map[string]any{"name": "dev-v1", "port": 8080}, map[string]any{"name": "dev-v1", "port": 9090}); len(d.Replaces) == 0 || !d.DeleteBeforeReplace {
		t.Errorf("target group with an explicit name: replaces %v, deleteBeforeReplace %v; want a delete-first replacement", d.Replaces, d.DeleteBeforeReplace)
	}
	if d := diff(tg, "dev-v1-tg", map[string]any{"port": 8080}, map[string]any{"port": 9090}); len(d.Replaces) == 0 || d.DeleteBeforeReplace {
		t.Errorf("auto-named target group: replaces %v, deleteBeforeReplace %v; want create-first", d.Replaces, d.DeleteBeforeReplace)
	}
	if d := diff("docker:index/container:Container", "dev-v1-0", map[string]any{"image": "a"}, map[string]any{"image": "b"}); !d.DeleteBeforeReplace {
		t.Error("a docker container is not replaced delete-first")
	}
}

// TestStoppedContainerReadsAsGone: the Docker provider's Read reports a
// container that exists but does not run as gone, unless must_run is false.
func TestStoppedContainerReadsAsGone(t *testing.T) {
	p := &provider{pkg: "docker", cloud: New()}
	const typ = "docker:index/container:Container"
	running, err := p.cloud.create(typ, "a", props(map[string]any{"image": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	optional, err := p.cloud.create(typ, "b", props(map[string]any{"image": "x", "mustRun": false}))
	if err != nil {
		t.Fatal(err)
	}
	read := func(id string) string {
		res, err := p.Read(context.Background(), &pulumirpc.ReadRequest{Id: id, Urn: "urn:pulumi:dev::phoenix::" + typ + "::x"})
		if err != nil {
			t.Fatal(err)
		}
		return res.Id
	}
	if read(running.ID) != running.ID {
		t.Fatal("a running container reads as gone")
	}
	for _, id := range []string{running.ID, optional.ID} {
		if err := p.cloud.Stop(id); err != nil {
			t.Fatal(err)
		}
	}
	if got := read(running.ID); got != "" {
		t.Errorf("a stopped container (must_run by default) reads as %q, want gone", got)
	}
	if got := read(optional.ID); got != optional.ID {
		t.Errorf("a stopped container with must_run false reads as %q, want it there", got)
	}
}

// TestCrossResourceRules: a target group in use cannot be deleted, a
// service needs its target group attached, a host port is held once, and
// ELB names follow ELB's rules.
func TestCrossResourceRules(t *testing.T) {
	c := New()
	tg, err := c.create("aws:lb/targetGroup:TargetGroup", "tg", props(map[string]any{"name": "dev-v1", "port": 8080}))
	if err != nil {
		t.Fatal(err)
	}
	arn := tg.Outputs["arn"].StringValue()
	service := props(map[string]any{"loadBalancers": []any{map[string]any{"targetGroupArn": arn}}})
	if _, err := c.create("aws:ecs/service:Service", "svc", service); err == nil || !strings.Contains(err.Error(), "does not have an associated load balancer") {
		t.Errorf("a service on an unattached target group: %v", err)
	}
	rule, err := c.create("aws:lb/listenerRule:ListenerRule", "rule", props(map[string]any{"actions": []any{map[string]any{"type": "forward", "targetGroupArn": arn}}}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.create("aws:ecs/service:Service", "svc", service); err != nil {
		t.Errorf("a service on an attached target group: %v", err)
	}
	if err := c.delete(tg.ID, tg.Type, tg.Name); err == nil || !strings.Contains(err.Error(), "ResourceInUse") {
		t.Errorf("deleting a target group a rule uses: %v", err)
	}
	if err := c.delete(rule.ID, rule.Type, rule.Name); err != nil {
		t.Fatal(err)
	}
	if err := c.delete(tg.ID, tg.Type, tg.Name); err != nil {
		t.Errorf("deleting a target group nothing uses: %v", err)
	}

	const container = "docker:index/container:Container"
	port := func(ip string, n int) resource.PropertyMap {
		return props(map[string]any{"ports": []any{map[string]any{"internal": 8080, "external": n, "ip": ip}}})
	}
	if _, err := c.create(container, "a", port("127.0.0.1", 8080)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.create(container, "b", port("0.0.0.0", 8080)); err == nil || !strings.Contains(err.Error(), "port is already allocated") {
		t.Errorf("a second container on host port 8080: %v", err)
	}
	if _, err := c.create(container, "c", port("127.0.0.1", 8081)); err != nil {
		t.Errorf("another host port: %v", err)
	}

	for _, bad := range []string{"internal-dev-lb", "-dev", "dev_lb", strings.Repeat("a", 33)} {
		if _, err := c.create("aws:lb/loadBalancer:LoadBalancer", "lb", props(map[string]any{"name": bad})); err == nil {
			t.Errorf("load balancer name %q was accepted", bad)
		}
	}
	if _, err := c.create("aws:lb/loadBalancer:LoadBalancer", "lb", props(map[string]any{"name": "dev-lb-1a2b3c4"})); err != nil {
		t.Errorf("a valid load balancer name: %v", err)
	}
}

// TestAWSNameRules: EC2 refuses security group names in the form of its
// ids (sg-*) and over 255 characters; IAM role names over 64.
func TestAWSNameRules(t *testing.T) {
	c := New()
	for _, tt := range []struct{ typ, name, want string }{
		{"aws:ec2/securityGroup:SecurityGroup", "sg-prod-alb-1a2b3c4", "sg-*"},
		{"aws:ec2/securityGroup:SecurityGroup", strings.Repeat("a", 256), "255"},
		{"aws:iam/role:Role", strings.Repeat("r", 65), "64"},
	} {
		if _, err := c.create(tt.typ, "x", props(map[string]any{"name": tt.name})); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("creating %s %.20s...: %v, want a refusal naming %s", tt.typ, tt.name, err, tt.want)
		}
	}
	for _, tt := range []struct{ typ, name string }{
		{"aws:ec2/securityGroup:SecurityGroup", "prod-sg-alb-1a2b3c4"},
		{"aws:iam/role:Role", strings.Repeat("r", 64)},
	} {
		if _, err := c.create(tt.typ, "y", props(map[string]any{"name": tt.name})); err != nil {
			t.Errorf("creating %s %s: %v", tt.typ, tt.name, err)
		}
	}
}

// TestListenerRuleRules: a listener's rule priorities are unique, and a
// listener takes at most 100 rules; another listener's are its own.
func TestListenerRuleRules(t *testing.T) {
	c := New()
	const typ = "aws:lb/listenerRule:ListenerRule"
	if _, err := c.create(typ, "candidate", props(map[string]any{"listenerArn": "arn:l/1", "priority": 1})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.create(typ, "other", props(map[string]any{"listenerArn": "arn:l/1", "priority": 1})); err == nil || !strings.Contains(err.Error(), "PriorityInUse") {
		t.Errorf("a second rule with priority 1: %v, want PriorityInUse", err)
	}
	if _, err := c.create(typ, "elsewhere", props(map[string]any{"listenerArn": "arn:l/2", "priority": 1})); err != nil {
		t.Errorf("priority 1 on another listener: %v", err)
	}
	for i := 2; i <= 100; i++ {
		if _, err := c.create(typ, fmt.Sprint("v", i), props(map[string]any{"listenerArn": "arn:l/1"})); err != nil {
			t.Fatalf("rule %d of 100: %v", i, err)
		}
	}
	if _, err := c.create(typ, "v101", props(map[string]any{"listenerArn": "arn:l/1"})); err == nil || !strings.Contains(err.Error(), "TooManyRules") {
		t.Errorf("rule 101: %v, want TooManyRules", err)
	}
}

// TestDeletingAListenerDeletesItsRules: ELB's DeleteListener takes the
// listener's rules with it; another listener's rules stay.
func TestDeletingAListenerDeletesItsRules(t *testing.T) {
	c := New()
	const lt, rt = "aws:lb/listener:Listener", "aws:lb/listenerRule:ListenerRule"
	https, err := c.create(lt, "https", props(map[string]any{"loadBalancerArn": "arn:lb/1", "port": 443}))
	if err != nil {
		t.Fatal(err)
	}
	http, err := c.create(lt, "http", props(map[string]any{"loadBalancerArn": "arn:lb/1", "port": 80}))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []*Resource{https, http} {
		if _, err := c.create(rt, l.Name+"-route", props(map[string]any{"listenerArn": l.Outputs["arn"].StringValue()})); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.delete(https.ID, lt, "https"); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, r := range c.Find(rt, "") {
		left = append(left, r.Name)
	}
	if fmt.Sprint(left) != "[http-route]" {
		t.Errorf("after deleting the 443 listener the rules are %v, want [http-route]", left)
	}
	if _, ok := c.read(https.ID); ok {
		t.Error("the deleted listener still reads")
	}
}

// TestLoadBalancerQuotas: an ALB's listeners and rules together forward to
// at most 100 unique target groups, and hold at most 100 rules, across
// every listener; another load balancer has quotas of its own.
func TestLoadBalancerQuotas(t *testing.T) {
	c := New()
	const lt, rt, tt = "aws:lb/listener:Listener", "aws:lb/listenerRule:ListenerRule", "aws:lb/targetGroup:TargetGroup"
	forward := func(tg *Resource) []any {
		return []any{map[string]any{"type": "forward", "targetGroupArn": tg.Outputs["arn"].StringValue()}}
	}
	var tgs []*Resource
	for i := range 102 {
		tg, err := c.create(tt, fmt.Sprint("tg", i), props(map[string]any{"name": fmt.Sprint("tg", i)}))
		if err != nil {
			t.Fatal(err)
		}
		tgs = append(tgs, tg)
	}
	http, err := c.create(lt, "http", props(map[string]any{"loadBalancerArn": "arn:lb/1", "port": 80, "defaultActions": forward(tgs[0])}))
	if err != nil {
		t.Fatal(err)
	}
	https, err := c.create(lt, "https", props(map[string]any{"loadBalancerArn": "arn:lb/1", "port": 443, "defaultActions": forward(tgs[0])}))
	if err != nil {
		t.Fatal(err)
	}
	other, err := c.create(lt, "other", props(map[string]any{"loadBalancerArn": "arn:lb/2", "port": 80, "defaultActions": forward(tgs[101])}))
	if err != nil {
		t.Fatal(err)
	}
	rule := func(name string, l, tg *Resource) error {
		_, err := c.create(rt, name, props(map[string]any{"listenerArn": l.Outputs["arn"].StringValue(), "actions": forward(tg)}))
		return err
	}
	for i := 1; i <= 98; i++ {
		l := http
		if i%2 == 0 {
			l = https
		}
		if err := rule(fmt.Sprint("r", i), l, tgs[i]); err != nil {
			t.Fatalf("rule %d (target group %d of 100): %v", i, i+1, err)
		}
	}
	if _, err := c.update(http.ID, lt, "http", props(map[string]any{"loadBalancerArn": "arn:lb/1", "port": 80, "defaultActions": forward(tgs[99])})); err != nil {
		t.Errorf("moving port 80's default action to the 100th target group (the first is still 443's): %v", err)
	}
	if err := rule("r99", https, tgs[100]); err == nil || !strings.Contains(err.Error(), "TooManyUniqueTargetGroupsPerLoadBalancer") {
		t.Errorf("a rule to a 101st target group of the load balancer: %v, want TooManyUniqueTargetGroupsPerLoadBalancer", err)
	}
	if _, err := c.update(https.ID, lt, "https", props(map[string]any{"loadBalancerArn": "arn:lb/1", "port": 443, "defaultActions": forward(tgs[100])})); err != nil {
		t.Errorf("moving 443's default action from the first target group to another (still 100): %v", err)
	}
	for _, n := range []string{"r99", "r100"} {
		if err := rule(n, https, tgs[1]); err != nil {
			t.Errorf("rule %s of the load balancer, to a target group it uses: %v", n, err)
		}
	}
	if err := rule("r101", http, tgs[1]); err == nil || !strings.Contains(err.Error(), "TooManyRules") {
		t.Errorf("rule 101 of the load balancer (49 on one listener, 51 on the other): %v, want TooManyRules", err)
	}
	if _, err := c.create(rt, "elsewhere", props(map[string]any{"listenerArn": other.Outputs["arn"].StringValue(), "actions": forward(tgs[2])})); err != nil {
		t.Errorf("a rule of another load balancer: %v", err)
	}
}

// TestSecurityGroupInUse: EC2 refuses to delete a security group that
// another group's rule, a load balancer or an ECS service uses
// (DependencyViolation), and deletes it once nothing does.
func TestSecurityGroupInUse(t *testing.T) {
	c := New()
	const sgt = "aws:ec2/securityGroup:SecurityGroup"
	alb, err := c.create(sgt, "alb", props(map[string]any{"name": "dev-alb"}))
	if err != nil {
		t.Fatal(err)
	}
	task, err := c.create(sgt, "task", props(map[string]any{"name": "dev-v1-task", "ingress": []any{map[string]any{"securityGroups": []any{alb.ID}}}}))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := c.create("aws:ecs/service:Service", "svc", props(map[string]any{"networkConfiguration": map[string]any{"securityGroups": []any{task.ID}}}))
	if err != nil {
		t.Fatal(err)
	}
	for _, sg := range []*Resource{alb, task} {
		if err := c.delete(sg.ID, sgt, sg.Name); err == nil || !strings.Contains(err.Error(), "DependencyViolation") {
			t.Errorf("deleting %s while it is used: %v, want DependencyViolation", sg.Name, err)
		}
	}
	for _, r := range []*Resource{svc, task, alb} {
		if err := c.delete(r.ID, r.Type, r.Name); err != nil {
			t.Errorf("deleting %s once nothing uses it: %v", r.Name, err)
		}
	}
}
