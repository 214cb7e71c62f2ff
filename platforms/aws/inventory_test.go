package aws_test

import (
	"context"
	"slices"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"

	"github.com/phoenix-iac/phoenix/components/awsversion"
	"github.com/phoenix-iac/phoenix/platforms/aws"
	"github.com/phoenix-iac/phoenix/stacks"
	"github.com/phoenix-iac/phoenix/tests/moto"
)

// TestInventoryOnMoto: the orphan inventory's calls on moto's APIs (the
// real wire formats of the tagging API, IAM, ECS, ELB and EC2). What a
// version's create made (its service, task definition, target group,
// security group and role with its policy), tagged with env dev and its
// owner, is listed in the order AWS removes it in, another backend's is
// told apart, and each is removed; then nothing is left to list, and a
// deregistered task definition (INACTIVE, still tagged) is no orphan.
// moto's tagging API lists no listener rules, which AWS's does: their
// listing and removal are tested in the simulated cloud.
func TestInventoryOnMoto(t *testing.T) {
	srv := moto.Start(t)
	ctx := context.Background()
	cfg := awssdk.Config{Region: "eu-west-1", BaseEndpoint: awssdk.String(srv.Endpoint()), Credentials: awssdk.NewCredentialsCache(staticCreds{})}
	a := &aws.Account{Tagging: tagging.NewFromConfig(cfg), IAM: iam.NewFromConfig(cfg), ECS: ecs.NewFromConfig(cfg),
		ELB: elb.NewFromConfig(cfg), EC2: ec2.NewFromConfig(cfg), SettleWait: 30 * time.Second, Poll: 100 * time.Millisecond}
	mine := stacks.Owner{Project: "phoenix", Backend: "s3://state/phoenix"}
	tags := func(owner stacks.Owner, version string) map[string]string {
		return stacks.Mark{Env: "dev", Version: version, Owner: owner}.Tags()
	}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	vpc, err := a.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: awssdk.String("10.0.0.0/16")})
	must(vpc, err)
	sg := func(name string, tags map[string]string) string {
		var ts []ec2types.Tag
		for k, v := range tags {
			ts = append(ts, ec2types.Tag{Key: awssdk.String(k), Value: awssdk.String(v)})
		}
		out, err := a.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: awssdk.String(name), Description: awssdk.String(name), VpcId: vpc.Vpc.VpcId,
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: ts}}})
		must(out, err)
		return awssdk.ToString(out.GroupId)
	}
	mySG := sg("dev-v9-task", tags(mine, "v9"))
	otherSG := sg("dev-v9-task-other", tags(stacks.Owner{Project: "phoenix", Backend: "s3://elsewhere"}, "v9"))

	var elbTags []elbtypes.Tag
	for k, v := range tags(mine, "v9") {
		elbTags = append(elbTags, elbtypes.Tag{Key: awssdk.String(k), Value: awssdk.String(v)})
	}
	tg, err := a.ELB.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{Name: awssdk.String("dev-v9-tg"), Protocol: elbtypes.ProtocolEnumHttp,
		Port: awssdk.Int32(8080), VpcId: vpc.Vpc.VpcId, TargetType: elbtypes.TargetTypeEnumIp, Tags: elbTags})
	must(tg, err)

	var iamTags []iamtypes.Tag
	for k, v := range tags(mine, "v9") {
		iamTags = append(iamTags, iamtypes.Tag{Key: awssdk.String(k), Value: awssdk.String(v)})
	}
	must(a.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: awssdk.String("dev-v9-execution"), Path: awssdk.String(awsversion.RolePath("dev")),
		AssumeRolePolicyDocument: awssdk.String(`{"Version":"2012-10-17","Statement":[]}`), Tags: iamTags}))
	must(a.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: awssdk.String("dev-v9-execution"), PolicyName: awssdk.String("dev-v9-execution"),
		PolicyDocument: awssdk.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"*"}]}`)}))
	// A role of another env's path is not listed.
	must(a.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: awssdk.String("dev2-v1-execution"), Path: awssdk.String(awsversion.RolePath("dev2")),
		AssumeRolePolicyDocument: awssdk.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"*"}]}`)}))

	var ecsTags []ecstypes.Tag
	for k, v := range tags(mine, "v9") {
		ecsTags = append(ecsTags, ecstypes.Tag{Key: awssdk.String(k), Value: awssdk.String(v)})
	}
	cluster, err := a.ECS.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: awssdk.String("dev-cluster")})
	must(cluster, err)
	register := func(family string) string {
		out, err := a.ECS.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: awssdk.String(family), Tags: ecsTags,
			ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: awssdk.String("app"), Image: awssdk.String("app"), Memory: awssdk.Int32(512)}}})
		must(out, err)
		return awssdk.ToString(out.TaskDefinition.TaskDefinitionArn)
	}
	td := register("dev-v9")
	retired := register("dev-v8")
	must(a.ECS.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: awssdk.String(retired)}))
	svc, err := a.ECS.CreateService(ctx, &ecs.CreateServiceInput{Cluster: cluster.Cluster.ClusterArn, ServiceName: awssdk.String("dev-v9-service"),
		TaskDefinition: awssdk.String(td), DesiredCount: awssdk.Int32(2), Tags: ecsTags})
	must(svc, err)

	objs, others, err := a.List(ctx, "dev", mine)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.Kind+" "+o.Name+" "+o.Version)
	}
	want := []string{aws.KindService + " dev-v9-service v9", aws.KindTargetGroup + " dev-v9-tg v9", aws.KindTaskDefinition + " dev-v9:1 v9",
		aws.KindSecurityGroup + " " + mySG + " v9", aws.KindRole + " dev-v9-execution v9"}
	if !slices.Equal(got, want) {
		t.Fatalf("listed:\n%q\nwant:\n%q", got, want)
	}
	if len(others) != 1 || others[0].Name != otherSG {
		t.Errorf("others: %v, want the other backend's security group", others)
	}
	for _, o := range objs {
		if err := a.Remove(ctx, o); err != nil {
			t.Fatalf("removing %s %s: %v", o.Kind, o.Name, err)
		}
	}
	if objs, _, err := a.List(ctx, "dev", mine); err != nil || len(objs) != 0 {
		t.Errorf("after removing, listed %v, %v; want nothing", objs, err)
	}
	if _, err := a.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: awssdk.String("dev-v9-execution")}); err == nil {
		t.Error("the role is still there")
	}
}
