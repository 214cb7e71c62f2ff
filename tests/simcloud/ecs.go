package simcloud

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// ECS services as the real ones behave for what phoenix depends on. Every
// simulated task runs phoenix's sample app (app/): it listens on the PORT
// its container definition gives it and answers its health check at
// appHealthPath. A target group whose health check asks another path sees
// every task fail it: ECS stops those tasks ("failed ELB health checks"),
// and the circuit breaker, with no earlier deployment to roll back to,
// stops starting new ones, so the load balancer has no target to send to.
// A service created with waitForSteadyState then holds its create until
// the aws provider's create timeout, by the cloud's clock, and fails.

// appHealthPath is where the simulated app answers its health check.
const appHealthPath = "/healthz"

// serviceCreateTimeout is the aws provider's default create timeout of an
// ECS service (aws_ecs_service timeouts.create).
const serviceCreateTimeout = 20 * time.Minute

// targetGroupFailing returns why the tasks behind a target group fail its
// health checks; "" when they pass. Callers hold c.mu.
func (c *Cloud) targetGroupFailing(arn string) string {
	for _, r := range c.resources {
		if r.Type != "aws:lb/targetGroup:TargetGroup" || r.Outputs["arn"].StringValue() != arn {
			continue
		}
		hc := r.Inputs["healthCheck"]
		if !hc.IsObject() {
			return ""
		}
		if p := hc.ObjectValue()["path"]; p.IsString() && p.StringValue() != appHealthPath {
			return fmt.Sprintf("Health checks failed with these codes: [404] (path %s)", p.StringValue())
		}
	}
	return ""
}

// TargetGroupServing reports whether the load balancer has healthy targets
// in the target group at arn: an ECS service serves it and its tasks pass
// its health checks; why says what is missing when not.
func (c *Cloud) TargetGroupServing(arn string) (ok bool, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	served := false
	for _, r := range c.resources {
		if r.Type == "aws:ecs/service:Service" && strings.Contains(fmt.Sprint(r.Inputs["loadBalancers"].Mappable()), arn) {
			served = true
		}
	}
	if !served {
		return false, "no ECS service serves it"
	}
	if reason := c.targetGroupFailing(arn); reason != "" {
		return false, "its tasks failed their health checks and were stopped: " + reason
	}
	return true, ""
}

// serviceTargetGroups returns the target groups an ECS service's inputs
// attach it to.
func serviceTargetGroups(inputs resource.PropertyMap) []string {
	var arns []string
	for _, lb := range arrayOf(inputs["loadBalancers"]) {
		if tg := lb.ObjectValue()["targetGroupArn"]; tg.IsString() {
			arns = append(arns, tg.StringValue())
		}
	}
	return arns
}

// checkServiceSteady applies waitForSteadyState to a service being
// created: one whose tasks fail their health checks never gets steady, so
// the create waits out its timeout (the cloud's clock moves on by it) and
// fails as the aws provider does. Callers hold c.mu.
func (c *Cloud) checkServiceSteady(inputs resource.PropertyMap) error {
	if w := plain(inputs["waitForSteadyState"]); !w.IsBool() || !w.BoolValue() {
		return nil
	}
	for _, tg := range serviceTargetGroups(inputs) {
		if c.targetGroupFailing(tg) != "" {
			c.skew += serviceCreateTimeout
			return fmt.Errorf("waiting for ECS Service (%s) create: timeout while waiting for state to become 'tfSTABLE' (last state: 'tfPENDING', timeout: %s)",
				inputs["name"].StringValue(), serviceCreateTimeout)
		}
	}
	return nil
}

// serviceState is what ECS's API says of a service: its events, newest
// first, and its stopped tasks' reasons. Callers hold c.mu.
func (c *Cloud) serviceState(r *Resource) (events []map[string]any, stopped []map[string]any, failed string) {
	name := r.Inputs["name"].StringValue()
	// The events' times: the cloud keeps none, so the story ends now.
	at := float64(time.Now().Add(c.skew).Unix()) - 300
	count := 1
	if n := r.Inputs["desiredCount"]; n.IsNumber() {
		count = int(n.NumberValue())
	}
	for _, tg := range serviceTargetGroups(r.Inputs) {
		reason := c.targetGroupFailing(tg)
		if reason == "" {
			continue
		}
		for i := range count {
			task := fmt.Sprintf("%s-task-%d", r.ID, i+1)
			stopped = append(stopped, map[string]any{
				"taskArn":       fmt.Sprintf("arn:aws:ecs:%s:%s:task/%s", region, account, task),
				"lastStatus":    "STOPPED",
				"desiredStatus": "STOPPED",
				"stopCode":      "ServiceSchedulerInitiated",
				"stoppedReason": fmt.Sprintf("Task failed ELB health checks in (target-group %s)", tg),
				"containers":    []map[string]any{{"name": "app", "lastStatus": "STOPPED", "exitCode": 137}},
			})
			events = append(events, map[string]any{"id": task + "-unhealthy", "createdAt": at + 90,
				"message": fmt.Sprintf("(service %s) (task %s) failed ELB health checks in (target-group %s). %s", name, task, tg, reason)})
		}
		failed = "ECS deployment circuit breaker: tasks failed to start."
		events = append([]map[string]any{{"id": r.ID + "-failed", "createdAt": at + 300,
			"message": fmt.Sprintf("(service %s) (deployment ecs-svc/%s) deployment failed: tasks failed to start.", name, r.ID)}}, events...)
	}
	events = append(events, map[string]any{"id": r.ID + "-started", "createdAt": at,
		"message": fmt.Sprintf("(service %s) has started %d tasks.", name, count)})
	return events, stopped, failed
}

// serveECS answers the part of ECS's API that phoenix calls itself
// (DescribeServices, ListTasks, DescribeTasks; and for the orphan sweep
// DeleteService, ListTaskDefinitions, DeregisterTaskDefinition) from the
// services and task definitions the cloud holds. Callers hold c.mu.
func (c *Cloud) serveECS(w http.ResponseWriter, op string, body []byte) {
	var in struct {
		Cluster, ServiceName, DesiredStatus, Service string
		Services, Tasks                              []string
		Force                                        bool
		FamilyPrefix, Status, TaskDefinition         string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	find := func(nameOrARN string) *Resource {
		for _, r := range c.resources {
			if r.Type == "aws:ecs/service:Service" && (r.Inputs["name"].StringValue() == nameOrARN || r.Outputs["arn"].StringValue() == nameOrARN) &&
				sameCluster(r.Inputs["cluster"].StringValue(), in.Cluster) {
				return r
			}
		}
		return nil
	}
	switch op {
	case "DescribeServices":
		out := map[string][]map[string]any{"services": {}, "failures": {}}
		for _, s := range in.Services {
			r := find(s)
			if r == nil {
				out["failures"] = append(out["failures"], map[string]any{"arn": s, "reason": "MISSING"})
				continue
			}
			events, _, failed := c.serviceState(r)
			deployment := map[string]any{"id": "ecs-svc/" + r.ID, "status": "PRIMARY", "rolloutState": "COMPLETED"}
			if failed != "" {
				deployment["rolloutState"], deployment["rolloutStateReason"] = "FAILED", failed
			}
			out["services"] = append(out["services"], map[string]any{
				"serviceName": r.Inputs["name"].StringValue(), "serviceArn": r.Outputs["arn"].StringValue(),
				"clusterArn": in.Cluster, "status": "ACTIVE", "events": events,
				"deployments": []map[string]any{deployment},
			})
		}
		json.NewEncoder(w).Encode(out)
	case "ListTasks":
		arns := []string{}
		if r := find(in.ServiceName); r != nil && in.DesiredStatus == "STOPPED" {
			_, stopped, _ := c.serviceState(r)
			for _, t := range stopped {
				arns = append(arns, t["taskArn"].(string))
			}
		} else if r == nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":"ServiceNotFoundException","message":"Service not found."}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"taskArns": arns})
	case "DescribeTasks":
		want := map[string]bool{}
		for _, t := range in.Tasks {
			want[t] = true
		}
		tasks := []map[string]any{}
		for _, r := range c.resources {
			if r.Type != "aws:ecs/service:Service" || !sameCluster(r.Inputs["cluster"].StringValue(), in.Cluster) {
				continue
			}
			_, stopped, _ := c.serviceState(r)
			for _, t := range stopped {
				if want[t["taskArn"].(string)] {
					tasks = append(tasks, t)
				}
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"tasks": tasks, "failures": []any{}})
	case "DeleteService":
		r := find(in.Service)
		if r == nil {
			jsonError(w, "ServiceNotFoundException", "Service not found.")
			return
		}
		if n := r.Inputs["desiredCount"]; !in.Force && n.IsNumber() && n.NumberValue() > 0 {
			jsonError(w, "InvalidParameterException", "The service cannot be stopped while it is scaled above 0.")
			return
		}
		if err := c.removeLocked(r); err != nil {
			jsonError(w, "InvalidParameterException", err.Error())
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"service": map[string]any{
			"serviceName": r.Inputs["name"].StringValue(), "serviceArn": r.Outputs["arn"].StringValue(), "status": "DRAINING"}})
	case "ListTaskDefinitions":
		// A deregistered task definition is gone here: every one listed
		// is ACTIVE. familyPrefix is a whole family, as ECS has it.
		arns := []string{}
		for _, r := range c.sorted() {
			if r.Type == "aws:ecs/taskDefinition:TaskDefinition" && (in.FamilyPrefix == "" || r.Inputs["family"].StringValue() == in.FamilyPrefix) && in.Status != "INACTIVE" {
				arns = append(arns, r.Outputs["arn"].StringValue())
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"taskDefinitionArns": arns})
	case "DeregisterTaskDefinition":
		r := c.byARN("aws:ecs/taskDefinition:TaskDefinition", in.TaskDefinition)
		if r == nil {
			jsonError(w, "ClientException", "Unable to describe task definition.")
			return
		}
		if err := c.removeLocked(r); err != nil {
			jsonError(w, "ClientException", err.Error())
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"taskDefinition": map[string]any{"taskDefinitionArn": in.TaskDefinition, "status": "INACTIVE"}})
	default:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":"UnknownOperationException","message":"simcloud serves no ECS operation %q"}`, op)
	}
}

// sameCluster reports whether a service's cluster ARN is the cluster a
// call names, by ARN or by name, as ECS takes either.
func sameCluster(arn, nameOrARN string) bool {
	return arn == nameOrARN || strings.HasSuffix(arn, ":cluster/"+nameOrARN)
}
