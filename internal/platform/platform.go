// Package platform defines what phoenix does with an env besides its
// stacks: the operations a platform (a stacks.Platform, registered in
// platforms/) may also implement. The orchestrator finds them on the
// registered platform by these interfaces; a platform without one says
// so, and phoenix names the next step.
package platform

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/phoenix-iac/phoenix/internal/analysis"
	"github.com/phoenix-iac/phoenix/stacks"
)

// Env is an env as its platform's operations see it.
type Env struct {
	// Name is the env's name.
	Name string
	// Outputs are the env stack's outputs, when it has any: each platform
	// reads the ones its Env exports (Output).
	Outputs map[string]any
	// Owner is whose the env's resources are: a platform that lists them
	// by label keeps to those Owner.Owns.
	Owner stacks.Owner
	// File is the env's config file.
	File *stacks.EnvFile
	// Getenv reads a variable the Pulumi CLI and its plugins see.
	Getenv func(string) string
	// Logf says one line of progress.
	Logf func(format string, args ...any)
	// VersionOutputs reads a version stack's outputs.
	VersionOutputs func(ctx context.Context, version string) (map[string]any, error)
}

// VersionImage is the image a version stack says it runs (its image
// output), as its deploy recorded it: a version stack without one is
// incomplete, or was made by an older phoenix.
func (e Env) VersionImage(ctx context.Context, version string) (string, error) {
	out, err := e.VersionOutputs(ctx, version)
	if err != nil {
		return "", err
	}
	ref, _ := out[stacks.OutImage].(string)
	if ref == "" {
		return "", fmt.Errorf("version stack %s.%s names no image (output %s): it is incomplete or was made by an older phoenix; deploy it again with: phoenix deploy --env %s",
			e.Name, version, stacks.OutImage, e.Name)
	}
	return ref, nil
}

// Output is the env stack's string output key; empty when it has none.
func (e Env) Output(key string) string {
	v, _ := e.Outputs[key].(string)
	return v
}

// Preflighter checks, before a command changes anything, that the
// platform's cloud answers (the Docker engine, for one).
type Preflighter interface {
	Preflight(ctx context.Context, env Env) error
}

// Analyzer opens the load balancer's records of the env's traffic from
// since, for the canary analysis.
type Analyzer interface {
	AnalysisSource(ctx context.Context, env Env, since time.Time) (analysis.Source, error)
}

// LogQuery selects a version's output.
type LogQuery struct {
	// Version is the version. Required.
	Version string
	// Since is the earliest time of the lines; zero for all.
	Since time.Time
	// Follow keeps streaming new lines until ctx ends.
	Follow bool
}

// LogLine is one line of a version's output.
type LogLine struct {
	Time time.Time `json:"time"`
	// Version is the version the line came from; Source the replica
	// (container or task) within it.
	Version string `json:"version"`
	Source  string `json:"source"`
	// Stream is stdout or stderr; empty where the two are one.
	Stream string `json:"stream,omitempty"`
	Line   string `json:"line"`
}

// LogReader streams a version's output: in time order once all is read,
// or with Follow as it comes until ctx ends (then it returns nil).
type LogReader interface {
	Logs(ctx context.Context, env Env, q LogQuery, out func(LogLine) error) error
}

// Object is something in a platform's cloud that carries an env's mark
// (stacks.Mark: docker's labels, for one).
type Object struct {
	// Kind is the platform's word for it: container, network, volume.
	Kind string
	ID   string
	Name string
	// Version is the version whose stack made it; empty for the env
	// stack's.
	Version string
	// Owner says whose it is, as its mark has it, for messages ("no
	// owner labels" for one made before owners were marked).
	Owner string
}

// Cloud lists and removes what carries an env's mark.
type Cloud interface {
	// List returns what carries env's mark: owner's, in an order in which
	// they can be removed one by one (what uses the others first), and
	// the others' (an env of the same name of another project or backend
	// on the same cloud), which phoenix leaves alone.
	List(ctx context.Context, env string, owner stacks.Owner) (mine, others []Object, err error)
	// Remove removes obj.
	Remove(ctx context.Context, obj Object) error
	// Marked says how env's objects are marked, for messages, such as
	// "labelled phoenix.env=dev".
	Marked(env string) string
}

// OwnerNamer is a Cloud that writes an owner its own way in messages
// (aws: as tags); without it, an owner is written as Docker labels.
type OwnerNamer interface {
	OwnerName(o stacks.Owner) string
}

// Inventory gives the cloud in which gc --orphans looks for what no stack
// holds. It returns an error wrapping ErrNoInventory, naming another way
// to list it, where phoenix cannot list it.
type Inventory interface {
	Inventory(env Env) (Cloud, error)
}

// Releaser removes what a version leaves outside its stack, once phoenix
// has destroyed the stack: what the platform's providers never delete
// (aws: the image pushed to ECR, which pulumi-docker's Image leaves). It
// runs with credentials got at that moment, never ones stored in state. A
// version with nothing left outside is no error.
type Releaser interface {
	Release(ctx context.Context, env Env, version string) error
}

// Detacher names the resources that a version stack may hold and that
// phoenix must not read or delete through their provider: what older
// releases of a platform put in version stacks that lives in the build
// machine's Docker or holds a credential that expires (aws: RemoteImage and
// RegistryImage). A refresh of a version stack leaves them out. Before a
// destroy, Detach edits a detached resource's recorded inputs and outputs
// (one property map each) so that its provider's delete leaves what it
// made, and Release removes that.
type Detacher interface {
	Detached(typ string) bool
	Detach(typ string, props map[string]any)
}

// PlannedStep is one step of a preview of the env's stacks, as a
// platform's rules see it.
type PlannedStep struct {
	// Op is create, update, replace or delete.
	Op string
	// Type and Name are the resource's.
	Type, Name string
	// Inputs are the resource's planned inputs.
	Inputs map[string]any
}

// Finding is a rule of the platform's cloud that a planned step breaks.
type Finding struct {
	// Rule names the rule, such as target-group-name.
	Rule string
	// Message says what breaks it, with the cloud's limit.
	Message string
}

// Reviewer checks planned steps against its cloud's limits, for phoenix
// preview: what the cloud would refuse half way through a deploy.
type Reviewer interface {
	Review(step PlannedStep) []Finding
}

// Diagnoser says why a version does not answer, from what the platform's
// scheduler recorded about it (aws: the ECS service's events and the
// reasons its tasks stopped). phoenix asks when a version fails its gate,
// before it destroys the version, and adds the lines to its message. A few
// lines, newest first; none when the scheduler recorded nothing.
type Diagnoser interface {
	Diagnose(ctx context.Context, env Env, version string) ([]string, error)
}

// Promoter runs a version's artifact in another env of the same platform,
// for phoenix promote: nothing is built again.
type Promoter interface {
	// Artifact returns the image that version of env runs, by digest
	// (docker: the image id; aws: repository@sha256:...), once it has
	// checked that the image can still be had. A version whose image is
	// gone is a *NotFoundError.
	Artifact(ctx context.Context, env Env, version string) (string, error)
	// Copy makes image, an Artifact of from's, available to env to, for
	// its version version, and returns the reference by digest that the
	// version stack runs (stacks.KeyImage). What is there already is no
	// error: a promotion that was interrupted runs it again.
	Copy(ctx context.Context, from, to Env, image, version string) (string, error)
}

// ErrNoPromotion says that a platform cannot promote: its Promoter's
// methods return it, wrapped, where a wrapper of a platform that has none
// implements the interface.
var ErrNoPromotion = errors.New("cannot promote an artifact")

// ErrNoInventory says that phoenix cannot list a platform's cloud.
var ErrNoInventory = errors.New("no inventory")

// NotFoundError says that something an operation needs does not exist;
// phoenix exits 6 for it.
type NotFoundError struct{ What string }

func (e *NotFoundError) Error() string { return e.What }
