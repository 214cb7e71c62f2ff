package aws

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
	"github.com/aws/smithy-go"

	"github.com/phoenix-iac/phoenix/components/awsversion"
	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// The kinds of what a version creates, in the order AWS lets them be
// removed one by one: the service first (it holds the target group, the
// security group through its tasks' network interfaces, the task
// definition and the roles), then the rule that forwards to the target
// group, the target group, the task definition, the security group once
// no task's interface holds it, and the roles.
const (
	KindService        = "ECS service"
	KindListenerRule   = "listener rule"
	KindTargetGroup    = "target group"
	KindTaskDefinition = "task definition"
	KindSecurityGroup  = "security group"
	KindRole           = "IAM role"
)

var removalOrder = []string{KindService, KindListenerRule, KindTargetGroup, KindTaskDefinition, KindSecurityGroup, KindRole}

// taggedTypes are the resource types, as the tagging API names them, of
// what a version creates that carries tags (the roles are listed by IAM:
// the tagging API does not list IAM roles).
var taggedTypes = map[string]string{
	"ecs:service":                        KindService,
	"ecs:task-definition":                KindTaskDefinition,
	"elasticloadbalancing:listener-rule": KindListenerRule,
	"elasticloadbalancing:targetgroup":   KindTargetGroup,
	"ec2:security-group":                 KindSecurityGroup,
}

// defaultSettleWait bounds how long Remove waits for what AWS finishes in
// the background: a deleted service's tasks to stop and their network
// interfaces to go, which the security group and target group wait on.
const defaultSettleWait = 10 * time.Minute

// Account lists and removes, in one AWS account and region, what an env's
// versions created there: platform.Cloud over the tagging API (what
// carries the env's phoenix:env tag) and IAM (the roles under the env's
// path). What an env stack's own interrupted create left (its VPC, load
// balancer, cluster) is not listed.
type Account struct {
	Tagging *tagging.Client
	IAM     *iam.Client
	ECS     *ecs.Client
	ELB     *elb.Client
	EC2     *ec2.Client
	// SettleWait bounds each wait for what AWS finishes in the
	// background; zero is 10 minutes. Poll is how often it looks; zero
	// is 5 seconds.
	SettleWait, Poll time.Duration
	// Logf says one line of progress; nil says nothing.
	Logf func(format string, args ...any)
}

// Inventory implements platform.Inventory: the env's account and region,
// with the credentials and endpoints the Pulumi CLI's aws plugin would
// use.
func (Platform) Inventory(env platform.Env) (platform.Cloud, error) {
	cfg, err := sdkConfig(context.Background(), env)
	if err != nil {
		return nil, err
	}
	at := func(service string) *string { return serviceEndpoint(env, service) }
	return &Account{
		Tagging: tagging.NewFromConfig(cfg, func(o *tagging.Options) {
			o.BaseEndpoint = orDefault(at("RESOURCE_GROUPS_TAGGING_API"), o.BaseEndpoint)
		}),
		IAM:  iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = orDefault(at("IAM"), o.BaseEndpoint) }),
		ECS:  ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = orDefault(at("ECS"), o.BaseEndpoint) }),
		ELB:  elb.NewFromConfig(cfg, func(o *elb.Options) { o.BaseEndpoint = orDefault(at("ELASTIC_LOAD_BALANCING_V2"), o.BaseEndpoint) }),
		EC2:  ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = orDefault(at("EC2"), o.BaseEndpoint) }),
		Logf: env.Logf,
	}, nil
}

func orDefault(u, def *string) *string {
	if u != nil {
		return u
	}
	return def
}

// Marked implements platform.Cloud.
func (a *Account) Marked(env string) string {
	return fmt.Sprintf("tagged %s=%s", stacks.TagEnv, env)
}

// List implements platform.Cloud: what env's versions created that
// carries its tag, owner's (tagged with it) apart from the others, in
// removal order.
func (a *Account) List(ctx context.Context, env string, owner stacks.Owner) (mine, others []platform.Object, err error) {
	var found []tagged
	types := slices.Sorted(maps.Keys(taggedTypes))
	pages := tagging.NewGetResourcesPaginator(a.Tagging, &tagging.GetResourcesInput{
		TagFilters:          []taggingtypes.TagFilter{{Key: awssdk.String(stacks.TagEnv), Values: []string{env}}},
		ResourceTypeFilters: types,
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("listing what is tagged %s=%s (tag:GetResources): %w", stacks.TagEnv, env, err)
		}
		for _, m := range page.ResourceTagMappingList {
			arn := awssdk.ToString(m.ResourceARN)
			kind := kindOfARN(arn)
			if kind == "" {
				continue
			}
			tags := map[string]string{}
			for _, t := range m.Tags {
				tags[awssdk.ToString(t.Key)] = awssdk.ToString(t.Value)
			}
			found = append(found, tagged{kind: kind, arn: arn, tags: tags})
		}
	}
	// A deregistered task definition stays, INACTIVE, with its tags: it
	// runs nothing and is no orphan.
	if slices.ContainsFunc(found, func(t tagged) bool { return t.kind == KindTaskDefinition }) {
		active, err := a.activeTaskDefinitions(ctx)
		if err != nil {
			return nil, nil, err
		}
		found = slices.DeleteFunc(found, func(t tagged) bool { return t.kind == KindTaskDefinition && !active[t.arn] })
	}
	// So does a deleted service, INACTIVE, for a while.
	inactive, err := a.inactiveServices(ctx, found)
	if err != nil {
		return nil, nil, err
	}
	found = slices.DeleteFunc(found, func(t tagged) bool { return inactive[t.arn] })
	roles, err := a.roles(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	found = append(found, roles...)
	slices.SortStableFunc(found, func(x, y tagged) int {
		if d := slices.Index(removalOrder, x.kind) - slices.Index(removalOrder, y.kind); d != 0 {
			return d
		}
		return strings.Compare(x.arn, y.arn)
	})
	for _, t := range found {
		if t.tags[stacks.TagEnv] != env {
			continue
		}
		obj := platform.Object{Kind: t.kind, ID: t.arn, Name: nameOfARN(t.kind, t.arn), Version: t.tags[stacks.TagVersion], Owner: ownerOfTags(t.tags)}
		if owner.OwnsTags(t.tags) {
			mine = append(mine, obj)
		} else {
			others = append(others, obj)
		}
	}
	return mine, others, nil
}

// tagged is one resource the account lists, with its tags.
type tagged struct {
	kind, arn string
	tags      map[string]string
}

// activeTaskDefinitions returns the ARNs of the region's ACTIVE task
// definitions: one listing, where the INACTIVE ones of every version ever
// destroyed would take a call each (ListTaskDefinitions filters by one
// whole family, not by a prefix).
func (a *Account) activeTaskDefinitions(ctx context.Context) (map[string]bool, error) {
	active := map[string]bool{}
	pages := ecs.NewListTaskDefinitionsPaginator(a.ECS, &ecs.ListTaskDefinitionsInput{Status: ecstypes.TaskDefinitionStatusActive})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the active task definitions (ecs:ListTaskDefinitions): %w", err)
		}
		for _, arn := range page.TaskDefinitionArns {
			active[arn] = true
		}
	}
	return active, nil
}

// inactiveServices returns which of the services in found ECS has
// deleted (INACTIVE, or gone).
func (a *Account) inactiveServices(ctx context.Context, found []tagged) (map[string]bool, error) {
	byCluster := map[string][]string{}
	for _, t := range found {
		if t.kind == KindService {
			c := awssdk.ToString(clusterOfService(t.arn))
			byCluster[c] = append(byCluster[c], t.arn)
		}
	}
	inactive := map[string]bool{}
	for cluster, arns := range byCluster {
		for chunk := range slices.Chunk(arns, 10) { // DescribeServices takes 10 at most
			in := &ecs.DescribeServicesInput{Services: chunk}
			if cluster != "" {
				in.Cluster = awssdk.String(cluster)
			}
			out, err := a.ECS.DescribeServices(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("reading the state of the services tagged with the env (ecs:DescribeServices): %w", err)
			}
			for _, f := range out.Failures {
				inactive[awssdk.ToString(f.Arn)] = true // MISSING
			}
			for _, svc := range out.Services {
				if awssdk.ToString(svc.Status) == "INACTIVE" {
					inactive[awssdk.ToString(svc.ServiceArn)] = true
				}
			}
		}
	}
	return inactive, nil
}

// roles returns the IAM roles under env's path (awsversion.RolePath),
// with their tags.
func (a *Account) roles(ctx context.Context, env string) ([]tagged, error) {
	var out []tagged
	pages := iam.NewListRolesPaginator(a.IAM, &iam.ListRolesInput{PathPrefix: awssdk.String(awsversion.RolePath(env))})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the IAM roles under %s (iam:ListRoles): %w", awsversion.RolePath(env), err)
		}
		for _, r := range page.Roles {
			tags := map[string]string{}
			tp := iam.NewListRoleTagsPaginator(a.IAM, &iam.ListRoleTagsInput{RoleName: r.RoleName})
			for tp.HasMorePages() {
				tpage, err := tp.NextPage(ctx)
				if errorCode(err) == "NoSuchEntity" {
					break // removed since it was listed
				}
				if err != nil {
					return nil, fmt.Errorf("reading the tags of IAM role %s (iam:ListRoleTags): %w", awssdk.ToString(r.RoleName), err)
				}
				for _, t := range tpage.Tags {
					tags[awssdk.ToString(t.Key)] = awssdk.ToString(t.Value)
				}
			}
			out = append(out, tagged{kind: KindRole, arn: awssdk.ToString(r.Arn), tags: tags})
		}
	}
	return out, nil
}

// Remove implements platform.Cloud: obj, and what AWS requires gone
// before it (a role's policies), waiting, within SettleWait, for what a
// removed service leaves to go. Something already gone is no error.
func (a *Account) Remove(ctx context.Context, obj platform.Object) error {
	var err error
	switch obj.Kind {
	case KindService:
		err = a.removeService(ctx, obj)
	case KindListenerRule:
		_, err = a.ELB.DeleteRule(ctx, &elb.DeleteRuleInput{RuleArn: awssdk.String(obj.ID)})
	case KindTargetGroup:
		err = a.settle(ctx, obj, []string{"ResourceInUse"}, func() error {
			_, err := a.ELB.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: awssdk.String(obj.ID)})
			return err
		})
	case KindTaskDefinition:
		_, err = a.ECS.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: awssdk.String(obj.ID)})
	case KindSecurityGroup:
		err = a.settle(ctx, obj, []string{"DependencyViolation"}, func() error {
			_, err := a.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: awssdk.String(obj.Name)})
			return err
		})
	case KindRole:
		err = a.removeRole(ctx, obj.Name)
	default:
		return fmt.Errorf("phoenix does not remove a %s (%s)", obj.Kind, obj.ID)
	}
	switch errorCode(err) {
	case "ServiceNotFoundException", "RuleNotFound", "TargetGroupNotFound", "InvalidGroup.NotFound", "NoSuchEntity":
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing %s %s: %w", obj.Kind, obj.ID, err)
	}
	return nil
}

// removeService deletes a service with its running tasks (ECS refuses to
// delete one scaled above 0 without force) and waits until ECS has
// stopped them: the service is INACTIVE, or gone.
func (a *Account) removeService(ctx context.Context, obj platform.Object) error {
	cluster := clusterOfService(obj.ID)
	_, err := a.ECS.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: cluster, Service: awssdk.String(obj.ID), Force: awssdk.Bool(true)})
	if err != nil && errorCode(err) != "ServiceNotActiveException" { // DRAINING: deleted before, stopping its tasks
		return err
	}
	return a.wait(ctx, obj, "its tasks to stop", func() (bool, error) {
		out, err := a.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: cluster, Services: []string{obj.ID}})
		if err != nil {
			return false, err
		}
		for _, s := range out.Services {
			if awssdk.ToString(s.Status) != "INACTIVE" {
				return false, nil
			}
		}
		return true, nil
	})
}

// removeRole deletes a role after what IAM requires gone first: its
// inline policies and its attached managed policies.
func (a *Account) removeRole(ctx context.Context, name string) error {
	role := awssdk.String(name)
	inline := iam.NewListRolePoliciesPaginator(a.IAM, &iam.ListRolePoliciesInput{RoleName: role})
	for inline.HasMorePages() {
		page, err := inline.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, p := range page.PolicyNames {
			if _, err := a.IAM.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: role, PolicyName: awssdk.String(p)}); err != nil && errorCode(err) != "NoSuchEntity" {
				return err
			}
		}
	}
	attached := iam.NewListAttachedRolePoliciesPaginator(a.IAM, &iam.ListAttachedRolePoliciesInput{RoleName: role})
	for attached.HasMorePages() {
		page, err := attached.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, p := range page.AttachedPolicies {
			if _, err := a.IAM.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: role, PolicyArn: p.PolicyArn}); err != nil && errorCode(err) != "NoSuchEntity" {
				return err
			}
		}
	}
	_, err := a.IAM.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: role})
	return err
}

// settle calls remove until it stops failing with one of codes (what AWS
// says while something it deletes in the background still holds obj),
// within SettleWait.
func (a *Account) settle(ctx context.Context, obj platform.Object, codes []string, remove func() error) error {
	var last error
	err := a.wait(ctx, obj, "what still holds it to go", func() (bool, error) {
		last = remove()
		if last != nil && slices.Contains(codes, errorCode(last)) {
			return false, nil
		}
		return true, last
	})
	if errors.Is(err, errNotSettled) && last != nil {
		return fmt.Errorf("%w: %w", err, last)
	}
	return err
}

var errNotSettled = errors.New("gave up waiting")

// wait polls done until it says true, fails, or SettleWait passes; it
// says what it waits for once it has waited a poll.
func (a *Account) wait(ctx context.Context, obj platform.Object, what string, done func() (bool, error)) error {
	limit, poll := a.SettleWait, a.Poll
	if limit <= 0 {
		limit = defaultSettleWait
	}
	if poll <= 0 {
		poll = 5 * time.Second
	}
	start := time.Now()
	for said := false; ; {
		ok, err := done()
		if ok || err != nil {
			return err
		}
		if time.Since(start) >= limit {
			return fmt.Errorf("%w after %s for %s", errNotSettled, limit, what)
		}
		if !said && a.Logf != nil {
			a.Logf("waiting up to %s for %s of %s %s", limit, what, obj.Kind, obj.Name)
			said = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// errorCode is the AWS API error code of err; "" for none.
func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// kindOfARN is the kind of what arn names, among those a version
// creates; "" for any other.
func kindOfARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	typ, _, _ := strings.Cut(parts[5], "/")
	return taggedTypes[parts[2]+":"+typ]
}

// nameOfARN is the short name by which AWS calls what arn names: a
// security group's id, a role's name, a service's or task definition's
// name (with its revision), a target group's name.
func nameOfARN(kind, arn string) string {
	fields := strings.SplitN(arn, ":", 6)
	_, res, _ := strings.Cut(fields[len(fields)-1], "/")
	parts := strings.Split(res, "/")
	switch kind {
	case KindService, KindSecurityGroup, KindRole, KindTaskDefinition:
		return parts[len(parts)-1]
	case KindTargetGroup:
		return parts[0]
	}
	return res
}

// clusterOfService is the cluster a service's ARN names
// (arn:aws:ecs:<region>:<account>:service/<cluster>/<service>); nil, the
// default cluster, for an ARN of the old format, which names none.
func clusterOfService(arn string) *string {
	_, res, _ := strings.Cut(arn, ":service/")
	cluster, _, ok := strings.Cut(res, "/")
	if !ok {
		return nil
	}
	return awssdk.String(cluster)
}

// OwnerName implements platform.OwnerNamer: an owner as its tags.
func (a *Account) OwnerName(o stacks.Owner) string {
	return ownerOfTags(o.Tags())
}

// ownerOfTags says whose a resource's owner tags say it is, for messages.
func ownerOfTags(tags map[string]string) string {
	p, b := tags[stacks.TagProject], tags[stacks.TagBackend]
	if p == "" && b == "" {
		return "no owner tags"
	}
	return fmt.Sprintf("%s=%s %s=%s", stacks.TagProject, p, stacks.TagBackend, b)
}
