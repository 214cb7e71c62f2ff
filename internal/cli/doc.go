// Package cli is the phoenix command line: one cobra command per verb, each
// with an Options struct and a run function, built on a Factory that tests
// replace. Errors map to exit codes in one place (exit.go).
package cli
