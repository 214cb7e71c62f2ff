package orchestrator

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blang/semver"

	"github.com/phoenix-iac/phoenix/internal/lease"
)

// noPulumi is a Pulumi CLI that must not be run.
type noPulumi struct{ t *testing.T }

func (p noPulumi) Run(_ context.Context, _ string, _ io.Reader, _, _ []io.Writer, _ []string, args ...string) (string, string, int, error) {
	p.t.Errorf("the Pulumi CLI ran (%s) although the preflight check should have stopped first", strings.Join(args, " "))
	return "", "", 1, nil
}

func (noPulumi) Version() semver.Version { return semver.MustParse("3.274.1") }

// dockerProject is a project folder with a dev env on the docker platform.
func dockerProject(t *testing.T) string {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"Pulumi.yaml":     "name: phoenix\nruntime: go\n",
		"Pulumi.dev.yaml": "config:\n  phoenix:platform: docker\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestPreflightStopsWithoutADockerEngine: on the docker platform, every
// command that would change things stops before it runs Pulumi when the
// engine does not answer, says how to start one, and leaves nothing
// behind: not even the project's state folder.
func TestPreflightStopsWithoutADockerEngine(t *testing.T) {
	dir := dockerProject(t)
	sock := filepath.Join(t.TempDir(), "docker.sock")
	leases := t.TempDir()
	state := filepath.Join(dir, ".phoenix", "state")
	o, err := New(Options{
		ProjectDir: dir, Pulumi: noPulumi{t}, StateDir: state,
		Leases: func(ctx context.Context) (*lease.Store, error) {
			s, _, err := lease.Open(ctx, "file://"+leases, ProjectName)
			return s, err
		},
		EnvVars: map[string]string{"DOCKER_HOST": "unix://" + sock},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	gate := GateOptions{Need: 1, Timeout: time.Second}
	verbs := map[string]func() error{
		"deploy": func() error {
			_, err := o.Deploy(ctx, DeployOptions{Env: "dev", Version: "v1", Gate: gate})
			return err
		},
		"rollback": func() error {
			_, err := o.Rollback(ctx, RollbackOptions{Env: "dev", To: "v1", Gate: gate})
			return err
		},
		"gc": func() error {
			_, err := o.GC(ctx, GCOptions{Env: "dev", Keep: -1})
			return err
		},
		"gc --orphans": func() error {
			_, err := o.GCOrphans(ctx, OrphansOptions{Env: "dev"})
			return err
		},
		"destroy": func() error {
			_, err := o.DestroyEnv(ctx, "dev", 0)
			return err
		},
	}
	for name, run := range verbs {
		err := run()
		if err == nil || !strings.Contains(err.Error(), "unix://"+sock) || !strings.Contains(err.Error(), "start Docker") {
			t.Errorf("%s: got %v, want an error naming the engine and how to start one", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".phoenix")); !os.IsNotExist(err) {
		t.Errorf("a refused command left .phoenix behind (%v)", err)
	}
}

// TestReadsOfANeverDeployedProjectMakeNothing: status, envs, preview (its
// stacks said to be not planned), gc --expired and a promotion's source read on a project whose own backend folder does
// not exist yet answer "not deployed", "no env" and "nothing to do"
// without running Pulumi, and leave no state folder behind.
func TestReadsOfANeverDeployedProjectMakeNothing(t *testing.T) {
	dir := dockerProject(t)
	state := filepath.Join(dir, ".phoenix", "state")
	o, err := New(Options{ProjectDir: dir, Pulumi: noPulumi{t}, StateDir: state,
		Leases: func(context.Context) (*lease.Store, error) { t.Error("a read opened the leases"); return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	st, err := o.Status(context.Background(), "dev")
	if err != nil || st.Deployed || len(st.Versions) != 0 {
		t.Errorf("status of a never-deployed env: %+v, %v; want not deployed, no versions, no error", st, err)
	}
	envs, err := o.Envs(context.Background())
	if err != nil || len(envs.Envs) != 0 {
		t.Errorf("envs of a never-deployed project: %v, %v; want none", envs, err)
	}
	plan, err := o.Preview(context.Background(), "dev", "v1")
	if err != nil || len(plan.Stacks) != 2 {
		t.Fatalf("preview of a never-deployed env: %+v, %v", plan, err)
	}
	for _, sp := range plan.Stacks {
		if sp.Exists || sp.Unplanned == "" || len(sp.Steps) != 0 {
			t.Errorf("preview of a never-deployed env: stack %+v, want new and said not planned", sp)
		}
	}
	expired, err := o.GCExpired(context.Background(), ExpiredOptions{})
	if err != nil || len(expired.Envs) != 0 || expired.Kept != 0 {
		t.Errorf("gc --expired on a never-deployed project: %+v, %v; want nothing to do", expired, err)
	}
	var notFound *NotFoundError
	if _, err := o.Promote(context.Background(), PromoteOptions{From: "staging", To: "prod"}); !errors.As(err, &notFound) {
		t.Errorf("promote from a never-deployed env: %v, want a not-found error", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".phoenix")); !os.IsNotExist(err) {
		t.Errorf("a read made %s (%v)", filepath.Join(dir, ".phoenix"), err)
	}
}

// pluginsPulumi answers `pulumi plugin ls` with the docker plugin
// v4.10.0 installed and counts every run.
type pluginsPulumi struct{ runs []string }

func (p *pluginsPulumi) Run(_ context.Context, _ string, _ io.Reader, _, _ []io.Writer, _ []string, args ...string) (string, string, int, error) {
	p.runs = append(p.runs, strings.Join(args, " "))
	if len(args) >= 2 && args[0] == "plugin" && args[1] == "ls" {
		return `[{"name":"docker","kind":"resource","version":"4.10.0"}]`, "", 0, nil
	}
	return "", "", 0, nil
}

func (*pluginsPulumi) Version() semver.Version { return semver.MustParse("3.274.1") }

// TestPluginsAreListedOncePerCommand: a promotion preflights its target
// env twice (its own check and its deploy's); the installed plugins are
// listed once, and a plugin that is missing is installed, and then known.
func TestPluginsAreListedOncePerCommand(t *testing.T) {
	cli := &pluginsPulumi{}
	o, err := New(Options{ProjectDir: dockerProject(t), Pulumi: cli,
		Leases: func(context.Context) (*lease.Store, error) { return nil, errors.New("no leases here") }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	count := func(prefix string) (n int) {
		for _, r := range cli.runs {
			if strings.HasPrefix(r, prefix) {
				n++
			}
		}
		return n
	}
	for range 2 {
		if err := o.ensurePlugins(ctx, map[string]string{"docker": "4.10.0"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := count("plugin ls"); n != 1 {
		t.Errorf("two checks of one installed plugin listed the plugins %d times, want once (runs: %q)", n, cli.runs)
	}
	for range 2 {
		if err := o.ensurePlugins(ctx, map[string]string{"docker": "4.10.0", "aws": "6.83.0"}); err != nil {
			t.Fatal(err)
		}
	}
	if n, m := count("plugin ls"), count("plugin install resource aws"); n != 2 || m != 1 {
		t.Errorf("a missing plugin, checked twice: %d listings and %d installs, want 2 and 1 (runs: %q)", n, m, cli.runs)
	}
}
