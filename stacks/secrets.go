package stacks

import (
	"maps"
	"regexp"
	"slices"
)

// secretName matches names that say their value is a secret.
var secretName = regexp.MustCompile(`(?i)(password|passwd|secret|token|api[_-]?key|private[_-]?key|credential)`)

// LooksSecret reports whether a config key, input name or environment
// variable name says that its value is a secret. It is the one rule behind
// preview's plain-secret violation and the masking of its plans.
func LooksSecret(name string) bool { return secretName.MatchString(name) }

// IsSecure reports whether v is a Pulumi secret as a config file holds
// it: {secure: <ciphertext>}.
func IsSecure(v any) bool {
	m, ok := v.(map[string]any)
	_, secure := m["secure"]
	return ok && secure && len(m) == 1
}

// MapLeaves returns v with each leaf replaced by leaf(path, value). v is a
// config or input value as YAML or JSON decode it (maps, lists, scalars);
// a Pulumi secret (IsSecure) is one leaf. path is the keys from v down to
// the leaf, each after a dot (a list's elements have their list's path);
// maps are walked in key order. It is the one walk behind preview's
// plain-secret violation, the masking of its plans and the version id's
// view of secrets.
func MapLeaves(v any, path string, leaf func(path string, v any) any) any {
	switch x := v.(type) {
	case map[string]any:
		if IsSecure(x) {
			return leaf(path, x)
		}
		out := make(map[string]any, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			out[k] = MapLeaves(x[k], path+"."+k, leaf)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = MapLeaves(e, path, leaf)
		}
		return out
	}
	return leaf(path, v)
}
