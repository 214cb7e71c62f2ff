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

// checkDelete applies the rules a delete must pass.
func (c *Cloud) checkDelete(r *Resource) error {
	if r.Type == "aws:lb/targetGroup:TargetGroup" {
		if arn := r.Outputs["arn"]; arn.IsString() && c.targetGroupInUse(arn.StringValue()) {
			return fmt.Errorf("ResourceInUse: Target group '%s' is currently in use by a listener or a rule", arn.StringValue())
		}
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

// maxRulesPerListener is ELB's quota of rules per listener, the default
// rule aside.
const maxRulesPerListener = 100

// ruleFits refuses a listener rule whose priority another rule of its
// listener holds, or one over the listener's quota, as ELB does. A rule
// without a priority gets the next free one. Callers hold c.mu.
func (c *Cloud) ruleFits(inputs resource.PropertyMap) error {
	listener := inputs["listenerArn"]
	n := 0
	for _, r := range c.resources {
		if r.Type != "aws:lb/listenerRule:ListenerRule" || !r.Inputs["listenerArn"].DeepEquals(listener) {
			continue
		}
		n++
		if p := inputs["priority"]; p.IsNumber() && r.Inputs["priority"].DeepEquals(p) {
			return fmt.Errorf("PriorityInUse: Priority '%v' is currently in use", p.NumberValue())
		}
	}
	if n >= maxRulesPerListener {
		return fmt.Errorf("TooManyRules: The maximum number of rules on listener '%v' has been reached (%d)", listener.V, maxRulesPerListener)
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
