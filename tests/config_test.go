package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/phoenix-iac/phoenix/stacks"
	"github.com/phoenix-iac/phoenix/tests/harness"
	"gopkg.in/yaml.v3"
)

// awsRegion is the AWS provider's region key, which the aws platform reads.
const awsRegion = "aws:region"

// configGetter reads config from m.
func configGetter(m map[string]string) stacks.Getter {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// TestPulumiYAMLDocumentsEveryKey keeps Pulumi.yaml and the program in step:
// every key the program reads is documented there, with the program's default.
func TestPulumiYAMLDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var project struct {
		Config map[string]struct {
			Type        string `yaml:"type"`
			Description string `yaml:"description"`
			Default     any    `yaml:"default"`
		} `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &project); err != nil {
		t.Fatal(err)
	}
	// Every key read, on every registered platform: the test platform too,
	// whose one registration is in platform_test.go.
	read := map[string]bool{}
	for _, name := range stacks.PlatformNames() {
		_, _ = stacks.ParseConfig(func(k string) (string, bool) {
			read[k] = true
			if k == stacks.KeyPlatform {
				return name, true
			}
			return "", false
		})
	}
	for k := range read {
		if k == awsRegion || k == stacks.KeyExpectTraffic || slices.Contains(stacks.TrafficKeys, k) {
			// The AWS provider's key, and the traffic keys, which must not
			// get defaults: documented in the file's comment.
			if !strings.Contains(string(b), "#   "+k) && k != awsRegion {
				t.Errorf("Pulumi.yaml's comment does not document %s", k)
			}
			if _, declared := project.Config[k]; declared && k != awsRegion {
				t.Errorf("Pulumi.yaml declares the traffic key %s: Pulumi would give it a default, and a plain pulumi up would move traffic", k)
			}
			continue
		}
		decl, ok := project.Config[k]
		if !ok {
			t.Errorf("Pulumi.yaml does not document %s", k)
			continue
		}
		if decl.Type == "" || decl.Description == "" {
			t.Errorf("Pulumi.yaml: %s needs a type and a description", k)
		}
	}
	for k := range project.Config {
		if !read[k] {
			t.Errorf("Pulumi.yaml documents %s, which the program does not read", k)
		}
	}

	// The defaults in Pulumi.yaml are the program's: parse them as if set.
	fromYAML := map[string]string{stacks.KeyPlatform: "aws", awsRegion: "eu-west-1"}
	for k, decl := range project.Config {
		if decl.Default == nil || k == stacks.KeyPlatform {
			continue
		}
		switch d := decl.Default.(type) {
		case []any:
			var parts []string
			for _, x := range d {
				parts = append(parts, `"`+x.(string)+`"`)
			}
			fromYAML[k] = "[" + strings.Join(parts, ",") + "]"
		case map[string]any:
			j, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			fromYAML[k] = string(j)
		default:
			fromYAML[k] = strings.TrimSpace(strings.Trim(strings.TrimSpace(toString(d)), `"`))
		}
	}
	got, err := stacks.ParseConfig(configGetter(fromYAML))
	if err != nil {
		t.Fatalf("Pulumi.yaml defaults do not parse: %v", err)
	}
	want, err := stacks.ParseConfig(configGetter(map[string]string{stacks.KeyPlatform: "aws", awsRegion: "eu-west-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Pulumi.yaml defaults differ from the program's:\n got %+v\nwant %+v", got, want)
	}
	if d := project.Config[stacks.KeyPlatform].Default; d != string(stacks.DefaultPlatform) {
		t.Errorf("Pulumi.yaml: platform default is %v, want docker", d)
	}
}

func toString(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}
