package traffic

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestKeyMatcher: only the key from the file matches; a missing or empty
// file refuses to load rather than match requests without the header.
func TestKeyMatcher(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "route-key")
	if err := os.WriteFile(file, []byte("0123abcd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &KeyMatcher{Header: "X-Phoenix-Key", File: file}
	if err := m.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		header string
		want   bool
	}{{"0123abcd", true}, {"", false}, {"0123abc", false}, {"0123abcd0", false}, {"other", false}} {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.header != "" {
			r.Header.Set("X-Phoenix-Key", tt.header)
		}
		if got := m.Match(r); got != tt.want {
			t.Errorf("header %q: match %v, want %v", tt.header, got, tt.want)
		}
	}

	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		m    KeyMatcher
		want string
	}{
		{KeyMatcher{Header: "X-Phoenix-Key", File: filepath.Join(dir, "missing")}, "reading the route key"},
		{KeyMatcher{Header: "X-Phoenix-Key", File: empty}, "is empty"},
		{KeyMatcher{File: file}, "header and file are required"},
	} {
		if err := tt.m.Provision(caddy.Context{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: got %v, want an error containing %q", tt.m, err, tt.want)
		}
	}
}
