package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/internal/analysis"
	"github.com/phoenix-iac/phoenix/internal/iostreams"
	"github.com/phoenix-iac/phoenix/internal/lease"
	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

// now is the clock of the views' golden files.
var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func ms(n float64) analysis.Duration { return analysis.Duration(n * float64(time.Millisecond)) }

// viewCases are each verb's results, as their human and JSON views show
// them; an err is a failure, which only the JSON view shows (the human
// one leaves it to the message on stderr, except gc's partial result).
var viewCases = []struct {
	name string
	res  any
	err  error
}{
	{name: "deploy-first", res: orchestrator.DeployResult{Env: "dev", Version: "3f9a1c2e", Created: true, URL: "http://localhost:8080"}},
	{name: "deploy-canary", res: canaryResult},
	{name: "deploy-noop", res: orchestrator.DeployResult{Env: "dev", Version: "3f9a1c2e", NoOp: true, URL: "http://localhost:8080"}},
	{name: "deploy-aborted", res: abortedResult, err: &orchestrator.DeployError{Err: fmt.Errorf("deploy of dev.8b1e0d4a failed: %w\nlive is still 3f9a1c2e and the candidate route is cleared",
		&orchestrator.AnalysisError{Step: abortedResult.Analysis[0]})}},
	{name: "rollback", res: orchestrator.RollbackResult{Env: "dev", From: "8b1e0d4a", To: "3f9a1c2e"}},
	{name: "rollback-noop", res: orchestrator.RollbackResult{Env: "dev", From: "3f9a1c2e", To: "3f9a1c2e", NoOp: true}},
	{name: "rollback-drift", res: orchestrator.RollbackResult{Env: "dev", From: "8b1e0d4a", To: "3f9a1c2e"}, err: &orchestrator.DriftError{Stack: "dev.3f9a1c2e", Drift: "1 resource changed"}},
	{name: "status", res: statusResult},
	{name: "status-not-deployed", res: orchestrator.Status{Env: "dev", Versions: []orchestrator.VersionInfo{}}},
	{name: "status-missing-env", res: orchestrator.Status{Env: "qa", Versions: []orchestrator.VersionInfo{}}, err: &orchestrator.NotFoundError{What: "env qa has not been deployed; deploy it with: phoenix deploy --env qa"}},
	{name: "history", res: historyResult},
	{name: "history-empty", res: []orchestrator.Event{}},
	{name: "gc", res: orchestrator.GCResult{Env: "dev", Kept: []string{"8b1e0d4a", "3f9a1c2e"}, Destroyed: []string{"11aa22bb"}}},
	{name: "gc-dry-run", res: orchestrator.GCResult{Env: "dev", Kept: []string{"8b1e0d4a"}, Destroyed: []string{}, DryRun: true}},
	{name: "gc-stopped", res: orchestrator.GCResult{Env: "dev", Kept: []string{"8b1e0d4a"}, Destroyed: []string{"11aa22bb"}}, err: errors.New("gc stopped: destroying dev.00ff00ff: exit status 255")},
	{name: "gc-orphans", res: orchestrator.OrphansResult{Env: "dev", Orphans: []orchestrator.Orphan{{Kind: "container", ID: "c0ffee", Name: "dev-v9-0", Version: "v9"}}, Removed: []orchestrator.Orphan{{Kind: "container", ID: "c0ffee", Name: "dev-v9-0", Version: "v9"}}}},
	{name: "gc-no-orphans", res: orchestrator.OrphansResult{Env: "dev", Orphans: []orchestrator.Orphan{}, Removed: []orchestrator.Orphan{}}},
	{name: "gc-expired", res: orchestrator.ExpiredResult{Kept: 2, Envs: []orchestrator.ExpiredEnv{
		{Env: "pr-7", Expires: now.Add(-26 * time.Hour), Destroyed: true},
		{Env: "pr-9", Expires: now.Add(-time.Hour), Error: "env pr-9 is locked by a deploy of bob@laptop"}}},
		err: errors.New("1 expired env(s) not destroyed: pr-9; see each one's error, then run phoenix gc --expired again")},
	{name: "gc-expired-none", res: orchestrator.ExpiredResult{DryRun: true, Kept: 1, Envs: []orchestrator.ExpiredEnv{}}},
	{name: "status-expires", res: func() orchestrator.Status {
		st := orchestrator.Status{Env: "pr-7", Deployed: true, Platform: "aws", URL: "http://pr-7.example.com", Live: "8b1e0d4a", Retention: 1,
			Versions: []orchestrator.VersionInfo{{Version: "8b1e0d4a", Stack: "pr-7.8b1e0d4a", Deployed: now.Add(-time.Hour), LastUpdate: now.Add(-time.Hour), Resources: 4, Role: "live", Complete: true}}}
		t := now.Add(71 * time.Hour)
		st.Expires = &t
		return st
	}()},
	{name: "envs", res: orchestrator.EnvsResult{SameArtifact: true, SameProgram: true, Envs: []orchestrator.Status{
		{Env: "prod", Deployed: true, Platform: "aws", URL: "https://app.example.com", Live: "8b1e0d4a", Candidate: "c0c0c0c0", CandidateWeight: 10, Retention: 3,
			Versions: []orchestrator.VersionInfo{{Version: "8b1e0d4a", Stack: "prod.8b1e0d4a", Deployed: now.Add(-26 * time.Hour), Role: "live", Complete: true, Resources: 9,
				Artifact: "a11ce5ed", Program: "70a9c3e1", Image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/phoenix-prod@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}},
		{Env: "staging", Deployed: true, Platform: "aws", URL: "https://staging.example.com", Live: "3f9a1c2e", Retention: 1,
			Versions: []orchestrator.VersionInfo{{Version: "3f9a1c2e", Stack: "staging.3f9a1c2e", Deployed: now.Add(-2 * time.Hour), Role: "live", Complete: true, Resources: 9,
				Artifact: "a11ce5ed", Program: "70a9c3e1", Image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/phoenix-staging@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}},
	}, Differences: []orchestrator.ConfigDifference{
		{Key: "phoenix:hostname", Values: map[string]string{"prod": "app.example.com", "staging": "staging.example.com"}},
		{Key: "phoenix:replicas", Values: map[string]string{"prod": "3", "staging": ""}},
	}}},
	{name: "envs-none", res: orchestrator.EnvsResult{Envs: []orchestrator.Status{}, Differences: []orchestrator.ConfigDifference{}}},
	{name: "destroy", res: orchestrator.DestroyResult{Env: "dev", Versions: []string{"8b1e0d4a", "3f9a1c2e"}, EnvStack: true}},
	{name: "destroy-nothing", res: orchestrator.DestroyResult{Env: "dev", Versions: []string{}}},
	{name: "destroy-no-versions", res: orchestrator.DestroyResult{Env: "dev", Versions: []string{}, EnvStack: true}},
	{name: "version", res: VersionResult{Env: "dev", Version: "3f9a1c2e", Stack: "dev.3f9a1c2e"}},
	{name: "unlock", res: UnlockResult{Env: "dev", Holder: &lease.Holder{Command: "deploy", User: "alice", Host: "laptop", PID: 4242, Since: now.Add(-time.Hour), TTL: lease.Duration(2 * time.Minute), Token: 7}}},
	{name: "unlock-force", res: UnlockResult{Env: "dev", StackLocks: []orchestrator.StackLock{
		{Stack: "dev", User: "runner", Host: "ci-7", PID: 311, Since: now.Add(-10 * time.Minute)},
		{Stack: "dev.3f9a1c2e", User: "runner", Host: "ci-7", PID: 377, Since: now.Add(-9 * time.Minute)}}}},
	{name: "logs-line", res: orchestrator.LogLine{Time: now, Version: "3f9a1c2e", Source: "dev-3f9a1c2e-0", Stream: "stderr", Line: "phoenix-app 3f9a1c2e listening on :8080"}},
}

var canaryResult = orchestrator.DeployResult{Env: "dev", Version: "8b1e0d4a", Previous: "3f9a1c2e", Created: true, URL: "http://localhost:8080",
	Analysis: []orchestrator.StepAnalysis{
		{Step: "canary 10%", Weight: 10, Version: "8b1e0d4a", BaseVersion: "3f9a1c2e", Seconds: 30, Judgment: analysis.Judgment{Verdict: analysis.Pass,
			Reason: "error rate 0% (base 0.1%), p99 48ms (base 47ms)",
			New:    analysis.Stats{Requests: 312, P50: ms(41), P99: ms(48)}, Base: analysis.Stats{Requests: 2803, Errors: 3, P50: ms(40.5), P99: ms(47)}}},
		{Step: "canary 50%", Weight: 50, Version: "8b1e0d4a", BaseVersion: "3f9a1c2e", Seconds: 30, Judgment: analysis.Judgment{Verdict: analysis.Pass,
			Reason: "error rate 0% (base 0%), p99 49ms (base 48ms)",
			New:    analysis.Stats{Requests: 1502, P50: ms(41), P99: ms(49)}, Base: analysis.Stats{Requests: 1497, P50: ms(40.7), P99: ms(48)}}},
	}}

var abortedResult = orchestrator.DeployResult{Env: "dev", Version: "8b1e0d4a", Previous: "3f9a1c2e", Created: true, URL: "http://localhost:8080",
	Analysis: []orchestrator.StepAnalysis{
		{Step: "canary 10%", Weight: 10, Version: "8b1e0d4a", BaseVersion: "3f9a1c2e", Seconds: 4, Judgment: analysis.Judgment{Verdict: analysis.Fail,
			Reason: "error rate 5% (6 of 120) is over 1% (base 0%)",
			New:    analysis.Stats{Requests: 120, Errors: 6, P50: ms(41), P99: ms(48)}, Base: analysis.Stats{Requests: 1080, P50: ms(40.5), P99: ms(47)}}},
	}}

var statusResult = orchestrator.Status{Env: "dev", Deployed: true, Platform: "docker", URL: "http://localhost:8080",
	Live: "8b1e0d4a", Candidate: "c0c0c0c0", CandidateWeight: 10, Previous: "3f9a1c2e", Retention: 2,
	Warning: "the last traffic change (canary from 8b1e0d4a to c0c0c0c0, update 9, by alice) failed, so the traffic above is unchanged by it; deploy c0c0c0c0 again with: phoenix deploy --env dev --version c0c0c0c0",
	Versions: []orchestrator.VersionInfo{
		{Version: "c0c0c0c0", Stack: "dev.c0c0c0c0", Deployed: now.Add(-2 * time.Minute), LastUpdate: now.Add(-2 * time.Minute), Resources: 4, Role: "candidate", Complete: true,
			Artifact: "5e1f00d2", Image: "sha256:9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b", Program: "70a9c3e1", PromotedFrom: "staging.77aa5e1f"},
		{Version: "8b1e0d4a", Stack: "dev.8b1e0d4a", Deployed: now.Add(-3 * time.Hour), LastUpdate: now.Add(-17 * time.Second), Resources: 4, Role: "live", Complete: true,
			Artifact: "a11ce5ed", Image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/phoenix-dev@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
		{Version: "3f9a1c2e", Stack: "dev.3f9a1c2e", Deployed: now.Add(-50 * time.Hour), LastUpdate: now.Add(-50 * time.Hour), Resources: 4, Role: "previous", Complete: true},
		{Version: "00ff00ff", Stack: "dev.00ff00ff", LastUpdate: now.Add(-30 * time.Second), Resources: 2, Role: "incomplete"},
	}}

var historyResult = []orchestrator.Event{
	{Update: 5, Time: now.Add(-time.Minute), Op: "clear", From: "c0c0c0c0", To: "8b1e0d4a", By: "alice", Result: "succeeded",
		Why: "canary 10%: fail: c0c0c0c0 120 requests, 5% errors, p50 41ms, p99 48ms; 8b1e0d4a 1080 requests, 0% errors, p50 40.5ms, p99 47ms"},
	{Update: 4, Time: now.Add(-2 * time.Minute), Op: "canary", From: "8b1e0d4a", To: "c0c0c0c0", Weight: 10, By: "alice", Result: "succeeded"},
	{Update: 3, Time: now.Add(-3 * time.Hour), Op: "promote", From: "3f9a1c2e", To: "8b1e0d4a", By: "bob", Result: "succeeded",
		Why: "canary 50%: pass: 8b1e0d4a 1502 requests, 0% errors, p50 41ms, p99 49ms; 3f9a1c2e 1497 requests, 0% errors, p50 40.7ms, p99 48ms"},
	{Update: 1, Time: now.Add(-50 * time.Hour), Op: "create", By: "bob", Result: "succeeded"},
}

// human renders a case's result through its verb's human view.
func human(t *testing.T, res any) func(io.Writer) error {
	switch r := res.(type) {
	case orchestrator.DeployResult:
		return func(w io.Writer) error { return renderDeploy(w, r) }
	case orchestrator.RollbackResult:
		return func(w io.Writer) error { return renderRollback(w, r) }
	case orchestrator.Status:
		return func(w io.Writer) error { return renderStatus(w, r, now) }
	case []orchestrator.Event:
		return func(w io.Writer) error { return renderHistory(w, r) }
	case orchestrator.GCResult:
		return func(w io.Writer) error { return renderGC(w, r) }
	case orchestrator.OrphansResult:
		return func(w io.Writer) error { return renderOrphans(w, r) }
	case orchestrator.EnvsResult:
		return func(w io.Writer) error { return renderEnvs(w, r, now) }
	case orchestrator.ExpiredResult:
		return func(w io.Writer) error { return renderExpired(w, r) }
	case orchestrator.DestroyResult:
		return func(w io.Writer) error { return renderDestroy(w, r) }
	case VersionResult:
		return func(w io.Writer) error { return renderVersion(w, r) }
	case UnlockResult:
		return func(w io.Writer) error { return renderUnlock(w, r) }
	case orchestrator.LogLine:
		return func(w io.Writer) error { return renderLogLine(w, r) }
	}
	t.Fatalf("no human view for %T", res)
	return nil
}

// TestViewsGolden: every verb's human and JSON views, on success and on
// failure, against golden files (go test -update rewrites them). Every
// JSON view parses, and a failure's carries the error and its exit code.
func TestViewsGolden(t *testing.T) {
	for _, tt := range viewCases {
		t.Run(tt.name, func(t *testing.T) {
			streams, _, out, _ := iostreams.Test()
			f := &Factory{IO: streams}
			f.showPartial(false, tt.res, tt.err, func(w io.Writer) error {
				if tt.err != nil && !strings.HasPrefix(tt.name, "gc-") {
					return nil // only gc's human view shows a partial result
				}
				return human(t, tt.res)(w)
			})
			golden(t, tt.name+".txt", out.Bytes())

			var js bytes.Buffer
			if err := writeResult(&js, tt.res, tt.err); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".json", js.Bytes())
			var parsed any
			if err := json.Unmarshal(js.Bytes(), &parsed); err != nil {
				t.Fatalf("the JSON view does not parse: %v\n%s", err, js.String())
			}
			if tt.err != nil {
				obj, _ := parsed.(map[string]any)
				if obj["error"] != tt.err.Error() || obj["exitCode"] != float64(exitCode(tt.err)) {
					t.Errorf("the failure's JSON view has error %v and exitCode %v, want %q and %d", obj["error"], obj["exitCode"], tt.err, exitCode(tt.err))
				}
			}
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "views", name)
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it); got:\n%s", path, got)
	}
}

// TestJSONOnEveryFailure: with --json, every verb writes one JSON
// document on stdout however it fails: bad flags, no project, a failing
// orchestrator; its exitCode is the process's.
func TestJSONOnEveryFailure(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), []byte("name: phoenix\nruntime: go\n"), 0o644)
	verbs := [][]string{
		{"deploy", "--env", "dev", "--version", "v1"}, {"rollback", "--env", "dev"}, {"status", "--env", "dev"},
		{"history", "--env", "dev"}, {"gc", "--env", "dev"}, {"gc", "--env", "dev", "--orphans"},
		{"destroy", "--env", "dev", "--yes"}, {"logs", "--env", "dev"},
	}
	for _, args := range verbs {
		for _, c := range []struct {
			name  string
			extra []string
			want  int
		}{
			{"a failing orchestrator", []string{"--project", dir}, ExitNotFound},
			{"a bad flag", []string{"--project", dir, "--bogus"}, ExitUsage},
			{"no project", []string{"--project", t.TempDir()}, ExitUsage},
		} {
			t.Run(strings.Join(args, " ")+"/"+c.name, func(t *testing.T) {
				streams, _, out, _ := iostreams.Test()
				f := NewFactory(streams)
				f.Getenv = func(k string) string {
					if k == "PULUMI_CONFIG_PASSPHRASE" {
						return "test"
					}
					return ""
				}
				if c.name != "no project" { // which the real factory finds out
					f.Orchestrator = func(context.Context, *GlobalOptions) (Orchestrator, error) {
						return nil, &orchestrator.NotFoundError{What: "env dev has not been deployed"}
					}
				}
				code := Main(context.Background(), append(append(append([]string{}, args...), "--json"), c.extra...), f)
				var got struct {
					Error    string
					ExitCode *int
				}
				if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Error == "" || got.ExitCode == nil {
					t.Fatalf("exit %d; stdout is not one JSON failure (%v):\n%s", code, err, out)
				}
				if code != c.want || *got.ExitCode != code {
					t.Errorf("exit %d, JSON exitCode %d; want %d", code, *got.ExitCode, c.want)
				}
			})
		}
	}
	// version fails before the orchestrator: a missing env config file.
	streams, _, out, _ := iostreams.Test()
	code := Main(context.Background(), []string{"version", "--env", "dev", "--json", "--project", dir}, NewFactory(streams))
	if !json.Valid(out.Bytes()) || code != ExitError {
		t.Errorf("version --json without Pulumi.dev.yaml: exit %d, stdout %s", code, out)
	}
}

// TestSplit: the status bar shows every share, a canary's however small.
func TestSplit(t *testing.T) {
	for _, tt := range []struct {
		st   orchestrator.Status
		want string
	}{
		{orchestrator.Status{}, "none: nothing is live"},
		{orchestrator.Status{Live: "v1"}, "[████████████████████] v1 100%"},
		{orchestrator.Status{Live: "v1", Candidate: "v1", CandidateWeight: 50}, "[████████████████████] v1 100%"},
		{orchestrator.Status{Live: "v1", Candidate: "v2"}, "[████████████████████] v1 100%"},
		{orchestrator.Status{Live: "v1", Candidate: "v2", CandidateWeight: 1}, "[███████████████████░] v1 99% · v2 1%"},
		{orchestrator.Status{Live: "v1", Candidate: "v2", CandidateWeight: 50}, "[██████████░░░░░░░░░░] v1 50% · v2 50%"},
	} {
		if got := split(tt.st); got != tt.want {
			t.Errorf("split(%+v) = %q, want %q", tt.st, got, tt.want)
		}
	}
}

// TestDeploySummaryGolden: the Markdown a deploy appends to --summary, for
// a first deploy, a canary that passed and one the analysis aborted.
func TestDeploySummaryGolden(t *testing.T) {
	first := orchestrator.DeployResult{Env: "dev", Version: "3f9a1c2e", Created: true, URL: "http://localhost:8080",
		Timings: orchestrator.Timings{{Step: "preflight", Seconds: 0.2}, {Step: "version", Seconds: 2.04}, {Step: "candidate", Seconds: 2.5}}}
	for _, tt := range []struct {
		name string
		res  orchestrator.DeployResult
		err  error
	}{
		{"first", first, nil},
		{"canary", canaryResult, nil},
		{"aborted", abortedResult, &orchestrator.AnalysisError{Step: abortedResult.Analysis[0]}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			golden(t, filepath.Join("..", "summary", tt.name+".md"), []byte(deploySummary("deploy", tt.res, tt.err)))
		})
	}
}

// TestSummaryIsAppended: --summary appends (as $GITHUB_STEP_SUMMARY
// wants), and a file that cannot be written is refused before the deploy.
func TestSummaryIsAppended(t *testing.T) {
	path := filepath.Join(t.TempDir(), "summary.md")
	os.WriteFile(path, []byte("# earlier step\n"), 0o644)
	var errOut bytes.Buffer
	appendSummary(path, &errOut, "deploy", canaryResult, nil)
	got, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(got), "# earlier step\n### Phoenix deploy: env `dev`") || errOut.Len() > 0 {
		t.Errorf("summary file %q, stderr %q", got, errOut.String())
	}
	for _, bad := range []string{filepath.Join(t.TempDir(), "missing", "s.md"), t.TempDir()} {
		code, _ := runVerb(t, &stubOrchestrator{}, "deploy", "--env", "dev", "--version", "v2", "--summary", bad)
		if code != ExitUsage {
			t.Errorf("--summary %s: exit %d, want %d", bad, code, ExitUsage)
		}
	}
}
