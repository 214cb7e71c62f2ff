package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/internal/cli"
	"github.com/phoenix-iac/phoenix/internal/dashboard"
	"github.com/phoenix-iac/phoenix/internal/iostreams"
)

// TestCLIDashboard runs phoenix dashboard on the real engine: it shows the
// env as status does, its traffic from the load balancer's access log as
// it comes, a version's resources from its stack's state and its cut-overs;
// a project with no env is refused, exit 6, with nothing made.
func TestCLIDashboard(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	state := strings.TrimPrefix(c.h.Env["PULUMI_BACKEND_URL"], "file://")
	if r := c.run("dashboard", "--listen", addr); r.code != cli.ExitNotFound || !strings.Contains(r.errOut, "no env of this project has been deployed") {
		t.Fatalf("dashboard with no env: %s", r)
	}
	if entries, _ := os.ReadDir(filepath.Join(state, ".pulumi", "stacks")); len(entries) != 0 {
		t.Errorf("the refused dashboard made stacks: %v", entries)
	}

	c.deploy("v1")
	c.deploy("v2")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() {
		io, _, out, errOut := iostreams.Test()
		code := cli.Main(ctx, []string{"dashboard", "--listen", addr, "--interval", "1s", "--project", c.project}, c.factory(io))
		done <- result{code, out.String(), errOut.String()}
	}()
	defer func() {
		cancel()
		select {
		case r := <-done:
			if r.code != 0 {
				t.Errorf("the dashboard ended with %s", r)
			}
		case <-time.After(30 * time.Second):
			t.Error("the dashboard did not stop within 30s of Ctrl-C")
		}
	}()
	getJSON := func(path string, v any) error {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
		}
		return json.Unmarshal(b, v)
	}
	stop := traffic(t, fmt.Sprintf("http://127.0.0.1:%d/", c.lb.port))
	defer stop()
	var snap dashboard.Snapshot
	var last error
	deadline := time.Now().Add(2 * time.Minute)
	for ; time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		snap = dashboard.Snapshot{}
		if last = getJSON("/api/snapshot", &snap); last != nil || len(snap.Envs) != 1 {
			continue
		}
		if e := snap.Envs[0]; e.Live == "v2" && len(e.Traffic) > 0 && e.Traffic[0].Version == "v2" && e.Traffic[0].Requests > 0 {
			break
		}
	}
	if last != nil || len(snap.Envs) != 1 {
		t.Fatalf("no snapshot of env dev: %v", last)
	}
	e := snap.Envs[0]
	if e.Live != "v2" || e.Previous != "v1" || len(e.Versions) != 2 {
		t.Errorf("env %+v, want v2 live, v1 previous, two versions", e.Status)
	}
	if len(e.Traffic) == 0 || e.Traffic[0].Version != "v2" || e.Traffic[0].Requests == 0 {
		t.Errorf("traffic %+v, want live v2's requests counted", e.Traffic)
	}
	if len(e.History) < 2 || e.History[0].To != "v2" {
		t.Errorf("history %+v, want v2's promotion first", e.History)
	}

	var v dashboard.Version
	if err := getJSON("/api/envs/dev/versions/v1", &v); err != nil {
		t.Fatal(err)
	}
	if v.Stack != "dev.v1" || len(v.Resources) == 0 || len(v.CutOvers) == 0 {
		t.Errorf("version page %+v, want dev.v1 with its resources and cut-overs", v)
	}
	var types []string
	for _, r := range v.Resources {
		types = append(types, r.Type)
	}
	if !strings.Contains(strings.Join(types, " "), "docker:index/container:Container") {
		t.Errorf("resources of dev.v1: %v, want its containers", types)
	}
}
