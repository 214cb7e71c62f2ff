package cli

import (
	"context"
	"testing"
	"time"
)

// TestFlagsParse runs each verb's command with a stand-in run function
// (runF), as the GitHub CLI's tests do, so that what the flags parse into
// is checked without running anything.
func TestFlagsParse(t *testing.T) {
	run := func(t *testing.T, cmd interface {
		SetArgs([]string)
		ExecuteContext(context.Context) error
	}, args ...string) {
		t.Helper()
		cmd.SetArgs(args)
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	f, _ := testFactory(t)
	g := &GlobalOptions{}

	t.Run("deploy", func(t *testing.T) {
		var got *DeployOptions
		cmd := newDeployCmd(f, g, func(_ context.Context, o *DeployOptions) error { got = o; return nil })
		run(t, cmd, "--env", "prod", "--canary", "10,50", "--step-wait", "2m", "--step-timeout", "20m", "--bake", "5m",
			"--max-error-rate", "0.005", "--min-requests", "500", "--gate-count", "9", "--keep-failed", "--json")
		if got.Env != "prod" || got.Canary != "10,50" || got.StepWait != 2*time.Minute || got.StepTimeout != 20*time.Minute ||
			got.GateCount != 9 || !got.KeepFailed || !got.JSON || !got.Analysis {
			t.Errorf("parsed %+v", got)
		}
		if got.Bake == nil || *got.Bake != 5*time.Minute || got.MaxErrorRate == nil || *got.MaxErrorRate != 0.005 ||
			got.MinRequests == nil || *got.MinRequests != 500 {
			t.Errorf("the analysis overrides given did not parse: %+v", got)
		}
		if got.MaxLatencyRatio != nil || got.MaxErrorRateRatio != nil {
			t.Errorf("overrides not given must stay unset, so the env's phoenix:analysis holds: %+v", got)
		}
	})
	t.Run("deploy without analysis", func(t *testing.T) {
		var got *DeployOptions
		cmd := newDeployCmd(f, g, func(_ context.Context, o *DeployOptions) error { got = o; return nil })
		run(t, cmd, "--env", "dev", "--analysis=false")
		if got.Analysis || got.Bake != nil || got.StepWait != 30*time.Second || got.GateCount != 5 {
			t.Errorf("parsed %+v", got)
		}
	})
	t.Run("rollback", func(t *testing.T) {
		var got *RollbackOptions
		cmd := newRollbackCmd(f, g, func(_ context.Context, o *RollbackOptions) error { got = o; return nil })
		run(t, cmd, "--env", "dev", "--to", "3f9a1c2e", "--force", "--wait", "1m")
		if got.To != "3f9a1c2e" || !got.Force || got.Wait != time.Minute {
			t.Errorf("parsed %+v", got)
		}
	})
	t.Run("gc", func(t *testing.T) {
		var got *GCOptions
		cmd := newGCCmd(f, g, func(_ context.Context, o *GCOptions) error { got = o; return nil })
		run(t, cmd, "--env", "dev", "--dry-run")
		if got.Keep != -1 || !got.DryRun || got.Orphans {
			t.Errorf("parsed %+v; --keep unset must mean the env's retention (-1)", got)
		}
	})
	t.Run("logs", func(t *testing.T) {
		var got *LogsOptions
		cmd := newLogsCmd(f, g, func(_ context.Context, o *LogsOptions) error { got = o; return nil })
		run(t, cmd, "--env", "dev", "-f", "--since", "10m", "--version", "3f9a1c2e")
		if !got.Follow || got.Since != 10*time.Minute || got.Version != "3f9a1c2e" {
			t.Errorf("parsed %+v", got)
		}
	})
	t.Run("destroy", func(t *testing.T) {
		var got *DestroyOptions
		cmd := newDestroyCmd(f, g, func(_ context.Context, o *DestroyOptions) error { got = o; return nil })
		run(t, cmd, "--env", "pr-1", "--yes", "--json")
		if got.Env != "pr-1" || !got.Yes || !got.JSON {
			t.Errorf("parsed %+v", got)
		}
	})
	t.Run("history", func(t *testing.T) {
		var got *HistoryOptions
		cmd := newHistoryCmd(f, g, func(_ context.Context, o *HistoryOptions) error { got = o; return nil })
		run(t, cmd, "--env", "prod", "--json")
		if got.Env != "prod" || !got.JSON {
			t.Errorf("parsed %+v", got)
		}
	})
	t.Run("preview", func(t *testing.T) {
		var got *PreviewOptions
		cmd := newPreviewCmd(f, g, func(_ context.Context, o *PreviewOptions) error { got = o; return nil })
		run(t, cmd, "--env", "prod", "--format", "markdown", "--output", "p.md", "--version", "3f9a1c2e")
		if got.Format != "markdown" || got.Output != "p.md" || got.Version != "3f9a1c2e" {
			t.Errorf("parsed %+v", got)
		}
		cmd = newPreviewCmd(f, g, func(_ context.Context, o *PreviewOptions) error { got = o; return nil })
		run(t, cmd, "--env", "prod", "--json")
		if got.Format != "json" {
			t.Errorf("--json parsed into format %q, want json", got.Format)
		}
	})
	t.Run("version", func(t *testing.T) {
		var got *VersionOptions
		cmd := newVersionCmd(f, g, func(_ context.Context, o *VersionOptions) error { got = o; return nil })
		run(t, cmd, "--env", "qa", "--json")
		if got.Env != "qa" || !got.JSON {
			t.Errorf("parsed %+v", got)
		}
	})
	t.Run("unlock", func(t *testing.T) {
		var got *UnlockOptions
		cmd := newUnlockCmd(f, g, func(_ context.Context, o *UnlockOptions) error { got = o; return nil })
		run(t, cmd, "--env", "dev", "--force")
		if got.Env != "dev" || !got.Force || got.JSON {
			t.Errorf("parsed %+v", got)
		}
	})
	t.Run("status", func(t *testing.T) {
		var got *StatusOptions
		cmd := newStatusCmd(f, g, func(_ context.Context, o *StatusOptions) error { got = o; return nil })
		run(t, cmd, "--env", "dev", "--json")
		if got.Env != "dev" || !got.JSON {
			t.Errorf("parsed %+v", got)
		}
	})
}
