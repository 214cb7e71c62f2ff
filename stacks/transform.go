package stacks

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Tag keys Phoenix puts on every AWS resource that takes tags, and label keys
// on every Docker resource that takes labels: the keys of Mark.Tags and
// Mark.Labels, which the platforms stamp.
const (
	TagEnv       = "phoenix:env"
	TagVersion   = "phoenix:version"
	LabelEnv     = "phoenix.env"
	LabelVersion = "phoenix.version"
)

const stackReferenceType = "pulumi:pulumi:StackReference"

// stamp is the stack transformation that makes every resource of a stack carry
// its env (and version) in tags or labels and, for a version stack, makes every
// resource immutable: replaceOnChanges ["*"] turns any change of any input into
// a replacement, never an update in place. Because it is registered on the
// stack, it applies to every resource, including those that components create,
// with no discipline needed in the components themselves.
type stamp struct {
	name     StackName
	platform Platform

	mu       sync.Mutex
	owner    Owner
	problems []string
}

func newStamp(name StackName, p Platform) *stamp { return &stamp{name: name, platform: p} }

func (s *stamp) register(ctx *pulumi.Context) error {
	return ctx.RegisterStackTransformation(s.transform)
}

func (s *stamp) transform(args *pulumi.ResourceTransformationArgs) *pulumi.ResourceTransformationResult {
	if args.Type == stackReferenceType {
		// A reference reads another stack; it creates nothing.
		return nil
	}
	if _, custom := args.Resource.(pulumi.CustomResource); !custom {
		if s.name.IsVersion() {
			s.checkName(args.Type, args.Name)
		}
		return nil
	}
	opts := args.Opts
	if s.name.IsVersion() {
		s.checkName(args.Type, args.Name)
		opts = append(opts, pulumi.ReplaceOnChanges([]string{"*"}))
	}
	if !slices.Contains(s.platform.Untaggable(), args.Type) {
		if err := s.platform.Stamp(args.Props, s.mark()); err != nil {
			s.report(fmt.Sprintf("%s %s: %v", args.Type, args.Name, err))
		}
	}
	return &pulumi.ResourceTransformationResult{Props: args.Props, Opts: opts}
}

func (s *stamp) checkName(typ, name string) {
	if !strings.Contains(name, s.name.Version) {
		s.report(fmt.Sprintf("%s %q: the name of a version stack's resource must contain the version %q; derive it from the component's name", typ, name, s.name.Version))
	}
}

// setOwner makes the resources registered from now on carry owner's
// labels. The programs set it before they register any resource.
func (s *stamp) setOwner(o Owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.owner = o
}

func (s *stamp) report(problem string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, problem)
}

// Err returns the problems found while stamping, if any.
func (s *stamp) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.problems) == 0 {
		return nil
	}
	sort.Strings(s.problems)
	return fmt.Errorf("stack %s breaks the immutability rules:\n  %s", s.name, strings.Join(s.problems, "\n  "))
}

// mark is what the stack's resources carry.
func (s *stamp) mark() Mark {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Mark{Env: s.name.Env, Version: s.name.Version, Owner: s.owner}
}

// Mark is what every resource of a stack carries, as its platform writes
// it (Platform.Stamp): its env, its version (a version stack's), and
// whose it is.
type Mark struct {
	Env string
	// Version is empty on the env stack's resources.
	Version string
	// Owner is zero for an env stack created before owners were marked.
	Owner Owner
}

// Tags is the mark as AWS tags (TagEnv, TagVersion and the owner's).
func (m Mark) Tags() map[string]string {
	t := m.Owner.Tags()
	if t == nil {
		t = map[string]string{}
	}
	t[TagEnv] = m.Env
	if m.Version != "" {
		t[TagVersion] = m.Version
	}
	return t
}

// Labels is the mark as Docker labels (LabelEnv, LabelVersion and the
// owner's).
func (m Mark) Labels() map[string]string {
	l := m.Owner.Labels()
	if l == nil {
		l = map[string]string{}
	}
	l[LabelEnv] = m.Env
	if m.Version != "" {
		l[LabelVersion] = m.Version
	}
	return l
}
