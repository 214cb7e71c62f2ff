package orchestrator

import (
	"context"
	"fmt"
	"maps"
	"sort"

	"github.com/phoenix-iac/phoenix/internal/platform"
)

// preflight makes sure that env's platform can be used before a command
// changes anything (every changing verb runs it first): its cloud answers
// (on docker, the Docker engine), and the provider plugins it needs are
// installed (once).
func (o *Orchestrator) preflight(ctx context.Context, env string) error {
	p, f, err := o.platformOf(env)
	if err != nil {
		return err
	}
	if pf, ok := p.(platform.Preflighter); ok {
		if err := pf.Preflight(ctx, o.opsEnv(env, f, EnvState{})); err != nil {
			return err
		}
	}
	return o.ensurePlugins(ctx, maps.Clone(p.Plugins()))
}

// ensurePlugins installs the provider plugins in need (name to version)
// that are not installed yet.
func (o *Orchestrator) ensurePlugins(ctx context.Context, need map[string]string) (err error) {
	o.mu.Lock()
	for name, v := range need {
		if o.plugins[name+"@"+v] {
			delete(need, name)
		}
	}
	o.mu.Unlock()
	if len(need) == 0 {
		return nil
	}
	ensured := maps.Clone(need)
	defer func() {
		if err == nil {
			o.mu.Lock()
			if o.plugins == nil {
				o.plugins = map[string]bool{}
			}
			for name, v := range ensured {
				o.plugins[name+"@"+v] = true
			}
			o.mu.Unlock()
		}
	}()
	ws, err := o.workspace(ctx)
	if err != nil {
		return err
	}
	have, err := ws.ListPlugins(ctx)
	if err != nil {
		return fmt.Errorf("listing installed plugins: %w", err)
	}
	for _, p := range have {
		if p.Kind == "resource" && p.Version != nil && need[p.Name] == p.Version.String() {
			delete(need, p.Name)
		}
	}
	names := make([]string, 0, len(need))
	for name := range need {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := need[name]
		o.logf("installing the %s provider plugin v%s (first use only)", name, v)
		if err := ws.InstallPlugin(ctx, name, "v"+v); err != nil {
			return fmt.Errorf("installing the %s provider plugin v%s: %w; install it by hand with: pulumi plugin install resource %s v%s", name, v, err, name, v)
		}
	}
	return nil
}
