package stacks

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const envFileYAML = `# the dev env
config:
  phoenix:platform: docker
  phoenix:replicas: 3
  phoenix:environment:
    LOG_LEVEL: debug
    DB_PASSWORD:
      secure: v1:abc123
  phoenix:analysis:
    maxErrorRate: 0.05
    bake: 5m
  phoenix:healthCheckCommand: ["CMD", "/app", "-check"]
`

func writeEnvFile(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.dev.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestEnvFileRefusesTrafficKeys: a traffic key that pulumi up --config
// saved into an env's file is refused, with the command that removes it.
func TestEnvFileRefusesTrafficKeys(t *testing.T) {
	for _, k := range []string{KeyLive, KeyCandidate, KeyCandidateWeight, KeyExpectTraffic} {
		f, err := ReadEnvFile(writeEnvFile(t, "config:\n  phoenix:platform: docker\n  "+k+": \"1\"\n"), "dev")
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Config()
		if want := "pulumi config rm " + k + " -s dev"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Config() of a file with %s: %v, want a refusal saying %q", k, err, want)
		}
		if _, err := f.Definition(); err == nil {
			t.Errorf("Definition() of a file with %s: no error", k)
		}
	}
}

func TestEnvFileReadsAsThePulumiProgramDoes(t *testing.T) {
	f, err := ReadEnvFile(writeEnvFile(t, envFileYAML), "dev")
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		KeyReplicas:    "3",
		KeyEnvironment: `{"DB_PASSWORD":"[secret]","LOG_LEVEL":"debug"}`,
		KeyAnalysis:    `{"bake":"5m","maxErrorRate":0.05}`,
		KeyHealthCheck: `["CMD","/app","-check"]`,
	} {
		if got, ok := f.Get(key); !ok || got != want {
			t.Errorf("Get(%s) = %q, %v; want %q", key, got, ok, want)
		}
	}
	c, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	if c.Replicas != 3 || c.Analysis.MaxErrorRate != 0.05 || c.Environment["LOG_LEVEL"] != "debug" || c.TrafficGiven || c.AppPort != 8080 {
		t.Errorf("Config() = %+v", c)
	}
	// The version id hashes the file without the operation keys, with the
	// secret's ciphertext.
	b, err := f.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{KeyAnalysis} {
		if strings.Contains(string(b), gone) {
			t.Errorf("Canonical() holds %s: %s", gone, b)
		}
	}
	if !strings.Contains(string(b), "v1:abc123") {
		t.Errorf("Canonical() lost the secret's ciphertext: %s", b)
	}
}

func TestEnvFileErrors(t *testing.T) {
	if _, err := ReadEnvFile(t.TempDir(), "qa"); err == nil || !strings.Contains(err.Error(), "copy Pulumi.dev.yaml") {
		t.Errorf("a missing file: %v", err)
	}
	if _, err := ReadEnvFile(writeEnvFile(t, "config: [\n"), "dev"); err == nil || !strings.Contains(err.Error(), "not valid YAML") {
		t.Errorf("bad YAML: %v", err)
	}
	f, err := ReadEnvFile(writeEnvFile(t, "config:\n  phoenix:replicas: 0\n"), "dev")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Config(); err == nil || !strings.Contains(err.Error(), "Pulumi.dev.yaml") || !strings.Contains(err.Error(), KeyReplicas) {
		t.Errorf("an invalid value: %v", err)
	}
	if f.Platform() != DefaultPlatform {
		t.Errorf("Platform() of a file that sets none: %s", f.Platform())
	}
	empty, err := ReadEnvFile(writeEnvFile(t, ""), "dev")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := empty.Config(); err != nil || !reflect.DeepEqual(c.Analysis, DefaultAnalysis) {
		t.Errorf("an empty file: %+v, %v", c, err)
	}
}

// TestExampleEnvFiles: every env config file at the top of the repository
// (the examples a user copies, and the review envs' template) is one the
// program accepts, but for the placeholders it refuses on purpose until
// they are replaced (prod's certificate).
func TestExampleEnvFiles(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "Pulumi.*.yaml"))
	if err != nil || len(paths) < 3 {
		t.Fatalf("example env files %v (%v): want dev, prod and review at least", paths, err)
	}
	for _, p := range paths {
		env := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "Pulumi."), ".yaml")
		f, err := ReadEnvFile("..", env)
		if err == nil {
			_, err = f.Config()
		}
		if err != nil && !strings.Contains(err.Error(), "the example's placeholder") {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestConfiguredByEnv: a version stack whose own file has no config (as
// pulumi stack init leaves it) runs with the project's defaults; where the
// env's file sets something else, the program refuses and names the
// --config-file to pass. A version run with the env's settings, or whose
// own file holds them (as phoenix writes it), goes through.
func TestConfiguredByEnv(t *testing.T) {
	dir := writeEnvFile(t, "config:\n  phoenix:platform: docker\n  phoenix:replicas: \"3\"\n")
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	name := StackName{Env: "dev", Version: "v1"}
	config := func(get func(string) (string, bool)) *Config {
		t.Helper()
		c, err := ParseConfig(get)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	defaults := config(func(string) (string, bool) { return "", false })
	envs := config(func(k string) (string, bool) {
		if k == KeyReplicas {
			return "3", true
		}
		return "", false
	})

	// No file of its own: its config came from --config-file (or phoenix).
	if err := configuredByEnv(dir, name, defaults); err != nil {
		t.Errorf("no own file: %v", err)
	}
	write("Pulumi.dev.v1.yaml", "encryptionsalt: v1:abc\n")
	err := configuredByEnv(dir, name, defaults)
	if err == nil || !strings.Contains(err.Error(), "--config-file Pulumi.dev.yaml") || !strings.Contains(err.Error(), KeyReplicas) {
		t.Errorf("an empty own file and the defaults: %v, want a refusal naming %s and --config-file", err, KeyReplicas)
	}
	if err := configuredByEnv(dir, name, envs); err != nil {
		t.Errorf("an empty own file and the env's settings (--config-file): %v", err)
	}
	write("Pulumi.dev.v1.yaml", "config:\n  phoenix:replicas: \"2\"\n")
	if err := configuredByEnv(dir, name, defaults); err != nil {
		t.Errorf("an own file with settings: %v", err)
	}
}
