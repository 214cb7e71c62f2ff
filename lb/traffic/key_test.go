package traffic

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestKeyMatcher: only the key from the file matches; before the file
// is written (or while it is empty) nothing matches, and the key is read
// once it is there.
func TestKeyMatcher(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "route-key")
	m := &KeyMatcher{Header: "X-Phoenix-Key", File: file}
	if err := m.Provision(caddy.Context{}); err != nil {
		t.Fatalf("a key file not written yet: %v; want the config to load", err)
	}
	request := func(header string) bool {
		r := httptest.NewRequest("GET", "/", nil)
		if header != "" {
			r.Header.Set("X-Phoenix-Key", header)
		}
		return m.Match(r)
	}
	for _, h := range []string{"", "0123abcd", "x"} {
		if request(h) {
			t.Errorf("no key file yet: header %q matched", h)
		}
	}
	if err := os.WriteFile(file, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if request("") || request(" ") {
		t.Error("an empty key file: a request matched")
	}
	if err := os.WriteFile(file, []byte("0123abcd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		header string
		want   bool
	}{{"0123abcd", true}, {"", false}, {"0123abc", false}, {"0123abcd0", false}, {"other", false}} {
		if got := request(tt.header); got != tt.want {
			t.Errorf("header %q: match %v, want %v", tt.header, got, tt.want)
		}
	}
	if err := (&KeyMatcher{File: file}).Provision(caddy.Context{}); err == nil || !strings.Contains(err.Error(), "header and file are required") {
		t.Errorf("no header: got %v", err)
	}
}
