// Package stacks holds the Phoenix stack programs: stack-name parsing, the
// typed configuration, the env stack and the version stack. Program is the
// one pulumi.RunFunc that both `pulumi up` (main.go) and the phoenix CLI (as
// an inline program) run.
package stacks

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/components/awsedge"
	"github.com/phoenix-iac/phoenix/components/awstraffic"
	"github.com/phoenix-iac/phoenix/components/awsversion"
	"github.com/phoenix-iac/phoenix/components/dockeredge"
	"github.com/phoenix-iac/phoenix/components/dockertraffic"
	"github.com/phoenix-iac/phoenix/components/dockerversion"
)

// Program is the Phoenix Pulumi program. The stack name decides what it
// builds: "<env>" is the env stack, "<env>.<version>" a version stack. The
// project directory, against which build contexts are resolved, is the one
// Pulumi names (ctx.RootDirectory), else the working directory.
func Program(ctx *pulumi.Context) error {
	root := ctx.RootDirectory()
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		root = wd
	}
	return run(ctx, root)
}

// ProgramIn returns Program for the project in dir. The Automation API runs
// inline programs without naming a project directory, so the CLI names it.
func ProgramIn(dir string) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		root := ctx.RootDirectory()
		if root == "" {
			root = dir
		}
		return run(ctx, root)
	}
}

func run(ctx *pulumi.Context, root string) error {
	name, err := ParseStackName(ctx.Stack())
	if err != nil {
		return err
	}
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return fmt.Errorf("stack %s: %w", name, err)
	}
	st := newStamp(name)
	if err := st.register(ctx); err != nil {
		return err
	}
	if name.IsVersion() {
		err = versionStack(ctx, root, name, cfg)
	} else {
		err = envStack(ctx, root, name, cfg)
	}
	if err != nil {
		return err
	}
	return st.Err()
}

// lastTraffic reads the traffic an env stack last exported, from its own
// outputs in the backend: a plain `pulumi up` of the env stack, which sets
// no traffic keys, must leave the traffic where phoenix put it, not point
// it at nothing. A stack that never exported any has nothing live.
func lastTraffic(ctx *pulumi.Context, name StackName) (Traffic, error) {
	self, err := pulumi.NewStackReference(ctx, StackReferenceName(ctx, name), nil)
	if err != nil {
		return Traffic{}, fmt.Errorf("reading env stack %s's last traffic: %w", name, err)
	}
	get := func(key string) (any, error) {
		d, err := self.GetOutputDetails(key)
		if err != nil {
			return nil, fmt.Errorf("reading env stack %s's last traffic (%s): %w", name, key, err)
		}
		return d.Value, nil
	}
	var t Traffic
	for key, dst := range map[string]*string{OutLive: &t.Live, OutCandidate: &t.Candidate} {
		v, err := get(key)
		if err != nil {
			return t, err
		}
		*dst, _ = v.(string)
	}
	w, err := get(OutCandidateWeight)
	if err != nil {
		return t, err
	}
	if f, ok := w.(float64); ok {
		t.CandidateWeight = int(f)
	}
	return t, nil
}

// StackReferenceName returns the fully qualified name of a stack of this
// project, as a StackReference takes it.
func StackReferenceName(ctx *pulumi.Context, stack StackName) string {
	return fmt.Sprintf("%s/%s/%s", ctx.Organization(), ctx.Project(), stack)
}

func envStack(ctx *pulumi.Context, root string, name StackName, cfg *Config) error {
	env := name.Env
	t := cfg.Traffic
	if !cfg.TrafficGiven {
		kept, err := lastTraffic(ctx, name)
		if err != nil {
			return err
		}
		t = kept
	}
	refs := map[string]*pulumi.StackReference{}
	versionRef := func(version string) (*pulumi.StackReference, error) {
		if ref, ok := refs[version]; ok {
			return ref, nil
		}
		stack := StackName{Env: env, Version: version}
		ref, err := pulumi.NewStackReference(ctx, StackReferenceName(ctx, stack), nil)
		if err != nil {
			return nil, fmt.Errorf("reading version stack %s: %w", stack, err)
		}
		refs[version] = ref
		return ref, nil
	}

	ctx.Export(OutPlatform, pulumi.String(cfg.Platform))
	ctx.Export(OutEnv, pulumi.String(env))
	ctx.Export(OutRetention, pulumi.Int(cfg.Retention))

	switch cfg.Platform {
	case PlatformDocker:
		return dockerEnv(ctx, root, env, cfg, t, versionRef)
	case PlatformAWS:
		return awsEnv(ctx, env, cfg, t, versionRef)
	default:
		return fmt.Errorf("env stack %s: platform %q has no env stack program", name, cfg.Platform)
	}
}

// versionRefs reads version stacks' outputs, one StackReference each.
type versionRefs func(version string) (*pulumi.StackReference, error)

// dockerEnv is the env stack on docker: the edge (network, Caddy) and the
// traffic pointer, the config writer.
func dockerEnv(ctx *pulumi.Context, root, env string, cfg *Config, t Traffic, versionRef versionRefs) error {
	tag, err := dockeredge.LauncherTag(root, cfg.Docker.CaddyImage)
	if err != nil {
		return err
	}
	edge, err := dockeredge.NewEdge(ctx, env, &dockeredge.EdgeArgs{
		Env:           env,
		CaddyImage:    cfg.Docker.CaddyImage,
		ImageTag:      tag,
		ListenAddress: cfg.Docker.ListenAddress,
		Port:          pulumi.Int(cfg.Docker.Port),
	})
	if err != nil {
		return err
	}
	args := &dockertraffic.TrafficArgs{
		Env:              env,
		Image:            edge.Image,
		ConfigVolumeName: edge.ConfigVolumeName,
		HealthCheckPath:  cfg.HealthCheckPath,
		AppPort:          cfg.AppPort,
		CandidateWeight:  t.CandidateWeight,
	}
	upstreams := func(version string) (*dockertraffic.Upstreams, error) {
		ref, err := versionRef(version)
		if err != nil {
			return nil, err
		}
		return &dockertraffic.Upstreams{Version: version, Addresses: refStrings(ref, StackName{env, version}, OutUpstreams)}, nil
	}
	if t.Live != "" {
		if args.Live, err = upstreams(t.Live); err != nil {
			return err
		}
	}
	if t.Candidate != "" {
		if args.Candidate, err = upstreams(t.Candidate); err != nil {
			return err
		}
	}
	traffic, err := dockertraffic.NewTraffic(ctx, env, args)
	if err != nil {
		return err
	}
	exportTraffic(ctx, traffic.Applied, t)
	ctx.Export(OutURL, edge.URL)
	ctx.Export(OutNetworkName, edge.NetworkName)
	ctx.Export(OutLoadBalancer, edge.LoadBalancerName)
	return nil
}

// awsEnv is the env stack on aws: the edge (VPC, ALB, cluster, registry,
// logs) and the traffic pointer, the listener.
func awsEnv(ctx *pulumi.Context, env string, cfg *Config, t Traffic, versionRef versionRefs) error {
	edge, err := awsedge.NewEdge(ctx, env, &awsedge.EdgeArgs{
		VPCCIDR:          cfg.AWS.VPCCIDR,
		AZCount:          cfg.AWS.AZCount,
		AllowedCIDRs:     cfg.AWS.AllowedCIDRs,
		AppPort:          cfg.AppPort,
		LogRetentionDays: cfg.AWS.LogRetentionDays,
		KeepImages:       cfg.AWS.KeepImages,
	})
	if err != nil {
		return err
	}
	args := &awstraffic.TrafficArgs{
		Env:             env,
		LoadBalancerARN: edge.LoadBalancerARN,
		CertificateARN:  cfg.AWS.CertificateARN,
		CandidateWeight: t.CandidateWeight,
	}
	target := func(version string) (*awstraffic.Target, error) {
		ref, err := versionRef(version)
		if err != nil {
			return nil, err
		}
		return &awstraffic.Target{Version: version, TargetGroupARN: refString(ref, StackName{env, version}, OutTargetGroupARN)}, nil
	}
	if t.Live != "" {
		if args.Live, err = target(t.Live); err != nil {
			return err
		}
	}
	if t.Candidate != "" {
		if args.Candidate, err = target(t.Candidate); err != nil {
			return err
		}
	}
	traffic, err := awstraffic.NewTraffic(ctx, env, args)
	if err != nil {
		return err
	}
	exportTraffic(ctx, traffic.Applied, t)
	scheme := "http"
	if cfg.AWS.CertificateARN != "" {
		scheme = "https"
	}
	if cfg.AWS.Hostname != "" {
		ctx.Export(OutURL, pulumi.Sprintf("%s://%s", scheme, cfg.AWS.Hostname))
	} else {
		ctx.Export(OutURL, pulumi.Sprintf("%s://%s", scheme, edge.LoadBalancerDNSName))
	}
	ctx.Export(OutVPCID, edge.VPCID)
	ctx.Export(OutSubnetIDs, edge.SubnetIDs)
	ctx.Export(OutClusterARN, edge.ClusterARN)
	ctx.Export(OutLBSecurityGroup, edge.LoadBalancerSecurityGroupID)
	ctx.Export(OutListenerARN, traffic.ListenerARN)
	ctx.Export(OutRepositoryURL, edge.RepositoryURL)
	ctx.Export(OutRepositoryARN, edge.RepositoryARN)
	ctx.Export(OutRegistryID, edge.RegistryID)
	ctx.Export(OutLogGroupName, edge.LogGroupName)
	ctx.Export(OutLogGroupARN, edge.LogGroupARN)
	ctx.Export(OutLoadBalancer, edge.LoadBalancerARNSuffix)
	return nil
}

// A stack's outputs are saved together, and only when every one of them
// resolves; an update that fails keeps the outputs of the last update that
// succeeded (the engine carries them over). The outputs that phoenix reads
// as facts therefore wait for the resources that make them true.

// exportTraffic exports traffic t once the pointer applied it: after a
// failed pointer update the env stack's outputs still name the traffic that
// the load balancer serves, and after a failed first update the env stack
// has no outputs at all, so it does not count as deployed.
func exportTraffic(ctx *pulumi.Context, applied pulumi.StringOutput, t Traffic) {
	ctx.Export(OutLive, applied.ApplyT(func(string) string { return t.Live }))
	ctx.Export(OutCandidate, applied.ApplyT(func(string) string { return t.Candidate }))
	ctx.Export(OutCandidateWeight, applied.ApplyT(func(string) int { return t.CandidateWeight }))
}

// exportComplete exports the version once all of its resources exist: a
// version stack with the output is complete, one without it is not (its
// first update failed or was interrupted).
func exportComplete(ctx *pulumi.Context, complete pulumi.StringOutput, name StackName) {
	ctx.Export(OutVersion, complete.ApplyT(func(string) string { return name.Version }))
}

func versionStack(ctx *pulumi.Context, root string, name StackName, cfg *Config) error {
	if err := checkBuildContext(root, cfg.AppPath); err != nil {
		return err
	}
	envStack := name.EnvStack()
	ref, err := pulumi.NewStackReference(ctx, StackReferenceName(ctx, envStack), nil)
	if err != nil {
		return fmt.Errorf("reading env stack %s (create it first with: pulumi up -s %s): %w", envStack, envStack, err)
	}
	component := name.Env + "-" + name.Version

	ctx.Export(OutPlatform, pulumi.String(cfg.Platform))
	ctx.Export(OutEnv, pulumi.String(name.Env))

	switch cfg.Platform {
	case PlatformDocker:
		return dockerVersion(ctx, name, cfg, component, ref)
	case PlatformAWS:
		return awsVersion(ctx, name, cfg, component, ref)
	default:
		return fmt.Errorf("version stack %s: platform %q has no version stack program", name, cfg.Platform)
	}
}

// dockerVersion is a version stack on docker: the image and the replicas,
// on the env's network.
func dockerVersion(ctx *pulumi.Context, name StackName, cfg *Config, component string, ref *pulumi.StackReference) error {
	envStack := name.EnvStack()
	v, err := dockerversion.NewVersion(ctx, component, &dockerversion.VersionArgs{
		Env:               name.Env,
		Version:           name.Version,
		AppPath:           cfg.AppPath,
		AppPort:           cfg.AppPort,
		Replicas:          cfg.Replicas,
		Environment:       cfg.Environment,
		EnvironmentSecret: cfg.EnvironmentSecret,
		HealthCheck:       cfg.HealthCheckCommand,
		NetworkName:       refString(ref, envStack, OutNetworkName),
	})
	if err != nil {
		return err
	}
	exportComplete(ctx, v.Complete, name)
	ctx.Export(OutImage, v.Image)
	ctx.Export(OutUpstreams, v.Upstreams)
	return nil
}

// awsVersion is a version stack on aws: the image in ECR, the task, its
// target group and rule, and the Fargate service.
func awsVersion(ctx *pulumi.Context, name StackName, cfg *Config, component string, ref *pulumi.StackReference) error {
	envStack := name.EnvStack()
	v, err := awsversion.NewVersion(ctx, component, &awsversion.VersionArgs{
		Env:                         name.Env,
		Version:                     name.Version,
		AppPath:                     cfg.AppPath,
		AppPort:                     cfg.AppPort,
		Replicas:                    cfg.Replicas,
		CPU:                         cfg.AWS.CPU,
		Memory:                      cfg.AWS.Memory,
		Environment:                 cfg.Environment,
		EnvironmentSecret:           cfg.EnvironmentSecret,
		HealthCheckPath:             cfg.HealthCheckPath,
		Region:                      cfg.AWS.Region,
		VPCID:                       refString(ref, envStack, OutVPCID),
		SubnetIDs:                   refStrings(ref, envStack, OutSubnetIDs),
		ClusterARN:                  refString(ref, envStack, OutClusterARN),
		LoadBalancerSecurityGroupID: refString(ref, envStack, OutLBSecurityGroup),
		ListenerARN:                 refString(ref, envStack, OutListenerARN),
		RepositoryURL:               refString(ref, envStack, OutRepositoryURL),
		RepositoryARN:               refString(ref, envStack, OutRepositoryARN),
		RegistryID:                  refString(ref, envStack, OutRegistryID),
		LogGroupName:                refString(ref, envStack, OutLogGroupName),
		LogGroupARN:                 refString(ref, envStack, OutLogGroupARN),
	})
	if err != nil {
		return err
	}
	exportComplete(ctx, v.Complete, name)
	ctx.Export(OutImage, v.Image)
	ctx.Export(OutTargetGroupARN, v.TargetGroupARN)
	ctx.Export(OutTargetGroupMetrics, v.TargetGroupARNSuffix)
	return nil
}

// checkBuildContext makes sure the app's build context exists before any
// resource is planned, so that a wrong path is a clear error, not a failed
// build. A relative path is relative to the project directory (root); the
// resources keep it relative, so that the same version planned on another
// machine plans the same inputs.
func checkBuildContext(root, appPath string) error {
	p := appPath
	if !filepath.IsAbs(p) {
		p = filepath.Join(root, p)
	}
	info, err := os.Stat(p)
	if err != nil || !info.IsDir() {
		return fmt.Errorf("%s: %q is not a directory (relative to %s); point it at the app's Docker build context", KeyAppPath, appPath, root)
	}
	if _, err := os.Stat(filepath.Join(p, "Dockerfile")); err != nil {
		return fmt.Errorf("%s: %q has no Dockerfile; add one or point %s at the app's build context", KeyAppPath, appPath, KeyAppPath)
	}
	return nil
}

// refString reads a string output of another stack, failing with a message
// that names the stack and the output when it is missing.
func refString(ref *pulumi.StackReference, stack StackName, key string) pulumi.StringOutput {
	return ref.GetOutput(pulumi.String(key)).ApplyT(func(v any) (string, error) {
		s, ok := v.(string)
		if !ok || s == "" {
			return "", missingOutput(stack, key)
		}
		return s, nil
	}).(pulumi.StringOutput)
}

// refStrings reads a list-of-strings output of another stack.
func refStrings(ref *pulumi.StackReference, stack StackName, key string) pulumi.StringArrayOutput {
	return ref.GetOutput(pulumi.String(key)).ApplyT(func(v any) ([]string, error) {
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return nil, missingOutput(stack, key)
		}
		out := make([]string, len(list))
		for i, x := range list {
			s, ok := x.(string)
			if !ok {
				return nil, missingOutput(stack, key)
			}
			out[i] = s
		}
		return out, nil
	}).(pulumi.StringArrayOutput)
}

func missingOutput(stack StackName, key string) error {
	if stack.IsVersion() {
		return fmt.Errorf("version stack %s has no output %q: it does not exist, has not been deployed, or runs on another platform; deploy it with: pulumi up -s %s --config-file Pulumi.%s.yaml", stack, key, stack, stack.Env)
	}
	return fmt.Errorf("env stack %s has no output %q: it does not exist, has not been deployed, or runs on another platform; deploy it with: pulumi up -s %s", stack, key, stack)
}
