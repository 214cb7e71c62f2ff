package dockeredge

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLoadBalancerTagFollowsContent: the load balancer image's tag changes with
// what it is built from (lb/ and the Caddy image), so that a change to
// either builds a new image instead of reusing the old tag.
func TestLoadBalancerTagFollowsContent(t *testing.T) {
	root := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(root, LoadBalancerContext, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM caddy\n")
	write("main.go", "package main\n")
	tag := func(caddy string) string {
		t.Helper()
		got, err := LoadBalancerTag(root, caddy)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	base := tag("caddy:2.11.9-alpine")
	if len(base) != 12 {
		t.Errorf("tag %q, want 12 hex digits", base)
	}
	if again := tag("caddy:2.11.9-alpine"); again != base {
		t.Errorf("same content, tags %q and %q", base, again)
	}
	if other := tag("caddy:2.11.10-alpine"); other == base {
		t.Error("another Caddy image kept the tag")
	}
	write("main.go", "package main // changed\n")
	if changed := tag("caddy:2.11.9-alpine"); changed == base {
		t.Error("a change under lb/ kept the tag")
	}
	if _, err := LoadBalancerTag(t.TempDir(), "caddy:2.11.9-alpine"); err == nil {
		t.Error("no lb/ directory: got no error")
	}
}
