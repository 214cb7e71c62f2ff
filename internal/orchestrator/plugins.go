package orchestrator

import (
	"context"
	"fmt"
	"strings"

	"github.com/phoenix-iac/phoenix/stacks"
)

// Provider plugin versions: those of the SDKs in go.mod (a test keeps them equal).
const (
	AWSPluginVersion    = "6.83.4"
	DockerPluginVersion = "4.10.0"
)

// EnsurePlugins installs the provider plugins env's platform needs, once.
// Packages served by PULUMI_DEBUG_PROVIDERS need none.
func (o *Orchestrator) EnsurePlugins(ctx context.Context, env string) error {
	platform := string(stacks.PlatformDocker)
	doc, err := o.readEnvConfig(env)
	if err != nil {
		return err
	}
	if cfg := mapValue(doc.Content[0], "config"); cfg != nil {
		if v := mapValue(cfg, stacks.KeyPlatform); v != nil && v.Value != "" {
			platform = v.Value
		}
	}
	need := map[string]string{"docker": DockerPluginVersion}
	if platform == string(stacks.PlatformAWS) {
		need["aws"] = AWSPluginVersion
	}
	for _, attached := range strings.Split(o.opts.EnvVars["PULUMI_DEBUG_PROVIDERS"], ",") {
		pkg, _, _ := strings.Cut(attached, ":")
		delete(need, pkg)
	}
	if len(need) == 0 {
		return nil
	}
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
	for _, name := range []string{"docker", "aws"} {
		v, ok := need[name]
		if !ok {
			continue
		}
		o.logf("installing the %s provider plugin v%s (first use only)", name, v)
		if err := ws.InstallPlugin(ctx, name, "v"+v); err != nil {
			return fmt.Errorf("installing the %s provider plugin v%s: %w; install it by hand with: pulumi plugin install resource %s v%s", name, v, err, name, v)
		}
	}
	return nil
}
