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
			{"urn": "a", "outputs": {"routeKey": ` + secretJSON + `, "big": 12345678901234567890, "small": 8080}},
			{"urn": "b", "inputs": {"uploads": [{"content": "plain"}, {"content": ` + secretJSON + `}]}}
		],
		"pending_operations": [{"type": "creating", "resource": {"urn": "c"}}]
	}}`
	ud, err := redactDeployment([]byte(raw), "v1:scratch")
	if err != nil {
		t.Fatal(err)
	}
	got := string(ud.Deployment)
	for _, bad := range []string{"v1:abc:def", "ciphertext", "v1:real", "pending_operations"} {
		if strings.Contains(got, bad) {
			t.Errorf("redacted deployment holds %q:\n%s", bad, got)
		}
	}
	for _, want := range []string{`"plaintext":"\"[secret]\""`, `12345678901234567890`, `"small":8080`, `"content":"plain"`, `"salt":"v1:scratch"`} {
		if !strings.Contains(got, want) {
			t.Errorf("redacted deployment lacks %s:\n%s", want, got)
		}
	}
	if ud.Version != 3 {
		t.Errorf("version %d, want 3", ud.Version)
	}
	if strings.Count(got, "1b47061264138c4ac30d75fd1eb44270") != 2 {
		t.Errorf("want both secrets still marked secret:\n%s", got)
	}
	if _, err := redactDeployment([]byte(`{`), "v1:scratch"); err == nil {
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

// TestSecretOnly: a change is "not compared" only when every changed
// property held a secret and is the same but for its secrets.
func TestSecretOnly(t *testing.T) {
	var secret any
	if err := json.Unmarshal([]byte(secretJSON), &secret); err != nil {
		t.Fatal(err)
	}
	uploads := func(config string) map[string]any {
		return map[string]any{"uploads": []any{
			map[string]any{"file": "caddy.json", "content": config},
			map[string]any{"file": "route-key", "content": secret},
		}}
	}
	for _, tt := range []struct {
		name string
		s    Step
		want bool
	}{
		{"a secret list, top-level diff", Step{Diffs: []string{"envs"}, old: map[string]any{"envs": secret}, Inputs: map[string]any{"envs": secret}}, true},
		{"uploads the same but for the key", Step{Diffs: []string{"uploads"}, old: uploads("a"), Inputs: uploads("a")}, true},
		{"uploads with a changed plain config", Step{Diffs: []string{"uploads"}, old: uploads("a"), Inputs: uploads("b")}, false},
		{"a detailed path into the key", Step{Diffs: []string{"uploads"}, detailed: []string{"uploads[1].content"}, old: uploads("a"), Inputs: uploads("a")}, true},
		{"a detailed path to the plain config", Step{Diffs: []string{"uploads"}, detailed: []string{"uploads[0].content"}, old: uploads("a"), Inputs: uploads("b")}, false},
		{"a secret and a plain property", Step{Diffs: []string{"envs", "image"}, old: map[string]any{"envs": secret, "image": "a"}, Inputs: map[string]any{"envs": secret, "image": "b"}}, false},
		{"a secret made plain", Step{Diffs: []string{"envs"}, old: map[string]any{"envs": secret}, Inputs: map[string]any{"envs": []any{"A=b"}}}, false},
		{"a plain property", Step{Diffs: []string{"image"}, old: map[string]any{"image": "a"}, Inputs: map[string]any{"image": "b"}}, false},
		{"no diffs", Step{old: map[string]any{"envs": secret}}, false},
	} {
		if got := secretOnly(tt.s); got != tt.want {
			t.Errorf("%s: secretOnly = %v, want %v", tt.name, got, tt.want)
		}
	}
}
