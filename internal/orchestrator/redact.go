package orchestrator

// A preview that may not decrypt the stacks' secrets: a pull request's
// preview runs the request's code, so it must hold neither the passphrase
// (or KMS key) nor write access to the state. It plans in a scratch
// backend of its own, against copies of the stacks it reads in which every
// secret is a placeholder, encrypted there with a throwaway passphrase.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"gopkg.in/yaml.v3"

	"github.com/phoenix-iac/phoenix/stacks"
)

// Placeholders a redacted copy holds in place of each secret: a secret in
// state, and a secure config value, is redactedValue, except a secure
// phoenix:environment as a whole, which the program reads as an object.
const (
	redactedValue  = "[secret]"
	redactedObject = "{}"
)

// redacted is a scratch backend with redacted copies of an env's stacks.
type redacted struct {
	ws   auto.Workspace
	dir  string // ws's work directory, where the stacks' config files are
	done func()
	// salt is the scratch stacks' encryption salt, and ciphertexts the
	// placeholders encrypted with it.
	salt        string
	ciphertexts map[string]string
	// copied are the stacks copied in.
	copied map[string]bool
}

// newRedacted makes the scratch backend of a preview of env that may not
// decrypt secrets. The Pulumi CLI makes the throwaway key (a stack's salt)
// and encrypts the placeholders with it, as it would a user's secret.
func (o *Orchestrator) newRedacted(ctx context.Context, env string) (*redacted, error) {
	pass := make([]byte, 16)
	if _, err := rand.Read(pass); err != nil {
		return nil, err
	}
	ws, done, err := o.privateWorkspace(ctx, hex.EncodeToString(pass))
	if err != nil {
		return nil, err
	}
	r := &redacted{ws: ws, dir: ws.WorkDir(), done: done, ciphertexts: map[string]string{}, copied: map[string]bool{}}
	s, err := auto.NewStack(ctx, env, ws)
	if err == nil {
		err = s.SetAllConfig(ctx, auto.ConfigMap{
			"phoenix:redactedValue":  {Value: redactedValue, Secret: true},
			"phoenix:redactedObject": {Value: redactedObject, Secret: true},
		})
	}
	var file struct {
		Salt   string `yaml:"encryptionsalt"`
		Config map[string]struct {
			Secure string `yaml:"secure"`
		} `yaml:"config"`
	}
	if err == nil {
		var b []byte
		if b, err = os.ReadFile(stacks.ConfigFilePath(ws.WorkDir(), env)); err == nil {
			err = yaml.Unmarshal(b, &file)
		}
	}
	r.salt = file.Salt
	r.ciphertexts[redactedValue] = file.Config["phoenix:redactedValue"].Secure
	r.ciphertexts[redactedObject] = file.Config["phoenix:redactedObject"].Secure
	if err == nil && (r.salt == "" || r.ciphertexts[redactedValue] == "" || r.ciphertexts[redactedObject] == "") {
		err = fmt.Errorf("the scratch stack's config file holds no salt or encrypted placeholders")
	}
	if err != nil {
		done()
		return nil, fmt.Errorf("making the preview's scratch backend for redacted secrets: %w", err)
	}
	return r, nil
}

// writeConfig writes stack's config file in the scratch backend: src (an
// env's config file) with each secure value a placeholder encrypted with
// the scratch salt, and extra set (the traffic keys). Its secrets
// provider is the scratch one, whatever the env's is.
func (r *redacted) writeConfig(stack string, src []byte, extra map[string]string) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return fmt.Errorf("reading the config of %s: %w", stack, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	root := doc.Content[0]
	var kept []*yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "secretsprovider", "encryptedkey", "encryptionsalt":
			continue
		}
		kept = append(kept, root.Content[i], root.Content[i+1])
	}
	root.Content = kept
	setScalar(root, "encryptionsalt", r.salt)
	cfg := mapValue(root, "config")
	if cfg == nil {
		cfg = &yaml.Node{Kind: yaml.MappingNode}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "config"}, cfg)
	}
	for i := 0; i+1 < len(cfg.Content); i += 2 {
		placeholder := redactedValue
		if cfg.Content[i].Value == stacks.KeyEnvironment {
			placeholder = redactedObject
		}
		r.redactSecure(cfg.Content[i+1], placeholder)
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		setScalar(cfg, k, extra[k])
	}
	b, err := yaml.Marshal(&doc)
	if err != nil {
		return err
	}
	return os.WriteFile(stacks.ConfigFilePath(r.dir, stack), b, 0o600)
}

// redactSecure replaces each secure value within n: n itself is one with
// placeholder, any nested one with redactedValue.
func (r *redacted) redactSecure(n *yaml.Node, placeholder string) {
	switch n.Kind {
	case yaml.MappingNode:
		if len(n.Content) == 2 && n.Content[0].Value == "secure" {
			n.Content[1] = &yaml.Node{Kind: yaml.ScalarNode, Value: r.ciphertexts[placeholder]}
			return
		}
		for i := 1; i < len(n.Content); i += 2 {
			r.redactSecure(n.Content[i], redactedValue)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			r.redactSecure(c, redactedValue)
		}
	}
}

// copyStack copies a stack of the shared backend into the scratch one,
// once, with config (its env's config file): its state as exported
// (which needs no key), with every secret redactedValue. Operations an
// interrupted command left pending are dropped: a deploy resolves them
// before it changes the stack. It returns the stack's record.
func (o *Orchestrator) copyStack(ctx context.Context, r *redacted, name stacks.StackName, config []byte) (stackRecord, error) {
	rec, err := o.readRecord(ctx, name)
	if err != nil || r.copied[name.String()] {
		return rec, err
	}
	if err := r.writeConfig(name.String(), config, nil); err != nil {
		return rec, err
	}
	return rec, r.importStack(ctx, name.String(), rec.raw)
}

// importStack imports raw, an exported state, into stack name of the
// scratch backend, redacted (redactDeployment).
func (r *redacted) importStack(ctx context.Context, name string, raw []byte) error {
	dep, err := redactDeployment(raw, r.salt)
	if err != nil {
		return fmt.Errorf("copying %s to the preview's scratch backend: %w", name, err)
	}
	if _, err := auto.SelectStack(ctx, name, r.ws); err != nil {
		if _, err := auto.NewStack(ctx, name, r.ws); err != nil {
			return fmt.Errorf("copying %s to the preview's scratch backend: %w", name, err)
		}
	}
	if err := r.ws.ImportStack(ctx, name, dep); err != nil {
		return fmt.Errorf("copying %s to the preview's scratch backend: %w", name, err)
	}
	r.copied[name] = true
	return nil
}

// redactDeployment returns an exported deployment with each secret a
// plain-text redactedValue (marked secret, so the scratch stack encrypts
// it again), no pending operations, and the scratch stack's salt as its
// secrets provider. Numbers are copied as written.
func redactDeployment(raw []byte, salt string) (apitype.UntypedDeployment, error) {
	var ud apitype.UntypedDeployment
	if err := json.Unmarshal(raw, &ud); err != nil {
		return ud, fmt.Errorf("reading the exported state: %w", err)
	}
	d := json.NewDecoder(bytes.NewReader(ud.Deployment))
	d.UseNumber()
	var dep map[string]any
	if err := d.Decode(&dep); err != nil {
		return ud, fmt.Errorf("reading the exported state: %w", err)
	}
	placeholder, _ := json.Marshal(redactedValue)
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			if x[resource.SigKey] == resource.SecretSig {
				return map[string]any{resource.SigKey: resource.SecretSig, "plaintext": string(placeholder)}
			}
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		}
		return v
	}
	walk(dep)
	delete(dep, "pending_operations")
	dep["secrets_providers"] = map[string]any{"type": "passphrase", "state": map[string]any{"salt": salt}}
	b, err := json.Marshal(dep)
	if err != nil {
		return ud, err
	}
	ud.Deployment = b
	return ud, nil
}

// secretOnly reports whether a step changes secrets alone: with every
// secret a placeholder, such a change may be no change at all, so a
// preview without the secrets cannot compare it. Each changed property
// (the detailed diff's paths where the provider gives them, such as
// "uploads[0].content", else the top-level ones) must hold a secret and
// be, before and after, the same but for its secrets: a changed plain
// file beside a secret one is a change.
func secretOnly(s Step) bool {
	paths := s.detailed
	if len(paths) == 0 {
		paths = s.Diffs
	}
	if len(paths) == 0 {
		return false
	}
	for _, p := range paths {
		old, _ := valueAt(s.old, p)
		now, _ := valueAt(s.Inputs, p)
		if !holdsSecret(old) || !sameButSecrets(old, now) {
			return false
		}
	}
	return true
}

// valueAt is the value at path in inputs (as engine events show them);
// within a secret, the secret.
func valueAt(inputs map[string]any, path string) (any, bool) {
	pp, err := resource.ParsePropertyPath(path)
	if err != nil || len(pp) == 0 {
		return nil, false
	}
	var v any = inputs
	for _, e := range pp {
		if isSecret(v) {
			return v, true
		}
		switch k := e.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[k]; !ok {
				return nil, false
			}
		case int:
			a, ok := v.([]any)
			if !ok || k < 0 || k >= len(a) {
				return nil, false
			}
			v = a[k]
		default:
			return nil, false
		}
	}
	return v, true
}

// sameButSecrets reports whether a and b are equal where neither is a
// secret, any secret being equal to any other.
func sameButSecrets(a, b any) bool {
	if isSecret(a) || isSecret(b) {
		return isSecret(a) && isSecret(b)
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, e := range x {
			f, ok := y[k]
			if !ok || !sameButSecrets(e, f) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameButSecrets(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// isSecret reports whether v is a secret as engine events show one.
func isSecret(v any) bool {
	m, ok := v.(map[string]any)
	return ok && m[resource.SigKey] == resource.SecretSig
}

// holdsSecret reports whether a value, as engine events show it, is or
// holds a secret.
func holdsSecret(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		if isSecret(x) {
			return true
		}
		for _, e := range x {
			if holdsSecret(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if holdsSecret(e) {
				return true
			}
		}
	}
	return false
}
