package simcloud

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// What phoenix's orphan sweep calls on aws, served from the resources the
// cloud holds, in the APIs' wire formats: the tagging API's GetResources
// (JSON), IAM's role listing and deletion and ELB's and EC2's deletes (the
// query protocols, told apart by the service their signature names), and
// ECS's (see serveECS). A delete passes the rules a provider's delete
// does (checkDelete) and those its API adds. The tagging API does not list
// IAM roles, as AWS's does not.

// pageSize is how many items one page of a listing holds, small enough
// that the callers' paging is exercised.
const pageSize = 10

// serveTagging answers the Resource Groups Tagging API. Callers hold c.mu.
func (c *Cloud) serveTagging(w http.ResponseWriter, op string, body []byte) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if op != "GetResources" {
		jsonError(w, "InvalidParameterException", fmt.Sprintf("simcloud serves no tagging operation %q", op))
		return
	}
	var in struct {
		TagFilters []struct {
			Key    string
			Values []string
		}
		ResourceTypeFilters []string
		PaginationToken     string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		jsonError(w, "InvalidParameterException", err.Error())
		return
	}
	type mapping struct {
		ResourceARN string
		Tags        []map[string]string
	}
	var all []mapping
	for _, r := range c.sorted() {
		arn := r.Outputs["arn"]
		tags := stringMap(r.Inputs["tags"])
		if !strings.HasPrefix(r.Type, "aws:") || r.Type == "aws:iam/role:Role" || !arn.IsString() || len(tags) == 0 {
			continue
		}
		if len(in.ResourceTypeFilters) > 0 && !matchesType(arn.StringValue(), in.ResourceTypeFilters) {
			continue
		}
		ok := true
		for _, f := range in.TagFilters {
			v, has := tags[f.Key]
			ok = ok && has && (len(f.Values) == 0 || slices.Contains(f.Values, v))
		}
		if !ok {
			continue
		}
		m := mapping{ResourceARN: arn.StringValue()}
		for _, k := range slices.Sorted(maps.Keys(tags)) {
			m.Tags = append(m.Tags, map[string]string{"Key": k, "Value": tags[k]})
		}
		all = append(all, m)
	}
	page, next := pageOf(len(all), in.PaginationToken)
	json.NewEncoder(w).Encode(map[string]any{"ResourceTagMappingList": all[page[0]:page[1]], "PaginationToken": next})
}

// matchesType reports whether arn is of one of types ("service" or
// "service:resource-type").
func matchesType(arn string, types []string) bool {
	f := strings.SplitN(arn, ":", 6)
	if len(f) < 6 {
		return false
	}
	typ, _, _ := strings.Cut(f[5], "/")
	return slices.Contains(types, f[2]) || slices.Contains(types, f[2]+":"+typ)
}

// serveQuery answers the query-protocol APIs (ELB, EC2, IAM), the
// service named by the request's signature. Callers hold c.mu.
func (c *Cloud) serveQuery(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	service := signedService(r.Header.Get("Authorization"))
	op := form.Get("Action")
	w.Header().Set("Content-Type", "text/xml")
	q := queryReply{w: w, service: service, op: op}
	switch service + " " + op {
	case "elasticloadbalancing DeleteRule":
		q.remove(c, c.byARN("aws:lb/listenerRule:ListenerRule", form.Get("RuleArn")), "RuleNotFound", "One or more rules not found")
	case "elasticloadbalancing DeleteTargetGroup":
		q.remove(c, c.byARN("aws:lb/targetGroup:TargetGroup", form.Get("TargetGroupArn")), "TargetGroupNotFound", "One or more target groups not found")
	case "ec2 DeleteSecurityGroup":
		q.remove(c, c.byID("aws:ec2/securityGroup:SecurityGroup", form.Get("GroupId")), "InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist", form.Get("GroupId")))
	case "iam ListRoles":
		var roles []*Resource
		for _, res := range c.sorted() {
			if res.Type == "aws:iam/role:Role" && strings.HasPrefix(rolePath(res), form.Get("PathPrefix")) {
				roles = append(roles, res)
			}
		}
		page, next := pageOf(len(roles), form.Get("Marker"))
		var b strings.Builder
		b.WriteString("<Roles>")
		for _, res := range roles[page[0]:page[1]] {
			fmt.Fprintf(&b, "<member><Path>%s</Path><RoleName>%s</RoleName><RoleId>%s</RoleId><Arn>%s</Arn><CreateDate>%s</CreateDate></member>",
				esc(rolePath(res)), esc(res.Inputs["name"].StringValue()), esc(res.ID), esc(res.Outputs["arn"].StringValue()), time.Unix(0, 0).UTC().Format(time.RFC3339))
		}
		b.WriteString("</Roles>")
		q.ok(b.String() + truncated(next))
	case "iam ListRoleTags":
		role := c.role(form.Get("RoleName"))
		if role == nil {
			q.fail("NoSuchEntity", "The role with name "+form.Get("RoleName")+" cannot be found.")
			return
		}
		tags := stringMap(role.Inputs["tags"])
		var b strings.Builder
		b.WriteString("<Tags>")
		for _, k := range slices.Sorted(maps.Keys(tags)) {
			fmt.Fprintf(&b, "<member><Key>%s</Key><Value>%s</Value></member>", esc(k), esc(tags[k]))
		}
		b.WriteString("</Tags>")
		q.ok(b.String() + truncated(""))
	case "iam ListRolePolicies":
		role := c.role(form.Get("RoleName"))
		if role == nil {
			q.fail("NoSuchEntity", "The role with name "+form.Get("RoleName")+" cannot be found.")
			return
		}
		var b strings.Builder
		b.WriteString("<PolicyNames>")
		for _, p := range c.rolePolicies(role) {
			fmt.Fprintf(&b, "<member>%s</member>", esc(p.Inputs["name"].StringValue()))
		}
		b.WriteString("</PolicyNames>")
		q.ok(b.String() + truncated(""))
	case "iam ListAttachedRolePolicies":
		if c.role(form.Get("RoleName")) == nil {
			q.fail("NoSuchEntity", "The role with name "+form.Get("RoleName")+" cannot be found.")
			return
		}
		q.ok("<AttachedPolicies></AttachedPolicies>" + truncated(""))
	case "iam DeleteRolePolicy":
		var policy *Resource
		if role := c.role(form.Get("RoleName")); role != nil {
			for _, p := range c.rolePolicies(role) {
				if p.Inputs["name"].StringValue() == form.Get("PolicyName") {
					policy = p
				}
			}
		}
		q.remove(c, policy, "NoSuchEntity", "The role policy with name "+form.Get("PolicyName")+" cannot be found.")
	case "iam DeleteRole":
		role := c.role(form.Get("RoleName"))
		if role != nil && len(c.rolePolicies(role)) > 0 {
			q.fail("DeleteConflict", "Cannot delete entity, must delete policies first.")
			return
		}
		q.remove(c, role, "NoSuchEntity", "The role with name "+form.Get("RoleName")+" cannot be found.")
	default:
		q.fail("InvalidAction", fmt.Sprintf("simcloud serves no %s operation %q", service, op))
	}
}

// queryReply writes one query-protocol answer: EC2's envelope or the
// others'.
type queryReply struct {
	w           http.ResponseWriter
	service, op string
}

func (q queryReply) ok(result string) {
	if q.service == "ec2" {
		fmt.Fprintf(q.w, `<%sResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>sim</requestId><return>true</return>%s</%sResponse>`, q.op, result, q.op)
		return
	}
	fmt.Fprintf(q.w, `<%sResponse><%sResult>%s</%sResult><ResponseMetadata><RequestId>sim</RequestId></ResponseMetadata></%sResponse>`, q.op, q.op, result, q.op, q.op)
}

func (q queryReply) fail(code, message string) {
	q.w.WriteHeader(http.StatusBadRequest)
	if q.service == "ec2" {
		fmt.Fprintf(q.w, `<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>sim</RequestID></Response>`, esc(code), esc(message))
		return
	}
	fmt.Fprintf(q.w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>sim</RequestId></ErrorResponse>`, esc(code), esc(message))
}

// remove deletes r, or says notFound.
func (q queryReply) remove(c *Cloud, r *Resource, notFound, message string) {
	if r == nil {
		q.fail(notFound, message)
		return
	}
	if err := c.removeLocked(r); err != nil {
		code, msg, _ := strings.Cut(err.Error(), ": ")
		q.fail(code, msg)
		return
	}
	q.ok("")
}

// removeLocked deletes r as its API's delete does: it passes the rules a
// delete must pass, and records the operation. Callers hold c.mu.
func (c *Cloud) removeLocked(r *Resource) error {
	if err := c.checkDelete(r); err != nil {
		return err
	}
	delete(c.resources, r.ID)
	c.ops = append(c.ops, Op{Kind: "delete", Type: r.Type, Name: r.Name, ID: r.ID, At: time.Now()})
	return nil
}

// signedService is the service a SigV4 Authorization header's credential
// scope names (Credential=<key>/<date>/<region>/<service>/aws4_request).
func signedService(auth string) string {
	_, cred, _ := strings.Cut(auth, "Credential=")
	parts := strings.Split(cred, "/")
	if len(parts) < 4 {
		return ""
	}
	return parts[3]
}

func (c *Cloud) sorted() []*Resource {
	out := make([]*Resource, 0, len(c.resources))
	for _, r := range c.resources {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return seqOf(out[i].ID) < seqOf(out[j].ID) })
	return out
}

func (c *Cloud) byARN(typ, arn string) *Resource {
	for _, r := range c.resources {
		if r.Type == typ && r.Outputs["arn"].IsString() && r.Outputs["arn"].StringValue() == arn {
			return r
		}
	}
	return nil
}

func (c *Cloud) byID(typ, id string) *Resource {
	if r, ok := c.resources[id]; ok && r.Type == typ {
		return r
	}
	return nil
}

func (c *Cloud) role(name string) *Resource {
	for _, r := range c.resources {
		if r.Type == "aws:iam/role:Role" && r.Inputs["name"].IsString() && r.Inputs["name"].StringValue() == name {
			return r
		}
	}
	return nil
}

// rolePolicies are the inline policies of role (a policy names its role
// by the role's id, which is its name in AWS and its id here).
func (c *Cloud) rolePolicies(role *Resource) []*Resource {
	var out []*Resource
	for _, r := range c.sorted() {
		if r.Type != "aws:iam/rolePolicy:RolePolicy" {
			continue
		}
		if v := r.Inputs["role"]; v.IsString() && (v.StringValue() == role.ID || v.StringValue() == role.Inputs["name"].StringValue()) {
			out = append(out, r)
		}
	}
	return out
}

func rolePath(r *Resource) string {
	if p := r.Inputs["path"]; p.IsString() && p.StringValue() != "" {
		return p.StringValue()
	}
	return "/"
}

// pageOf returns the bounds of the page that token (the index it starts
// at, "" for the first) asks for among n items, and the next page's token.
func pageOf(n int, token string) (bounds [2]int, next string) {
	start, _ := strconv.Atoi(token)
	start = min(max(start, 0), n)
	end := min(start+pageSize, n)
	if end < n {
		next = strconv.Itoa(end)
	}
	return [2]int{start, end}, next
}

func truncated(marker string) string {
	if marker == "" {
		return "<IsTruncated>false</IsTruncated>"
	}
	return "<IsTruncated>true</IsTruncated><Marker>" + esc(marker) + "</Marker>"
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func jsonError(w http.ResponseWriter, code, message string) {
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": message})
}

func stringMap(v resource.PropertyValue) map[string]string {
	out := map[string]string{}
	if !v.IsObject() {
		return out
	}
	for k, x := range v.ObjectValue() {
		if x.IsString() {
			out[string(k)] = x.StringValue()
		}
	}
	return out
}
