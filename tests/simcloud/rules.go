package simcloud

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Rules that hold across resources, as the real clouds enforce them. Each
// returns the real API's error. Callers hold c.mu.

// elbName is what ELB accepts as a load balancer's or target group's name.
var elbName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?$`)

// checkCreate applies the rules a create must pass.
func (c *Cloud) checkCreate(typ string, inputs resource.PropertyMap) error {
	switch typ {
	case "aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup":
		name := inputs["name"]
		if !name.IsString() {
			break
		}
		n := name.StringValue()
		if !elbName.MatchString(n) || strings.Contains(n, "--") {
			return fmt.Errorf("ValidationError: name %q must have at most 32 alphanumeric characters or hyphens, and must not begin or end with a hyphen", n)
		}
		if typ == "aws:lb/loadBalancer:LoadBalancer" && strings.HasPrefix(strings.ToLower(n), "internal-") {
			return fmt.Errorf("ValidationError: load balancer name %q cannot begin with 'internal-'", n)
		}
	case "aws:ec2/securityGroup:SecurityGroup":
		if n := inputs["name"]; n.IsString() {
			if strings.HasPrefix(strings.ToLower(n.StringValue()), "sg-") {
				return fmt.Errorf("InvalidParameterValue: Value (%s) for parameter GroupName is invalid. Group names may not be in the format sg-*", n.StringValue())
			}
			if len(n.StringValue()) > 255 {
				return fmt.Errorf("InvalidParameterValue: Value for parameter GroupName is invalid: longer than 255 characters")
			}
		}
	case "aws:lb/listenerRule:ListenerRule":
		if err := c.ruleFits(inputs); err != nil {
			return err
		}
		if err := c.targetGroupsFit(typ, "", inputs); err != nil {
			return err
		}
	case "aws:lb/listener:Listener":
		if err := c.targetGroupsFit(typ, "", inputs); err != nil {
			return err
		}
	case "aws:iam/role:Role":
		if n := inputs["name"]; n.IsString() && len(n.StringValue()) > 64 {
			return fmt.Errorf("ValidationError: 1 validation error detected: Value '%s' at 'roleName' failed to satisfy constraint: Member must have length less than or equal to 64", n.StringValue())
		}
	case "aws:ecs/service:Service":
		for _, lbv := range arrayOf(inputs["loadBalancers"]) {
			tg := lbv.ObjectValue()["targetGroupArn"]
			if tg.IsString() && !c.targetGroupInUse(tg.StringValue()) {
				return fmt.Errorf("InvalidParameterException: The target group with targetGroupArn %s does not have an associated load balancer", tg.StringValue())
			}
		}
		if err := c.checkServiceSteady(inputs); err != nil {
			return err
		}
	case "docker:index/container:Container":
		for _, port := range arrayOf(inputs["ports"]) {
			p := port.ObjectValue()
			ext := p["external"]
			if !ext.IsNumber() {
				continue
			}
			ip := "0.0.0.0"
			if v := p["ip"]; v.IsString() && v.StringValue() != "" {
				ip = v.StringValue()
			}
			if other := c.hostPortHolder(ip, int(ext.NumberValue())); other != "" {
				return fmt.Errorf("Error response from daemon: driver failed programming external connectivity: Bind for %s:%d failed: port is already allocated (by %s)", ip, int(ext.NumberValue()), other)
			}
		}
	}
	return c.portFree(typ, "", inputs)
}

// checkUpdate applies the rules an update must pass; id is the resource
// being updated. Callers hold c.mu.
func (c *Cloud) checkUpdate(id, typ string, inputs resource.PropertyMap) error {
	switch typ {
	case "aws:lb/listener:Listener", "aws:lb/listenerRule:ListenerRule":
		if err := c.targetGroupsFit(typ, id, inputs); err != nil {
			return err
		}
	}
	return c.portFree(typ, id, inputs)
}

// checkDelete applies the rules a delete must pass.
func (c *Cloud) checkDelete(r *Resource) error {
	switch r.Type {
	case "aws:lb/targetGroup:TargetGroup":
		if arn := r.Outputs["arn"]; arn.IsString() && c.targetGroupInUse(arn.StringValue()) {
			return fmt.Errorf("ResourceInUse: Target group '%s' is currently in use by a listener or a rule", arn.StringValue())
		}
	case "aws:ec2/securityGroup:SecurityGroup":
		if user := c.securityGroupUser(r.ID); user != "" {
			return fmt.Errorf("DependencyViolation: resource %s has a dependent object (%s)", r.ID, user)
		}
	}
	return nil
}

// securityGroupUser returns the name of a resource that uses security
// group id (another group's rule, a load balancer, an ECS service's
// tasks), which EC2 refuses to delete it under; "" when none does.
func (c *Cloud) securityGroupUser(id string) string {
	for _, r := range c.resources {
		if r.ID == id {
			continue
		}
		switch r.Type {
		case "aws:ec2/securityGroup:SecurityGroup", "aws:lb/loadBalancer:LoadBalancer", "aws:ecs/service:Service",
			"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "aws:ec2/securityGroupRule:SecurityGroupRule":
			used := false
			walkStrings(resource.NewProperty(r.Inputs), func(s string) { used = used || s == id })
			if used {
				return r.Name
			}
		}
	}
	return ""
}

// walkStrings calls fn with every string in v, secrets included.
func walkStrings(v resource.PropertyValue, fn func(string)) {
	switch {
	case v.IsSecret():
		walkStrings(v.SecretValue().Element, fn)
	case v.IsString():
		fn(v.StringValue())
	case v.IsArray():
		for _, x := range v.ArrayValue() {
			walkStrings(x, fn)
		}
	case v.IsObject():
		for _, x := range v.ObjectValue() {
			walkStrings(x, fn)
		}
	}
}

// maxTargetGroupsPerLoadBalancer is ELB's quota of unique target groups
// that one Application Load Balancer's listeners and rules forward to.
const maxTargetGroupsPerLoadBalancer = 100

// loadBalancerOf returns the load balancer ARN a listener's or rule's
// inputs belong to, or "" when its listener is not in the cloud.
func (c *Cloud) loadBalancerOf(typ string, inputs resource.PropertyMap) string {
	switch typ {
	case "aws:lb/listener:Listener":
		if v := inputs["loadBalancerArn"]; v.IsString() {
			return v.StringValue()
		}
	case "aws:lb/listenerRule:ListenerRule":
		for _, l := range c.resources {
			if l.Type == "aws:lb/listener:Listener" && l.Outputs["arn"].DeepEquals(inputs["listenerArn"]) {
				return c.loadBalancerOf(l.Type, l.Inputs)
			}
		}
	}
	return ""
}

// targetGroupsFit refuses a listener or rule (id, or "" for a new one)
// whose actions would make its load balancer forward to more than
// maxTargetGroupsPerLoadBalancer target groups, as ELB does. Callers hold
// c.mu.
func (c *Cloud) targetGroupsFit(typ, id string, inputs resource.PropertyMap) error {
	lb := c.loadBalancerOf(typ, inputs)
	if lb == "" {
		return nil
	}
	groups := map[string]bool{}
	for _, r := range c.resources {
		if r.Type == "aws:lb/targetGroup:TargetGroup" {
			groups[r.Outputs["arn"].StringValue()] = false
		}
	}
	use := func(m resource.PropertyMap) {
		walkStrings(resource.NewProperty(m), func(s string) {
			if _, ok := groups[s]; ok {
				groups[s] = true
			}
		})
	}
	for _, r := range c.resources {
		if r.ID != id && (r.Type == "aws:lb/listener:Listener" || r.Type == "aws:lb/listenerRule:ListenerRule") && c.loadBalancerOf(r.Type, r.Inputs) == lb {
			use(r.Inputs)
		}
	}
	use(inputs)
	n := 0
	for _, used := range groups {
		if used {
			n++
		}
	}
	if n > maxTargetGroupsPerLoadBalancer {
		return fmt.Errorf("TooManyUniqueTargetGroupsPerLoadBalancer: You've reached the limit on the number of unique target groups per load balancer across all listeners (%d)", maxTargetGroupsPerLoadBalancer)
	}
	return nil
}

// deleteRulesOf deletes the rules of a listener that is being deleted, as
// ELB does (DeleteListener takes the listener's rules with it): a stack
// that holds one of them finds it gone. Each is recorded as a "cascade"
// op. Callers hold c.mu.
func (c *Cloud) deleteRulesOf(listener *Resource) {
	arn := listener.Outputs["arn"]
	if !arn.IsString() {
		return
	}
	for id, r := range c.resources {
		if r.Type == "aws:lb/listenerRule:ListenerRule" && r.Inputs["listenerArn"].DeepEquals(arn) {
			delete(c.resources, id)
			c.ops = append(c.ops, Op{Kind: "cascade", Type: r.Type, Name: r.Name, ID: id, At: time.Now()})
		}
	}
}

// maxRulesPerLoadBalancer is ELB's quota of rules per Application Load
// Balancer, across its listeners, the default rules aside.
const maxRulesPerLoadBalancer = 100

// ruleFits refuses a listener rule whose priority another rule of its
// listener holds, or one over its load balancer's quota (its listener's,
// when the listener is not in the cloud), as ELB does. A rule without a
// priority gets the next free one. Callers hold c.mu.
func (c *Cloud) ruleFits(inputs resource.PropertyMap) error {
	const typ = "aws:lb/listenerRule:ListenerRule"
	listener := inputs["listenerArn"]
	lb := c.loadBalancerOf(typ, inputs)
	n := 0
	for _, r := range c.resources {
		if r.Type != typ {
			continue
		}
		same := r.Inputs["listenerArn"].DeepEquals(listener)
		if same || (lb != "" && c.loadBalancerOf(typ, r.Inputs) == lb) {
			n++
		}
		if p := inputs["priority"]; same && p.IsNumber() && r.Inputs["priority"].DeepEquals(p) {
			return fmt.Errorf("PriorityInUse: Priority '%v' is currently in use", p.NumberValue())
		}
	}
	if n >= maxRulesPerLoadBalancer {
		return fmt.Errorf("TooManyRules: The maximum number of rules on load balancer '%s' (listener '%v') has been reached (%d)", lb, listener.V, maxRulesPerLoadBalancer)
	}
	return nil
}

// targetGroupInUse reports whether a listener or a listener rule forwards
// to the target group arn.
func (c *Cloud) targetGroupInUse(arn string) bool {
	for _, r := range c.resources {
		if r.Type != "aws:lb/listener:Listener" && r.Type != "aws:lb/listenerRule:ListenerRule" {
			continue
		}
		if strings.Contains(fmt.Sprint(r.Inputs.Mappable()), arn) {
			return true
		}
	}
	return false
}

// hostPortHolder returns the name of a container that publishes port on
// ip (or on every address), or "".
func (c *Cloud) hostPortHolder(ip string, port int) string {
	for _, r := range c.resources {
		if r.Type != "docker:index/container:Container" {
			continue
		}
		for _, pv := range arrayOf(r.Inputs["ports"]) {
			p := pv.ObjectValue()
			if !p["external"].IsNumber() || int(p["external"].NumberValue()) != port {
				continue
			}
			other := "0.0.0.0"
			if v := p["ip"]; v.IsString() && v.StringValue() != "" {
				other = v.StringValue()
			}
			if other == ip || other == "0.0.0.0" || ip == "0.0.0.0" {
				return r.Name
			}
		}
	}
	return ""
}

func arrayOf(v resource.PropertyValue) []resource.PropertyValue {
	if !v.IsArray() {
		return nil
	}
	var out []resource.PropertyValue
	for _, x := range v.ArrayValue() {
		if x.IsObject() {
			out = append(out, x)
		}
	}
	return out
}
