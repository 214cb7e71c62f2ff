package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/phoenix-iac/phoenix/internal/header"
	"github.com/phoenix-iac/phoenix/tests/simcloud"
)

// fakeALB plays the aws envs' Application Load Balancers for CLI tests:
// it routes each request as ELB would by what the simulated cloud holds
// now, to the load balancer whose DNS name the request's host is (each env
// has its own), by the rules of its listener on the request's port
// (header conditions, by priority) and its default action (a forward, weighted or not, a fixed
// response, or a redirect), and answers as the app of the target group's
// version would (its X-Phoenix-Version header), provided an ECS service of
// that version serves the target group. Every host name reaches it: client
// dials it whatever the URL says (the ALB's DNS name, or
// phoenix:hostname), over plain HTTP, and tells it the port the URL meant
// (443 for https, 80 for http) in fakePortHeader.
type fakeALB struct {
	cloud  *simcloud.Cloud
	addr   string
	client *http.Client
}

func startFakeALB(t testing.TB, cloud *simcloud.Cloud) *fakeALB {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &fakeALB{cloud: cloud, addr: ln.Addr().String()}
	srv := &http.Server{Handler: a}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	dialer := &net.Dialer{}
	a.client = &http.Client{Transport: portTransport{&http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, a.addr)
		},
	}}}
	return a
}

// fakePortHeader carries the port a request's URL meant to the fake ALB.
const fakePortHeader = "X-Fake-Alb-Port"

// portTransport sends https requests as plain HTTP, marked with the port
// they meant.
type portTransport struct{ next http.RoundTripper }

func (p portTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	port := "80"
	if r.URL.Scheme == "https" {
		port = "443"
		r.URL.Scheme = "http"
	}
	r.Header.Set(fakePortHeader, port)
	return p.next.RoundTrip(r)
}

// action is a listener's or rule's first action.
type albAction struct {
	typ, targetGroup, body string
	status                 int
	weighted               map[string]int
}

func actionOf(v resource.PropertyValue) albAction {
	arr := v.ArrayValue()
	if len(arr) == 0 {
		return albAction{typ: "none"}
	}
	o := arr[0].ObjectValue()
	a := albAction{typ: o["type"].StringValue()}
	switch a.typ {
	case "forward":
		if tg := o["targetGroupArn"]; tg.IsString() {
			a.targetGroup = tg.StringValue()
		} else if f := o["forward"]; f.IsObject() {
			a.weighted = map[string]int{}
			for _, g := range f.ObjectValue()["targetGroups"].ArrayValue() {
				a.weighted[g.ObjectValue()["arn"].StringValue()] = int(g.ObjectValue()["weight"].NumberValue())
			}
		}
	case "fixed-response":
		fr := o["fixedResponse"].ObjectValue()
		fmt.Sscan(fr["statusCode"].StringValue(), &a.status)
		a.body = fr["messageBody"].StringValue()
	}
	return a
}

func (a *fakeALB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	port := r.Header.Get(fakePortHeader)
	if port == "" {
		port = "80"
	}
	lb := a.loadBalancer(r.Host)
	var listener *simcloud.Resource
	for _, l := range a.cloud.Find("aws:lb/listener:Listener", "") {
		if fmt.Sprint(l.Inputs["port"].V) == port && (lb == "" || l.Inputs["loadBalancerArn"].StringValue() == lb) {
			listener = &l
		}
	}
	if listener == nil {
		http.Error(w, "nothing listens on port "+port, http.StatusServiceUnavailable)
		return
	}
	arn := listener.Outputs["arn"].StringValue()
	rules := a.cloud.Find("aws:lb/listenerRule:ListenerRule", "")
	sort.Slice(rules, func(i, j int) bool { return rules[i].ID < rules[j].ID })
	sort.SliceStable(rules, func(i, j int) bool { return priority(rules[i]) < priority(rules[j]) })
	act := actionOf(listener.Inputs["defaultActions"])
	for _, rule := range rules {
		if rule.Inputs["listenerArn"].StringValue() != arn || !matches(rule, r) {
			continue
		}
		act = actionOf(rule.Inputs["actions"])
		break
	}
	switch {
	case act.typ == "redirect":
		http.Redirect(w, r, "https://"+r.Host+r.URL.RequestURI(), http.StatusMovedPermanently)
	case act.typ == "fixed-response":
		http.Error(w, act.body, act.status)
	case act.targetGroup != "":
		a.answer(w, act.targetGroup)
	case len(act.weighted) > 0:
		n, pick := rand.IntN(100), ""
		tgs := make([]string, 0, len(act.weighted))
		for tg := range act.weighted {
			tgs = append(tgs, tg)
		}
		sort.Strings(tgs)
		for _, tg := range tgs {
			pick = tg
			if n -= act.weighted[tg]; n < 0 {
				break
			}
		}
		a.answer(w, pick)
	default:
		http.Error(w, "no action", http.StatusBadGateway)
	}
}

// loadBalancer is the ARN of the load balancer whose DNS name is host,
// so that two envs' ALBs answer apart; with none of that name (a
// phoenix:hostname), the only one there is, or "" when there are more.
func (a *fakeALB) loadBalancer(host string) string {
	lbs := a.cloud.Find("aws:lb/loadBalancer:LoadBalancer", "")
	for _, lb := range lbs {
		if lb.Outputs["dnsName"].StringValue() == host {
			return lb.Outputs["arn"].StringValue()
		}
	}
	if len(lbs) == 1 {
		return lbs[0].Outputs["arn"].StringValue()
	}
	return ""
}

// priority is a rule's priority; ELB gives a rule without one the next
// free one after the others, here after those that have one.
func priority(r simcloud.Resource) float64 {
	if p := r.Inputs["priority"]; p.IsNumber() {
		return p.NumberValue()
	}
	return 50000
}

// matches reports whether a rule's header conditions all hold for req.
func matches(rule simcloud.Resource, req *http.Request) bool {
	conds := plain(rule.Inputs["conditions"]).ArrayValue()
	if len(conds) == 0 {
		return false
	}
	for _, c := range conds {
		h := c.ObjectValue()["httpHeader"]
		if !h.IsObject() {
			return false
		}
		name := h.ObjectValue()["httpHeaderName"].StringValue()
		ok := false
		for _, v := range h.ObjectValue()["values"].ArrayValue() {
			ok = ok || req.Header.Get(name) == v.StringValue()
		}
		if !ok {
			return false
		}
	}
	return true
}

// answer replies as the version behind a target group: its name is
// <env>-<version>, and an ECS service must serve it with tasks that pass
// its health checks (simcloud.Cloud.TargetGroupServing).
func (a *fakeALB) answer(w http.ResponseWriter, tgARN string) {
	version := ""
	for _, tg := range a.cloud.Find("aws:lb/targetGroup:TargetGroup", "") {
		if tg.Outputs["arn"].StringValue() == tgARN {
			_, version, _ = strings.Cut(tg.Inputs["name"].StringValue(), "-")
		}
	}
	if version == "" {
		http.Error(w, "502 Bad Gateway: no target group "+tgARN, http.StatusBadGateway)
		return
	}
	if ok, why := a.cloud.TargetGroupServing(tgARN); !ok {
		// ALB's answer for a target group with no registered targets.
		http.Error(w, "503 Service Temporarily Unavailable: no targets in "+tgARN+": "+why, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set(header.Version, version)
	fmt.Fprintf(w, "version %s\n", version)
}
