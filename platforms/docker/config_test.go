package docker_test

import (
	"reflect"
	"strings"
	"testing"

	_ "github.com/phoenix-iac/phoenix/platforms"
	"github.com/phoenix-iac/phoenix/platforms/docker"
	"github.com/phoenix-iac/phoenix/stacks"
)

func TestSettingsDefaults(t *testing.T) {
	c, err := stacks.ParseConfig(getter(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := docker.Config{Port: 8080, ListenAddress: "127.0.0.1", CaddyImage: docker.DefaultCaddyImage}
	if c.Platform != docker.Name || !reflect.DeepEqual(c.Settings, want) {
		t.Errorf("platform %s, settings %+v; want docker and %+v", c.Platform, c.Settings, want)
	}
}

func TestSettingsRefuse(t *testing.T) {
	refuses(t, []refusal{
		{"listen address not an IP", with(nil, docker.KeyListenAddress, "localhost"), docker.KeyListenAddress, "IP address of this host"},
		{"caddy image latest", with(nil, docker.KeyCaddyImage, "caddy:latest"), docker.KeyCaddyImage, "pinned"},
		{"caddy image untagged", with(nil, docker.KeyCaddyImage, "caddy"), docker.KeyCaddyImage, "pinned"},
	})
}

// with is base with the key-value pairs kv set.
func with(base map[string]string, kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func getter(m map[string]string) stacks.Getter {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// refuses checks that each config fails, naming its key and the problem.
func refuses(t *testing.T, tests []refusal) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stacks.ParseConfig(getter(tt.config))
			if err == nil {
				t.Fatalf("ParseConfig(%v) succeeded, want an error", tt.config)
			}
			for _, want := range []string{tt.wantKey, tt.wantMsg} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

type refusal struct {
	name    string
	config  map[string]string
	wantKey string
	wantMsg string
}
