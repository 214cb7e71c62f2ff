package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/internal/analysis"
	"github.com/phoenix-iac/phoenix/internal/iostreams"
	"github.com/phoenix-iac/phoenix/internal/orchestrator"
	"github.com/phoenix-iac/phoenix/internal/version"
	"github.com/phoenix-iac/phoenix/stacks"
)

// stubOrchestrator stands in for the orchestrator behind the Factory: it
// records what a verb asked and answers with canned results, so that a
// test sees what each verb's run function makes of them.
type stubOrchestrator struct {
	asked []string // the methods called, in order

	deploy   orchestrator.DeployOptions
	promote  orchestrator.PromoteOptions
	rollback orchestrator.RollbackOptions
	gc       orchestrator.GCOptions
	logs     []orchestrator.LogLine
	logsErr  error
	plan     orchestrator.Plan
	settings stacks.Analysis
	envs     *orchestrator.EnvsResult
	envsErr  error
}

func (s *stubOrchestrator) Deploy(_ context.Context, opts orchestrator.DeployOptions) (orchestrator.DeployResult, error) {
	s.asked, s.deploy = append(s.asked, "Deploy"), opts
	return orchestrator.DeployResult{Env: opts.Env, Version: opts.Version, Created: true, URL: "http://localhost:8080",
		Timings: orchestrator.Timings{{Step: "lock", Seconds: 0.012}, {Step: "version", Seconds: 41.25}}}, nil
}

func (s *stubOrchestrator) Promote(_ context.Context, opts orchestrator.PromoteOptions) (orchestrator.PromoteResult, error) {
	s.asked, s.promote = append(s.asked, "Promote"), opts
	const id = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	v, err := opts.VersionOf(id)
	if err != nil {
		return orchestrator.PromoteResult{}, err
	}
	return orchestrator.PromoteResult{
		DeployResult: orchestrator.DeployResult{Env: opts.To, Version: v, Created: true, URL: "http://localhost:8081"},
		From:         opts.From + ".v1", Image: id, Artifact: "a1b2c3d4", Seconds: 1.5,
	}, nil
}

func (s *stubOrchestrator) AnalysisSettings(string) (stacks.Analysis, error) {
	s.asked = append(s.asked, "AnalysisSettings")
	return s.settings, nil
}

func (s *stubOrchestrator) Rollback(_ context.Context, opts orchestrator.RollbackOptions) (orchestrator.RollbackResult, error) {
	s.asked, s.rollback = append(s.asked, "Rollback"), opts
	return orchestrator.RollbackResult{Env: opts.Env, From: "v2", To: "v1"}, nil
}

func (s *stubOrchestrator) Status(_ context.Context, env string) (orchestrator.Status, error) {
	s.asked = append(s.asked, "Status")
	return orchestrator.Status{Env: env, Deployed: true, Platform: "docker", Live: "v1", Versions: []orchestrator.VersionInfo{}}, nil
}

func (s *stubOrchestrator) History(context.Context, string) ([]orchestrator.Event, error) {
	s.asked = append(s.asked, "History")
	return nil, nil
}

func (s *stubOrchestrator) GC(_ context.Context, opts orchestrator.GCOptions) (orchestrator.GCResult, error) {
	s.asked, s.gc = append(s.asked, "GC"), opts
	return orchestrator.GCResult{Env: opts.Env, Kept: []string{"v1"}, Destroyed: []string{"v0"}}, nil
}

func (s *stubOrchestrator) GCOrphans(_ context.Context, opts orchestrator.OrphansOptions) (orchestrator.OrphansResult, error) {
	s.asked = append(s.asked, "GCOrphans")
	return orchestrator.OrphansResult{Env: opts.Env, Orphans: []orchestrator.Orphan{}, Removed: []orchestrator.Orphan{}}, nil
}

func (s *stubOrchestrator) Envs(context.Context) (orchestrator.EnvsResult, error) {
	s.asked = append(s.asked, "Envs")
	if s.envs != nil || s.envsErr != nil {
		return *cmp.Or(s.envs, &orchestrator.EnvsResult{}), s.envsErr
	}
	return orchestrator.EnvsResult{Envs: []orchestrator.Status{}, Differences: []orchestrator.ConfigDifference{}}, nil
}

func (s *stubOrchestrator) GCExpired(_ context.Context, opts orchestrator.ExpiredOptions) (orchestrator.ExpiredResult, error) {
	s.asked = append(s.asked, "GCExpired")
	return orchestrator.ExpiredResult{DryRun: opts.DryRun, Envs: []orchestrator.ExpiredEnv{}}, nil
}

func (s *stubOrchestrator) DestroyEnv(_ context.Context, env string, _ time.Duration) (orchestrator.DestroyResult, error) {
	s.asked = append(s.asked, "DestroyEnv")
	return orchestrator.DestroyResult{Env: env, Versions: []string{"v1"}, EnvStack: true}, nil
}

func (s *stubOrchestrator) Preview(context.Context, string, string) (orchestrator.Plan, error) {
	s.asked = append(s.asked, "Preview")
	return s.plan, nil
}

func (s *stubOrchestrator) Logs(_ context.Context, _ orchestrator.LogsOptions, out func(orchestrator.LogLine) error) error {
	s.asked = append(s.asked, "Logs")
	for _, l := range s.logs {
		if err := out(l); err != nil {
			return err
		}
	}
	return s.logsErr
}

func (s *stubOrchestrator) ClearStackLocks(context.Context, string) ([]orchestrator.StackLock, error) {
	s.asked = append(s.asked, "ClearStackLocks")
	return nil, nil
}

func (s *stubOrchestrator) TrafficSource(context.Context, string, time.Time) (analysis.Source, error) {
	s.asked = append(s.asked, "TrafficSource")
	return nil, errors.New("no traffic here")
}

func (s *stubOrchestrator) Resources(context.Context, string, string) ([]orchestrator.Resource, error) {
	s.asked = append(s.asked, "Resources")
	return []orchestrator.Resource{}, nil
}

// runVerb runs args through Main with stub behind the Factory and returns
// the exit code and stdout.
func runVerb(t *testing.T, stub *stubOrchestrator, args ...string) (int, string) {
	t.Helper()
	streams, _, out, errOut := iostreams.Test()
	f := NewFactory(streams)
	f.Getenv = func(string) string { return "" }
	f.Orchestrator = func(context.Context, *GlobalOptions) (Orchestrator, error) { return stub, nil }
	code := Main(context.Background(), args, f)
	if code != 0 {
		t.Logf("%v: exit %d, stderr %s", args, code, errOut)
	}
	return code, out.String()
}

// TestVerbsRun: each verb's run function asks the orchestrator what the
// flags say and renders what it answers.
func TestVerbsRun(t *testing.T) {
	t.Run("deploy", func(t *testing.T) {
		stub := &stubOrchestrator{settings: stacks.Analysis{MaxErrorRate: 0.01, MinRequests: 100}}
		code, out := runVerb(t, stub, "deploy", "--env", "dev", "--version", "v2", "--canary", "10,50",
			"--gate-count", "7", "--gate-timeout", "90s", "--min-requests", "20")
		if code != 0 || !strings.Contains(out, "v2 is live in env dev at http://localhost:8080") {
			t.Fatalf("exit %d, stdout %q", code, out)
		}
		d := stub.deploy
		if d.Env != "dev" || d.Version != "v2" || len(d.Canary) != 2 || d.Canary[1] != 50 ||
			d.Gate.Need != 7 || d.Gate.Timeout != 90*time.Second || d.StepWait != 30*time.Second {
			t.Errorf("asked to deploy %+v", d)
		}
		// The flag overrides one threshold; the env's others hold.
		if a := d.Analysis.Settings; a.MinRequests != 20 || a.MaxErrorRate != 0.01 || d.Analysis.Off {
			t.Errorf("analysis %+v, want the env's settings with minRequests 20", d.Analysis)
		}
	})
	t.Run("promote", func(t *testing.T) {
		stub := &stubOrchestrator{settings: stacks.Analysis{MaxErrorRate: 0.01, MinRequests: 100}}
		code, out := runVerb(t, stub, "promote", "--project", "../..", "--from", "staging", "--to", "dev", "--version", "v1",
			"--canary", "10", "--gate-count", "3", "--no-gc")
		p := stub.promote
		if code != 0 || p.From != "staging" || p.To != "dev" || p.Version != "v1" || len(p.Program) != 8 ||
			len(p.Deploy.Canary) != 1 || p.Deploy.Gate.Need != 3 || !p.Deploy.NoGC || p.Deploy.Analysis.Settings.MinRequests != 100 {
			t.Fatalf("exit %d, asked to promote %+v", code, p)
		}
		// The new version's id is the repository's dev config, its
		// program and the image: version.Promoted.
		want, err := version.Promoted("../..", "dev", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "promoted staging.v1 (image sha256:0123456789ab, artifact a1b2c3d4) to env dev as "+want+", nothing built, in 1.5s") ||
			!strings.Contains(out, want+" is live in env dev at http://localhost:8081") {
			t.Errorf("stdout %q", out)
		}
	})
	t.Run("rollback", func(t *testing.T) {
		stub := &stubOrchestrator{}
		code, out := runVerb(t, stub, "rollback", "--env", "dev", "--to", "v1", "--force", "--json")
		var res orchestrator.RollbackResult
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.To != "v1" {
			t.Fatalf("exit %d, stdout %q", code, out)
		}
		if r := stub.rollback; r.To != "v1" || !r.Force || r.Gate.Need != 5 || r.Gate.Timeout != time.Minute {
			t.Errorf("asked to roll back %+v", r)
		}
	})
	t.Run("status", func(t *testing.T) {
		code, out := runVerb(t, &stubOrchestrator{}, "status", "--env", "dev")
		if code != 0 || !strings.Contains(out, "env dev (docker)") {
			t.Errorf("exit %d, stdout %q", code, out)
		}
	})
	t.Run("history", func(t *testing.T) {
		code, out := runVerb(t, &stubOrchestrator{}, "history", "--env", "dev", "--json")
		if code != 0 || strings.TrimSpace(out) != "[]" {
			t.Errorf("exit %d, stdout %q; want an empty list, not null", code, out)
		}
	})
	t.Run("gc", func(t *testing.T) {
		stub := &stubOrchestrator{}
		code, out := runVerb(t, stub, "gc", "--env", "dev", "--keep", "0")
		if code != 0 || out != "env dev: kept v1; destroyed v0\n" || stub.gc.Keep != 0 {
			t.Errorf("exit %d, stdout %q, asked %+v", code, out, stub.gc)
		}
	})
	t.Run("gc --orphans", func(t *testing.T) {
		stub := &stubOrchestrator{}
		code, out := runVerb(t, stub, "gc", "--env", "dev", "--orphans", "--dry-run")
		if code != 0 || !strings.Contains(out, "no orphans") || strings.Join(stub.asked, ",") != "GCOrphans" {
			t.Errorf("exit %d, stdout %q, asked %v", code, out, stub.asked)
		}
	})
	t.Run("deploy --verbose", func(t *testing.T) {
		code, out := runVerb(t, &stubOrchestrator{}, "deploy", "--env", "dev", "--version", "v2", "--verbose")
		if code != 0 || !strings.HasSuffix(out, "\nsteps: lock 0.0s, version 41.2s\n") {
			t.Errorf("exit %d, stdout %q; want the steps' times last", code, out)
		}
		if _, out := runVerb(t, &stubOrchestrator{}, "deploy", "--env", "dev", "--version", "v2"); strings.Contains(out, "steps:") {
			t.Errorf("without --verbose: %q", out)
		}
	})
	t.Run("deploy --ttl", func(t *testing.T) {
		stub := &stubOrchestrator{}
		if code, _ := runVerb(t, stub, "deploy", "--env", "pr-42", "--version", "v2", "--ttl", "72h"); code != 0 || stub.deploy.TTL != 72*time.Hour {
			t.Errorf("exit %d, asked to deploy with TTL %s, want 72h", code, stub.deploy.TTL)
		}
	})
	t.Run("gc --expired", func(t *testing.T) {
		stub := &stubOrchestrator{}
		code, out := runVerb(t, stub, "gc", "--expired", "--dry-run")
		if code != 0 || out != "no expired envs (0 expire later)\n" || strings.Join(stub.asked, ",") != "GCExpired" {
			t.Errorf("exit %d, stdout %q, asked %v", code, out, stub.asked)
		}
	})
	t.Run("destroy", func(t *testing.T) {
		code, out := runVerb(t, &stubOrchestrator{}, "destroy", "--env", "dev", "--yes")
		if code != 0 || out != "env dev destroyed: versions v1 and the env stack\n" {
			t.Errorf("exit %d, stdout %q", code, out)
		}
	})
	t.Run("preview with violations", func(t *testing.T) {
		stub := &stubOrchestrator{plan: orchestrator.Plan{Env: "dev", Version: "v2", From: "v1", To: "v2",
			Violations: []orchestrator.Violation{{Rule: "immutable", Resource: "dev.v1", Message: "would change"}}}}
		for _, flags := range [][]string{{"--json"}, {"--format", "json"}} {
			code, out := runVerb(t, stub, append([]string{"preview", "--env", "dev", "--version", "v2"}, flags...)...)
			// One JSON document: the plan, with the failure's error and code.
			dec := json.NewDecoder(strings.NewReader(out))
			var got struct {
				Version    string
				Violations []orchestrator.Violation
				ExitCode   int
			}
			if err := dec.Decode(&got); err != nil || dec.More() {
				t.Fatalf("%v: stdout is not one JSON document (%v):\n%s", flags, err, out)
			}
			if code != ExitViolations || got.ExitCode != ExitViolations || got.Version != "v2" || len(got.Violations) != 1 {
				t.Errorf("%v: exit %d, JSON %+v", flags, code, got)
			}
		}
	})
	t.Run("logs", func(t *testing.T) {
		stub := &stubOrchestrator{
			logs:    []orchestrator.LogLine{{Version: "v1", Source: "dev-v1-0", Line: "one"}, {Version: "v1", Source: "dev-v1-0", Line: "two"}},
			logsErr: errors.New("the Docker engine went away"),
		}
		code, out := runVerb(t, stub, "logs", "--env", "dev", "--json")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != ExitError || len(lines) != 3 {
			t.Fatalf("exit %d, stdout %q; want two lines and the failure", code, out)
		}
		var last struct{ Error string }
		if json.Unmarshal([]byte(lines[2]), &last); last.Error != "the Docker engine went away" {
			t.Errorf("last line %s, want the failure", lines[2])
		}
		stub.logsErr = nil
		code, out = runVerb(t, stub, "logs", "--env", "dev")
		if code != 0 || !bytes.Contains([]byte(out), []byte("v1 dev-v1-0 | two\n")) {
			t.Errorf("exit %d, stdout %q", code, out)
		}
	})
}
