package aws

import (
	"context"
	"fmt"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/phoenix-iac/phoenix/internal/platform"
)

// ServiceReader is the part of the ECS API that Diagnose calls.
type ServiceReader interface {
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, opts ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	ListTasks(ctx context.Context, in *ecs.ListTasksInput, opts ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
	DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, opts ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
}

// maxReasons bounds what Diagnose says: enough for the cause, not a log.
const maxReasons = 6

// Diagnose implements platform.Diagnoser: the version's ECS service says
// why it does not answer, in its deployment's rollout state, its newest
// events (failed ELB health checks, tasks that could not be placed or
// pull their image) and the reasons its stopped tasks give.
func (Platform) Diagnose(ctx context.Context, env platform.Env, version string) ([]string, error) {
	outs, err := env.VersionOutputs(ctx, version)
	if err != nil {
		return nil, err
	}
	service, _ := outs[OutServiceName].(string)
	cluster := env.Output(OutClusterARN)
	if service == "" || cluster == "" {
		return nil, nil // a version made before it exported its service
	}
	cfg, err := sdkConfig(ctx, env)
	if err != nil {
		return nil, err
	}
	client := ecs.NewFromConfig(cfg, func(o *ecs.Options) {
		if u := serviceEndpoint(env, "ECS"); u != nil {
			o.BaseEndpoint = u
		}
	})
	return ServiceReasons(ctx, client, cluster, service)
}

// ServiceReasons reads what ECS recorded about service in cluster that
// says why its tasks do not serve: the primary deployment's rollout state
// when it failed, the service's newest events other than the routine
// ones, and the stop reasons of its stopped tasks, each said once.
func ServiceReasons(ctx context.Context, client ServiceReader, cluster, service string) ([]string, error) {
	out, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: awssdk.String(cluster), Services: []string{service}})
	if err != nil {
		return nil, fmt.Errorf("describing ECS service %s: %w", service, err)
	}
	if len(out.Services) == 0 {
		// MISSING: deleted outside phoenix, or never created.
		why := "ECS does not know it"
		if len(out.Failures) > 0 {
			why = awssdk.ToString(out.Failures[0].Reason)
		}
		return []string{fmt.Sprintf("ECS has no service %s in cluster %s (%s)", service, cluster, why)}, nil
	}
	var reasons []string
	seen := map[string]bool{}
	say := func(line string) {
		line = strings.TrimSpace(line)
		if line == "" || seen[line] || len(reasons) >= maxReasons {
			return
		}
		seen[line] = true
		reasons = append(reasons, line)
	}
	svc := out.Services[0]
	for _, d := range svc.Deployments {
		if awssdk.ToString(d.Status) == "PRIMARY" && d.RolloutState == ecstypes.DeploymentRolloutStateFailed {
			say(fmt.Sprintf("deployment failed: %s", awssdk.ToString(d.RolloutStateReason)))
		}
	}
	tasks, err := client.ListTasks(ctx, &ecs.ListTasksInput{Cluster: awssdk.String(cluster), ServiceName: awssdk.String(service),
		DesiredStatus: ecstypes.DesiredStatusStopped})
	if err != nil {
		return nil, fmt.Errorf("listing the stopped tasks of ECS service %s: %w", service, err)
	}
	if len(tasks.TaskArns) > 0 {
		arns := tasks.TaskArns
		if len(arns) > 100 { // DescribeTasks takes 100 at most
			arns = arns[:100]
		}
		stopped, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: awssdk.String(cluster), Tasks: arns})
		if err != nil {
			return nil, fmt.Errorf("describing the stopped tasks of ECS service %s: %w", service, err)
		}
		for _, t := range stopped.Tasks {
			why := awssdk.ToString(t.StoppedReason)
			for _, c := range t.Containers {
				if r := awssdk.ToString(c.Reason); r != "" {
					why += "; container " + awssdk.ToString(c.Name) + ": " + r
				} else if c.ExitCode != nil && *c.ExitCode != 0 {
					why += fmt.Sprintf("; container %s exited with code %d", awssdk.ToString(c.Name), *c.ExitCode)
				}
			}
			if why != "" {
				say("task stopped: " + why)
			}
		}
	}
	// Events come newest first; the routine ones say nothing of a cause.
	for _, e := range svc.Events {
		msg := awssdk.ToString(e.Message)
		if routineEvent(msg) {
			continue
		}
		at := ""
		if e.CreatedAt != nil {
			at = e.CreatedAt.UTC().Format("15:04:05") + " "
		}
		say(at + msg)
	}
	return reasons, nil
}

// routineEvent reports whether an ECS service event is one that every
// healthy service logs too.
func routineEvent(msg string) bool {
	for _, s := range []string{"has reached a steady state", "has started", "registered", "deregistered", "has begun draining"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
