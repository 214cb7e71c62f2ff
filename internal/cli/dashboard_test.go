package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/internal/iostreams"
	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

// runDashboard runs phoenix dashboard with stub behind the Factory until
// ctx ends and returns its exit code and stderr.
func runDashboard(ctx context.Context, stub *stubOrchestrator, args ...string) (int, string) {
	streams, _, _, errOut := iostreams.Test()
	f := NewFactory(streams)
	f.Getenv = func(string) string { return "" }
	f.ProjectDir = func(*GlobalOptions) (string, error) { return "/nonexistent/project", nil }
	f.Orchestrator = func(context.Context, *GlobalOptions) (Orchestrator, error) { return stub, nil }
	code := Main(ctx, append([]string{"dashboard"}, args...), f)
	return code, errOut.String()
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestDashboardRefuses: a dashboard that cannot serve what it should says
// why and exits non-zero before it serves anything or reads more.
func TestDashboardRefuses(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, busyPort, _ := net.SplitHostPort(busy.Addr().String())
	oneEnv := &orchestrator.EnvsResult{Envs: []orchestrator.Status{{Env: "dev", Deployed: true, Live: "v1"}}}
	tests := []struct {
		name  string
		stub  *stubOrchestrator
		args  []string
		code  int
		want  string
		asked string // the orchestrator calls made
	}{
		{"every interface", &stubOrchestrator{}, []string{"--listen", "0.0.0.0:9000"}, ExitUsage, "--listen 0.0.0.0:9000 would serve the dashboard on every interface, reachable from other machines; pass --public", ""},
		{"no host", &stubOrchestrator{}, []string{"--listen", ":9000"}, ExitUsage, "on every interface", ""},
		{"another interface", &stubOrchestrator{}, []string{"--listen", "192.168.1.5:9000"}, ExitUsage, "on 192.168.1.5", ""},
		{"not an address", &stubOrchestrator{}, []string{"--listen", "9000"}, ExitUsage, `--listen "9000": an address as host:port`, ""},
		{"port out of range", &stubOrchestrator{}, []string{"--listen", "127.0.0.1:99999"}, ExitUsage, `--listen 127.0.0.1:99999: the port "99999" is not a number from 0 to 65535`, ""},
		{"interval too short", &stubOrchestrator{}, []string{"--interval", "100ms"}, ExitUsage, "--interval 100ms: at least 1s", ""},
		{"no env", &stubOrchestrator{}, []string{"--listen", freeAddr(t)}, ExitNotFound, "no env of this project has been deployed in file:///nonexistent/project/.phoenix/state", "Envs"},
		{"broken backend", &stubOrchestrator{envsErr: errors.New("listing stacks: permission denied")}, []string{"--listen", freeAddr(t)}, ExitError,
			"reading the project's envs from file:///nonexistent/project/.phoenix/state: listing stacks: permission denied; check --backend", "Envs"},
		{"port in use", &stubOrchestrator{envs: oneEnv}, []string{"--listen", busy.Addr().String()}, ExitError,
			fmt.Sprintf("the address is in use (another dashboard?); stop what holds it or pass another port, such as --listen 127.0.0.1:%d", atoi(busyPort)+1), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stderr := runDashboard(context.Background(), tt.stub, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.want)
			}
			if got := strings.Join(tt.stub.asked, ","); got != tt.asked {
				t.Errorf("asked the orchestrator %q, want %q", got, tt.asked)
			}
		})
	}
	// --public lets an address other machines can reach through.
	if err := checkListen("0.0.0.0:9000", true); err != nil {
		t.Errorf("with --public: %v", err)
	}
}

func atoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

// TestDashboardServesUntilInterrupted: it serves the page and the
// snapshot, and Ctrl-C ends it cleanly.
func TestDashboardServesUntilInterrupted(t *testing.T) {
	addr := freeAddr(t)
	stub := &stubOrchestrator{envs: &orchestrator.EnvsResult{Envs: []orchestrator.Status{{Env: "dev", Deployed: true, Live: "v1"}}}}
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stderr := runDashboard(ctx, stub, "--listen", addr)
		done <- result{code, stderr}
	}()
	var body string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/api/snapshot")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		break
	}
	cancel()
	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the dashboard did not stop within 10s of Ctrl-C")
	}
	if !strings.Contains(body, `"env":"dev"`) || !strings.Contains(body, `"live":"v1"`) {
		t.Errorf("GET /api/snapshot: %q", body)
	}
	if res.code != 0 || !strings.Contains(res.stderr, "phoenix dashboard: envs dev at http://"+addr+"/ (read-only; Ctrl-C stops it)") {
		t.Errorf("exit %d, stderr %q; want 0 and the address", res.code, res.stderr)
	}
}
