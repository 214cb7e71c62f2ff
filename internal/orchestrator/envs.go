package orchestrator

// Every env of the project side by side: what each runs, and how their
// definitions differ.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/phoenix-iac/phoenix/stacks"
)

// EnvsResult is every env of the project, side by side.
type EnvsResult struct {
	// Envs are the envs that have an env stack, by name, each as status
	// shows it.
	Envs []Status `json:"envs"`
	// SameArtifact is true when every env's live version runs one
	// artifact (the same app sources); false when they differ or one has
	// no live version or no artifact recorded.
	SameArtifact bool `json:"sameArtifact"`
	// SameProgram is true when every env's live version was deployed with
	// one program (the same infrastructure definition, version.Program);
	// false when they differ or one has no live version or no program
	// hash recorded.
	SameProgram bool `json:"sameProgram"`
	// Differences are the config keys whose values differ between the
	// envs' config files in this checkout, the operation keys (traffic,
	// analysis) aside; "" is a key an env does not set.
	Differences []ConfigDifference `json:"differences"`
	// Missing names the envs without a config file in this checkout,
	// which the differences leave out.
	Missing []string `json:"missing,omitempty"`
}

// ConfigDifference is one config key that differs between envs.
type ConfigDifference struct {
	Key string `json:"key"`
	// Values are the key's value in each env, by env; a secret is
	// "[secret]" (its ciphertexts differ by env, so secrets are compared
	// by presence only).
	Values map[string]string `json:"values"`
}

// Envs reports every env of the project that has an env stack.
func (o *Orchestrator) Envs(ctx context.Context) (EnvsResult, error) {
	res := EnvsResult{Envs: []Status{}, Differences: []ConfigDifference{}}
	names, err := o.stackNames(ctx)
	if err != nil {
		return res, err
	}
	var envs []string
	for name := range names {
		if sn, err := stacks.ParseStackName(name); err == nil && !sn.IsVersion() {
			envs = append(envs, sn.Env)
		}
	}
	slices.Sort(envs)
	for _, env := range envs {
		st, err := o.Status(ctx, env)
		if err != nil {
			return res, fmt.Errorf("env %s: %w", env, err)
		}
		res.Envs = append(res.Envs, st)
	}
	res.SameArtifact = same(res.Envs, func(v VersionInfo) string { return v.Artifact })
	res.SameProgram = same(res.Envs, func(v VersionInfo) string { return v.Program })
	values := map[string]map[string]string{} // key → env → value
	var present []string
	for _, env := range envs {
		f, err := o.envFile(env)
		if err != nil {
			res.Missing = append(res.Missing, env)
			continue
		}
		present = append(present, env)
		for k, v := range f.Values() {
			if slices.Contains(stacks.OperationKeys, k) {
				continue
			}
			if values[k] == nil {
				values[k] = map[string]string{}
			}
			values[k][env] = configText(v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		byEnv := map[string]string{}
		for _, env := range present {
			byEnv[env] = values[k][env]
		}
		for _, env := range present {
			if byEnv[env] != byEnv[present[0]] {
				res.Differences = append(res.Differences, ConfigDifference{Key: k, Values: byEnv})
				break
			}
		}
	}
	return res, nil
}

// same reports whether every env's live version has one value of field,
// recorded.
func same(envs []Status, field func(VersionInfo) string) bool {
	for _, st := range envs {
		if v := field(st.LiveVersion()); v == "" || v != field(envs[0].LiveVersion()) {
			return false
		}
	}
	return len(envs) > 0
}

// LiveVersion is the entry of the env's live version; zero when none.
func (st Status) LiveVersion() VersionInfo {
	for _, v := range st.Versions {
		if v.Version == st.Live {
			return v
		}
	}
	return VersionInfo{}
}

// configText is a config value as envs compares and shows it: a string
// as it is, anything else as JSON, a secret as "[secret]".
func configText(v any) string {
	if stacks.IsSecure(v) {
		return "[secret]"
	}
	if s, ok := v.(string); ok {
		return s
	}
	v = stacks.MapLeaves(v, "", func(_ string, leaf any) any {
		if stacks.IsSecure(leaf) {
			return "[secret]"
		}
		return leaf
	})
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(string(b))
}
