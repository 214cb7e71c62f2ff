// Package orchestrator drives the env and version stacks of Phoenix with the
// Pulumi Automation API, running stacks.Program as an inline program: it
// deploys versions (judging canary steps on production traffic), moves
// traffic, rolls back, previews, reports, reads versions' output and
// collects garbage, through the env's registered platform. It holds no
// terminal concerns; the CLI (internal/cli) renders what it returns.
package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/internal/lease"
	// The platforms the inline program runs on.
	_ "github.com/phoenix-iac/phoenix/platforms"
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
	// StateDir, when set, is the folder of a local file backend (the
	// project's own), created before the first Pulumi command.
	StateDir string
	// SecretsProvider for new stacks; empty means passphrase.
	SecretsProvider string
	// Redact makes Preview decrypt nothing: it plans on copies of the
	// stacks in a scratch backend, each secret a placeholder, for a
	// preview that holds no passphrase or key (a pull request's).
	Redact bool
	// Program is the Pulumi program; default stacks.ProgramIn ProjectDir,
	// with EnvVars' PULUMI_BACKEND_URL.
	Program pulumi.RunFunc
	// Leases opens the store of the envs' leases (internal/lease), in the
	// state backend. Required; called only by the commands that change an
	// env, before they change anything.
	Leases func(ctx context.Context) (*lease.Store, error)
	// LeaseTTL is how long an env lease outlives its holder's last
	// heartbeat; default lease.DefaultTTL.
	LeaseTTL time.Duration
	// StackLockWait is how long a change waits for a live pulumi's lock on
	// a stack before it gives up; default DefaultStackLockWait.
	StackLockWait time.Duration
	// Progress receives the engine's progress; nil keeps it quiet.
	Progress io.Writer
	// Ticker is a terminal on which a long wait (an image build, the
	// health gate, a canary step, the bake) draws one line, redrawn in
	// place: the step, the time gone and the time left, the traffic each
	// side served so far. nil draws nothing (output that is not a
	// terminal, --json). Log, when set with it, is taken to write on the
	// same terminal: its lines are printed above the line drawn.
	Ticker io.Writer
	// Durations is the file that keeps how long each env's last image
	// build took on this machine, for the ticker's estimate of the time
	// left; "" keeps nothing.
	Durations string
	// Log receives one line per phoenix step; nil keeps it quiet.
	Log io.Writer
	// TracePulumi logs one line per Pulumi CLI run: its arguments (never
	// the values given to `pulumi config`), its wall time and a failure's
	// exit code, to tell which runs a step's time went to.
	TracePulumi bool
	// HTTPClient makes the health-gate requests; default one with a 5 s timeout.
	HTTPClient *http.Client
	// User names who acts, for history; default $USER.
	User string
	// Color is the engine's color mode: always, never, raw or auto (default).
	Color string
	// Platforms resolves the platform an env's config file names, whose
	// operations (preflight, plugins, traffic figures, logs, inventory)
	// phoenix runs; default stacks.LookupPlatform, the registered ones.
	Platforms func(stacks.PlatformName) (stacks.Platform, error)
}

// Orchestrator drives one project's stacks.
type Orchestrator struct {
	opts Options

	mu   sync.Mutex
	keys map[string]string // route keys by env, once read
	// plugins are the provider plugins (name@version) found installed
	// or installed by this orchestrator: a promotion's preflights of its
	// target env (its own and its deploy's) list them once.
	plugins map[string]bool

	status atomic.Pointer[statusLine] // the status line drawn now, if any
}

// New returns an Orchestrator.
func New(opts Options) (*Orchestrator, error) {
	if opts.ProjectDir == "" || opts.Leases == nil {
		return nil, errors.New("orchestrator: ProjectDir and Leases are required")
	}
	if opts.Pulumi == nil {
		return nil, errors.New("orchestrator: a Pulumi command is required")
	}
	if _, err := os.Stat(filepath.Join(opts.ProjectDir, "Pulumi.yaml")); err != nil {
		return nil, fmt.Errorf("%s holds no Pulumi.yaml: run phoenix from the project directory or pass --project", opts.ProjectDir)
	}
	if opts.Program == nil {
		opts.Program = stacks.ProgramIn(opts.ProjectDir, opts.EnvVars["PULUMI_BACKEND_URL"])
	}
	if opts.Platforms == nil {
		opts.Platforms = stacks.LookupPlatform
	}
	if opts.StackLockWait <= 0 {
		opts.StackLockWait = DefaultStackLockWait
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if opts.User == "" {
		opts.User = os.Getenv("USER")
	}
	if opts.User == "" {
		opts.User = "unknown"
	}
	o := &Orchestrator{opts: opts, keys: map[string]string{}}
	lean := leanPulumi{PulumiCommand: opts.Pulumi, stateDir: opts.StateDir, exports: &exports{}, settle: o.settleSidecars}
	if opts.TracePulumi {
		lean.trace = &tracer{logf: o.logf}
	}
	o.opts.Pulumi = lean
	return o, nil
}

func (o *Orchestrator) logf(format string, args ...any) {
	if o.opts.Log == nil {
		return
	}
	if l := o.status.Load(); l != nil {
		// A status line is drawn on the terminal: the log line goes above it.
		l.around(func() { fmt.Fprintf(o.opts.Log, format+"\n", args...) })
		return
	}
	fmt.Fprintf(o.opts.Log, format+"\n", args...)
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

// upOpts returns the options of every up: progress, color, no outputs.
func (o *Orchestrator) upOpts(extra ...optup.Option) []optup.Option {
	return o.upOptsTo(o.opts.Progress, extra...)
}

// upOptsTo is upOpts with the engine's progress on progress instead.
func (o *Orchestrator) upOptsTo(progress io.Writer, extra ...optup.Option) []optup.Option {
	return append(engineOpts(o, progress, optup.ProgressStreams, optup.SuppressProgress, optup.Color, extra), optup.SuppressOutputs())
}

// destroyOpts returns the options of every destroy: progress, color.
func (o *Orchestrator) destroyOpts(extra ...optdestroy.Option) []optdestroy.Option {
	return engineOpts(o, o.opts.Progress, optdestroy.ProgressStreams, optdestroy.SuppressProgress, optdestroy.Color, extra)
}

// engineOpts adds to extra what every engine call of o shows: its progress
// on to (else none), in Options.Color.
func engineOpts[O any](o *Orchestrator, to io.Writer, progress func(...io.Writer) O, quiet func() O, color func(string) O, extra []O) []O {
	if to != nil {
		extra = append(extra, progress(to))
	} else {
		extra = append(extra, quiet())
	}
	if o.opts.Color != "" {
		extra = append(extra, color(o.opts.Color))
	}
	return extra
}

// lock takes the env's lease for command, waiting up to wait for another
// holder, and returns ctx carrying it (every traffic write and stack
// removal checks it: lease.Fence) and the function that gives it back. A
// lease whose holder is gone, or expired, is taken over with a line that
// names it.
func (o *Orchestrator) lock(ctx context.Context, env, command string, wait time.Duration) (context.Context, func(), error) {
	store, err := o.opts.Leases(ctx)
	if err != nil {
		return ctx, nil, err
	}
	l, err := store.Acquire(ctx, env, command, lease.Options{Wait: wait, TTL: o.opts.LeaseTTL,
		Waiting: func(h lease.Holder, expires time.Time) {
			o.logf("env %s is held by phoenix %s (pid %d, %s@%s, since %s): waiting up to %s for it (its lease expires at %s unless renewed)",
				env, h.Command, h.PID, h.User, h.Host, h.Since.Format(time.RFC3339), wait, expires.UTC().Format(time.RFC3339))
		}})
	if err != nil {
		return ctx, nil, err
	}
	if h := l.TookOver; h != nil {
		o.logf("took over the lock of env %s from phoenix %s (pid %d, %s@%s, since %s): %s; anything it left half done is repaired on the way",
			env, h.Command, h.PID, h.User, h.Host, h.Since.Format(time.RFC3339), l.Why)
		// Every pulumi command on a stack fails while a lock file that the
		// gone holder's pulumi was writing is there, not only those that
		// withStackLock wraps.
		o.dropHalfWrittenLocks()
	}
	release := func() {
		if err := l.Release(context.WithoutCancel(ctx)); err != nil {
			o.logf("%v; it expires by itself within %s", err, l.TTL())
		}
	}
	return lease.NewContext(ctx, l), release, nil
}

// Timing is how long one step of a command took, wall time.
type Timing struct {
	Step    string  `json:"step"`
	Seconds float64 `json:"seconds"`
}

// Timings are the steps of a command in the order they ran.
type Timings []Timing

// time runs f as the step named step and records how long it took,
// whether it failed or not.
func (t *Timings) time(step string, f func() error) error {
	start := time.Now()
	err := f()
	*t = append(*t, Timing{Step: step, Seconds: time.Since(start).Round(time.Millisecond).Seconds()})
	return err
}
