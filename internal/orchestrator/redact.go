package orchestrator

// A preview that may not decrypt the stacks' secrets: a pull request's
// preview runs the request's code, so it must hold neither the passphrase
// (or KMS key) nor write access to the state. It plans in a scratch
// backend of its own, against copies of the stacks it reads in which every
// secret is a placeholder, encrypted there with a throwaway passphrase.
// A resource whose state holds a secret is left out of the plan (the
// engine's --exclude) and reported as not compared: its provider would be
// given state it cannot trust (the Terraform bridge checks a resource's
// outputs against the raw state it recorded, and a placeholder has not
// even the secret's type), and any change it reported would be noise.

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
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
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
	// copied are the stacks copied in, each with the resources whose
	// state holds a secret.
	copied map[string][]heldSecret
}

// heldSecret is a resource whose state holds a secret.
type heldSecret struct{ URN, Type, Name string }

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
	r := &redacted{ws: ws, dir: ws.WorkDir(), done: done, ciphertexts: map[string]string{}, copied: map[string][]heldSecret{}}
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
	cfg := configOf(&doc)
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
	if _, done := r.copied[name.String()]; err != nil || done {
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
	dep, held, err := redactDeployment(raw, r.salt)
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
	r.copied[name] = held
	return nil
}

// redactDeployment returns an exported deployment with each secret a
// plain-text redactedValue (marked secret, so the scratch stack encrypts
// it again), no pending operations, and the scratch stack's salt as its
// secrets provider, and the custom resources (Pulumi's own providers and
// stack references aside) whose inputs or outputs held a secret. Numbers are copied as written.
func redactDeployment(raw []byte, salt string) (apitype.UntypedDeployment, []heldSecret, error) {
	var ud apitype.UntypedDeployment
	if err := json.Unmarshal(raw, &ud); err != nil {
		return ud, nil, fmt.Errorf("reading the exported state: %w", err)
	}
	d := json.NewDecoder(bytes.NewReader(ud.Deployment))
	d.UseNumber()
	var dep map[string]any
	if err := d.Decode(&dep); err != nil {
		return ud, nil, fmt.Errorf("reading the exported state: %w", err)
	}
	var held []heldSecret
	resources, _ := dep["resources"].([]any)
	for _, x := range resources {
		res, _ := x.(map[string]any)
		typ, _ := res["type"].(string)
		if custom, _ := res["custom"].(bool); !custom || strings.HasPrefix(typ, "pulumi:") {
			continue // a component, a provider, a stack reference (a read)
		}
		if holdsSecret(res["inputs"]) || holdsSecret(res["outputs"]) {
			urn, _ := res["urn"].(string)
			held = append(held, heldSecret{URN: urn, Type: typ, Name: resource.URN(urn).Name()})
		}
	}
	placeholder, _ := json.Marshal(redactedValue)
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			if isSecret(x) {
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
		return ud, nil, err
	}
	ud.Deployment = b
	return ud, held, nil
}

// previewOpts are the options of a preview of stack in r's backend: the
// resources whose state holds a secret are left out.
func (r *redacted) previewOpts(stack string) []optpreview.Option {
	var urns []string
	for _, h := range r.copied[stack] {
		urns = append(urns, h.URN)
	}
	if len(urns) == 0 {
		return nil
	}
	return []optpreview.Option{optpreview.Exclude(urns)}
}

// notCompared marks, among steps, the resources of stack left out of its
// preview, and adds those the engine gave no step.
func (r *redacted) notCompared(stack string, steps []Step) []Step {
	seen := map[string]bool{}
	for i, s := range steps {
		for _, h := range r.copied[stack] {
			if h.Type == s.Type && h.Name == s.Name {
				steps[i].Uncompared, seen[h.URN] = true, true
			}
		}
	}
	for _, h := range r.copied[stack] {
		if !seen[h.URN] {
			steps = append(steps, Step{Op: "same", Type: h.Type, Name: h.Name, Uncompared: true})
		}
	}
	return steps
}

// isSecret reports whether v is a secret as state and engine events hold
// one.
func isSecret(v any) bool {
	m, ok := v.(map[string]any)
	return ok && m[resource.SigKey] == resource.SecretSig
}

// holdsSecret reports whether v is or holds a secret.
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
