package simcloud

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// The image registry and the build machines, as strict as ECR and Docker
// are on what phoenix depends on: an ECR authorization token expires 12
// hours after it was issued (ecr:GetAuthorizationToken), and a push, read
// or delete with an expired one is refused; an image built by a docker
// RemoteImage exists in the image store of the machine that built it and
// nowhere else.

// tokenLife is how long an ECR authorization token is good for.
const tokenLife = 12 * time.Hour

// tokenPrefix starts every simulated ECR password; the rest is its expiry.
const tokenPrefix = "simulated-ecr-token;expires="

// Advance moves the cloud's clock forward by d, as time passing would:
// tokens issued before expire when their 12 hours are up.
func (c *Cloud) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skew += d
	c.expireImages()
}

// Now is the cloud's clock: the wall clock plus what Advance and the
// waits the cloud simulates (a create timeout) moved it on.
func (c *Cloud) Now() time.Time { return c.now() }

// now is the cloud's clock. Callers must not hold c.mu.
func (c *Cloud) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skew)
}

// SetMachine names the machine whose Docker the following commands' docker
// provider talks to, until the next call ("" is the first machine). Images
// that a RemoteImage built on one machine are not in another's store.
func (c *Cloud) SetMachine(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.machine = name
}

// ecrToken returns a new ECR password and its expiry.
func (c *Cloud) ecrToken() (string, time.Time) {
	exp := c.now().Add(tokenLife).UTC().Truncate(time.Second)
	return tokenPrefix + exp.Format(time.RFC3339), exp
}

// tokenExpired reports whether the registry password in a pushing
// resource's inputs (a pulumi-docker Image's registry, a RegistryImage's
// authConfig) has expired. Callers hold c.mu.
func (c *Cloud) tokenExpired(typ string, inputs resource.PropertyMap) bool {
	var auth resource.PropertyValue
	switch typ {
	case "docker:index/image:Image":
		auth = inputs["registry"]
	case "docker:index/registryImage:RegistryImage":
		auth = inputs["authConfig"]
	default:
		return false
	}
	auth = plain(auth)
	if !auth.IsObject() {
		return false
	}
	pw := plain(auth.ObjectValue()["password"])
	if !pw.IsString() {
		return false
	}
	exp, ok := strings.CutPrefix(pw.StringValue(), tokenPrefix)
	if !ok {
		return false
	}
	t, err := time.Parse(time.RFC3339, exp)
	return err != nil || !time.Now().Add(c.skew).Before(t)
}

// errTokenExpired is ECR's answer to an expired token.
const errTokenExpired = "403 Forbidden: denied: Your authorization token has expired. Reauthenticate and try again."

// plain is v without its secret wrapper.
func plain(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

// readGone reports whether the real provider would read r as gone from
// where this command runs: a RemoteImage built on another machine, or a
// RegistryImage whose stored token expired (the Terraform Docker provider
// reads a registry error as the image being gone). Callers hold c.mu.
func (c *Cloud) readGone(r *Resource) bool {
	switch r.Type {
	case "docker:index/remoteImage:RemoteImage":
		return r.Machine != c.machine
	case "docker:index/registryImage:RegistryImage":
		return c.tokenExpired(r.Type, r.Inputs)
	}
	return false
}

// ServeECR serves, on a loopback port, the parts of AWS's APIs that
// phoenix itself calls (ECR: BatchDeleteImage, DescribeImages over the
// registry's tags; ECS: see serveECS; the tagging API, IAM, ELB and EC2:
// see awsapi.go), and returns its endpoint URL (for AWS_ENDPOINT_URL_ECR,
// _ECS and the others) and a function that stops it.
func (c *Cloud) ServeECR() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(c.serveECR)}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

func (c *Cloud) serveECR(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/v2/") || r.URL.Path == "/v2" {
		c.serveRegistry(w, r, body)
		return
	}
	if op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "ResourceGroupsTaggingAPI_20170126."); ok {
		c.serveTagging(w, op, body)
		return
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		c.serveQuery(w, r, body)
		return
	}
	if op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonEC2ContainerServiceV20141113."); ok {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		c.serveECS(w, op, body)
		return
	}
	var in struct {
		RepositoryName string
		ImageIds       []struct{ ImageTag, ImageDigest string }
	}
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	repo := ""
	for k := range c.tags {
		if strings.HasSuffix(k, "/"+in.RepositoryName) {
			repo = k
		}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonEC2ContainerRegistry_V20150921."); op {
	case "BatchDeleteImage":
		c.ecrCalls = append(c.ecrCalls, op+" "+in.RepositoryName)
		out := map[string][]map[string]any{"imageIds": {}, "failures": {}}
		for _, id := range in.ImageIds {
			d, ok := c.tags[repo][id.ImageTag]
			if !ok {
				out["failures"] = append(out["failures"], map[string]any{"imageId": map[string]string{"imageTag": id.ImageTag}, "failureCode": "ImageNotFound", "failureReason": "Requested image not found"})
				continue
			}
			c.untag(repo, id.ImageTag)
			out["imageIds"] = append(out["imageIds"], map[string]any{"imageTag": id.ImageTag, "imageDigest": d})
		}
		json.NewEncoder(w).Encode(out)
	case "GetAuthorizationToken":
		c.authorizationToken(w, r)
	case "DescribeImages":
		var details []map[string]any
		tags := make([]string, 0, len(c.tags[repo]))
		for t := range c.tags[repo] {
			tags = append(tags, t)
		}
		sort.Strings(tags)
		for _, t := range tags {
			details = append(details, map[string]any{"imageTags": []string{t}, "imageDigest": c.tags[repo][t], "repositoryName": in.RepositoryName})
		}
		json.NewEncoder(w).Encode(map[string]any{"imageDetails": details})
	default:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":"UnknownOperationException","message":"simcloud serves no ECR operation %q"}`, op)
	}
}

// ECRCalls returns the ECR API calls phoenix made, "<operation> <repository>".
func (c *Cloud) ECRCalls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ecrCalls...)
}

// lifecycleRule is one rule of an ECR lifecycle policy, the fields ECR
// evaluates.
type lifecycleRule struct {
	RulePriority int `json:"rulePriority"`
	Selection    struct {
		TagStatus     string   `json:"tagStatus"`
		TagPrefixList []string `json:"tagPrefixList"`
		CountType     string   `json:"countType"`
		CountUnit     string   `json:"countUnit"`
		CountNumber   int      `json:"countNumber"`
	} `json:"selection"`
	Action struct {
		Type string `json:"type"`
	} `json:"action"`
}

// expireImages applies each repository's lifecycle policy as ECR does:
// every image is judged by the highest-priority rule that selects it, and
// expired beyond the rule's count (newest pushes kept) or age. The cloud
// holds tagged images only, so untagged rules select nothing. ECR applies
// a policy within a day; the cloud applies it at each push and each
// Advance, so a test sees the worst case at once. Callers hold c.mu.
func (c *Cloud) expireImages() {
	now := time.Now().Add(c.skew)
	for _, p := range c.resources {
		if p.Type != "aws:ecr/lifecyclePolicy:LifecyclePolicy" {
			continue
		}
		var policy struct{ Rules []lifecycleRule }
		if err := json.Unmarshal([]byte(p.Inputs["policy"].StringValue()), &policy); err != nil {
			continue // the create refused it
		}
		sort.Slice(policy.Rules, func(i, j int) bool { return policy.Rules[i].RulePriority < policy.Rules[j].RulePriority })
		name := p.Inputs["repository"].StringValue()
		for repo, tags := range c.tags {
			if !strings.HasSuffix(repo, "/"+name) {
				continue
			}
			judged := map[string]bool{}
			for _, r := range policy.Rules {
				var selected []string
				for tag := range tags {
					if !judged[tag] && r.selects(tag) {
						selected = append(selected, tag)
					}
				}
				// Newest push first.
				sort.Slice(selected, func(i, j int) bool {
					return c.pushed[repo+":"+selected[i]].After(c.pushed[repo+":"+selected[j]])
				})
				for i, tag := range selected {
					judged[tag] = true
					expire := false
					switch r.Selection.CountType {
					case "imageCountMoreThan":
						expire = i >= r.Selection.CountNumber
					case "sinceImagePushed":
						expire = now.Sub(c.pushed[repo+":"+tag]) > time.Duration(r.Selection.CountNumber)*24*time.Hour
					}
					if expire && r.Action.Type == "expire" {
						c.untag(repo, tag)
						c.expired = append(c.expired, repo+":"+tag)
					}
				}
			}
		}
	}
}

// selects reports whether the rule selects a tagged image.
func (r lifecycleRule) selects(tag string) bool {
	switch r.Selection.TagStatus {
	case "any":
		return true
	case "tagged":
		for _, p := range r.Selection.TagPrefixList {
			if strings.HasPrefix(tag, p) {
				return true
			}
		}
	}
	return false
}

// Expired returns the images ("host/repo:tag") a lifecycle policy expired.
func (c *Cloud) Expired() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.expired...)
}
