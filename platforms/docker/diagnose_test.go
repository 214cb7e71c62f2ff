package docker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-iac/phoenix/internal/dockerengine"
	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/tests/simcloud"
)

// TestDescribeContainer: a running, healthy container says nothing; one
// that exited says its code (and out of memory), restarts and a failing
// health check with its last output are said.
func TestDescribeContainer(t *testing.T) {
	for _, tt := range []struct {
		st   dockerengine.ContainerState
		want string
	}{
		{dockerengine.ContainerState{Status: "running", Health: "healthy"}, ""},
		{dockerengine.ContainerState{Status: "exited", ExitCode: 2}, "app-1: exited (exit code 2)"},
		{dockerengine.ContainerState{Status: "restarting", ExitCode: 137, OOMKilled: true, RestartCount: 4},
			"app-1: restarting (exit code 137, killed: out of memory)\napp-1: restarted 4 times"},
		{dockerengine.ContainerState{Status: "running", Health: "unhealthy", FailingStreak: 3, HealthOutput: "status 503"},
			"app-1: health check unhealthy (3 failed in a row): status 503"},
		{dockerengine.ContainerState{Status: "created", Error: "port is already allocated"}, "app-1: created: port is already allocated"},
	} {
		if got := strings.Join(describeContainer("app-1", tt.st), "\n"); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.st, got, tt.want)
		}
	}
}

// TestDiagnoseAVersionWithNoContainers: a version whose containers were
// removed behind phoenix's back is explained as such, by the engine's
// answer (the simulated Docker API, which holds none).
func TestDiagnoseAVersionWithNoContainers(t *testing.T) {
	dir, err := os.MkdirTemp("", "diag-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "docker.sock")
	stop, err := simcloud.New().ServeDockerAPI(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	env := platform.Env{Name: "dev", Getenv: func(k string) string {
		if k == "DOCKER_HOST" {
			return "unix://" + sock
		}
		return ""
	}}
	reasons, err := Platform{}.Diagnose(context.Background(), env, "v1")
	if err != nil || len(reasons) != 1 || !strings.Contains(reasons[0], "has no containers of version v1") {
		t.Errorf("reasons %q, error %v; want that the engine has no containers of v1", reasons, err)
	}
}
