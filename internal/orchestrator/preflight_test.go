package orchestrator

import (
	"github.com/phoenix-iac/phoenix/internal/lease"

	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blang/semver"
)

// noPulumi is a Pulumi CLI that must not be run.
type noPulumi struct{ t *testing.T }

func (p noPulumi) Run(_ context.Context, _ string, _ io.Reader, _, _ []io.Writer, _ []string, args ...string) (string, string, int, error) {
	p.t.Errorf("the Pulumi CLI ran (%s) although the preflight check should have stopped first", strings.Join(args, " "))
	return "", "", 1, nil
}

func (noPulumi) Version() semver.Version { return semver.MustParse("3.274.1") }

// TestPreflightStopsWithoutADockerEngine: on the docker platform, a command
// that would change things stops before it runs Pulumi when the engine does
// not answer, and says how to start one.
func TestPreflightStopsWithoutADockerEngine(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"Pulumi.yaml":     "name: phoenix\nruntime: go\n",
		"Pulumi.dev.yaml": "config:\n  phoenix:platform: docker\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "docker.sock")
	leases := t.TempDir()
	o, err := New(Options{
		ProjectDir: dir, Pulumi: noPulumi{t},
		Leases: func(ctx context.Context) (*lease.Store, error) {
			s, _, err := lease.Open(ctx, "file://"+leases, ProjectName)
			return s, err
		},
		EnvVars: map[string]string{"DOCKER_HOST": "unix://" + sock},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = o.Preflight(context.Background(), "dev")
	if err == nil || !strings.Contains(err.Error(), "unix://"+sock) || !strings.Contains(err.Error(), "start Docker") {
		t.Errorf("got %v, want an error naming the engine and how to start one", err)
	}
}
