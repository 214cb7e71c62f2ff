package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-iac/phoenix/internal/analysis"
	"github.com/phoenix-iac/phoenix/internal/iostreams"
	"github.com/phoenix-iac/phoenix/internal/lease"
	"github.com/phoenix-iac/phoenix/internal/orchestrator"
	"github.com/phoenix-iac/phoenix/internal/pulumicli"
	"github.com/phoenix-iac/phoenix/stacks"
)

// GlobalOptions are the flags every command takes.
type GlobalOptions struct {
	// Project is the project directory; default the working directory.
	Project string
	// Backend is the Pulumi state backend URL.
	Backend string
	// SecretsProvider is used for new stacks; default passphrase.
	SecretsProvider string

	// secrets says whether the command decrypts the stacks' secrets.
	secrets secretsUse
	// json says that the command prints JSON: it draws nothing on the
	// terminal besides.
	json bool
}

// secretsUse is whether a command decrypts the stacks' secrets.
type secretsUse int

const (
	// secretsNeeded: the command needs the passphrase (it asks for it on
	// a terminal).
	secretsNeeded secretsUse = iota
	// secretsIfGiven: without a passphrase the command decrypts nothing
	// (preview plans on redacted copies); it never asks.
	secretsIfGiven
	// secretsNever: the command decrypts nothing (preview --no-decrypt).
	secretsNever
)

// Factory gives commands what they depend on, so that tests can replace it.
type Factory struct {
	IO *iostreams.IOStreams
	// Getenv reads the environment.
	Getenv func(string) string
	// Orchestrator builds the orchestrator the global options describe.
	Orchestrator func(ctx context.Context, g *GlobalOptions) (Orchestrator, error)
	// ProjectDir resolves the project directory.
	ProjectDir func(g *GlobalOptions) (string, error)
	// Platforms resolves an env's platform for the orchestrator; nil is
	// the registered ones (stacks.LookupPlatform). A test binary gives
	// its stand-ins here.
	Platforms func(stacks.PlatformName) (stacks.Platform, error)

	// wroteJSON is set once a verb wrote its JSON view.
	wroteJSON bool
}

// Orchestrator is what the verbs ask of the orchestrator
// (*orchestrator.Orchestrator); a test gives its own to see what a verb
// makes of a result.
type Orchestrator interface {
	Deploy(ctx context.Context, opts orchestrator.DeployOptions) (orchestrator.DeployResult, error)
	Promote(ctx context.Context, opts orchestrator.PromoteOptions) (orchestrator.PromoteResult, error)
	AnalysisSettings(env string) (stacks.Analysis, error)
	Rollback(ctx context.Context, opts orchestrator.RollbackOptions) (orchestrator.RollbackResult, error)
	Status(ctx context.Context, env string) (orchestrator.Status, error)
	Envs(ctx context.Context) (orchestrator.EnvsResult, error)
	History(ctx context.Context, env string) ([]orchestrator.Event, error)
	GC(ctx context.Context, opts orchestrator.GCOptions) (orchestrator.GCResult, error)
	GCOrphans(ctx context.Context, opts orchestrator.OrphansOptions) (orchestrator.OrphansResult, error)
	GCExpired(ctx context.Context, opts orchestrator.ExpiredOptions) (orchestrator.ExpiredResult, error)
	DestroyEnv(ctx context.Context, env string, wait time.Duration) (orchestrator.DestroyResult, error)
	Preview(ctx context.Context, env, version string) (orchestrator.Plan, error)
	Logs(ctx context.Context, opts orchestrator.LogsOptions, out func(orchestrator.LogLine) error) error
	ClearStackLocks(ctx context.Context, env string) ([]orchestrator.StackLock, error)
	TrafficSource(ctx context.Context, env string, since time.Time) (analysis.Source, error)
	Resources(ctx context.Context, env, version string) ([]orchestrator.Resource, error)
}

// NewFactory returns the Factory of a real run on io.
func NewFactory(io *iostreams.IOStreams) *Factory {
	f := &Factory{IO: io, Getenv: os.Getenv}
	f.ProjectDir = f.projectDir
	f.Orchestrator = f.orchestrator
	return f
}

func (f *Factory) projectDir(g *GlobalOptions) (string, error) {
	dir := g.Project
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		dir = wd
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "Pulumi.yaml")); err != nil {
		return "", usagef("%s holds no Pulumi.yaml: run phoenix from the Phoenix project directory or pass --project DIR", dir)
	}
	return dir, nil
}

// orchestrator builds the real orchestrator: the local file backend inside
// the project unless another is named, passphrase secrets, and the Pulumi
// CLI found or built by pulumicli.
func (f *Factory) orchestrator(ctx context.Context, g *GlobalOptions) (Orchestrator, error) {
	dir, backend, err := f.backend(g)
	if err != nil {
		return nil, err
	}
	env := map[string]string{"PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_BACKEND_URL": backend}
	// The project's own backend is made at its first use, not here: a
	// command refused before it runs Pulumi leaves nothing behind.
	var stateDir string
	if backend == defaultBackend(dir) {
		stateDir = strings.TrimPrefix(backend, "file://")
	}
	ttl, err := f.leaseTTL()
	if err != nil {
		return nil, err
	}
	lockWait, err := f.stackLockWait()
	if err != nil {
		return nil, err
	}

	redact := f.Redact(g)
	if !redact && byPassphrase(g) && f.noPassphrase() {
		if !f.IO.CanPrompt() {
			return nil, usagef("no passphrase for the stacks' secrets: set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE (or use --secrets-provider)")
		}
		fmt.Fprint(f.IO.ErrOut, "Passphrase for the stacks' secrets: ")
		pass, err := f.IO.ReadSecret()
		fmt.Fprintln(f.IO.ErrOut)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase: %w", err)
		}
		env["PULUMI_CONFIG_PASSPHRASE"] = pass
	}

	pulumi, err := pulumicli.Find(ctx, dir, f.IO.ErrOut)
	if err != nil {
		return nil, err
	}
	opts := orchestrator.Options{
		ProjectDir:      dir,
		Pulumi:          pulumi,
		EnvVars:         env,
		StateDir:        stateDir,
		SecretsProvider: g.SecretsProvider,
		Redact:          redact,
		Leases:          f.leases(backend),
		LeaseTTL:        ttl,
		StackLockWait:   lockWait,
		Platforms:       f.Platforms,
		Log:             prefixWriter{f.IO},
		Color:           "never",
	}
	if f.IO.ProgressEnabled() {
		opts.Progress = f.IO.ErrOut
		if !g.json {
			opts.Ticker = f.IO.ErrOut
			if cache, err := os.UserCacheDir(); err == nil {
				opts.Durations = filepath.Join(cache, "phoenix", "durations.json")
			}
		}
	}
	if f.IO.ColorEnabled() {
		opts.Color = "always"
	}
	// PHOENIX_TRACE_PULUMI=1 prints each Pulumi CLI run and its wall time
	// (docs/workflows.md, "How long each step took").
	if v := f.Getenv("PHOENIX_TRACE_PULUMI"); v != "" && v != "0" {
		opts.TracePulumi = true
	}
	o, err := orchestrator.New(opts)
	if err != nil {
		return nil, err
	}
	return o, nil
}

// Redact reports whether the command decrypts no secret
// (orchestrator.Options.Redact): preview with --no-decrypt, or without a
// passphrase for the passphrase provider.
func (f *Factory) Redact(g *GlobalOptions) bool {
	switch g.secrets {
	case secretsNever:
		return true
	case secretsIfGiven:
		return byPassphrase(g) && f.noPassphrase()
	}
	return false
}

// byPassphrase reports whether the stacks' secrets use the passphrase provider.
func byPassphrase(g *GlobalOptions) bool {
	return g.SecretsProvider == "" || g.SecretsProvider == "passphrase"
}

func (f *Factory) noPassphrase() bool {
	return f.Getenv("PULUMI_CONFIG_PASSPHRASE") == "" && f.Getenv("PULUMI_CONFIG_PASSPHRASE_FILE") == ""
}

// backend returns the project directory and the state backend in it:
// --backend, else PULUMI_BACKEND_URL, else the local file backend inside
// the project.
func (f *Factory) backend(g *GlobalOptions) (dir, backend string, err error) {
	if dir, err = f.ProjectDir(g); err != nil {
		return "", "", err
	}
	switch {
	case g.Backend != "":
		return dir, g.Backend, nil
	case f.Getenv("PULUMI_BACKEND_URL") != "":
		return dir, f.Getenv("PULUMI_BACKEND_URL"), nil
	}
	return dir, defaultBackend(dir), nil
}

// defaultBackend is the local file backend inside the project.
func defaultBackend(dir string) string {
	return "file://" + filepath.Join(dir, ".phoenix", "state")
}

// openLeases opens the store of the env leases: PHOENIX_LEASE_URL, else
// the state backend, so that every machine sharing the state shares them.
func (f *Factory) openLeases(ctx context.Context, backend string) (*lease.Store, func() error, error) {
	u := backend
	if l := f.Getenv("PHOENIX_LEASE_URL"); l != "" {
		u = l
	}
	return lease.Open(ctx, u, orchestrator.ProjectName)
}

// leaseTTL reads PHOENIX_LEASE_TTL, how long an env lease outlives its
// holder's last heartbeat; 0 (the default) is lease.DefaultTTL.
func (f *Factory) leaseTTL() (time.Duration, error) {
	v := f.Getenv("PHOENIX_LEASE_TTL")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 3*time.Second {
		return 0, usagef("PHOENIX_LEASE_TTL=%q is not a duration of 3s or more, such as 2m", v)
	}
	return d, nil
}

// stackLockWait reads PHOENIX_STACK_LOCK_WAIT, how long a change waits for
// a live pulumi's lock on a stack; 0 (the default) is
// orchestrator.DefaultStackLockWait.
func (f *Factory) stackLockWait() (time.Duration, error) {
	v := f.Getenv("PHOENIX_STACK_LOCK_WAIT")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		return 0, usagef("PHOENIX_STACK_LOCK_WAIT=%q is not a duration of 1s or more, such as 30s", v)
	}
	return d, nil
}

// leases opens the env leases in the store of backend once, when a
// command that changes an env asks for them.
func (f *Factory) leases(backend string) func(context.Context) (*lease.Store, error) {
	var once sync.Once
	var store *lease.Store
	var err error
	return func(ctx context.Context) (*lease.Store, error) {
		once.Do(func() {
			store, _, err = f.openLeases(ctx, backend)
		})
		return store, err
	}
}

// prefixWriter writes phoenix's own progress lines to stderr.
type prefixWriter struct{ io *iostreams.IOStreams }

func (w prefixWriter) Write(p []byte) (int, error) {
	if _, err := fmt.Fprintf(w.io.ErrOut, "phoenix: %s", p); err != nil {
		return 0, err
	}
	return len(p), nil
}

var errNoEnv = errors.New("--env is required: name the env, as in --env dev")
