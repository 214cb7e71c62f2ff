package stacks

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Platform is one place an env can run. It declares what an env stack and
// a version stack hold there, and says what phoenix needs to know about
// those resources. A platform is one package and one Register call
// (platforms/platforms.go registers Phoenix's own); nothing else switches
// on its name.
type Platform interface {
	// Name is the platform's phoenix:platform value.
	Name() PlatformName
	// Settings reads and validates the platform's own config keys with p
	// (Pulumi.yaml documents each one) and returns them as the platform's
	// typed settings, which become c.Settings. c holds the settings every
	// platform shares, for checks that span both.
	Settings(p *ConfigParser, c *Config) any
	// Env declares an env stack: the long-lived edge and the traffic
	// pointer for e.Traffic, and exports the outputs its version stacks
	// and phoenix read (e.ExportTraffic once the pointer applied it).
	Env(ctx *pulumi.Context, e *EnvStack) error
	// Version declares a version stack, from the env stack's outputs, and
	// exports its outputs (v.ExportComplete once every resource exists).
	Version(ctx *pulumi.Context, v *VersionStack) error
	// TrafficComponent is the type of the component that holds the
	// traffic pointer: the resources under it, and only those, change at a
	// cut-over.
	TrafficComponent() string
	// Plugins are the provider plugins the platform's resources need,
	// name to version.
	Plugins() map[string]string
	// Stamp writes m into the arguments of one of the platform's
	// resources as its provider takes it (tags, labels); it fails for a
	// type it cannot stamp, so that no new type goes unmarked.
	Stamp(props pulumi.Input, m Mark) error
	// Untaggable lists resource types of the platform that carry neither
	// tags nor labels in their provider: they carry the version in their
	// name only, and Stamp never sees them.
	Untaggable() []string
}

// Exampled is a Platform with config keys that have no default: Example
// gives a value for each, the smallest config an env on the platform
// needs besides the shared keys (tests and scaffolding start from it).
type Exampled interface {
	Example() map[string]string
}

var (
	platformsMu sync.RWMutex
	platforms   = map[PlatformName]Platform{}
)

// Register makes a platform available under its name. It panics when the
// name is taken: two platforms cannot answer to one phoenix:platform.
func Register(p Platform) {
	platformsMu.Lock()
	defer platformsMu.Unlock()
	if _, taken := platforms[p.Name()]; taken {
		panic(fmt.Sprintf("stacks: platform %q registered twice", p.Name()))
	}
	platforms[p.Name()] = p
}

// LookupPlatform returns the registered platform named name.
func LookupPlatform(name PlatformName) (Platform, error) {
	platformsMu.RLock()
	p, ok := platforms[name]
	platformsMu.RUnlock()
	if ok {
		return p, nil
	}
	return nil, fmt.Errorf("platform %q is not one phoenix knows (%s)", name, strings.Join(PlatformNames(), ", "))
}

// PlatformNames lists the registered platforms, the default first.
func PlatformNames() []string {
	platformsMu.RLock()
	defer platformsMu.RUnlock()
	var names []string
	for n := range platforms {
		if n != DefaultPlatform {
			names = append(names, string(n))
		}
	}
	sort.Strings(names)
	if _, ok := platforms[DefaultPlatform]; ok {
		names = append([]string{string(DefaultPlatform)}, names...)
	}
	return names
}

// EnvStack is what a platform's Env gets.
type EnvStack struct {
	// Root is the project directory, against which build contexts resolve.
	Root string
	// Name is the env stack's name; Config its validated config.
	Name   StackName
	Config *Config
	// Traffic is the pointer to declare: the config's, or the one the env
	// stack last exported when an update sets none (a plain pulumi up).
	Traffic Traffic
	// RouteKey is the value header.Key must have for a request to take the
	// candidate route or a version route. It is a secret: whatever holds
	// it must be a pulumi secret (RouteKeySecret).
	RouteKey string
	refs     map[string]*pulumi.StackReference
	ctx      *pulumi.Context
}

// VersionRef reads a version stack's outputs, one StackReference each.
func (e *EnvStack) VersionRef(version string) (*pulumi.StackReference, error) {
	if ref, ok := e.refs[version]; ok {
		return ref, nil
	}
	stack := StackName{Env: e.Name.Env, Version: version}
	ref, err := pulumi.NewStackReference(e.ctx, StackReferenceName(e.ctx, stack), nil)
	if err != nil {
		return nil, fmt.Errorf("reading version stack %s: %w", stack, err)
	}
	e.refs[version] = ref
	return ref, nil
}

// VersionString reads a string output of a version stack.
func (e *EnvStack) VersionString(version, key string) (pulumi.StringOutput, error) {
	ref, err := e.VersionRef(version)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	return RefString(ref, StackName{Env: e.Name.Env, Version: version}, key), nil
}

// VersionStrings reads a list-of-strings output of a version stack.
func (e *EnvStack) VersionStrings(version, key string) (pulumi.StringArrayOutput, error) {
	ref, err := e.VersionRef(version)
	if err != nil {
		return pulumi.StringArrayOutput{}, err
	}
	return RefStrings(ref, StackName{Env: e.Name.Env, Version: version}, key), nil
}

// Routed reads, with read, what the traffic pointer needs of the live and
// the candidate version: nil for a role no version has.
func Routed[T any](t Traffic, read func(version string) (*T, error)) (live, candidate *T, err error) {
	if t.Live != "" {
		if live, err = read(t.Live); err != nil {
			return nil, nil, err
		}
	}
	if t.Candidate != "" {
		if candidate, err = read(t.Candidate); err != nil {
			return nil, nil, err
		}
	}
	return live, candidate, nil
}

// ExportTraffic exports the traffic once the pointer applied it (applied
// resolves when the pointer's resource exists): after a failed pointer
// update the env stack's outputs still name the traffic that the load
// balancer serves, and after a failed first update the env stack has no
// outputs at all, so it does not count as deployed.
func (e *EnvStack) ExportTraffic(applied pulumi.StringOutput) {
	exportTraffic(e.ctx, applied, e.Traffic)
}

// VersionStack is what a platform's Version gets.
type VersionStack struct {
	// Root is the project directory; Name the version stack's name;
	// Config its validated config.
	Root   string
	Name   StackName
	Config *Config
	// Component names the version's component: <env>-<version>.
	Component string
	// AppDigest is the hash of the app's build context (its files after
	// .dockerignore), which a build-from-path resource must be replaced
	// on; "" for a promoted version, which builds nothing.
	AppDigest string
	envRef    *pulumi.StackReference
	ctx       *pulumi.Context
}

// EnvString reads a string output of the env stack.
func (v *VersionStack) EnvString(key string) pulumi.StringOutput {
	return RefString(v.envRef, v.Name.EnvStack(), key)
}

// RouteKey returns the env's route key (header.Key), which the version's
// own route must require, or "" for an env stack that has none yet (made
// by an older phoenix: its routes were unguarded, and the version's is
// too). It is a secret: whatever holds it must be a pulumi secret.
func (v *VersionStack) RouteKey() (string, error) {
	return readRouteKey(v.envRef, v.Name.EnvStack())
}

// EnvStringOr reads a string output of the env stack, or, when the env
// stack has no such output (an env stack an older phoenix made), the
// output named fallback; with fallback "", the empty string.
func (v *VersionStack) EnvStringOr(key, fallback string) pulumi.StringOutput {
	other := fallback
	if other == "" {
		other = key
	}
	return pulumi.All(v.envRef.GetOutput(pulumi.String(key)), v.envRef.GetOutput(pulumi.String(other))).ApplyT(func(xs []any) (string, error) {
		if s, ok := xs[0].(string); ok && s != "" {
			return s, nil
		}
		if fallback == "" {
			return "", nil
		}
		if s, ok := xs[1].(string); ok && s != "" {
			return s, nil
		}
		return "", missingOutput(v.Name.EnvStack(), fallback)
	}).(pulumi.StringOutput)
}

// EnvStrings reads a list-of-strings output of the env stack.
func (v *VersionStack) EnvStrings(key string) pulumi.StringArrayOutput {
	return RefStrings(v.envRef, v.Name.EnvStack(), key)
}

// ExportComplete exports the version once all of its resources exist
// (complete resolves when the last one does): a version stack with the
// output is complete, one without it is not.
func (v *VersionStack) ExportComplete(complete pulumi.StringOutput) {
	exportComplete(v.ctx, complete, v.Name)
}

// Untaggable reports whether resources of type t carry neither tags
// nor labels on any registered platform.
func Untaggable(t string) bool {
	platformsMu.RLock()
	defer platformsMu.RUnlock()
	for _, p := range platforms {
		for _, u := range p.Untaggable() {
			if u == t {
				return true
			}
		}
	}
	return false
}
