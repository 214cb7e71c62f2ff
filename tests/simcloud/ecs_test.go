package simcloud

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestServiceThatFailsItsHealthChecks: a service behind a target group
// whose health check asks a path the app does not serve never gets
// steady. Created with waitForSteadyState, the create waits out the
// provider's 20 minutes of the cloud's clock and fails; created without,
// it is there, the load balancer has no target in the group, and ECS's API
// says why: the failed deployment, the stopped tasks' reasons and the
// events. A group that asks the app's health path is served.
func TestServiceThatFailsItsHealthChecks(t *testing.T) {
	c := New()
	cluster := "arn:aws:ecs:eu-west-1:123456789012:cluster/dev"
	attached := func(name, path string) string {
		tg, err := c.create("aws:lb/targetGroup:TargetGroup", name, props(map[string]any{"name": name, "port": 8080,
			"healthCheck": map[string]any{"path": path, "matcher": "200"}}))
		if err != nil {
			t.Fatal(err)
		}
		arn := tg.Outputs["arn"].StringValue()
		if _, err := c.create("aws:lb/listenerRule:ListenerRule", name+"-rule", props(map[string]any{"actions": []any{map[string]any{"type": "forward", "targetGroupArn": arn}}})); err != nil {
			t.Fatal(err)
		}
		return arn
	}
	service := func(name, tg string, wait bool) map[string]any {
		return map[string]any{"name": name, "cluster": cluster, "desiredCount": 2, "waitForSteadyState": wait,
			"loadBalancers": []any{map[string]any{"targetGroupArn": tg, "containerName": "app", "containerPort": 8080}}}
	}
	bad, good := attached("dev-bad", "/nope"), attached("dev-good", "/healthz")

	before := c.Now()
	if _, err := c.create("aws:ecs/service:Service", "bad-wait", props(service("bad-wait", bad, true))); err == nil || !strings.Contains(err.Error(), "timeout while waiting for state to become 'tfSTABLE'") {
		t.Fatalf("a waited-for service that fails its health checks: %v, want the provider's create timeout", err)
	}
	if waited := c.Now().Sub(before); waited < serviceCreateTimeout {
		t.Errorf("the failed create took %s of the cloud's clock, want the provider's %s", waited, serviceCreateTimeout)
	}
	if _, err := c.create("aws:ecs/service:Service", "bad", props(service("dev-bad-svc", bad, false))); err != nil {
		t.Fatalf("a service that is not waited for: %v", err)
	}
	if _, err := c.create("aws:ecs/service:Service", "good", props(service("dev-good-svc", good, true))); err != nil {
		t.Fatalf("a waited-for service that passes its health checks: %v", err)
	}
	if ok, why := c.TargetGroupServing(bad); ok || !strings.Contains(why, "health checks") {
		t.Errorf("the failing group serves: %v (%s)", ok, why)
	}
	if ok, why := c.TargetGroupServing(good); !ok {
		t.Errorf("the healthy group does not serve: %s", why)
	}

	url, stop, err := c.ServeECR()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	client := ecs.New(ecs.Options{Region: "eu-west-1", BaseEndpoint: aws.String(url), Credentials: aws.AnonymousCredentials{}})
	ctx := context.Background()
	out, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{"dev-bad-svc", "dev-good-svc", "gone"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Services) != 2 || len(out.Failures) != 1 {
		t.Fatalf("DescribeServices: %d services, %d failures; want 2 and 1 (gone)", len(out.Services), len(out.Failures))
	}
	badSvc, goodSvc := out.Services[0], out.Services[1]
	if d := badSvc.Deployments[0]; d.RolloutState != ecstypes.DeploymentRolloutStateFailed || !strings.Contains(aws.ToString(d.RolloutStateReason), "circuit breaker") {
		t.Errorf("the failing service's deployment: %s %q, want FAILED by the circuit breaker", d.RolloutState, aws.ToString(d.RolloutStateReason))
	}
	if msg := aws.ToString(badSvc.Events[0].Message); !strings.Contains(msg, "deployment failed") {
		t.Errorf("the failing service's newest event: %q", msg)
	}
	if d := goodSvc.Deployments[0]; d.RolloutState != ecstypes.DeploymentRolloutStateCompleted || len(goodSvc.Events) != 1 {
		t.Errorf("the healthy service: deployment %s, %d events; want COMPLETED and one", d.RolloutState, len(goodSvc.Events))
	}
	tasks, err := client.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster), ServiceName: aws.String("dev-bad-svc"), DesiredStatus: ecstypes.DesiredStatusStopped})
	if err != nil || len(tasks.TaskArns) != 2 {
		t.Fatalf("ListTasks: %v, %v; want the 2 stopped tasks", tasks, err)
	}
	stopped, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: tasks.TaskArns})
	if err != nil || len(stopped.Tasks) != 2 || !strings.Contains(aws.ToString(stopped.Tasks[0].StoppedReason), "failed ELB health checks") {
		t.Fatalf("DescribeTasks: %v, %v; want 2 tasks stopped for failed ELB health checks", stopped, err)
	}
	if _, err := client.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster), ServiceName: aws.String("gone")}); err == nil {
		t.Errorf("ListTasks of a service that is not there: no error")
	}
}
