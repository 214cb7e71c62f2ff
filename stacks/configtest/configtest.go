// Package configtest helps test config parsing: of the keys every
// platform shares (stacks) and of each platform's own.
package configtest

import (
	"strings"
	"testing"

	"github.com/phoenix-iac/phoenix/stacks"
)

// Getter reads config from m.
func Getter(m map[string]string) stacks.Getter {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// With is base with the key-value pairs kv set.
func With(base map[string]string, kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// Refusal is a config that stacks.ParseConfig must refuse, with an error
// that names WantKey and says WantMsg.
type Refusal struct {
	Name    string
	Config  map[string]string
	WantKey string
	WantMsg string
}

// Case is a Refusal: config, named name, must be refused naming wantKey
// and saying wantMsg.
func Case(name string, config map[string]string, wantKey, wantMsg string) Refusal {
	return Refusal{Name: name, Config: config, WantKey: wantKey, WantMsg: wantMsg}
}

// Refuses checks each refusal as a subtest.
func Refuses(t *testing.T, tests []Refusal) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			_, err := stacks.ParseConfig(Getter(tt.Config))
			if err == nil {
				t.Fatalf("ParseConfig(%v) succeeded, want an error", tt.Config)
			}
			for _, want := range []string{tt.WantKey, tt.WantMsg} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got %q, want it to contain %q", err, want)
				}
			}
		})
	}
}
