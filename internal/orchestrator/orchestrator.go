// Package orchestrator drives the env and version stacks of Phoenix with the
// Pulumi Automation API, running stacks.Program as an inline program: it
// deploys versions, moves traffic, rolls back, reports and collects
// garbage. It holds no terminal concerns; the CLI (cmd/phoenix) renders what
// it returns.
package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optremove"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/phoenix-iac/phoenix/internal/analysis"
	"github.com/phoenix-iac/phoenix/internal/lock"
	"github.com/phoenix-iac/phoenix/stacks"
)

// ProjectName is the Pulumi project every Phoenix stack belongs to.
const ProjectName = "phoenix"

// Options configure an Orchestrator.
type Options struct {
	// ProjectDir holds Pulumi.yaml and the envs' Pulumi.<env>.yaml. Required.
	ProjectDir string
	// Pulumi is the CLI to run. Required.
	Pulumi auto.PulumiCommand
	// EnvVars go to every Pulumi command: backend URL, passphrase, home.
	EnvVars map[string]string
	// SecretsProvider for new stacks; empty means passphrase.
	SecretsProvider string
	// Program is the Pulumi program; default stacks.Program for ProjectDir.
	Program pulumi.RunFunc
	// LockDir holds the env locks. Required.
	LockDir string
	// Progress receives the engine's progress; nil keeps it quiet.
	Progress io.Writer
	// Log receives one line per phoenix step; nil keeps it quiet.
	Log io.Writer
	// HTTPClient makes the health-gate requests; default one with a 5 s timeout.
	HTTPClient *http.Client
	// User names who acts, for history; default $USER.
	User string
	// Color is the engine's color mode: always, never, raw or auto (default).
	Color string
	// AnalysisSource opens the records of an env's traffic for the canary
	// analysis; default the platform's (Caddy's access log on docker).
	AnalysisSource func(ctx context.Context, env string, st EnvState, since time.Time) (analysis.Source, error)
}

// Orchestrator drives one project's stacks.
type Orchestrator struct {
	opts Options
}

// New returns an Orchestrator.
func New(opts Options) (*Orchestrator, error) {
	if opts.ProjectDir == "" || opts.LockDir == "" {
		return nil, errors.New("orchestrator: ProjectDir and LockDir are required")
	}
	if opts.Pulumi == nil {
		return nil, errors.New("orchestrator: a Pulumi command is required")
	}
	if _, err := os.Stat(filepath.Join(opts.ProjectDir, "Pulumi.yaml")); err != nil {
		return nil, fmt.Errorf("%s holds no Pulumi.yaml: run phoenix from the project directory or pass --project", opts.ProjectDir)
	}
	if opts.Program == nil {
		opts.Program = stacks.ProgramIn(opts.ProjectDir)
	}
	opts.Pulumi = leanPulumi{opts.Pulumi}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if opts.User == "" {
		opts.User = os.Getenv("USER")
	}
	if opts.User == "" {
		opts.User = "unknown"
	}
	return &Orchestrator{opts: opts}, nil
}

func (o *Orchestrator) logf(format string, args ...any) {
	if o.opts.Log != nil {
		fmt.Fprintf(o.opts.Log, format+"\n", args...)
	}
}

// Traffic is where an env sends requests.
type Traffic = stacks.Traffic

// workspace returns a workspace on the project directory.
func (o *Orchestrator) workspace(ctx context.Context) (auto.Workspace, error) {
	opts := []auto.LocalWorkspaceOption{
		auto.WorkDir(o.opts.ProjectDir),
		auto.Program(o.opts.Program),
		auto.Pulumi(o.opts.Pulumi),
		auto.EnvVars(o.opts.EnvVars),
	}
	if o.opts.SecretsProvider != "" {
		opts = append(opts, auto.SecretsProvider(o.opts.SecretsProvider))
	}
	return auto.NewLocalWorkspace(ctx, opts...)
}

// stackNames lists the project's stacks with their summaries.
func (o *Orchestrator) stackNames(ctx context.Context) (map[string]auto.StackSummary, error) {
	ws, err := o.workspace(ctx)
	if err != nil {
		return nil, err
	}
	list, err := ws.ListStacks(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing stacks: %w", err)
	}
	out := map[string]auto.StackSummary{}
	for _, s := range list {
		out[shortName(s.Name)] = s
	}
	return out, nil
}

// selectStack returns an existing stack, with its state record; err
// satisfies isNotFound when there is no such stack. Every command phoenix
// runs on a stack names it (--stack), so nothing is selected in the
// workspace: the one CLI call is the export that reads the state.
func (o *Orchestrator) selectStack(ctx context.Context, name stacks.StackName) (auto.Stack, stackRecord, error) {
	ws, err := o.workspace(ctx)
	if err != nil {
		return auto.Stack{}, stackRecord{}, err
	}
	rec, err := o.readRecord(ctx, name)
	if err != nil {
		return auto.Stack{}, rec, err
	}
	s, err := auto.SelectStack(ctx, name.String(), noSelect{ws})
	return s, rec, err
}

// noSelect is a workspace whose SelectStack does nothing: phoenix names the
// stack in every command, and selecting one costs a CLI run.
type noSelect struct{ auto.Workspace }

func (noSelect) SelectStack(context.Context, string) error { return nil }

// errNoStack is returned, wrapped, for a stack that does not exist.
var errNoStack = errors.New("no such stack")

// isNotFound reports whether err says a stack does not exist.
func isNotFound(err error) bool {
	return errors.Is(err, errNoStack) || auto.IsSelectStack404Error(err)
}

// createStack creates a stack; a version stack first gets the env's config
// file, so that both share one secrets salt.
func (o *Orchestrator) createStack(ctx context.Context, name stacks.StackName) (auto.Stack, error) {
	if name.IsVersion() {
		if err := o.writeVersionConfig(name); err != nil {
			return auto.Stack{}, err
		}
	}
	ws, err := o.workspace(ctx)
	if err != nil {
		return auto.Stack{}, err
	}
	s, err := auto.NewStack(ctx, name.String(), ws)
	if err != nil {
		return s, fmt.Errorf("creating stack %s: %w", name, err)
	}
	return s, nil
}

// envConfigPath is the env's own config file.
func (o *Orchestrator) envConfigPath(env string) string {
	return filepath.Join(o.opts.ProjectDir, "Pulumi."+env+".yaml")
}

// readEnvConfig parses the env's config file.
func (o *Orchestrator) readEnvConfig(env string) (*yaml.Node, error) {
	b, err := os.ReadFile(o.envConfigPath(env))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("env %s has no config file %s; create one (copy Pulumi.dev.yaml) to define it", env, o.envConfigPath(env))
		}
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", o.envConfigPath(env), err)
	}
	if len(doc.Content) == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	return &doc, nil
}

// writeVersionConfig writes a version stack's config file: a copy of the env's.
func (o *Orchestrator) writeVersionConfig(name stacks.StackName) error {
	b, err := os.ReadFile(o.envConfigPath(name.Env))
	if err != nil {
		return fmt.Errorf("env %s has no config file: %w", name.Env, err)
	}
	return os.WriteFile(filepath.Join(o.opts.ProjectDir, "Pulumi."+name.String()+".yaml"), b, 0o644)
}

// envConfigFile writes the env stack's config for one update: the env's own
// file plus the traffic keys, which live in the env stack's outputs rather
// than in the user's file. It returns the file's path.
func (o *Orchestrator) envConfigFile(env string, t Traffic) (string, error) {
	doc, err := o.readEnvConfig(env)
	if err != nil {
		return "", err
	}
	root := doc.Content[0]
	cfg := mapValue(root, "config")
	if cfg == nil {
		cfg = &yaml.Node{Kind: yaml.MappingNode}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "config"}, cfg)
	}
	setScalar(cfg, stacks.KeyLive, t.Live)
	setScalar(cfg, stacks.KeyCandidate, t.Candidate)
	setScalar(cfg, stacks.KeyCandidateWeight, fmt.Sprint(t.CandidateWeight))
	b, err := yaml.Marshal(doc)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(o.opts.ProjectDir, ".phoenix", "work")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, "Pulumi."+env+".yaml")
	return p, os.WriteFile(p, b, 0o644)
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func setScalar(m *yaml.Node, key, value string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Value: value, Style: yaml.DoubleQuotedStyle}
			return
		}
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Value: value, Style: yaml.DoubleQuotedStyle})
}

// upOpts returns the options of every up: progress, color, no outputs.
func (o *Orchestrator) upOpts(extra ...optup.Option) []optup.Option {
	if o.opts.Progress != nil {
		extra = append(extra, optup.ProgressStreams(o.opts.Progress))
	} else {
		extra = append(extra, optup.SuppressProgress())
	}
	if o.opts.Color != "" {
		extra = append(extra, optup.Color(o.opts.Color))
	}
	return append(extra, optup.SuppressOutputs())
}

func (o *Orchestrator) destroyOpts(extra ...optdestroy.Option) []optdestroy.Option {
	if o.opts.Progress != nil {
		extra = append(extra, optdestroy.ProgressStreams(o.opts.Progress))
	} else {
		extra = append(extra, optdestroy.SuppressProgress())
	}
	if o.opts.Color != "" {
		extra = append(extra, optdestroy.Color(o.opts.Color))
	}
	return extra
}

// EnvState is an env stack as it stands.
type EnvState struct {
	// Exists is false when the env stack has never been deployed.
	Exists bool
	// Traffic is the current traffic pointer.
	Traffic Traffic
	// URL is where the env answers.
	URL string
	// Platform is docker or aws.
	Platform string
	// Retention is how many non-live versions gc keeps.
	Retention int
	// LoadBalancer names the load balancer (stacks.OutLoadBalancer).
	LoadBalancer string
	// LogGroup is the aws platform's log group of the env's versions.
	LogGroup string
}

// envState reads an env stack's outputs.
func (o *Orchestrator) envState(ctx context.Context, env string) (EnvState, auto.Stack, error) {
	st, s, _, err := o.envStateAndRecord(ctx, env)
	return st, s, err
}

// envStateAndRecord reads an env stack's outputs, and returns its state
// record too, from which repair reads the pending operations.
func (o *Orchestrator) envStateAndRecord(ctx context.Context, env string) (EnvState, auto.Stack, stackRecord, error) {
	name := stacks.StackName{Env: env}
	s, rec, err := o.selectStack(ctx, name)
	if isNotFound(err) {
		return EnvState{}, auto.Stack{}, stackRecord{}, nil
	}
	if err != nil {
		return EnvState{}, auto.Stack{}, stackRecord{}, err
	}
	outs := rec.Outputs
	if len(outs) == 0 {
		return EnvState{}, s, rec, nil
	}
	str := func(k string) string {
		v, _ := outs[k].(string)
		return v
	}
	num := func(k string) int {
		v, _ := outs[k].(float64)
		return int(v)
	}
	return EnvState{
		Exists:       true,
		Traffic:      Traffic{Live: str(stacks.OutLive), Candidate: str(stacks.OutCandidate), CandidateWeight: num(stacks.OutCandidateWeight)},
		URL:          str(stacks.OutURL),
		Platform:     str(stacks.OutPlatform),
		Retention:    num(stacks.OutRetention),
		LoadBalancer: str(stacks.OutLoadBalancer),
		LogGroup:     str(stacks.OutLogGroupName),
	}, s, rec, nil
}

// envForChange returns the env stack's state, after repairing what an
// interrupted command left in it.
func (o *Orchestrator) envForChange(ctx context.Context, env string) (EnvState, auto.Stack, error) {
	st, s, rec, err := o.envStateAndRecord(ctx, env)
	if err != nil || s.Name() == "" {
		return st, s, err
	}
	if err := o.repairRecord(ctx, s, stacks.StackName{Env: env}, rec); err != nil {
		return st, s, err
	}
	return st, s, nil
}

// ensureEnv creates or updates the env stack when it has never been
// deployed (or its first up failed), and returns its state.
func (o *Orchestrator) ensureEnv(ctx context.Context, env string) (EnvState, auto.Stack, error) {
	st, s, err := o.envForChange(ctx, env)
	if err != nil || st.Exists {
		return st, s, err
	}
	o.logf("creating env stack %s", env)
	if s.Name() == "" {
		if s, err = o.createStack(ctx, stacks.StackName{Env: env}); err != nil {
			return st, s, err
		}
	}
	if _, err := o.setTraffic(ctx, s, env, Traffic{}, trafficNote{Op: "create"}); err != nil {
		return st, s, fmt.Errorf("creating env stack %s: %w", env, err)
	}
	st, s, err = o.envState(ctx, env)
	return st, s, err
}

// trafficNote is written into the message of every env stack update that
// phoenix makes, so that history can tell cut-overs and rollbacks apart.
type trafficNote struct {
	Op   string // create, candidate, canary, promote, rollback, clear
	From string
	To   string
	// Why is the analysis that decided the change, if any.
	Why string
}

const notePrefix = "phoenix "

func (n trafficNote) message(env, user string, t Traffic) string {
	msg := fmt.Sprintf("%s%s env=%s from=%s to=%s live=%s candidate=%s weight=%d by=%s",
		notePrefix, n.Op, env, dash(n.From), dash(n.To), dash(t.Live), dash(t.Candidate), t.CandidateWeight, user)
	if n.Why != "" {
		msg += " why=" + url.QueryEscape(n.Why)
	}
	return msg
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// setTraffic updates the env stack with traffic t.
func (o *Orchestrator) setTraffic(ctx context.Context, s auto.Stack, env string, t Traffic, note trafficNote) (auto.UpResult, error) {
	path, err := o.envConfigFile(env, t)
	if err != nil {
		return auto.UpResult{}, err
	}
	return withStackLock(o, ctx, stacks.StackName{Env: env}, func() (auto.UpResult, error) {
		return s.Up(resultless(ctx), o.upOpts(optup.ConfigFile(path), optup.Message(note.message(env, o.opts.User, t)))...)
	})
}

// VersionInfo describes one version stack.
type VersionInfo struct {
	Version string `json:"version"`
	Stack   string `json:"stack"`
	// LastUpdate is the stack's last update, a refresh (a rollback's
	// drift check) included.
	LastUpdate time.Time `json:"lastUpdate,omitempty"`
	// Deployed is when the version was first routed (as the candidate of
	// its deploy), from the env's history; zero when it never was.
	Deployed  time.Time `json:"deployed,omitempty"`
	Resources int       `json:"resources"`
	Role      string    `json:"role"` // live, candidate, previous, warm, incomplete
	// Complete is false for a version stack whose first up failed or was
	// interrupted: it is not a version that can take traffic.
	Complete bool `json:"complete"`
}

// versions lists the version stacks of env, newest first.
func (o *Orchestrator) versions(ctx context.Context, env string) ([]VersionInfo, error) {
	names, err := o.stackNames(ctx)
	if err != nil {
		return nil, err
	}
	complete, err := o.completeStacks(ctx)
	if err != nil {
		return nil, err
	}
	var out []VersionInfo
	for name, sum := range names {
		sn, err := stacks.ParseStackName(name)
		if err != nil || sn.Env != env || !sn.IsVersion() {
			continue
		}
		v := VersionInfo{Version: sn.Version, Stack: name, Role: "warm", Complete: complete[name]}
		if !v.Complete {
			// Untagged: incomplete, or complete but interrupted before its
			// tag was set, or deployed with a plain pulumi up.
			_, rec, err := o.selectStack(ctx, sn)
			if err != nil {
				return nil, err
			}
			v.Complete = rec.complete()
		}
		if !v.Complete {
			v.Role = "incomplete"
		}
		if sum.ResourceCount != nil {
			v.Resources = *sum.ResourceCount
		}
		if t, err := time.Parse(time.RFC3339, sum.LastUpdate); err == nil {
			v.LastUpdate = t
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastUpdate.Equal(out[j].LastUpdate) {
			return out[i].LastUpdate.After(out[j].LastUpdate)
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

func warmList(vs []VersionInfo, except ...string) string {
	var names []string
	for _, v := range vs {
		skip := v.Resources == 0 || !v.Complete
		for _, e := range except {
			skip = skip || v.Version == e
		}
		if !skip {
			names = append(names, v.Version)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// destroyVersion destroys a version stack and removes it.
func (o *Orchestrator) destroyVersion(ctx context.Context, name stacks.StackName) error {
	s, rec, err := o.selectStack(ctx, name)
	if err != nil {
		return err
	}
	if err := o.repairRecord(ctx, s, name, rec); err != nil {
		return err
	}
	if _, err := withStackLock(o, ctx, name, func() (auto.DestroyResult, error) {
		return s.Destroy(ctx, o.destroyOpts()...)
	}); err != nil {
		return fmt.Errorf("destroying %s: %w", name, err)
	}
	if err := o.removeStack(ctx, name); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(o.opts.ProjectDir, "Pulumi."+name.String()+".yaml"))
	return nil
}

// removeStack removes an empty stack from the backend. `pulumi stack rm`
// also deletes the stack's config file, which for an env stack is the
// user's own Pulumi.<env>.yaml: so it runs in a scratch directory.
func (o *Orchestrator) removeStack(ctx context.Context, name stacks.StackName) error {
	scratch, err := os.MkdirTemp("", "phoenix-rm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	project, err := os.ReadFile(filepath.Join(o.opts.ProjectDir, "Pulumi.yaml"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(scratch, "Pulumi.yaml"), project, 0o644); err != nil {
		return err
	}
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(scratch), auto.Program(o.opts.Program),
		auto.Pulumi(o.opts.Pulumi), auto.EnvVars(o.opts.EnvVars))
	if err != nil {
		return err
	}
	if err := ws.RemoveStack(ctx, name.String(), optremove.Force()); err != nil {
		return fmt.Errorf("removing stack %s: %w", name, err)
	}
	return nil
}

// lock takes the env's lock for command, taking over the lock of a dead
// holder on this host with a line that names it.
func (o *Orchestrator) lock(env, command string, wait time.Duration) (*lock.Lock, error) {
	l, err := lock.Acquire(o.opts.LockDir, env, command, lock.Options{Wait: wait})
	if err != nil {
		return nil, err
	}
	if h := l.TookOver; h != nil {
		o.logf("took over the lock of env %s from phoenix %s (pid %d, %s@%s, since %s), which is gone; anything it left half done is repaired on the way",
			env, h.Command, h.PID, h.User, h.Host, h.Since.Format(time.RFC3339))
	}
	return l, nil
}

// stackNameOf returns the name of a stack that phoenix selected or created.
func stackNameOf(s auto.Stack) stacks.StackName {
	sn, _ := stacks.ParseStackName(shortName(s.Name()))
	return sn
}

// shortName drops the organization and project from a fully qualified
// stack name ("organization/phoenix/dev" -> "dev").
func shortName(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// checkUnchanged previews an existing version stack and fails when the
// engine plans any change: a version stack is never updated.
func (o *Orchestrator) checkUnchanged(ctx context.Context, s auto.Stack) error {
	res, err := withStackLock(o, ctx, stackNameOf(s), func() (auto.PreviewResult, error) {
		return s.Preview(ctx, optpreview.SuppressProgress(), optpreview.SuppressOutputs())
	})
	if err != nil {
		return fmt.Errorf("previewing %s: %w", s.Name(), err)
	}
	var changes []string
	for op, n := range res.ChangeSummary {
		if op != "same" && op != "read" && n > 0 {
			changes = append(changes, fmt.Sprintf("%d %s", n, op))
		}
	}
	if len(changes) > 0 {
		sort.Strings(changes)
		return &ImmutableError{Stack: s.Name(), Changes: strings.Join(changes, ", ")}
	}
	return nil
}

// refreshUnchanged refreshes a version stack and fails when it found drift:
// a resource changed or gone in the cloud. The stack's reference to its env
// stack is not drift: it reads the env's traffic outputs, which move.
func (o *Orchestrator) refreshUnchanged(ctx context.Context, s auto.Stack) error {
	ch := make(chan events.EngineEvent)
	drifted := make(chan []string, 1)
	go func() {
		var out []string
		for e := range ch {
			// A refresh's outcome per resource is in its outputs event.
			if e.ResOutputsEvent == nil {
				continue
			}
			md := e.ResOutputsEvent.Metadata
			if md.Type == "pulumi:pulumi:StackReference" || md.Type == "pulumi:pulumi:Stack" {
				continue
			}
			if md.Op == apitype.OpUpdate || md.Op == apitype.OpDelete {
				name := resource.URN(md.URN).Name()
				out = append(out, fmt.Sprintf("%s %s (%s)", md.Op, name, strings.Join(md.Diffs, ", ")))
			}
		}
		drifted <- out
	}()
	_, err := withStackLock(o, ctx, stackNameOf(s), func() (auto.RefreshResult, error) {
		return s.Refresh(resultless(ctx), optrefresh.SuppressProgress(), optrefresh.SuppressOutputs(), optrefresh.EventStreams(ch))
	})
	var drift []string
	select {
	case drift = <-drifted:
	case <-time.After(time.Minute):
	}
	if err != nil {
		return fmt.Errorf("refreshing %s: %w", s.Name(), err)
	}
	if len(drift) > 0 {
		sort.Strings(drift)
		return &DriftError{Stack: s.Name(), Drift: strings.Join(drift, ", ")}
	}
	return nil
}
