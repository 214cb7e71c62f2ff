package aws_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/phoenix-iac/phoenix/platforms/aws"
	"github.com/phoenix-iac/phoenix/tests/moto"
)

// recordedService is an ECS API that answers for one service as ECS does
// for one whose tasks fail their health checks.
type recordedService struct {
	deployment ecstypes.Deployment
	events     []ecstypes.ServiceEvent
	stopped    []ecstypes.Task
}

func (r recordedService) DescribeServices(context.Context, *ecs.DescribeServicesInput, ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	return &ecs.DescribeServicesOutput{Services: []ecstypes.Service{{Deployments: []ecstypes.Deployment{r.deployment}, Events: r.events}}}, nil
}

func (r recordedService) ListTasks(_ context.Context, in *ecs.ListTasksInput, _ ...func(*ecs.Options)) (*ecs.ListTasksOutput, error) {
	if in.DesiredStatus != ecstypes.DesiredStatusStopped {
		return &ecs.ListTasksOutput{}, nil
	}
	out := &ecs.ListTasksOutput{}
	for _, t := range r.stopped {
		out.TaskArns = append(out.TaskArns, awssdk.ToString(t.TaskArn))
	}
	return out, nil
}

func (r recordedService) DescribeTasks(context.Context, *ecs.DescribeTasksInput, ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	return &ecs.DescribeTasksOutput{Tasks: r.stopped}, nil
}

// TestServiceReasons: the failed rollout comes first, then each stopped
// task's reason once (with its container's), then the newest events that
// say something (not the routine ones every service logs), at most six
// lines in all.
func TestServiceReasons(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	task := func(id, reason string, exit int32) ecstypes.Task {
		return ecstypes.Task{TaskArn: awssdk.String(id), StoppedReason: awssdk.String(reason),
			Containers: []ecstypes.Container{{Name: awssdk.String("app"), ExitCode: awssdk.Int32(exit)}}}
	}
	svc := recordedService{
		deployment: ecstypes.Deployment{Status: awssdk.String("PRIMARY"), RolloutState: ecstypes.DeploymentRolloutStateFailed,
			RolloutStateReason: awssdk.String("ECS deployment circuit breaker: tasks failed to start.")},
		stopped: []ecstypes.Task{
			task("t1", "Essential container in task exited", 1),
			task("t2", "Essential container in task exited", 1),
			{TaskArn: awssdk.String("t3"), StoppedReason: awssdk.String("CannotPullContainerError"),
				Containers: []ecstypes.Container{{Name: awssdk.String("app"), Reason: awssdk.String("pull access denied")}}},
		},
	}
	for i := range 8 {
		svc.events = append(svc.events, ecstypes.ServiceEvent{CreatedAt: awssdk.Time(at.Add(-time.Duration(i) * time.Minute)),
			Message: awssdk.String(fmt.Sprintf("(service dev-v1) (task t%d) failed container health checks.", i))})
	}
	svc.events = append([]ecstypes.ServiceEvent{{CreatedAt: awssdk.Time(at), Message: awssdk.String("(service dev-v1) has started 2 tasks: (task t1) (task t2).")}}, svc.events...)

	got, err := aws.ServiceReasons(context.Background(), svc, "cluster", "dev-v1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"deployment failed: ECS deployment circuit breaker: tasks failed to start.",
		"task stopped: Essential container in task exited; container app exited with code 1",
		"task stopped: CannotPullContainerError; container app: pull access denied",
		"10:00:00 (service dev-v1) (task t0) failed container health checks.",
		"09:59:00 (service dev-v1) (task t1) failed container health checks.",
		"09:58:00 (service dev-v1) (task t2) failed container health checks.",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("reasons:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestServiceReasonsOnMoto: Diagnose's ECS calls on moto's ECS API (the
// real wire format). moto records no service events and starts no tasks
// for a service, so a service it holds has no reasons to give, and that is
// no error; of a service it does not hold, the reason is that ECS has
// none (its MISSING). What the reasons say is tested above and in the
// simulated cloud.
func TestServiceReasonsOnMoto(t *testing.T) {
	srv := moto.Start(t)
	client := ecs.New(ecs.Options{Region: "eu-west-1", BaseEndpoint: awssdk.String(srv.Endpoint()),
		Credentials: awssdk.NewCredentialsCache(staticCreds{})})
	ctx := context.Background()
	cluster, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: awssdk.String("dev")})
	if err != nil {
		t.Fatal(err)
	}
	clusterARN := awssdk.ToString(cluster.Cluster.ClusterArn)
	if _, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: awssdk.String("dev-v1"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: awssdk.String("app"), Image: awssdk.String("app"), Memory: awssdk.Int32(512)}}}); err != nil {
		t.Fatal(err)
	}
	svc, err := client.CreateService(ctx, &ecs.CreateServiceInput{Cluster: awssdk.String(clusterARN), ServiceName: awssdk.String("dev-v1-service"),
		TaskDefinition: awssdk.String("dev-v1"), DesiredCount: awssdk.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	reasons, err := aws.ServiceReasons(ctx, client, clusterARN, awssdk.ToString(svc.Service.ServiceName))
	if err != nil || len(reasons) != 0 {
		t.Errorf("a service moto holds: reasons %q, error %v; want none and no error", reasons, err)
	}
	if reasons, err := aws.ServiceReasons(ctx, client, clusterARN, "dev-v9-service"); err != nil || len(reasons) != 1 || !strings.Contains(reasons[0], "ECS has no service dev-v9-service") || !strings.Contains(reasons[0], "MISSING") {
		t.Errorf("a service moto does not hold: reasons %q, error %v; want that ECS has none, with its MISSING", reasons, err)
	}
}
