package buildcontext

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func rels(fs []File) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rel)
	}
	return out
}

func TestFiles(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name:  "no dockerignore",
			files: map[string]string{"Dockerfile": "FROM x", "main.go": "package main", "sub/a.txt": "a"},
			want:  []string{"Dockerfile", "main.go", "sub/a.txt"},
		},
		{
			name: "allow list keeps the Dockerfile although it excludes it",
			files: map[string]string{
				".dockerignore": "*\n!go.mod\n!*.go\n", "Dockerfile": "FROM x",
				"go.mod": "module m", "main.go": "package main", "README.md": "r",
			},
			want: []string{"Dockerfile", "go.mod", "main.go"},
		},
		{
			name:  "excluded directory",
			files: map[string]string{".dockerignore": "vendor\n", "Dockerfile": "FROM x", "vendor/x.go": "x", "a.go": "a"},
			want:  []string{".dockerignore", "Dockerfile", "a.go"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, tt.files)
			got, err := Files(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rels(got), tt.want) {
				t.Errorf("got %v, want %v", rels(got), tt.want)
			}
		})
	}
}

func TestDigestChangesWithTheDockerfile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{".dockerignore": "*\n!main.go\n", "Dockerfile": "FROM a", "main.go": "package main", "notes.txt": "n"})
	d1, err := Digest(dir)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, map[string]string{"notes.txt": "changed, but not sent"})
	if d2, _ := Digest(dir); d2 != d1 {
		t.Errorf("an ignored file changed the digest: %s, want %s", d2, d1)
	}
	write(t, dir, map[string]string{"Dockerfile": "FROM b"})
	if d3, _ := Digest(dir); d3 == d1 {
		t.Errorf("a Dockerfile change left the digest at %s", d3)
	}
}

func TestErrors(t *testing.T) {
	if _, err := Files(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing directory: got no error")
	}
	dir := t.TempDir()
	write(t, dir, map[string]string{".dockerignore": "*\n"})
	if _, err := Files(dir); err == nil {
		t.Error("an empty context: got no error")
	}
}

func TestLinkedContext(t *testing.T) {
	real := t.TempDir()
	write(t, real, map[string]string{"Dockerfile": "FROM x", "main.go": "package main"})
	link := filepath.Join(t.TempDir(), "lb")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	got, err := Files(link)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Dockerfile", "main.go"}; !reflect.DeepEqual(rels(got), want) {
		t.Errorf("got %v, want %v", rels(got), want)
	}
}
