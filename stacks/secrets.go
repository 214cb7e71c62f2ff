package stacks

import "regexp"

// secretName matches names that say their value is a secret.
var secretName = regexp.MustCompile(`(?i)(password|passwd|secret|token|api[_-]?key|private[_-]?key|credential)`)

// LooksSecret reports whether a config key, input name or environment
// variable name says that its value is a secret. It is the one rule behind
// preview's plain-secret violation and the masking of its plans.
func LooksSecret(name string) bool { return secretName.MatchString(name) }
