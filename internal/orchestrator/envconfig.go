package orchestrator

// An env's config file (Pulumi.<env>.yaml) and the files phoenix writes
// from it: a version stack's copy and the env stack's per-update file with
// the traffic keys.

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-iac/phoenix/stacks"
)

// envConfigPath is the env's own config file.
func (o *Orchestrator) envConfigPath(env string) string {
	return stacks.EnvFilePath(o.opts.ProjectDir, env)
}

// envFile reads the env's config file.
func (o *Orchestrator) envFile(env string) (*stacks.EnvFile, error) {
	return stacks.ReadEnvFile(o.opts.ProjectDir, env)
}

// envConfig reads and validates the env's config, as the program does.
func (o *Orchestrator) envConfig(env string) (*stacks.Config, error) {
	f, err := o.envFile(env)
	if err != nil {
		return nil, err
	}
	return f.Config()
}

// writeVersionConfig writes a version stack's config file: a copy of the
// env's, plus, for a promoted version, the image it runs (stacks.KeyImage).
func (o *Orchestrator) writeVersionConfig(name stacks.StackName, image string) error {
	b, err := os.ReadFile(o.envConfigPath(name.Env))
	if err != nil {
		return fmt.Errorf("env %s has no config file: %w", name.Env, err)
	}
	if b, err = withImage(b, image); err != nil {
		return fmt.Errorf("env %s's config file: %w", name.Env, err)
	}
	return os.WriteFile(o.versionConfigPath(name), b, 0o644)
}

// withImage is a version's config file b with the image it runs
// (stacks.KeyImage) set; b itself for image "", a version built from
// source.
func withImage(b []byte, image string) ([]byte, error) {
	if image == "" {
		return b, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	setScalar(configOf(&doc), stacks.KeyImage, image)
	return yaml.Marshal(&doc)
}

// envConfigFile writes the env stack's config for one update: the env's own
// file plus the traffic keys, which live in the env stack's outputs rather
// than in the user's file, and, when expect is set, the traffic the update
// requires the env stack to hold (phoenix:expectTraffic). Each update gets
// a file of its own, which done removes: two commands in one checkout
// never share one.
func (o *Orchestrator) envConfigFile(env string, t Traffic, expect *Traffic) (path string, done func(), err error) {
	f, err := o.envFile(env)
	if err != nil {
		return "", nil, err
	}
	doc := f.Doc()
	cfg := configOf(doc)
	keys := trafficKeys(t)
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		setScalar(cfg, k, keys[k])
	}
	if expect != nil {
		setScalar(cfg, stacks.KeyExpectTraffic, expect.String())
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return "", nil, err
	}
	return o.scratchConfig(env, b)
}

// trafficKeys are the traffic's config keys, as the env stack's program reads them.
func trafficKeys(t Traffic) map[string]string {
	return map[string]string{
		stacks.KeyLive:            t.Live,
		stacks.KeyCandidate:       t.Candidate,
		stacks.KeyCandidateWeight: fmt.Sprint(t.CandidateWeight),
	}
}

// scratchConfig writes a config file of stack for one engine call under
// .phoenix/work, and returns its path and the function that removes it.
func (o *Orchestrator) scratchConfig(stack string, b []byte) (string, func(), error) {
	dir := filepath.Join(o.opts.ProjectDir, ".phoenix", "work")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	f, err := os.CreateTemp(dir, stacks.ConfigFileName(stack, "*"))
	if err != nil {
		return "", nil, err
	}
	done := func() { os.Remove(f.Name()) }
	if _, err := f.Write(b); err != nil {
		f.Close()
		done()
		return "", nil, err
	}
	if err := f.Close(); err != nil {
		done()
		return "", nil, err
	}
	return f.Name(), done, nil
}

// configOf is the config: mapping of an env's config file, added when
// the file has none.
func configOf(doc *yaml.Node) *yaml.Node {
	root := doc.Content[0]
	cfg := mapValue(root, "config")
	if cfg == nil {
		cfg = &yaml.Node{Kind: yaml.MappingNode}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "config"}, cfg)
	}
	return cfg
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func setScalar(m *yaml.Node, key, value string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Value: value, Style: yaml.DoubleQuotedStyle}
			return
		}
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Value: value, Style: yaml.DoubleQuotedStyle})
}
