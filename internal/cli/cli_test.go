package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-iac/phoenix/internal/iostreams"
	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testFactory is a Factory whose orchestrator must not be reached.
func testFactory(t *testing.T) (*Factory, *iostreams.IOStreams) {
	io, _, _, _ := iostreams.Test()
	f := NewFactory(io)
	f.Getenv = func(string) string { return "" }
	f.Orchestrator = func(context.Context, *GlobalOptions) (Orchestrator, error) {
		t.Fatal("the command reached the orchestrator")
		return nil, nil
	}
	return f, io
}

func TestHelpGolden(t *testing.T) {
	// Every verb has its golden help: the list is the command tree's.
	verbs := []string{""}
	f, _ := testFactory(t)
	for _, c := range NewRootCmd(f).Commands() {
		if c.Name() != "help" {
			verbs = append(verbs, c.Name())
		}
	}
	for _, verb := range verbs {
		name := verb
		if name == "" {
			name = "phoenix"
		}
		t.Run(name, func(t *testing.T) {
			f, io := testFactory(t)
			args := []string{"--help"}
			if verb != "" {
				args = []string{verb, "--help"}
			}
			if code := Main(context.Background(), args, f); code != 0 {
				t.Fatalf("exit %d", code)
			}
			got := io.Out.(interface{ String() string }).String()
			path := filepath.Join("testdata", "help", name+".txt")
			if *update {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -update creates it)", err)
			}
			if got != string(want) {
				t.Errorf("help differs from %s (go test -update rewrites it):\n%s", path, got)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"deploy"}, "--env is required"},
		{[]string{"deploy", "--env", "Prod"}, "--env: env name"},
		{[]string{"deploy", "--env", "dev", "--version", "a.b"}, "--version: version"},
		{[]string{"deploy", "--env", "dev", "--canary", "50,10"}, "steps must increase"},
		{[]string{"deploy", "--env", "dev", "--canary", "0"}, "from 1 to 99"},
		{[]string{"deploy", "--env", "dev", "--canary", "ten"}, "from 1 to 99"},
		{[]string{"deploy", "--env", "dev", "--gate-count", "0"}, "--gate-count must be 1 or more"},
		{[]string{"deploy", "--env", "dev", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"deploy", "dev"}, "takes no arguments"},
		{[]string{"rollback", "--env", "dev", "--to", "-x"}, "--to: version"},
		{[]string{"gc", "--env", "dev", "--keep", "-5"}, "--keep must be 0 or more"},
		{[]string{"gc", "--env", "dev", "--keep", "-1"}, "--keep must be 0 or more"},
		{[]string{"status"}, "--env is required"},
		{[]string{"destroy", "--env", "dev"}, "pass --yes"},
		{[]string{"deploy", "--env", "dev", "--max-error-rate", "5"}, "a fraction from 0 to 1"},
		{[]string{"deploy", "--env", "dev", "--max-latency-ratio", "0.5"}, "a multiple of 1 or more"},
		{[]string{"deploy", "--env", "dev", "--min-requests", "0"}, "--min-requests 0: 1 or more"},
		{[]string{"deploy", "--env", "dev", "--step-timeout", "0s"}, "a duration above 0"},
		{[]string{"deploy", "--env", "dev", "--analysis=false", "--bake", "5m"}, "would do nothing"},
		{[]string{"deploy", "--env", "pr-42", "--ttl", "0s"}, "--ttl 0s: a duration over 0"},
		{[]string{"deploy", "--env", "pr-42", "--ttl", "-1h"}, "--ttl -1h0m0s: a duration of 0 or more"},
		{[]string{"deploy", "--env", "pr-42", "--ttl", "3 days"}, `invalid argument "3 days" for "--ttl"`},
		{[]string{"promote", "--to", "prod"}, "--from is required"},
		{[]string{"promote", "--from", "staging"}, "--to is required"},
		{[]string{"promote", "--from", "staging", "--to", "Prod"}, "--to: env name"},
		{[]string{"promote", "--from", "prod", "--to", "prod"}, "--from and --to are both prod"},
		{[]string{"promote", "--from", "Staging", "--to", "prod"}, "--from: env name"},
		{[]string{"promote", "--from", "staging", "--to", "prod", "--version", "a.b"}, "--version: version"},
		{[]string{"promote", "--from", "staging", "--to", "prod", "--canary", "50,10"}, "steps must increase"},
		{[]string{"promote", "--from", "staging", "--to", "prod", "--ttl", "1h"}, "unknown flag: --ttl"},
		{[]string{"gc", "--expired", "--env", "dev"}, "give it without --env"},
		{[]string{"gc", "--expired", "--keep", "1"}, "without --keep and --orphans"},
		{[]string{"gc", "--expired", "--orphans"}, "without --keep and --orphans"},
		{[]string{"gc", "--expired", "--wait", "-1s"}, "--wait -1s"},
		{[]string{"gc"}, "--env is required"},
		{[]string{"logs"}, "--env is required"},
		{[]string{"logs", "--env", "dev", "--version", "V1"}, "--version"},
		{[]string{"logs", "--env", "dev", "--since", "-5m"}, "--since -5m0s: a duration of 0 or more"},
		// No duration flag of any verb takes a negative value.
		{[]string{"deploy", "--env", "dev", "--gate-timeout", "-5s"}, "--gate-timeout -5s: a duration of 0 or more"},
		{[]string{"deploy", "--env", "dev", "--gate-timeout", "0s"}, "--gate-timeout 0s"},
		{[]string{"deploy", "--env", "dev", "--step-wait", "-1s"}, "--step-wait -1s: a duration of 0 or more"},
		{[]string{"deploy", "--env", "dev", "--wait", "-1m"}, "--wait -1m0s: a duration of 0 or more"},
		{[]string{"deploy", "--env", "dev", "--bake", "-1m"}, "--bake -1m0s: a duration of 0 or more"},
		{[]string{"rollback", "--env", "dev", "--gate-timeout", "-1s"}, "--gate-timeout -1s"},
		{[]string{"rollback", "--env", "dev", "--gate-count", "0"}, "--gate-count must be 1 or more"},
		{[]string{"rollback", "--env", "dev", "--wait", "-1s"}, "--wait -1s"},
		{[]string{"gc", "--env", "dev", "--wait", "-1s"}, "--wait -1s"},
		{[]string{"destroy", "--env", "dev", "--yes", "--wait", "-1s"}, "--wait -1s"},
		{[]string{"preview", "--env", "dev", "--json", "--format", "markdown"}, "--json is --format json"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f, io := testFactory(t)
			code := Main(context.Background(), tt.args, f)
			errOut := io.ErrOut.(interface{ String() string }).String()
			if code != ExitUsage {
				t.Errorf("exit %d, want %d; stderr: %s", code, ExitUsage, errOut)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr %q does not contain %q", errOut, tt.want)
			}
			if strings.Contains(errOut, "goroutine") || strings.Contains(errOut, "panic") {
				t.Errorf("stderr holds a stack trace: %s", errOut)
			}
		})
	}
}

func TestNoPassphraseWithoutTerminal(t *testing.T) {
	io, _, _, errOut := iostreams.Test()
	f := NewFactory(io)
	f.Getenv = func(string) string { return "" }
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), []byte("name: phoenix\nruntime: go\n"), 0o644)
	code := Main(context.Background(), []string{"status", "--env", "dev", "--project", dir}, f)
	if code != ExitUsage || !strings.Contains(errOut.String(), "PULUMI_CONFIG_PASSPHRASE") {
		t.Errorf("exit %d, stderr %q; want a usage error naming PULUMI_CONFIG_PASSPHRASE", code, errOut)
	}
}

// TestPreviewRedactsWithoutPassphrase: preview decrypts nothing without a
// passphrase or with --no-decrypt; every other verb needs the passphrase,
// and a KMS provider's preview decrypts unless told not to.
func TestPreviewRedactsWithoutPassphrase(t *testing.T) {
	for _, tt := range []struct {
		name       string
		secrets    secretsUse
		provider   string
		passphrase string
		want       bool
	}{
		{"status without a passphrase", secretsNeeded, "", "", false},
		{"preview without a passphrase", secretsIfGiven, "", "", true},
		{"preview with a passphrase", secretsIfGiven, "", "x", false},
		{"preview --no-decrypt with a passphrase", secretsNever, "", "x", true},
		{"preview with a KMS provider", secretsIfGiven, "awskms://alias/x", "", false},
		{"preview --no-decrypt with a KMS provider", secretsNever, "awskms://alias/x", "", true},
	} {
		io, _, _, _ := iostreams.Test()
		f := NewFactory(io)
		f.Getenv = func(k string) string {
			if k == "PULUMI_CONFIG_PASSPHRASE" {
				return tt.passphrase
			}
			return ""
		}
		if got := f.Redact(&GlobalOptions{SecretsProvider: tt.provider, secrets: tt.secrets}); got != tt.want {
			t.Errorf("%s: Redact = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNotAProjectDirectory(t *testing.T) {
	io, _, _, errOut := iostreams.Test()
	f := NewFactory(io)
	code := Main(context.Background(), []string{"version", "--env", "dev", "--project", t.TempDir()}, f)
	if code != ExitUsage || !strings.Contains(errOut.String(), "holds no Pulumi.yaml") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{errors.New("boom"), ExitError},
		{&orchestrator.ImmutableError{Stack: "dev.v1"}, ExitImmutable},
		{&orchestrator.GateError{Err: errors.New("x")}, ExitChangeFailed},
		{&orchestrator.DriftError{}, ExitChangeFailed},
		{&orchestrator.DeployError{Err: errors.New("deploying version stack dev.v1: exit status 255")}, ExitChangeFailed},
		{fmt.Errorf("x: %w", &orchestrator.DeployError{Err: &orchestrator.GateError{Err: errors.New("y")}}), ExitChangeFailed},
		{&orchestrator.NotFoundError{What: "x"}, ExitNotFound},
		{context.Canceled, ExitCancelled},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestInterruptedExits130: Ctrl-C cancels the command's context; however
// the failure is reported (the Automation API wraps no context.Canceled),
// phoenix exits 130.
func TestInterruptedExits130(t *testing.T) {
	f, io := testFactory(t)
	ctx, cancel := context.WithCancel(context.Background())
	f.Orchestrator = func(context.Context, *GlobalOptions) (Orchestrator, error) {
		cancel() // the interrupt arrives while the command runs
		return nil, errors.New("failed to run update: exit status 255")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), []byte("name: phoenix\nruntime: go\n"), 0o644)
	if code := Main(ctx, []string{"status", "--env", "dev", "--project", dir}, f); code != ExitCancelled {
		t.Errorf("exit %d, want %d; stderr: %s", code, ExitCancelled, io.ErrOut)
	}
}

func TestVersionCommandOnTheRepository(t *testing.T) {
	f, io := testFactory(t)
	root, _ := filepath.Abs("../..")
	code := Main(context.Background(), []string{"version", "--env", "dev", "--project", root}, f)
	out := strings.TrimSpace(io.Out.(interface{ String() string }).String())
	if code != 0 || len(out) != 8 {
		t.Fatalf("exit %d, output %q; want an 8-digit version", code, out)
	}
	f2, io2 := testFactory(t)
	Main(context.Background(), []string{"version", "--env", "dev", "--project", root}, f2)
	if again := strings.TrimSpace(io2.Out.(interface{ String() string }).String()); again != out {
		t.Errorf("version changed between two runs: %s, %s", out, again)
	}
}

// TestBadDurationSettings: a setting read from the environment that is not
// a duration phoenix can use is a usage error naming it, before anything
// runs.
func TestBadDurationSettings(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), []byte("name: phoenix\nruntime: go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ key, value string }{
		{"PHOENIX_STACK_LOCK_WAIT", "soon"},
		{"PHOENIX_STACK_LOCK_WAIT", "10ms"},
		{"PHOENIX_LEASE_TTL", "1s"},
	} {
		streams, _, _, errOut := iostreams.Test()
		f := NewFactory(streams)
		f.Getenv = func(k string) string {
			switch k {
			case "PULUMI_CONFIG_PASSPHRASE":
				return "test"
			case tc.key:
				return tc.value
			}
			return ""
		}
		code := Main(context.Background(), []string{"status", "--env", "dev", "--project", dir}, f)
		if code != ExitUsage || !strings.Contains(errOut.String(), tc.key+"=\""+tc.value+"\"") {
			t.Errorf("%s=%s: exit %d, stderr %q; want %d naming the setting", tc.key, tc.value, code, errOut, ExitUsage)
		}
	}
}
