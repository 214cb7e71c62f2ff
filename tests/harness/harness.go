// Package harness runs Phoenix stacks through the real Pulumi engine against
// the simulated cloud of package simcloud: a file:// backend, PULUMI_HOME and
// work directories of their own per test, stacks.Program as an inline
// program (no language plugin) and the simulated providers attached with
// PULUMI_DEBUG_PROVIDERS.
package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/internal/pulumicli"
	// The platforms the program runs on.
	_ "github.com/phoenix-iac/phoenix/platforms"
	"github.com/phoenix-iac/phoenix/stacks"
	"github.com/phoenix-iac/phoenix/tests/simcloud"
)

// PulumiVersion is the CLI version the tools module builds.
var PulumiVersion = strings.TrimPrefix(pulumicli.Version, "v")

// Harness is one test's engine, backend and simulated cloud.
type Harness struct {
	// Cloud is the simulated cloud the engine's providers act on.
	Cloud *simcloud.Cloud
	// Root is the repository root (where Pulumi.yaml is).
	Root string
	// Env holds the environment variables every Pulumi command gets.
	Env map[string]string
	// Pulumi is the CLI the Automation API runs.
	Pulumi auto.PulumiCommand

	dir string
	t   testing.TB
}

// RepoRoot returns the repository root, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// PulumiRoot returns the folder holding bin/pulumi: $PHOENIX_PULUMI_ROOT, or
// the one `make tools` builds.
func PulumiRoot() string {
	if r := os.Getenv("PHOENIX_PULUMI_ROOT"); r != "" {
		return r
	}
	return filepath.Join(RepoRoot(), ".bin", "pulumi")
}

// New starts the simulated providers and prepares an isolated backend. The
// test fails, never skips, when the Pulumi CLI is missing.
func New(t testing.TB) *Harness {
	t.Helper()
	root := PulumiRoot()
	if _, err := os.Stat(filepath.Join(root, "bin", "pulumi")); err != nil {
		t.Fatalf("the Pulumi CLI is not at %s: build it with `make tools` (or point PHOENIX_PULUMI_ROOT at a folder holding bin/pulumi)", filepath.Join(root, "bin", "pulumi"))
	}
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root, SkipVersionCheck: true})
	if err != nil {
		t.Fatalf("using the Pulumi CLI in %s: %v", root, err)
	}
	if v := cmd.Version().String(); v != PulumiVersion {
		t.Fatalf("the Pulumi CLI in %s is version %q, want %s: rebuild it with `make tools`", root, v, PulumiVersion)
	}
	cloud := simcloud.New()
	debug, stop, err := cloud.DebugProviders()
	if err != nil {
		t.Fatalf("starting simulated providers: %v", err)
	}
	t.Cleanup(stop)
	// The simulated docker resources answer the Docker engine API too, for
	// what phoenix asks the engine itself (gc --orphans). A short folder:
	// a unix socket's path is limited to about 100 bytes.
	sockDir, err := os.MkdirTemp("", "simdocker-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	stopAPI, err := cloud.ServeDockerAPI(filepath.Join(sockDir, "docker.sock"))
	if err != nil {
		t.Fatalf("serving the simulated Docker engine API: %v", err)
	}
	t.Cleanup(stopAPI)
	// And ECR's API, for what phoenix deletes from the registry itself.
	ecrURL, stopECR, err := cloud.ServeECR()
	if err != nil {
		t.Fatalf("serving the simulated ECR API: %v", err)
	}
	t.Cleanup(stopECR)

	dir := t.TempDir()
	for _, d := range []string{"state", "home", "work"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &Harness{
		Cloud:  cloud,
		Root:   RepoRoot(),
		Pulumi: cmd,
		dir:    dir,
		t:      t,
		Env: map[string]string{
			"PULUMI_BACKEND_URL":                          "file://" + filepath.Join(dir, "state"),
			"PULUMI_HOME":                                 filepath.Join(dir, "home"),
			"PULUMI_CONFIG_PASSPHRASE":                    "phoenix-engine-tests",
			"PULUMI_SKIP_UPDATE_CHECK":                    "true",
			"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
			"PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK":    "true",
			"PULUMI_DEBUG_PROVIDERS":                      debug,
			"DOCKER_HOST":                                 "unix://" + filepath.Join(sockDir, "docker.sock"),
			// phoenix's own AWS calls read these as the aws plugin would.
			"AWS_ENDPOINT_URL_ECR":                         ecrURL,
			"AWS_ENDPOINT_URL_ECS":                         ecrURL,
			"AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API": ecrURL,
			"AWS_ENDPOINT_URL_IAM":                         ecrURL,
			"AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2":   ecrURL,
			"AWS_ENDPOINT_URL_EC2":                         ecrURL,
			"AWS_ACCESS_KEY_ID":                            "simulated",
			"AWS_SECRET_ACCESS_KEY":                        "simulated",
		},
	}
}

// workDir is the project directory of stack name.
func (h *Harness) workDir(name string) string { return filepath.Join(h.dir, "work", name) }

// LinkProjectDirs links the repository's build contexts that the program
// reads from the project directory (lb/, which the docker platform's load
// balancer image is built from and tagged by) into dir, a test's project
// directory.
func (h *Harness) LinkProjectDirs(dir string) {
	h.t.Helper()
	link := filepath.Join(dir, "lb")
	if _, err := os.Lstat(link); err == nil {
		return
	}
	if err := os.Symlink(filepath.Join(h.Root, "lb"), link); err != nil {
		h.t.Fatal(err)
	}
}

// Dir returns the harness's private folder.
func (h *Harness) Dir() string { return h.dir }

// Stack creates or selects a stack running stacks.Program, in a work
// directory of its own holding the project's Pulumi.yaml, and sets config.
func (h *Harness) Stack(ctx context.Context, name string, config map[string]string) auto.Stack {
	h.t.Helper()
	return h.StackWith(ctx, name, stacks.ProgramIn(h.workDir(name), h.Env["PULUMI_BACKEND_URL"]), config)
}

// StackWith is Stack with another program, for tests that plant a change.
func (h *Harness) StackWith(ctx context.Context, name string, program pulumi.RunFunc, config map[string]string) auto.Stack {
	h.t.Helper()
	wd := h.workDir(name)
	if err := os.MkdirAll(wd, 0o755); err != nil {
		h.t.Fatal(err)
	}
	project, err := os.ReadFile(filepath.Join(h.Root, "Pulumi.yaml"))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wd, "Pulumi.yaml"), project, 0o644); err != nil {
		h.t.Fatal(err)
	}
	h.LinkProjectDirs(wd)
	s, err := auto.UpsertStackInlineSource(ctx, name, "phoenix", program,
		auto.WorkDir(wd), auto.Pulumi(h.Pulumi), auto.EnvVars(h.Env))
	if err != nil {
		h.t.Fatalf("creating stack %s: %v", name, err)
	}
	if err := SetConfig(ctx, s, config); err != nil {
		h.t.Fatalf("configuring stack %s: %v", name, err)
	}
	return s
}

// SetConfig replaces the stack's phoenix and aws config with config; keys
// missing from it are removed, so that a test states all it relies on.
func SetConfig(ctx context.Context, s auto.Stack, config map[string]string) error {
	current, err := s.GetAllConfig(ctx)
	if err != nil {
		return err
	}
	var stale []string
	for k := range current {
		if _, ok := config[k]; !ok {
			stale = append(stale, k)
		}
	}
	if len(stale) > 0 {
		sort.Strings(stale)
		if err := s.RemoveAllConfig(ctx, stale); err != nil {
			return err
		}
	}
	all := auto.ConfigMap{}
	structured := map[string]any{}
	for k, v := range config {
		// Objects and lists are set as structured values, as
		// `pulumi config set --path` or a YAML file would hold them.
		var obj any
		if strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[") {
			if err := json.Unmarshal([]byte(v), &obj); err == nil {
				structured[k] = map[string]any{"value": v, "objectValue": obj, "secret": false}
				continue
			}
		}
		all[k] = auto.ConfigValue{Value: v}
	}
	if len(structured) > 0 {
		b, err := json.Marshal(structured)
		if err != nil {
			return err
		}
		if err := s.SetAllConfigJson(ctx, string(b), nil); err != nil {
			return err
		}
	}
	if len(all) == 0 {
		return nil
	}
	return s.SetAllConfig(ctx, all)
}

// Config returns the config of an env on a platform with the sample app.
func Config(platform string, extra ...string) map[string]string {
	m := map[string]string{
		stacks.KeyPlatform: platform,
		stacks.KeyAppPath:  filepath.Join(RepoRoot(), "app"),
	}
	if p, err := stacks.LookupPlatform(stacks.PlatformName(platform)); err == nil {
		if e, ok := p.(stacks.Exampled); ok {
			for k, v := range e.Example() {
				m[k] = v
			}
		}
	}
	if len(extra)%2 != 0 {
		panic(fmt.Sprintf("harness.Config: odd key/value list %q", extra))
	}
	for i := 0; i < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}
