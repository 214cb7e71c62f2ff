// Package awstraffic provides the traffic pointer of an env on AWS: the
// listener whose default action sends production traffic to the live
// version's target group (weighted with the candidate during a canary), and
// the header-matched rule that reaches the candidate before promotion.
// A cut-over or a rollback changes this component and nothing else.
//
// The listeners: port 80 always has one, "<env>-listener", which is the
// pointer over plain HTTP, or redirects to HTTPS when the env has a
// certificate; then "<env>-https" on 443 is the pointer. Setting or
// clearing the certificate so updates the port-80 listener in place and
// creates or deletes the one on 443: an ALB holds one listener per port,
// and a listener that moved between ports while another was created or
// deleted on the port it left (the engine runs deletes last) would collide.
//
// The port-80 listener is so the env's one listener that lives as long as
// the env: version stacks attach their own routes to it (RouteListenerARN).
// Deleting a listener deletes its rules in AWS, and a version stack is
// never updated, so a route on the 443 listener would vanish when the
// certificate is cleared, and one on the pointer listener would stay
// behind on port 80 when it is set.
package awstraffic

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/internal/header"
)

// ComponentType is the traffic pointer's component type: a cut-over
// changes what is under it and nothing else.
const ComponentType = "phoenix:aws:Traffic"

// The candidate rule matches header.Route: header.RouteCandidate; each
// version stack's own rule (see awsversion) matches header.Version.
const (
	// CandidateRulePriority is the candidate rule's priority: before the
	// version rules, which take the next free priorities.
	CandidateRulePriority = 1
)

// Target is one version's target group.
type Target struct {
	// Version is the version id.
	Version string
	// TargetGroupARN is the version's target group.
	TargetGroupARN pulumi.StringInput
}

// TrafficArgs configures a Traffic pointer.
type TrafficArgs struct {
	// Env is the env name, used in messages. Required.
	Env string
	// LoadBalancerARN is the ALB. Required.
	LoadBalancerARN pulumi.StringInput
	// CertificateARN makes the pointer an HTTPS listener on 443 and port
	// 80 a redirect to it. Optional; without it the pointer is the HTTP
	// listener on 80.
	CertificateARN string
	// Live is the version receiving production traffic. Optional: without
	// it the listener answers 503.
	Live *Target
	// Candidate is the version on the candidate route. Optional: without it
	// the candidate route answers 404.
	Candidate *Target
	// CandidateWeight is the candidate's share of production traffic in
	// percent, 0 to 100. Optional; default 0. Ignored when the candidate is
	// the live version.
	CandidateWeight int
	// RouteKey is the value header.Key must have for a request to take the
	// candidate route; it goes into the state as a secret. Optional:
	// without it the route is open to anyone who can reach the ALB.
	RouteKey string
}

// Traffic is the traffic pointer of an env on AWS.
type Traffic struct {
	pulumi.ResourceState

	// ListenerARN is the pointer listener: 443 with a certificate, else 80.
	ListenerARN pulumi.StringOutput `pulumi:"listenerArn"`
	// RouteListenerARN is the port-80 listener, to which version stacks
	// attach their own header rules: it is never replaced.
	RouteListenerARN pulumi.StringOutput `pulumi:"routeListenerArn"`
	// Applied resolves once the listeners and the candidate rule hold this
	// update's actions; it never resolves when either failed. It is not an
	// output of the component.
	Applied pulumi.StringOutput
}

// NewTraffic creates the traffic pointer.
func NewTraffic(ctx *pulumi.Context, name string, args *TrafficArgs, opts ...pulumi.ResourceOption) (*Traffic, error) {
	if args == nil || args.LoadBalancerARN == nil {
		return nil, fmt.Errorf("awstraffic %s: a load balancer is required", name)
	}
	if args.CandidateWeight < 0 || args.CandidateWeight > 100 {
		return nil, fmt.Errorf("awstraffic %s: candidate weight %d is outside 0 to 100", name, args.CandidateWeight)
	}
	t := &Traffic{}
	if err := ctx.RegisterComponentResource(ComponentType, name, t, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(t)

	http := &lb.ListenerArgs{
		LoadBalancerArn: args.LoadBalancerARN,
		Port:            pulumi.Int(80),
		Protocol:        pulumi.String("HTTP"),
		DefaultActions:  lb.ListenerDefaultActionArray{DefaultAction(args)},
	}
	if args.CertificateARN != "" {
		http.DefaultActions = lb.ListenerDefaultActionArray{&lb.ListenerDefaultActionArgs{
			Type: pulumi.String("redirect"),
			Redirect: &lb.ListenerDefaultActionRedirectArgs{
				Port:       pulumi.String("443"),
				Protocol:   pulumi.String("HTTPS"),
				StatusCode: pulumi.String("HTTP_301"),
			},
		}}
	}
	listener, err := lb.NewListener(ctx, name+"-listener", http, parent)
	if err != nil {
		return nil, err
	}
	t.RouteListenerARN = listener.Arn
	applied := []any{listener.ID()}
	if args.CertificateARN != "" {
		listener, err = lb.NewListener(ctx, name+"-https", &lb.ListenerArgs{
			LoadBalancerArn: args.LoadBalancerARN,
			Port:            pulumi.Int(443),
			Protocol:        pulumi.String("HTTPS"),
			CertificateArn:  pulumi.String(args.CertificateARN),
			SslPolicy:       pulumi.String("ELBSecurityPolicy-TLS13-1-2-2021-06"),
			DefaultActions:  lb.ListenerDefaultActionArray{DefaultAction(args)},
		}, parent)
		if err != nil {
			return nil, err
		}
		applied = append(applied, listener.ID())
	}
	candidate, err := lb.NewListenerRule(ctx, name+"-candidate", &lb.ListenerRuleArgs{
		ListenerArn: listener.Arn,
		Priority:    pulumi.Int(CandidateRulePriority),
		Conditions:  HeaderConditions(header.Route, header.RouteCandidate, args.RouteKey),
		Actions:     lb.ListenerRuleActionArray{CandidateAction(args)},
	}, parent)
	if err != nil {
		return nil, err
	}

	t.ListenerARN = listener.Arn
	t.Applied = pulumi.All(append(applied, candidate.ID())...).ApplyT(func([]any) string { return "applied" }).(pulumi.StringOutput)
	if err := ctx.RegisterResourceOutputs(t, pulumi.Map{"listenerArn": listener.Arn, "routeListenerArn": t.RouteListenerARN}); err != nil {
		return nil, err
	}
	return t, nil
}

// HeaderConditions are a route's rule conditions: header name has value,
// and, when key is not "", header.Key has key, kept secret in the state.
func HeaderConditions(name, value, key string) lb.ListenerRuleConditionArray {
	conds := lb.ListenerRuleConditionArray{&lb.ListenerRuleConditionArgs{
		HttpHeader: &lb.ListenerRuleConditionHttpHeaderArgs{
			HttpHeaderName: pulumi.String(name),
			Values:         pulumi.StringArray{pulumi.String(value)},
		},
	}}
	if key != "" {
		conds = append(conds, &lb.ListenerRuleConditionArgs{
			HttpHeader: &lb.ListenerRuleConditionHttpHeaderArgs{
				HttpHeaderName: pulumi.String(header.Key),
				Values:         pulumi.StringArray{pulumi.ToSecret(pulumi.String(key)).(pulumi.StringOutput)},
			},
		})
	}
	return conds
}

// DefaultAction is the pointer listener's default action: forward to live,
// a weighted forward to live and candidate during a canary, or a 503 that
// says no version is live.
func DefaultAction(args *TrafficArgs) *lb.ListenerDefaultActionArgs {
	switch {
	case args.Live == nil:
		return &lb.ListenerDefaultActionArgs{
			Type: pulumi.String("fixed-response"),
			FixedResponse: &lb.ListenerDefaultActionFixedResponseArgs{
				ContentType: pulumi.String("text/plain"),
				StatusCode:  pulumi.String("503"),
				MessageBody: pulumi.Sprintf("phoenix: env %s has no live version; deploy one with: phoenix deploy --env %s", args.Env, args.Env),
			},
		}
	case args.Candidate != nil && args.CandidateWeight > 0 && args.Candidate.Version != args.Live.Version:
		return &lb.ListenerDefaultActionArgs{
			Type: pulumi.String("forward"),
			Forward: &lb.ListenerDefaultActionForwardArgs{
				TargetGroups: lb.ListenerDefaultActionForwardTargetGroupArray{
					&lb.ListenerDefaultActionForwardTargetGroupArgs{Arn: args.Live.TargetGroupARN, Weight: pulumi.Int(100 - args.CandidateWeight)},
					&lb.ListenerDefaultActionForwardTargetGroupArgs{Arn: args.Candidate.TargetGroupARN, Weight: pulumi.Int(args.CandidateWeight)},
				},
			},
		}
	default:
		return &lb.ListenerDefaultActionArgs{
			Type:           pulumi.String("forward"),
			TargetGroupArn: args.Live.TargetGroupARN,
		}
	}
}

// CandidateAction is the candidate rule's action: forward to the candidate,
// or a 404 that says there is none.
func CandidateAction(args *TrafficArgs) *lb.ListenerRuleActionArgs {
	if args.Candidate == nil {
		return &lb.ListenerRuleActionArgs{
			Type: pulumi.String("fixed-response"),
			FixedResponse: &lb.ListenerRuleActionFixedResponseArgs{
				ContentType: pulumi.String("text/plain"),
				StatusCode:  pulumi.String("404"),
				MessageBody: pulumi.Sprintf("phoenix: env %s has no candidate version", args.Env),
			},
		}
	}
	return &lb.ListenerRuleActionArgs{
		Type:           pulumi.String("forward"),
		TargetGroupArn: args.Candidate.TargetGroupARN,
	}
}
