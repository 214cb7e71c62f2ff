package version

import (
	// The platforms, which the config names.
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/phoenix-iac/phoenix/platforms"
)

// project writes a minimal Phoenix project into a temp dir.
func project(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"Pulumi.yaml":             "name: phoenix\nruntime: go\n",
		"main.go":                 "package main\n",
		"go.mod":                  "module x\n",
		"go.sum":                  "",
		"stacks/program.go":       "package stacks\n",
		"stacks/program_test.go":  "package stacks // test\n",
		"components/a/a.go":       "package a\n",
		"components/a/testdata/x": "golden\n",
		"platforms/p/p.go":        "package p\n",
		"internal/header/h.go":    "package header\n",
		"app/Dockerfile":          "FROM scratch\n",
		"app/main.go":             "package main\n",
		"app/.dockerignore":       "*.md\nbuild/\n",
		"app/README.md":           "docs\n",
		"app/build/out.bin":       "binary\n",
		"Pulumi.dev.yaml":         "config:\n  phoenix:platform: docker\n  phoenix:replicas: \"2\"\n",
	}
	for name, body := range files {
		write(t, filepath.Join(dir, name), body)
	}
	return dir
}

func write(t *testing.T, p, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustCompute(t *testing.T, dir string) string {
	t.Helper()
	v, err := Compute(dir, "dev")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestComputeIsStableAndSensitive(t *testing.T) {
	dir := project(t)
	base := mustCompute(t, dir)
	if len(base) != Length {
		t.Fatalf("got version %q, want %d hex digits", base, Length)
	}
	if again := mustCompute(t, dir); again != base {
		t.Fatalf("same inputs gave %s then %s", base, again)
	}

	tests := []struct {
		name    string
		change  func(dir string)
		changes bool
	}{
		{"app source", func(d string) { write(t, filepath.Join(d, "app/main.go"), "package main // v2\n") }, true},
		{"Dockerfile, though .dockerignore excludes it", func(d string) {
			write(t, filepath.Join(d, "app/.dockerignore"), "*.md\nbuild/\nDockerfile\n")
			base2 := mustCompute(t, d)
			write(t, filepath.Join(d, "app/Dockerfile"), "FROM busybox\n")
			if mustCompute(t, d) == base2 {
				t.Error("a Dockerfile change kept the version")
			}
		}, true},
		{"new app file", func(d string) { write(t, filepath.Join(d, "app/static/index.html"), "<p>") }, true},
		{"program source", func(d string) { write(t, filepath.Join(d, "stacks/program.go"), "package stacks // v2\n") }, true},
		{"a platform's source", func(d string) { write(t, filepath.Join(d, "platforms/p/p.go"), "package p // v2\n") }, true},
		{"go.sum", func(d string) { write(t, filepath.Join(d, "go.sum"), "x v1 h1:abc\n") }, true},
		{"env config", func(d string) {
			write(t, filepath.Join(d, "Pulumi.dev.yaml"), "config:\n  phoenix:platform: docker\n  phoenix:replicas: \"3\"\n")
		}, true},
		{"analysis thresholds", func(d string) {
			write(t, filepath.Join(d, "Pulumi.dev.yaml"), "config:\n  phoenix:platform: docker\n  phoenix:replicas: \"2\"\n  phoenix:analysis:\n    maxErrorRate: 0.05\n    bake: 5m\n")
		}, false},
		{"config key order and comments", func(d string) {
			write(t, filepath.Join(d, "Pulumi.dev.yaml"), "# dev\nconfig:\n  phoenix:replicas: \"2\"\n  phoenix:platform: docker\n")
		}, false},
		{"dockerignored file", func(d string) { write(t, filepath.Join(d, "app/CHANGES.md"), "notes\n") }, false},
		{"dockerignored dir", func(d string) { write(t, filepath.Join(d, "app/build/more.bin"), "x\n") }, false},
		{"program test file", func(d string) { write(t, filepath.Join(d, "stacks/program_test.go"), "package stacks // t2\n") }, false},
		{"golden file", func(d string) { write(t, filepath.Join(d, "components/a/testdata/x"), "new\n") }, false},
		{"another env's config", func(d string) { write(t, filepath.Join(d, "Pulumi.prod.yaml"), "config: {}\n") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := project(t)
			tt.change(dir)
			got := mustCompute(t, dir)
			if changed := got != base; changed != tt.changes {
				t.Errorf("version changed: %v (%s -> %s), want %v", changed, base, got, tt.changes)
			}
		})
	}
}

func TestComputeRefuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(dir string)
		env   string
		want  string
	}{
		{"missing env file", func(string) {}, "prod", "Pulumi.prod.yaml does not exist"},
		{"bad env name", func(string) {}, "Prod", "lowercase"},
		{"missing app", func(d string) { os.RemoveAll(filepath.Join(d, "app")) }, "dev", "not a directory"},
		{"not a project", func(d string) { os.Remove(filepath.Join(d, "go.sum")) }, "dev", "project directory"},
		{"traffic keys in the env's file", func(d string) {
			write(t, filepath.Join(d, "Pulumi.dev.yaml"), "config:\n  phoenix:platform: docker\n  phoenix:live: abc\n")
		}, "dev", "pulumi config rm phoenix:live -s dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := project(t)
			tt.setup(dir)
			_, err := Compute(dir, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestArtifact: the artifact id is the app's alone: two envs with other
// config, or a changed program, keep it (their version ids differ); a
// change of the app's build context, and only of what Docker sends, makes
// a new one.
func TestArtifact(t *testing.T) {
	dir := project(t)
	write(t, filepath.Join(dir, "Pulumi.prod.yaml"), "config:\n  phoenix:platform: docker\n  phoenix:replicas: \"3\"\n")
	artifact := func(env string) string {
		t.Helper()
		a, err := Artifact(dir, env)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != Length {
			t.Fatalf("artifact id %q, want %d hex digits", a, Length)
		}
		return a
	}
	dev, prod := artifact("dev"), artifact("prod")
	if dev != prod {
		t.Errorf("dev and prod build the same app: artifacts %s and %s", dev, prod)
	}
	devV, err := Compute(dir, "dev")
	if err != nil {
		t.Fatal(err)
	}
	prodV, err := Compute(dir, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if devV == prodV {
		t.Errorf("dev and prod differ in config but share version id %s", devV)
	}
	write(t, filepath.Join(dir, "stacks", "program.go"), "package stacks // changed\n")
	write(t, filepath.Join(dir, "app", "README.md"), "docs, changed\n") // .dockerignore'd
	if got := artifact("dev"); got != dev {
		t.Errorf("a program change, or an ignored file's, changed the artifact %s to %s", dev, got)
	}
	write(t, filepath.Join(dir, "app", "main.go"), "package main // changed\n")
	if got := artifact("dev"); got == dev {
		t.Errorf("a change of the app kept the artifact %s", dev)
	}
	if _, err := Artifact(dir, "qa"); err == nil {
		t.Error("an env without a config file: no error")
	}
}

// TestProgramAndPromoted: the program hash follows the program alone; a
// promoted version's id follows its env's config, the program and the
// image's digest, and never the app's files nor equals a built version's.
func TestProgramAndPromoted(t *testing.T) {
	dir := project(t)
	write(t, filepath.Join(dir, "Pulumi.prod.yaml"), "config:\n  phoenix:platform: docker\n  phoenix:replicas: \"3\"\n")
	must := func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const (
		id     = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		other  = "sha256:1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		pinned = "111.dkr.ecr.eu-west-1.amazonaws.com/prod@" + id
	)
	program := must(Program(dir))
	promoted := must(Promoted(dir, "prod", id))
	if built := must(Compute(dir, "prod")); promoted == built {
		t.Errorf("a promoted version and a built one share id %s", built)
	}
	if got := must(Promoted(dir, "prod", pinned)); got != promoted {
		t.Errorf("one digest in another repository: %s, want %s", got, promoted)
	}
	if got := must(Promoted(dir, "prod", other)); got == promoted {
		t.Errorf("another image kept the id %s", got)
	}
	if got := must(Promoted(dir, "dev", id)); got == promoted {
		t.Errorf("another env's config kept the id %s", got)
	}
	write(t, filepath.Join(dir, "app", "main.go"), "package main // changed\n")
	if got := must(Promoted(dir, "prod", id)); got != promoted {
		t.Errorf("an app change moved a promoted version's id from %s to %s: it runs the image, not the app", promoted, got)
	}
	if got := must(Program(dir)); got != program {
		t.Errorf("an app change moved the program hash from %s to %s", program, got)
	}
	write(t, filepath.Join(dir, "components", "a", "a.go"), "package a // changed\n")
	if got := must(Program(dir)); got == program {
		t.Errorf("a program change kept the program hash %s", program)
	}
	if got := must(Promoted(dir, "prod", id)); got == promoted {
		t.Errorf("a program change kept the promoted id %s", promoted)
	}
	if _, err := Promoted(dir, "prod", "phoenix-staging:v1"); err == nil {
		t.Error("an image by tag: no error")
	}
	write(t, filepath.Join(dir, "Pulumi.qa.yaml"), "config:\n  phoenix:image: "+id+"\n")
	if _, err := Compute(dir, "qa"); err == nil || !strings.Contains(err.Error(), "phoenix:image") {
		t.Errorf("phoenix:image in an env's file: got %v, want it refused", err)
	}
}
