package orchestrator

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// secretJSON is a secret as a stack export holds it.
const secretJSON = `{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:abc:def"}`

// TestRedactDeployment: every secret of an export, wherever it is, becomes
// the placeholder in plain text (still marked secret); numbers are kept as
// written; pending operations are dropped; the secrets provider is the
// scratch salt.
func TestRedactDeployment(t *testing.T) {
	raw := `{"version": 3, "deployment": {
		"manifest": {"time": "2026-12-03T00:00:00Z"},
		"secrets_providers": {"type": "passphrase", "state": {"salt": "v1:real"}},
		"resources": [
			{"urn": "urn:pulumi:dev::phoenix::pulumi:pulumi:Stack::phoenix-dev", "type": "pulumi:pulumi:Stack", "outputs": {"routeKey": ` + secretJSON + `, "big": 12345678901234567890, "small": 8080}},
			{"urn": "urn:pulumi:dev::phoenix::docker:index/container:Container::dev-routekey", "type": "docker:index/container:Container", "custom": true,
			 "inputs": {"uploads": [{"content": "caddy-config"}, {"content": ` + secretJSON + `}]}, "outputs": {"uploads": ` + secretJSON + `}},
			{"urn": "urn:pulumi:dev::phoenix::docker:index/container:Container::dev-lb", "type": "docker:index/container:Container", "custom": true,
			 "inputs": {"uploads": [{"content": "caddy-config"}]}, "outputs": {"uploads": [{"content": "caddy-config"}]}},
			{"urn": "urn:pulumi:dev::phoenix::pulumi:providers:docker::default", "type": "pulumi:providers:docker", "custom": true, "inputs": {"token": ` + secretJSON + `}},
			{"urn": "urn:pulumi:dev::phoenix::pulumi:pulumi:StackReference::dev", "type": "pulumi:pulumi:StackReference", "custom": true, "outputs": {"outputs": {"routeKey": ` + secretJSON + `}}}
		],
		"pending_operations": [{"type": "creating", "resource": {"urn": "c"}}]
	}}`
	ud, held, err := redactDeployment([]byte(raw), "v1:scratch")
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 || held[0].Name != "dev-routekey" || held[0].Type != "docker:index/container:Container" {
		t.Errorf("resources holding secrets: %+v, want the route key writer alone (not the stack, a provider or a plain resource)", held)
	}
	got := string(ud.Deployment)
	for _, bad := range []string{"v1:abc:def", "ciphertext", "v1:real", "pending_operations"} {
		if strings.Contains(got, bad) {
			t.Errorf("redacted deployment holds %q:\n%s", bad, got)
		}
	}
	for _, want := range []string{`"plaintext":"\"[secret]\""`, `12345678901234567890`, `"small":8080`, `"content":"caddy-config"`, `"salt":"v1:scratch"`} {
		if !strings.Contains(got, want) {
			t.Errorf("redacted deployment lacks %s:\n%s", want, got)
		}
	}
	if ud.Version != 3 {
		t.Errorf("version %d, want 3", ud.Version)
	}
	if strings.Count(got, "1b47061264138c4ac30d75fd1eb44270") != 5 {
		t.Errorf("want every secret still marked secret:\n%s", got)
	}
	if _, _, err := redactDeployment([]byte(`{`), "v1:scratch"); err == nil {
		t.Error("a broken export: no error")
	}
}

// TestRedactedConfig: a config file's secure values, at the top level or
// within, become the scratch ciphertexts (phoenix:environment as a whole
// the object's), its salt is the scratch one, a KMS provider is dropped,
// and the traffic keys are set.
func TestRedactedConfig(t *testing.T) {
	dir := t.TempDir()
	r := &redacted{dir: dir, salt: "v1:scratch", ciphertexts: map[string]string{redactedValue: "v1:value", redactedObject: "v1:object"}}
	for _, tt := range []struct {
		name, src string
		want      map[string]any
	}{
		{"nested", `secretsprovider: awskms://alias/x
encryptedkey: abc
config:
  phoenix:platform: docker
  phoenix:environment:
    DB_PASSWORD:
      secure: v1:real1
    LOG_LEVEL: debug
  phoenix:token:
    secure: v1:real2
`, map[string]any{
			"encryptionsalt": "v1:scratch",
			"config": map[string]any{
				"phoenix:platform":    "docker",
				"phoenix:environment": map[string]any{"DB_PASSWORD": map[string]any{"secure": "v1:value"}, "LOG_LEVEL": "debug"},
				"phoenix:token":       map[string]any{"secure": "v1:value"},
				"phoenix:live":        "v1",
			},
		}},
		{"whole environment", `encryptionsalt: v1:real
config:
  phoenix:environment:
    secure: v1:real3
`, map[string]any{
			"encryptionsalt": "v1:scratch",
			"config": map[string]any{
				"phoenix:environment": map[string]any{"secure": "v1:object"},
				"phoenix:live":        "v1",
			},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := r.writeConfig("dev", []byte(tt.src), map[string]string{"phoenix:live": "v1"}); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "Pulumi.dev.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := yaml.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tt.want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("redacted config:\n%s\nwant:\n%s", gotJSON, wantJSON)
			}
		})
	}
}

// TestNotCompared: the resources of a stack whose state holds a secret
// are left out of its preview and reported as not compared, whether or
// not the engine gave them a step; other stacks' are not.
func TestNotCompared(t *testing.T) {
	r := &redacted{copied: map[string][]heldSecret{
		"dev":    {{URN: "urn:a", Type: "docker:index/container:Container", Name: "dev-routekey"}, {URN: "urn:b", Type: "aws:lb/listenerRule:ListenerRule", Name: "dev-candidate"}},
		"dev.v1": {},
	}}
	if opts := r.previewOpts("dev"); len(opts) != 1 {
		t.Errorf("dev: %d preview options, want the exclusion", len(opts))
	}
	if opts := r.previewOpts("dev.v1"); len(opts) != 0 {
		t.Errorf("dev.v1 holds no secret: %d preview options", len(opts))
	}
	steps := r.notCompared("dev", []Step{
		{Op: "same", Type: "docker:index/container:Container", Name: "dev-routekey"},
		{Op: "update", Type: "docker:index/container:Container", Name: "dev-pointer"},
	})
	got := map[string]bool{}
	for _, s := range steps {
		got[s.Name] = s.Uncompared
	}
	if len(steps) != 3 || !got["dev-routekey"] || !got["dev-candidate"] || got["dev-pointer"] {
		t.Errorf("steps %+v: want dev-routekey and dev-candidate not compared, dev-pointer compared", steps)
	}
}
