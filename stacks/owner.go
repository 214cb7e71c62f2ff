package stacks

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Label keys that say whose a Docker resource is. An env's name is not
// enough: two checkouts with an env "dev" each, on one Docker engine, must
// not take each other's containers for orphans. The Pulumi project and the
// state backend that holds the stacks tell them apart.
const (
	LabelProject = "phoenix.project"
	LabelBackend = "phoenix.backend"
)

// Tag keys that say whose an AWS resource is, as the labels do on Docker:
// two projects (or two backends) with an env "prod" in one account must
// not take each other's resources for orphans.
const (
	TagProject = "phoenix:project"
	TagBackend = "phoenix:backend"
)

// Owner is whose an env's resources are: the Pulumi project and the state
// backend (BackendID) that hold its stacks. The zero Owner is that of an env
// created before phoenix labelled owners: its resources carry no owner
// labels, and it keeps them unlabelled until it is destroyed.
type Owner struct {
	Project string `json:"project"`
	Backend string `json:"backend"`
}

// Labels returns the owner's labels; none for the zero Owner.
func (o Owner) Labels() map[string]string {
	if o == (Owner{}) {
		return nil
	}
	return map[string]string{LabelProject: o.Project, LabelBackend: o.Backend}
}

// Owns reports whether a resource with these labels is the owner's: both
// owner labels equal (a missing label reads as empty, so the zero Owner owns
// only unlabelled resources, never another owner's).
func (o Owner) Owns(labels map[string]string) bool {
	return labels[LabelProject] == o.Project && labels[LabelBackend] == o.Backend
}

// Tags returns the owner's AWS tags; none for the zero Owner. A value
// keeps to the characters and length AWS allows in a tag value (a file
// backend's folder may hold others): each other character is written "_".
func (o Owner) Tags() map[string]string {
	if o == (Owner{}) {
		return nil
	}
	return map[string]string{TagProject: tagValue(o.Project), TagBackend: tagValue(o.Backend)}
}

// OwnsTags reports whether a resource with these AWS tags is the owner's,
// as Owns does for labels.
func (o Owner) OwnsTags(tags map[string]string) bool {
	mine := o.Tags()
	return tags[TagProject] == mine[TagProject] && tags[TagBackend] == mine[TagBackend]
}

// maxTagValue is the longest value AWS allows in a tag.
const maxTagValue = 256

// tagValue writes s as an AWS tag value: letters, digits, spaces and
// + - = . _ : / @ only, at most 256 characters.
func tagValue(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxTagValue {
			break
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || strings.ContainsRune("+-=._:/@", r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		n++
	}
	return b.String()
}

func (o Owner) String() string {
	if o == (Owner{}) {
		return "no owner labels"
	}
	return fmt.Sprintf("%s=%s %s=%s", LabelProject, o.Project, LabelBackend, o.Backend)
}

// BackendID is how a state backend URL is written in the phoenix.backend
// label: the place that holds the stacks, without query parameters (which
// say how to reach it, and vary between machines) or credentials. A file://
// backend is its absolute folder; a bucket is scheme://bucket/prefix; Pulumi
// Cloud (an http(s) URL, or none) is its host and the organization.
func BackendID(backend, org string) string {
	if backend == "" {
		backend = "https://api.pulumi.com"
	}
	u, err := url.Parse(backend)
	if err != nil {
		return backend
	}
	switch u.Scheme {
	case "file":
		p := u.Host + u.Path
		if u.Host == "localhost" {
			p = u.Path
		}
		if rest, ok := strings.CutPrefix(p, "~"); ok {
			if home, err := os.UserHomeDir(); err == nil {
				p = filepath.Join(home, rest)
			}
		}
		return "file://" + filepath.Clean(p)
	case "http", "https":
		return u.Scheme + "://" + u.Host + "/" + org
	default:
		return u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/")
	}
}

// currentBackend is the backend the Pulumi CLI runs this program against,
// found as the CLI finds it: PULUMI_BACKEND_URL, else the project's
// backend.url in Pulumi.yaml, else the one `pulumi login` stored.
func currentBackend(root string) string {
	if b := os.Getenv("PULUMI_BACKEND_URL"); b != "" {
		return b
	}
	if p, err := workspace.LoadProject(filepath.Join(root, "Pulumi.yaml")); err == nil && p.Backend != nil && p.Backend.URL != "" {
		return p.Backend.URL
	}
	if creds, err := workspace.GetStoredCredentials(); err == nil {
		return creds.Current
	}
	return ""
}

// envOwner returns the owner of the env stack being updated: the one its
// last update recorded; none for an env that was created unlabelled; for a
// new env, this project and backend.
func envOwner(ctx *pulumi.Context, self *pulumi.StackReference, name StackName, backend string) (Owner, error) {
	prev, err := self.GetOutputDetails(OutOwner)
	if err != nil {
		return Owner{}, fmt.Errorf("reading env stack %s's owner: %w", name, err)
	}
	if o, ok := ownerOf(prev.Value); ok {
		return o, nil
	}
	platform, err := self.GetOutputDetails(OutPlatform)
	if err != nil {
		return Owner{}, fmt.Errorf("reading env stack %s's outputs: %w", name, err)
	}
	if platform.Value != nil {
		return Owner{}, nil // updated before: created unlabelled
	}
	return Owner{Project: ctx.Project(), Backend: BackendID(backend, ctx.Organization())}, nil
}

// versionOwner returns the owner of a version stack: its env's.
func versionOwner(ref *pulumi.StackReference, env StackName) (Owner, error) {
	d, err := ref.GetOutputDetails(OutOwner)
	if err != nil {
		return Owner{}, fmt.Errorf("reading env stack %s's owner: %w", env, err)
	}
	o, _ := ownerOf(d.Value)
	return o, nil
}

// OwnerOf reads an Owner from the env stack's OutOwner output as the
// backend returns it.
func OwnerOf(v any) Owner {
	o, _ := ownerOf(v)
	return o
}

func ownerOf(v any) (Owner, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return Owner{}, false
	}
	p, _ := m["project"].(string)
	b, _ := m["backend"].(string)
	if p == "" || b == "" {
		return Owner{}, false
	}
	return Owner{Project: p, Backend: b}, true
}

func exportOwner(ctx *pulumi.Context, o Owner) {
	if o == (Owner{}) {
		return
	}
	ctx.Export(OutOwner, pulumi.StringMap{"project": pulumi.String(o.Project), "backend": pulumi.String(o.Backend)})
}
