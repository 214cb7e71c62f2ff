package simcloud

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"sort"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// pluginVersions are the versions the simulated providers report: those of
// the SDKs the program is built with.
var pluginVersions = map[string]string{"aws": "6.83.4", "docker": "4.10.0"}

// Serve starts the simulated provider of one package ("aws" or "docker") on
// a loopback port and returns the port and a function that stops it.
func (c *Cloud) Serve(pkg string) (int, func(), error) {
	if _, ok := pluginVersions[pkg]; !ok {
		return 0, nil, fmt.Errorf("simcloud has no provider for package %q", pkg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, nil, err
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))
	pulumirpc.RegisterResourceProviderServer(srv, &provider{pkg: pkg, cloud: c})
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().(*net.TCPAddr).Port, srv.Stop, nil
}

// DebugProviders serves every package and returns the PULUMI_DEBUG_PROVIDERS
// value that attaches the engine to them, and a function that stops them.
func (c *Cloud) DebugProviders() (string, func(), error) {
	var stops []func()
	stopAll := func() {
		for _, s := range stops {
			s()
		}
	}
	var parts []string
	pkgs := make([]string, 0, len(pluginVersions))
	for p := range pluginVersions {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, pkg := range pkgs {
		port, stop, err := c.Serve(pkg)
		if err != nil {
			stopAll()
			return "", nil, err
		}
		stops = append(stops, stop)
		parts = append(parts, fmt.Sprintf("%s:%d", pkg, port))
	}
	return joinComma(parts), stopAll, nil
}

func joinComma(parts []string) string {
	out := ""
	for i, p := range parts {
		if i > 0 {
			out += ","
		}
		out += p
	}
	return out
}

type provider struct {
	pulumirpc.UnimplementedResourceProviderServer
	pkg   string
	cloud *Cloud
}

var marshalOpts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, KeepResources: true, SkipNulls: true}

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	if s == nil {
		return resource.PropertyMap{}, nil
	}
	return plugin.UnmarshalProperties(s, marshalOpts)
}

func marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, marshalOpts)
}

func typeAndName(urn string) (string, string) {
	u := resource.URN(urn)
	return string(u.Type()), u.Name()
}

func (p *provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: pluginVersions[p.pkg]}, nil
}

func (p *provider) Attach(context.Context, *pulumirpc.PluginAttach) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (p *provider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":%q,"version":%q}`, p.pkg, pluginVersions[p.pkg])}, nil
}

func (p *provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *provider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *provider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true, AcceptResources: true}, nil
}

func (p *provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// Check gives auto-named resources a physical name, keeping the old one on
// updates, as the real providers do.
func (p *provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	typ, name := typeAndName(req.GetUrn())
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	if autoNamed[typ] {
		if _, ok := news["name"]; !ok {
			olds, err := unmarshal(req.GetOlds())
			if err != nil {
				return nil, err
			}
			if old, ok := olds["name"]; ok {
				news["name"] = old
			} else {
				h := sha256.Sum256(append([]byte(req.GetUrn()), req.GetRandomSeed()...))
				news["name"] = resource.NewProperty(name + "-" + hex.EncodeToString(h[:])[:7])
			}
			// As the Terraform bridge does, remember which inputs were
			// defaulted: an explicit name changes how it replaces.
			news[defaultsKey] = resource.NewProperty([]resource.PropertyValue{resource.NewProperty("name")})
		}
	}
	inputs, err := marshal(news)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: inputs}, nil
}

// defaultsKey is where the Terraform bridge lists the inputs it defaulted.
const defaultsKey = "__defaults"

// explicitName reports whether a resource whose provider auto-names it was
// given its name by the program: the Terraform bridge then replaces it
// delete-before-create, since the new one could not take the name while
// the old one holds it.
func explicitName(typ string, news resource.PropertyMap) bool {
	if !autoNamed[typ] || !news["name"].IsString() {
		return false
	}
	if d := news[defaultsKey]; d.IsArray() {
		for _, k := range d.ArrayValue() {
			if k.IsString() && k.StringValue() == "name" {
				return false
			}
		}
	}
	return true
}

// Diff compares old and new inputs and, like the real provider, asks for a
// replacement when a property that cannot change in place changed.
func (p *provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	typ, _ := typeAndName(req.GetUrn())
	oldStruct := req.GetOldInputs()
	if oldStruct == nil {
		oldStruct = req.GetOlds()
	}
	olds, err := unmarshal(oldStruct)
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	ignore := map[string]bool{}
	for _, k := range req.GetIgnoreChanges() {
		ignore[k] = true
	}
	keys := map[resource.PropertyKey]bool{}
	for k := range olds {
		keys[k] = true
	}
	for k := range news {
		keys[k] = true
	}
	var diffs, replaces []string
	detailed := map[string]*pulumirpc.PropertyDiff{}
	for k := range keys {
		if ignore[string(k)] || k == defaultsKey {
			continue
		}
		o, okOld := olds[k]
		n, okNew := news[k]
		if okOld && okNew && o.DeepEquals(n) && !n.ContainsUnknowns() {
			continue
		}
		if typ == "docker:index/image:Image" && k == "registry" && okOld && okNew && sameServer(o, n) {
			// pulumi-docker's Image diffs a registry by its server alone: a
			// new username or password (an ECR token, every run) is no change.
			continue
		}
		if !okOld && okNew && n.IsNull() || okOld && !okNew && o.IsNull() {
			continue
		}
		diffs = append(diffs, string(k))
		kind := pulumirpc.PropertyDiff_UPDATE
		switch {
		case !okOld:
			kind = pulumirpc.PropertyDiff_ADD
		case !okNew:
			kind = pulumirpc.PropertyDiff_DELETE
		}
		if forcesReplacement(typ, string(k)) {
			replaces = append(replaces, string(k))
			kind += pulumirpc.PropertyDiff_ADD_REPLACE - pulumirpc.PropertyDiff_ADD
		}
		detailed[string(k)] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	sort.Strings(diffs)
	sort.Strings(replaces)
	if len(diffs) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE, HasDetailedDiff: true}, nil
	}
	return &pulumirpc.DiffResponse{
		Changes:             pulumirpc.DiffResponse_DIFF_SOME,
		Diffs:               diffs,
		Replaces:            replaces,
		DeleteBeforeReplace: len(replaces) > 0 && (deleteBeforeReplace[typ] || explicitName(typ, news)),
		DetailedDiff:        detailed,
		HasDetailedDiff:     true,
	}, nil
}

// sameServer reports whether two registry values name the same server,
// whatever their credentials.
func sameServer(o, n resource.PropertyValue) bool {
	o, n = plain(o), plain(n)
	if !o.IsObject() || !n.IsObject() {
		return false
	}
	os, ns := o.ObjectValue()["server"], n.ObjectValue()["server"]
	return os.DeepEquals(ns) && !ns.ContainsUnknowns()
}

func (p *provider) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	typ, name := typeAndName(req.GetUrn())
	inputs, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		props, err := marshal(computeOutputs(&Resource{Type: typ, Name: name, Inputs: inputs}, true))
		if err != nil {
			return nil, err
		}
		return &pulumirpc.CreateResponse{Properties: props}, nil
	}
	r, err := p.cloud.create(typ, name, inputs)
	if err != nil {
		return nil, status.Errorf(codes.Unknown, "creating %s %s: %v", typ, name, err)
	}
	props, err := marshal(r.Outputs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: r.ID, Properties: props}, nil
}

func (p *provider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	typ, name := typeAndName(req.GetUrn())
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		olds, err := unmarshal(req.GetOlds())
		if err != nil {
			return nil, err
		}
		out := computeOutputs(&Resource{ID: req.GetId(), Type: typ, Name: name, Inputs: news}, false)
		for k, v := range olds {
			if _, ok := news[k]; !ok {
				out[k] = v // computed properties keep their values
			}
		}
		props, err := marshal(out)
		if err != nil {
			return nil, err
		}
		return &pulumirpc.UpdateResponse{Properties: props}, nil
	}
	r, err := p.cloud.update(req.GetId(), typ, name, news)
	if err != nil {
		return nil, status.Errorf(codes.Unknown, "updating %s %s: %v", typ, name, err)
	}
	props, err := marshal(r.Outputs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (p *provider) Delete(_ context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	typ, name := typeAndName(req.GetUrn())
	state, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	if err := p.cloud.deleteWith(req.GetId(), typ, name, state); err != nil {
		return nil, status.Errorf(codes.Unknown, "deleting %s %s: %v", typ, name, err)
	}
	return &emptypb.Empty{}, nil
}

// Read reports what the cloud holds now; an empty ID means the resource is gone.
func (p *provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if typ, _ := typeAndName(req.GetUrn()); typ == "docker:index/image:Image" {
		// pulumi-docker's Image does no reconciliation: it returns the
		// state as passed, whatever the registry or the local Docker holds.
		return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
	}
	r, ok := p.cloud.read(req.GetId())
	if !ok {
		return &pulumirpc.ReadResponse{}, nil
	}
	if r.Stopped && !(r.Inputs["mustRun"].IsBool() && !r.Inputs["mustRun"].BoolValue()) {
		// The Docker provider reads a container that does not run, when
		// must_run holds (its default), as gone: a refresh drops it.
		return &pulumirpc.ReadResponse{}, nil
	}
	props, err := marshal(r.Outputs)
	if err != nil {
		return nil, err
	}
	inputs, err := marshal(r.Inputs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: r.ID, Properties: props, Inputs: inputs}, nil
}

// Invoke answers the functions the program calls.
func (p *provider) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	var out map[string]any
	switch req.GetTok() {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		out = map[string]any{
			"id":      region,
			"names":   []any{region + "a", region + "b", region + "c"},
			"zoneIds": []any{"euw1-az1", "euw1-az2", "euw1-az3"},
		}
	case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
		// A token good for 12 hours of the cloud's clock, as ECR's.
		password, expires := p.cloud.ecrToken()
		out = map[string]any{
			"id":                 account,
			"userName":           "AWS",
			"password":           resource.MakeSecret(resource.NewProperty(password)),
			"authorizationToken": resource.MakeSecret(resource.NewProperty(base64.StdEncoding.EncodeToString([]byte("AWS:" + password)))),
			"proxyEndpoint":      fmt.Sprintf("https://%s.dkr.ecr.%s.amazonaws.com", account, region),
			"expiresAt":          expires.Format(time.RFC3339),
		}
	default:
		return nil, status.Errorf(codes.Unimplemented, "simcloud %s has no function %s", p.pkg, req.GetTok())
	}
	props, err := marshal(resource.NewPropertyMapFromMap(out))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.InvokeResponse{Return: props}, nil
}
