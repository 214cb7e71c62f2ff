package stacks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"gopkg.in/yaml.v3"
)

// EnvFile is an env's config file, Pulumi.<env>.yaml, read once. It is
// the one reader of the file outside the program: the version id, the
// plugin installer, preview and the orchestrator read it through here, and
// Config parses it with the program's own ParseConfig, defaults and
// validation included.
type EnvFile struct {
	// Path is the file's path.
	Path string
	// Env is the env it configures.
	Env string
	doc *yaml.Node
	// values are the config values as YAML decodes them; a secret is a
	// map holding only "secure".
	values map[string]any
}

// EnvFilePath is the config file of env in the project directory dir.
func EnvFilePath(dir, env string) string { return ConfigFilePath(dir, env) }

// ConfigFilePath is the path of stack's config file in the project
// directory dir, where the Pulumi CLI looks for it: Pulumi.<stack>.yaml.
func ConfigFilePath(dir, stack string) string { return filepath.Join(dir, ConfigFileName(stack, "")) }

// ConfigFileName is the name of stack's config file; with a non-empty
// middle, a variant of it for one run (os.CreateTemp's pattern with "*").
func ConfigFileName(stack, middle string) string {
	if middle != "" {
		return "Pulumi." + stack + "." + middle + ".yaml"
	}
	return "Pulumi." + stack + ".yaml"
}

// ReadEnvFile reads the config file of env in the project directory dir.
func ReadEnvFile(dir, env string) (*EnvFile, error) {
	path := EnvFilePath(dir, env)
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s does not exist: every env has a config file; copy Pulumi.dev.yaml to start one", path)
		}
		return nil, err
	}
	f := &EnvFile{Path: path, Env: env, doc: &yaml.Node{}}
	if err := yaml.Unmarshal(b, f.doc); err != nil {
		return nil, fmt.Errorf("%s is not valid YAML: %w", path, err)
	}
	var file struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		return nil, fmt.Errorf("%s is not valid YAML: %w", path, err)
	}
	if f.doc.Kind == 0 { // an empty file
		f.doc = &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	if f.doc.Kind != yaml.DocumentNode || len(f.doc.Content) == 0 || f.doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s is not a mapping with a config: section", path)
	}
	f.values = file.Config
	if f.values == nil {
		f.values = map[string]any{}
	}
	return f, nil
}

// Doc is the file as a YAML document, comments and secrets as written,
// for the files phoenix writes from it; it belongs to whoever read the
// file, who may change it.
func (f *EnvFile) Doc() *yaml.Node { return f.doc }

// Values returns the config values as YAML decodes them; a secret is a
// map holding only "secure".
func (f *EnvFile) Values() map[string]any { return f.values }

// secretPlaceholder stands for a secret's value, which only Pulumi can
// decrypt: phoenix reads no secret itself.
const secretPlaceholder = "[secret]"

// Get looks up a key as Pulumi hands it to the program: a string as it
// is, a number or a boolean in its text form, an object or a list as
// JSON. A secret reads as "[secret]". It is a Getter.
func (f *EnvFile) Get(key string) (string, bool) {
	v, ok := f.values[key]
	if !ok {
		return "", false
	}
	switch x := plain(v).(type) {
	case string:
		return x, true
	case nil:
		return "", true
	case int:
		return strconv.Itoa(x), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x), true
		}
		return string(b), true
	}
}

// plain replaces secrets within v by the placeholder.
func plain(v any) any {
	return MapLeaves(v, "", func(_ string, leaf any) any {
		if IsSecure(leaf) {
			return secretPlaceholder
		}
		return leaf
	})
}

// ownKeys fails for a key that only a version's own config may hold, and
// for the traffic keys, which live in the env stack: a `pulumi up --config
// phoenix:live=...` saves them into the file it reads, and from there
// every later plain `pulumi up` of the env would set them again.
func (f *EnvFile) ownKeys() error {
	for _, k := range append([]string{KeyExpectTraffic}, TrafficKeys...) {
		if _, ok := f.values[k]; ok {
			return fmt.Errorf("%s holds %s (pulumi up --config saves the keys it is given into the config file it reads): the traffic lives in the env stack, and from this file every plain pulumi up -s %s would point it back; remove the key with: pulumi config rm %s -s %s",
				filepath.Base(f.Path), k, f.Env, k, f.Env)
		}
	}
	if _, ok := f.values[KeyImage]; ok {
		return fmt.Errorf("%s: %s is set by phoenix promote in a promoted version's own config, not in an env's file (every version of the env would run that image); remove it, and promote an image with: phoenix promote --from ENV --to %s",
			filepath.Base(f.Path), KeyImage, f.Env)
	}
	return nil
}

// Config parses and validates the file as the program does.
func (f *EnvFile) Config() (*Config, error) {
	if err := f.ownKeys(); err != nil {
		return nil, err
	}
	c, err := ParseConfig(f.Get)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(f.Path), err)
	}
	return c, nil
}

// Definition parses and validates the file as a version sees it: without
// the operation keys (traffic and analysis), which are not part of one.
func (f *EnvFile) Definition() (*Config, error) {
	if err := f.ownKeys(); err != nil {
		return nil, err
	}
	c, err := ParseConfig(func(key string) (string, bool) {
		for _, k := range OperationKeys {
			if k == key {
				return "", false
			}
		}
		return f.Get(key)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(f.Path), err)
	}
	return c, nil
}

// Platform is the env's platform, without validating the rest of the
// file: commands that only need it (destroy) work on a file that a later
// edit broke.
func (f *EnvFile) Platform() PlatformName {
	if p, ok := f.Get(KeyPlatform); ok && p != "" {
		return PlatformName(p)
	}
	return DefaultPlatform
}

// Canonical is what the version id hashes of the file: its config values
// without the operation keys, canonically encoded (secrets as their
// ciphertext, so that a new secret is a new version).
func (f *EnvFile) Canonical() ([]byte, error) {
	values := make(map[string]any, len(f.values))
	for k, v := range f.values {
		values[k] = v
	}
	for _, k := range OperationKeys {
		delete(values, k)
	}
	// encoding/json sorts map keys: the same settings always encode the same.
	b, err := json.Marshal(values)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return bytes.TrimSpace(b), nil
}
