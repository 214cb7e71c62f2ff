package simcloud

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	"github.com/aws/smithy-go"

	"github.com/phoenix-iac/phoenix/platforms/aws"
	"github.com/phoenix-iac/phoenix/stacks"
)

// awsAccount is an aws.Account whose clients call c's API.
func awsAccount(t *testing.T, c *Cloud) *aws.Account {
	t.Helper()
	url, stop, err := c.ServeECR()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	cfg := awssdk.Config{Region: region, Credentials: awssdk.NewCredentialsCache(awssdk.CredentialsProviderFunc(func(context.Context) (awssdk.Credentials, error) {
		return awssdk.Credentials{AccessKeyID: "simulated", SecretAccessKey: "simulated"}, nil
	})), BaseEndpoint: awssdk.String(url)}
	return &aws.Account{Tagging: tagging.NewFromConfig(cfg), IAM: iam.NewFromConfig(cfg), ECS: ecs.NewFromConfig(cfg),
		ELB: elb.NewFromConfig(cfg), EC2: ec2.NewFromConfig(cfg), SettleWait: time.Second, Poll: 10 * time.Millisecond}
}

// version plants what a version's create makes, tagged with env, version
// and owner, and returns it in the order of its kinds: service, rule,
// target group, task definition, security group, role (and the role's
// policy last).
func (c *Cloud) version(t *testing.T, env, version string, owner stacks.Owner) []Resource {
	t.Helper()
	tags := map[string]any{}
	for k, v := range (stacks.Mark{Env: env, Version: version, Owner: owner}).Tags() {
		tags[k] = v
	}
	plant := func(typ, name string, in map[string]any) Resource {
		r, err := c.Plant(typ, name, props(in))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	arn := func(r Resource) string { return r.Outputs["arn"].StringValue() }
	n := fmt.Sprintf("%s-%s", env, version)
	sg := plant("aws:ec2/securityGroup:SecurityGroup", n+"-task", map[string]any{"name": n + "-task", "tags": tags})
	tg := plant("aws:lb/targetGroup:TargetGroup", n+"-tg", map[string]any{"name": n + "-tg", "tags": tags})
	rule := plant("aws:lb/listenerRule:ListenerRule", n+"-route", map[string]any{"actions": []any{map[string]any{"type": "forward", "targetGroupArn": arn(tg)}}, "tags": tags})
	role := plant("aws:iam/role:Role", n+"-execution", map[string]any{"name": n + "-execution", "path": "/phoenix/" + env + "/", "tags": tags})
	policy := plant("aws:iam/rolePolicy:RolePolicy", n+"-execution", map[string]any{"name": n + "-execution", "role": role.ID})
	td := plant("aws:ecs/taskDefinition:TaskDefinition", n+"-task", map[string]any{"family": n, "tags": tags})
	svc := plant("aws:ecs/service:Service", n+"-service", map[string]any{"name": n + "-service", "cluster": "arn:aws:ecs:eu-west-1:123456789012:cluster/" + env,
		"desiredCount": 2, "taskDefinition": arn(td), "networkConfiguration": map[string]any{"securityGroups": []any{sg.ID}},
		"loadBalancers": []any{map[string]any{"targetGroupArn": arn(tg)}}, "tags": tags})
	return []Resource{svc, rule, tg, td, sg, role, policy}
}

// TestOrphanAPIs: phoenix's aws inventory (the tagging API, IAM's roles
// under the env's path, ECS's active task definitions) lists, over more
// than one page, what the env's versions made, the owner's apart from
// another backend's and without another env's; and it removes each in an
// order that AWS accepts. The APIs refuse, as AWS's do, what that order
// exists for.
func TestOrphanAPIs(t *testing.T) {
	c := New()
	a := awsAccount(t, c)
	ctx := context.Background()
	mine := stacks.Owner{Project: "phoenix", Backend: "s3://state/phoenix"}
	var want [][]Resource
	for i := range 3 {
		want = append(want, c.version(t, "dev", fmt.Sprintf("v%d", i), mine))
	}
	other := c.version(t, "dev", "v9", stacks.Owner{Project: "phoenix", Backend: "s3://elsewhere"})
	c.version(t, "qa", "v1", mine)

	// What AWS refuses.
	svc, rule, tg, sg, role := want[0][0], want[0][1], want[0][2], want[0][4], want[0][5]
	refused := map[string]error{}
	_, refused["InvalidParameterException"] = a.ECS.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: awssdk.String("dev"), Service: awssdk.String(svc.Outputs["arn"].StringValue())})
	_, refused["DependencyViolation"] = a.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: awssdk.String(sg.ID)})
	_, refused["ResourceInUse"] = a.ELB.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: awssdk.String(tg.Outputs["arn"].StringValue())})
	_, refused["DeleteConflict"] = a.IAM.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: awssdk.String(role.Inputs["name"].StringValue())})
	_, refused["RuleNotFound"] = a.ELB.DeleteRule(ctx, &elb.DeleteRuleInput{RuleArn: awssdk.String(rule.Outputs["arn"].StringValue() + "0")})
	for code, err := range refused {
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != code {
			t.Errorf("want %s, got %v", code, err)
		}
	}

	objs, others, err := a.List(ctx, "dev", mine)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.Kind)
	}
	wantKinds := []string{}
	for _, k := range []string{aws.KindService, aws.KindListenerRule, aws.KindTargetGroup, aws.KindTaskDefinition, aws.KindSecurityGroup, aws.KindRole} {
		wantKinds = append(wantKinds, k, k, k)
	}
	if !slices.Equal(kinds, wantKinds) {
		t.Fatalf("listed %v, want %v", kinds, wantKinds)
	}
	for _, o := range objs {
		if o.Version == "" || o.Name == "" {
			t.Errorf("%s %s: no version or name", o.Kind, o.ID)
		}
	}
	if len(others) != 6 || others[0].Owner != "phoenix:project=phoenix phoenix:backend=s3://elsewhere" {
		t.Errorf("others: %v, want the other backend's 6", others)
	}
	for _, o := range objs {
		if err := a.Remove(ctx, o); err != nil {
			t.Fatalf("removing %s: %v", o.Name, err)
		}
	}
	// Gone already is no error.
	if err := a.Remove(ctx, objs[0]); err != nil {
		t.Errorf("removing a removed service: %v", err)
	}
	for _, v := range want {
		for _, r := range v {
			if _, ok := c.resources[r.ID]; ok {
				t.Errorf("%s %s is still there", r.Type, r.Name)
			}
		}
	}
	if _, ok := c.resources[other[0].ID]; !ok {
		t.Error("another backend's service was removed")
	}
	if objs, _, err := a.List(ctx, "dev", mine); err != nil || len(objs) != 0 {
		t.Errorf("after removing: %v, %v", objs, err)
	}
}
