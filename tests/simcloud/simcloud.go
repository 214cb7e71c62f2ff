// Package simcloud is a simulated cloud for engine tests: in-process Pulumi
// resource providers for the "aws" and "docker" packages that the real
// Pulumi engine attaches to through PULUMI_DEBUG_PROVIDERS. The providers
// keep what they create in a Cloud that tests can read (the inventory),
// change behind the engine's back (drift) and make fail or slow (faults).
package simcloud

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

// Resource is one thing that exists in the simulated cloud.
type Resource struct {
	// ID is the provider's physical ID.
	ID string
	// Type is the Pulumi type token, such as "aws:lb/listener:Listener".
	Type string
	// Name is the logical name Pulumi created it under.
	Name string
	// Inputs are the properties it was created or last updated with.
	Inputs resource.PropertyMap
	// Outputs are its current state, inputs plus computed properties.
	Outputs resource.PropertyMap
	// Stopped is true for a container that exists but does not run.
	Stopped bool
	// Machine is, for a local image, the machine whose Docker holds it.
	Machine string
}

// Op is one call the engine made that changed the cloud.
type Op struct {
	// Kind is "create", "update" or "delete", or "cascade" for a
	// resource that the cloud deleted with another (a listener's rules).
	Kind string
	// Type and Name identify the resource.
	Type, Name string
	// ID is the physical ID acted on.
	ID string
	// At is when the operation finished.
	At time.Time
}

// Fault makes matching operations fail or slow down.
type Fault struct {
	// Kind is "create", "update" or "delete", or "cascade" for a
	// resource that the cloud deleted with another (a listener's rules). empty matches any.
	Kind string
	// Type is a type token; empty matches any.
	Type string
	// NameContains matches logical names holding it; empty matches any.
	NameContains string
	// Delay is added before the operation.
	Delay time.Duration
	// Err, when set, fails the operation with this message.
	Err string
	// Times is how many operations it affects; 0 means every one.
	Times int
	// After lets this many matching operations pass before it affects any.
	After int

	used, passed int
}

func (f *Fault) matches(kind, typ, name string) bool {
	return (f.Kind == "" || f.Kind == kind) &&
		(f.Type == "" || f.Type == typ) &&
		(f.NameContains == "" || strings.Contains(name, f.NameContains)) &&
		(f.Times == 0 || f.used < f.Times)
}

// Cloud is the simulated cloud shared by the providers of one test.
type Cloud struct {
	mu        sync.Mutex
	resources map[string]*Resource
	seq       int
	faults    []*Fault
	inFlight  int // changes begun and not ended
	ops       []Op
	watchers  []func(Op, Resource)
	// tags is each image repository's tags ("host/repo" -> tag ->
	// digest): what a registry holds, which outlives the resources that
	// pushed to it unless they delete what they pushed.
	tags map[string]map[string]string
	// pushed is when each image ("host/repo:tag") was pushed, by the
	// cloud's clock; expired lists those a lifecycle policy expired.
	pushed  map[string]time.Time
	expired []string
	// skew is how far the cloud's clock is ahead of the wall clock.
	skew time.Duration
	// machine is the machine the docker provider now talks to.
	machine string
	// ecrCalls are the ECR API calls phoenix made itself.
	ecrCalls []string
	// The registry's content (oci.go): blobs and manifests by digest,
	// which of them each repository ("host/repo") holds, uploads under
	// way, and the blobs mounted and uploaded since a repository's last
	// manifest push.
	blobs             map[string][]byte
	manifests         map[string]ociManifest
	repoBlobs         map[string]map[string]bool
	uploads           map[string]*ociUpload
	mounted, uploaded map[string]int
	registryPushes    []RegistryPush
	blobMounting      bool
}

// New returns an empty cloud.
func New() *Cloud {
	return &Cloud{resources: map[string]*Resource{}, tags: map[string]map[string]string{}, pushed: map[string]time.Time{},
		blobs: map[string][]byte{}, manifests: map[string]ociManifest{}, repoBlobs: map[string]map[string]bool{},
		uploads: map[string]*ociUpload{}, mounted: map[string]int{}, uploaded: map[string]int{}}
}

// Inventory returns every resource that exists, sorted by type and name.
func (c *Cloud) Inventory() []Resource {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Resource, 0, len(c.resources))
	for _, r := range c.resources {
		out = append(out, Resource{ID: r.ID, Type: r.Type, Name: r.Name, Inputs: r.Inputs.Copy(), Outputs: r.Outputs.Copy(), Stopped: r.Stopped, Machine: r.Machine})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Find returns the resources of one type whose logical name contains nameContains.
func (c *Cloud) Find(typ, nameContains string) []Resource {
	var out []Resource
	for _, r := range c.Inventory() {
		if r.Type == typ && strings.Contains(r.Name, nameContains) {
			out = append(out, r)
		}
	}
	return out
}

// Watch calls fn after every create and update, with the resource as it
// then is. Tests use it to play what a resource does in the real cloud
// when it is created, such as the docker pointer writing its file.
func (c *Cloud) Watch(fn func(Op, Resource)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watchers = append(c.watchers, fn)
}

func (c *Cloud) notify(op Op, r *Resource) {
	c.mu.Lock()
	ws := slices.Clone(c.watchers)
	snap := Resource{ID: r.ID, Type: r.Type, Name: r.Name, Inputs: r.Inputs.Copy(), Outputs: r.Outputs.Copy()}
	c.mu.Unlock()
	for _, w := range ws {
		w(op, snap)
	}
}

// Ops returns the changing operations so far, in order.
func (c *Cloud) Ops() []Op {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Op(nil), c.ops...)
}

// Inject adds a fault.
func (c *Cloud) Inject(f Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = append(c.faults, &f)
}

// begin counts a change in flight until the function it returns is called.
func (c *Cloud) begin() func() {
	c.mu.Lock()
	c.inFlight++
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.inFlight--
		c.mu.Unlock()
	}
}

// Settle waits until no change is in flight. A change that an engine
// asked for goes on when the engine is killed, as a real cloud's does: a
// test that kills one settles the cloud before it judges what is left.
func (c *Cloud) Settle() {
	for {
		c.mu.Lock()
		n := c.inFlight
		c.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ClearFaults removes every fault.
func (c *Cloud) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = nil
}

// Drift changes a property of a resource behind the engine's back, as a
// hand-made change in a console would.
func (c *Cloud) Drift(id, key string, value any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.resources[id]
	if !ok {
		return fmt.Errorf("no resource %s", id)
	}
	v := resource.NewPropertyValue(value)
	r.Inputs[resource.PropertyKey(key)] = v
	r.Outputs[resource.PropertyKey(key)] = v
	return nil
}

// Remove deletes a resource behind the engine's back.
func (c *Cloud) Remove(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.resources[id]; !ok {
		return fmt.Errorf("no resource %s", id)
	}
	delete(c.resources, id)
	return nil
}

// Stop stops a container behind the engine's back (docker stop, or a crash
// its restart policy gave up on).
func (c *Cloud) Stop(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.resources[id]
	if !ok || r.Type != "docker:index/container:Container" {
		return fmt.Errorf("no container %s", id)
	}
	r.Stopped = true
	return nil
}

// Plant creates a resource behind the engine's back, as a create that an
// engine began and was killed in would leave it, and returns it.
func (c *Cloud) Plant(typ, name string, inputs resource.PropertyMap) (Resource, error) {
	r, _, err := c.add(typ, name, inputs)
	if err != nil {
		return Resource{}, err
	}
	return *r, nil
}

// fault applies the first matching fault: it waits, then returns its error.
func (c *Cloud) fault(kind, typ, name string) error {
	c.mu.Lock()
	var hit *Fault
	for _, f := range c.faults {
		if f.matches(kind, typ, name) {
			if f.passed < f.After {
				f.passed++
				continue
			}
			f.used++
			hit = f
			break
		}
	}
	c.mu.Unlock()
	if hit == nil {
		return nil
	}
	time.Sleep(hit.Delay)
	if hit.Err != "" {
		return fmt.Errorf("%s", hit.Err)
	}
	return nil
}

func (c *Cloud) create(typ, name string, inputs resource.PropertyMap) (*Resource, error) {
	defer c.begin()()
	if err := c.fault("create", typ, name); err != nil {
		return nil, err
	}
	r, op, err := c.add(typ, name, inputs)
	if err != nil {
		return nil, err
	}
	c.notify(op, r)
	return r, nil
}

func (c *Cloud) add(typ, name string, inputs resource.PropertyMap) (*Resource, Op, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := inputs["name"]; ok && n.IsString() && autoNamed[typ] {
		for _, r := range c.resources {
			if r.Type == typ && r.Inputs["name"].IsString() && r.Inputs["name"].StringValue() == n.StringValue() {
				return nil, Op{}, fmt.Errorf("a %s named %q already exists", typ, n.StringValue())
			}
		}
	}
	if typ == "docker:index/remoteImage:RemoteImage" {
		// A Docker tag names one image: building or pulling an image
		// under a tag that exists moves the tag, and the engine lists one
		// image by it.
		for id, r := range c.resources {
			if r.Type == typ && r.Inputs["name"].DeepEquals(inputs["name"]) {
				delete(c.resources, id)
			}
		}
	}
	if err := c.checkCreate(typ, inputs); err != nil {
		return nil, Op{}, err
	}
	if ref, ok := pushedRef(typ, inputs); ok {
		if c.tokenExpired(typ, inputs) {
			return nil, Op{}, fmt.Errorf("pushing %s: %s", ref, errTokenExpired)
		}
		if err := c.push(ref, digest(inputs)); err != nil {
			return nil, Op{}, err
		}
	}
	c.seq++
	id := fmt.Sprintf("%s-%06d", shortType(typ), c.seq)
	r := &Resource{ID: id, Type: typ, Name: name, Inputs: inputs.Copy()}
	if typ == "docker:index/remoteImage:RemoteImage" {
		r.Machine = c.machine
	}
	r.Outputs = computeOutputs(r, false)
	c.resources[id] = r
	op := Op{Kind: "create", Type: typ, Name: name, ID: id, At: time.Now()}
	c.ops = append(c.ops, op)
	return r, op, nil
}

func (c *Cloud) update(id, typ, name string, inputs resource.PropertyMap) (*Resource, error) {
	defer c.begin()()
	if err := c.fault("update", typ, name); err != nil {
		return nil, err
	}
	c.mu.Lock()
	r, ok := c.resources[id]
	if !ok {
		c.mu.Unlock()
		return nil, fmt.Errorf("%s %s does not exist", typ, id)
	}
	if err := c.checkUpdate(id, typ, inputs); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	r.Inputs = inputs.Copy()
	r.Outputs = computeOutputs(r, false)
	op := Op{Kind: "update", Type: typ, Name: name, ID: id, At: time.Now()}
	c.ops = append(c.ops, op)
	c.mu.Unlock()
	c.notify(op, r)
	return r, nil
}

func (c *Cloud) delete(id, typ, name string) error {
	return c.deleteWith(id, typ, name, nil)
}

// deleteWith deletes a resource whose state, as the engine recorded it, is
// state: what a provider's delete decides by (a RegistryImage's
// keepRemotely and registry password). With no state it is the cloud's own
// record.
func (c *Cloud) deleteWith(id, typ, name string, state resource.PropertyMap) error {
	defer c.begin()()
	if err := c.fault("delete", typ, name); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.resources[id]; ok {
		if err := c.checkDelete(r); err != nil {
			return err
		}
	}
	if r, ok := c.resources[id]; ok && typ == "docker:index/registryImage:RegistryImage" {
		// A registry image deletes what it pushed (unless keepRemotely);
		// pulumi-docker's Image never does.
		if state == nil {
			state = r.Inputs
		}
		if keep := state["keepRemotely"]; !keep.IsBool() || !keep.BoolValue() {
			if c.tokenExpired(typ, state) {
				return fmt.Errorf("Got error deleting registry image: %s", errTokenExpired)
			}
			if ref, ok := pushedRef(typ, r.Inputs); ok {
				repo, tag := splitRef(ref)
				c.untag(repo, tag)
			}
		}
	}
	if r, ok := c.resources[id]; ok && typ == "aws:lb/listener:Listener" {
		c.deleteRulesOf(r)
	}
	delete(c.resources, id)
	c.ops = append(c.ops, Op{Kind: "delete", Type: typ, Name: name, ID: id, At: time.Now()})
	return nil
}

// portFree refuses a load balancer listener on a port that another
// listener of the same load balancer holds, as ELB does (one listener per
// port); except is the listener being updated. Callers hold c.mu.
func (c *Cloud) portFree(typ, except string, inputs resource.PropertyMap) error {
	if typ != "aws:lb/listener:Listener" {
		return nil
	}
	for id, r := range c.resources {
		if id == except || r.Type != typ {
			continue
		}
		if r.Inputs["loadBalancerArn"].DeepEquals(inputs["loadBalancerArn"]) && r.Inputs["port"].DeepEquals(inputs["port"]) {
			return fmt.Errorf("DuplicateListener: A listener already exists on port %v of load balancer '%v'", inputs["port"].V, inputs["loadBalancerArn"].V)
		}
	}
	return nil
}

// Tags returns the tags an image repository ("host/repo") holds.
func (c *Cloud) Tags(repo string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for t := range c.tags[repo] {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// pushedRef returns the image reference a create pushes to a registry: a
// pulumi-docker Image with a registry (and no skipPush), or a
// RegistryImage.
func pushedRef(typ string, inputs resource.PropertyMap) (string, bool) {
	switch typ {
	case "docker:index/image:Image":
		if !inputs["registry"].IsObject() || (inputs["skipPush"].IsBool() && inputs["skipPush"].BoolValue()) {
			return "", false
		}
		return inputs["imageName"].StringValue(), inputs["imageName"].IsString()
	case "docker:index/registryImage:RegistryImage":
		return inputs["name"].StringValue(), inputs["name"].IsString()
	}
	return "", false
}

func splitRef(ref string) (repo, tag string) {
	i := strings.LastIndexByte(ref, ':')
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, "latest"
	}
	return ref[:i], ref[i+1:]
}

// push stores the image a build with seed makes under a tag of its
// repository. The env's ECR repositories have immutable tags, as ECR
// refuses to overwrite one: so does this.
func (c *Cloud) push(ref, seed string) error {
	repo, tag := splitRef(ref)
	if _, exists := c.tags[repo][tag]; exists {
		name := repo[strings.IndexByte(repo, '/')+1:]
		return fmt.Errorf("tag invalid: The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable", tag, name)
	}
	if c.tags[repo] == nil {
		c.tags[repo] = map[string]string{}
	}
	c.tags[repo][tag] = c.store(repo, seed)
	c.pushed[repo+":"+tag] = time.Now().Add(c.skew)
	c.expireImages()
	return nil
}

func (c *Cloud) read(id string) (*Resource, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.resources[id]
	if !ok || c.readGone(r) {
		return nil, false
	}
	return &Resource{ID: r.ID, Type: r.Type, Name: r.Name, Inputs: r.Inputs.Copy(), Outputs: r.Outputs.Copy(), Stopped: r.Stopped, Machine: r.Machine}, true
}

// seqOf is the sequence number in a resource's id.
func seqOf(id string) int {
	n := 0
	fmt.Sscanf(id[strings.LastIndex(id, "-")+1:], "%d", &n)
	return n
}

func shortType(typ string) string {
	t := tokens.Type(typ)
	return strings.ToLower(string(t.Name()))
}

const (
	account = "123456789012"
	region  = "eu-west-1"
)

// computeOutputs returns a resource's state: its inputs plus the properties
// the real provider computes. With unknown set (a preview of a create) the
// computed properties are unknown.
func computeOutputs(r *Resource, unknown bool) resource.PropertyMap {
	out := r.Inputs.Copy()
	set := func(k string, v any) {
		if unknown {
			out[resource.PropertyKey(k)] = resource.MakeComputed(resource.NewProperty(""))
			return
		}
		out[resource.PropertyKey(k)] = resource.NewPropertyValue(v)
	}
	str := func(k string) string {
		if v, ok := r.Inputs[resource.PropertyKey(k)]; ok && v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	if strings.HasPrefix(r.Type, "aws:") {
		set("arn", fmt.Sprintf("arn:aws:%s:%s:%s:%s/%s", strings.Split(strings.TrimPrefix(r.Type, "aws:"), "/")[0], region, account, shortType(r.Type), r.ID))
		set("tagsAll", out["tags"].Mappable())
	}
	// The ARNs of what a version creates are in AWS's formats, which
	// phoenix reads the kind and name from (the tagging API lists them).
	switch r.Type {
	case "aws:ecs/service:Service":
		cluster := str("cluster")
		set("arn", fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", region, account, cluster[strings.LastIndex(cluster, "/")+1:], str("name")))
	case "aws:ecs/taskDefinition:TaskDefinition":
		set("arn", fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s:%d", region, account, str("family"), seqOf(r.ID)))
	case "aws:lb/targetGroup:TargetGroup":
		set("arn", fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:targetgroup/%s/%s", region, account, str("name"), r.ID))
	case "aws:lb/listenerRule:ListenerRule":
		set("arn", fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:listener-rule/app/sim/%s", region, account, r.ID))
	case "aws:ec2/securityGroup:SecurityGroup":
		set("arn", fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", region, account, r.ID))
	case "aws:iam/role:Role":
		path := str("path")
		if path == "" {
			path = "/"
		}
		set("arn", fmt.Sprintf("arn:aws:iam::%s:role%s%s", account, path, str("name")))
	}
	switch r.Type {
	case "aws:lb/loadBalancer:LoadBalancer":
		set("dnsName", str("name")+"-"+r.ID+"."+region+".elb.amazonaws.com")
		set("arnSuffix", "app/"+str("name")+"/"+r.ID)
	case "aws:lb/targetGroup:TargetGroup":
		set("arnSuffix", "targetgroup/"+str("name")+"/"+r.ID)
	case "aws:ecr/repository:Repository":
		set("repositoryUrl", fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s", account, region, str("name")))
		set("registryId", account)
	case "aws:cloudwatch/logGroup:LogGroup":
		set("arn", fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", region, account, str("name")))
	case "docker:index/image:Image":
		// Docker's repo digest: the repository, without the tag, and
		// the pushed manifest's digest.
		repo, _ := splitRef(str("imageName"))
		set("repoDigest", repo+"@"+simImageDigest(digest(r.Inputs)))
	case "docker:index/registryImage:RegistryImage":
		set("sha256Digest", simImageDigest(digest(r.Inputs)))
	case "docker:index/remoteImage:RemoteImage":
		set("imageId", "sha256:"+digest(r.Inputs))
		set("repoDigest", str("name")+"@sha256:"+digest(r.Inputs))
	}
	return out
}

func digest(m resource.PropertyMap) string {
	h := sha256.Sum256([]byte(fmt.Sprint(m.Mappable())))
	return hex.EncodeToString(h[:])
}
