// Package stacks holds the Phoenix program: stack-name parsing, the typed
// configuration, the env stack and the version stack, which the env's
// registered Platform declares (platform.go; platforms/ holds and registers
// Phoenix's own). Program is the one pulumi.RunFunc that both `pulumi up`
// (main.go) and the phoenix CLI (as an inline program) run.
package stacks

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/internal/buildcontext"
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
	return run(ctx, root, currentBackend(root))
}

// ProgramIn returns Program for the project in dir whose stacks live in
// backend. The Automation API runs inline programs in the caller's process,
// without naming a project directory and without the workspace's
// environment (PULUMI_BACKEND_URL), so the CLI names both.
func ProgramIn(dir, backend string) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		root := ctx.RootDirectory()
		if root == "" {
			root = dir
		}
		return run(ctx, root, backend)
	}
}

func run(ctx *pulumi.Context, root, backend string) error {
	name, err := ParseStackName(ctx.Stack())
	if err != nil {
		return err
	}
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return fmt.Errorf("stack %s: %w", name, err)
	}
	p, err := LookupPlatform(cfg.Platform)
	if err != nil {
		return fmt.Errorf("stack %s: %w", name, err)
	}
	st := newStamp(name, p)
	if err := st.register(ctx); err != nil {
		return err
	}
	if name.IsVersion() {
		err = versionStack(ctx, root, name, cfg, p, st)
	} else {
		err = envStack(ctx, root, name, cfg, p, st, backend)
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
func lastTraffic(self *pulumi.StackReference, name StackName) (Traffic, error) {
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

// TrafficChanged begins the error of an env stack update whose
// phoenix:expectTraffic no longer holds.
const TrafficChanged = "phoenix: traffic changed"

// StackReferenceName returns the fully qualified name of a stack of this
// project, as a StackReference takes it.
func StackReferenceName(ctx *pulumi.Context, stack StackName) string {
	return fmt.Sprintf("%s/%s/%s", ctx.Organization(), ctx.Project(), stack)
}

func envStack(ctx *pulumi.Context, root string, name StackName, cfg *Config, p Platform, st *stamp, backend string) error {
	// The stack reads its own last outputs: its owner, and its traffic.
	self, err := pulumi.NewStackReference(ctx, StackReferenceName(ctx, name), nil)
	if err != nil {
		return fmt.Errorf("reading env stack %s's last outputs: %w", name, err)
	}
	owner, err := envOwner(ctx, self, name, backend)
	if err != nil {
		return err
	}
	st.setOwner(owner)
	exportOwner(ctx, owner)
	t := cfg.Traffic
	if !cfg.TrafficGiven || cfg.ExpectTraffic != nil {
		last, err := lastTraffic(self, name)
		if err != nil {
			return err
		}
		// The update holds the stack's lock from here to its end, and the
		// reference read the state that lock guards: a true compare-and-swap.
		if e := cfg.ExpectTraffic; e != nil && *e != last {
			return fmt.Errorf("%s: env stack %s's traffic is %s, not %s as this update expected: another command changed it", TrafficChanged, name, last, *e)
		}
		if !cfg.TrafficGiven {
			t = last
		}
	}
	key, err := readRouteKey(self, name)
	if err != nil {
		return err
	}
	if key == "" {
		if key, err = newRouteKey(); err != nil {
			return err
		}
	}
	ctx.Export(OutPlatform, pulumi.String(cfg.Platform))
	ctx.Export(OutEnv, pulumi.String(name.Env))
	ctx.Export(OutRetention, pulumi.Int(cfg.Retention))
	ctx.Export(OutRouteKey, RouteKeySecret(key))
	return p.Env(ctx, &EnvStack{Root: root, Name: name, Config: cfg, Traffic: t, RouteKey: key, refs: map[string]*pulumi.StackReference{}, ctx: ctx})
}

// readRouteKey reads the route key an env stack last exported, or "".
func readRouteKey(ref *pulumi.StackReference, env StackName) (string, error) {
	d, err := ref.GetOutputDetails(OutRouteKey)
	if err != nil {
		return "", fmt.Errorf("reading env stack %s's route key: %w", env, err)
	}
	if s, ok := d.SecretValue.(string); ok {
		return s, nil
	}
	s, _ := d.Value.(string)
	return s, nil
}

// newRouteKey makes a route key: 128 random bits, hex.
func newRouteKey() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making the env's route key: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// RouteKeySecret is a route key as a pulumi secret, so that the state
// holds it encrypted wherever it goes.
func RouteKeySecret(key string) pulumi.StringOutput {
	return pulumi.ToSecret(pulumi.String(key)).(pulumi.StringOutput)
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

func versionStack(ctx *pulumi.Context, root string, name StackName, cfg *Config, p Platform, st *stamp) error {
	// A promoted version runs an image by digest and builds nothing.
	var appDigest string
	if cfg.Image == "" {
		if err := checkBuildContext(root, cfg.AppPath); err != nil {
			return err
		}
		dir := cfg.AppPath
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(root, dir)
		}
		d, err := buildcontext.Digest(dir)
		if err != nil {
			return fmt.Errorf("%s: %w", KeyAppPath, err)
		}
		appDigest = d
	}
	envStack := name.EnvStack()
	ref, err := pulumi.NewStackReference(ctx, StackReferenceName(ctx, envStack), nil)
	if err != nil {
		return fmt.Errorf("reading env stack %s (create it first with: pulumi up -s %s): %w", envStack, envStack, err)
	}
	owner, err := versionOwner(ref, envStack)
	if err != nil {
		return err
	}
	if err := configuredByEnv(root, name, cfg); err != nil {
		return err
	}
	if err := sameApp(ctx, name, appDigest); err != nil {
		return err
	}
	st.setOwner(owner)
	ctx.Export(OutPlatform, pulumi.String(cfg.Platform))
	ctx.Export(OutEnv, pulumi.String(name.Env))
	return p.Version(ctx, &VersionStack{Root: root, Name: name, Config: cfg, Component: name.Env + "-" + name.Version, AppDigest: appDigest, envRef: ref, ctx: ctx})
}

// configuredByEnv refuses a version stack run with the project's
// defaults instead of its env's settings: a plain pulumi up -s
// <env>.<version> without --config-file Pulumi.<env>.yaml reads the
// stack's own file, which pulumi stack init left without a config
// section. Only then, and only when the env's file sets something else,
// is it refused; phoenix writes every version's own file from the env's.
func configuredByEnv(root string, name StackName, cfg *Config) error {
	own, err := ReadEnvFile(root, name.String())
	if err != nil || len(own.values) > 0 {
		return nil // no file of its own (its config came from elsewhere), or one with settings
	}
	env, err := ReadEnvFile(root, name.Env)
	if err != nil {
		return nil
	}
	def, err := env.Definition()
	if err != nil {
		return nil // phoenix says what is wrong with the env's file
	}
	if diff := definitionDiff(def, cfg); len(diff) > 0 {
		return fmt.Errorf("version stack %s runs with no config of its own (%s has none) and so with the project's defaults, which differ from env %s's %s in %s: run it with the env's settings: pulumi up -s %s --config-file %s",
			name, ConfigFileName(name.String(), ""), name.Env, ConfigFileName(name.Env, ""), strings.Join(diff, ", "), name, ConfigFileName(name.Env, ""))
	}
	return nil
}

// definitionDiff names the settings of a version that differ between two
// configs; what moves traffic or judges it, and a promoted image, are not
// a version's settings, and secret variables cannot be compared.
func definitionDiff(a, b *Config) []string {
	strip := func(c Config) Config {
		c.Traffic, c.TrafficGiven, c.ExpectTraffic, c.Analysis, c.Image, c.Retention = Traffic{}, false, nil, Analysis{}, "", 0
		if c.EnvironmentSecret {
			c.Environment = nil
		}
		return c
	}
	keys := map[string]string{
		"Platform": KeyPlatform, "AppPath": KeyAppPath, "AppPort": KeyAppPort, "Replicas": KeyReplicas,
		"Environment": KeyEnvironment, "EnvironmentSecret": KeyEnvironment, "HealthCheckPath": KeyHealthCheckPath,
		"HealthCheckCommand": KeyHealthCheck, "Settings": "the platform's own keys",
	}
	x, y := reflect.ValueOf(strip(*a)), reflect.ValueOf(strip(*b))
	var diff []string
	for i := range x.NumField() {
		if reflect.DeepEqual(x.Field(i).Interface(), y.Field(i).Interface()) {
			continue
		}
		k := keys[x.Type().Field(i).Name]
		if k == "" {
			k = x.Type().Field(i).Name
		}
		if !slices.Contains(diff, k) {
			diff = append(diff, k)
		}
	}
	return diff
}

// sameApp refuses to update a version stack whose app changed since the
// stack was made: a plain pulumi up -s <env>.<version> after a change of
// the code would replace the version's image and containers in place,
// the live version's too. A preview shows those replacements; an update
// stops here, before it changes anything. The stack reads its own last
// outputs (none on its first update).
func sameApp(ctx *pulumi.Context, name StackName, digest string) error {
	self, err := pulumi.NewStackReference(ctx, "self", &pulumi.StackReferenceArgs{Name: pulumi.String(StackReferenceName(ctx, name))})
	if err != nil {
		return fmt.Errorf("reading version stack %s's last outputs: %w", name, err)
	}
	if digest != "" {
		ctx.Export(OutAppDigest, pulumi.String(digest))
	}
	if ctx.DryRun() {
		return nil
	}
	prev, err := self.GetOutputDetails(OutAppDigest)
	if err != nil {
		return fmt.Errorf("reading version stack %s's last outputs: %w", name, err)
	}
	was, _ := prev.Value.(string)
	if was == "" || was == digest {
		return nil
	}
	return fmt.Errorf("version stack %s was built from other app sources than the ones here (build context digest %.12s, now %.12s), and a version is never changed: deploy the change as a new version (pulumi stack init %s.<new version> and pulumi up -s %s.<new version> --config-file %s, or phoenix deploy --env %s); to run %s as it was, check out the sources it was built from",
		name, was, digest, name.Env, name.Env, ConfigFileName(name.Env, ""), name.Env, name)
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

// RefString reads a string output of another stack, failing with a message
// that names the stack and the output when it is missing.
func RefString(ref *pulumi.StackReference, stack StackName, key string) pulumi.StringOutput {
	return ref.GetOutput(pulumi.String(key)).ApplyT(func(v any) (string, error) {
		s, ok := v.(string)
		if !ok || s == "" {
			return "", missingOutput(stack, key)
		}
		return s, nil
	}).(pulumi.StringOutput)
}

// RefStrings reads a list-of-strings output of another stack.
func RefStrings(ref *pulumi.StackReference, stack StackName, key string) pulumi.StringArrayOutput {
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
