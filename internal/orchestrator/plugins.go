package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/phoenix-iac/phoenix/internal/dockerengine"
	"github.com/phoenix-iac/phoenix/stacks"
)

// Provider plugin versions: those of the SDKs in go.mod (a test keeps them equal).
const (
	AWSPluginVersion    = "6.83.4"
	DockerPluginVersion = "4.10.0"
)

// Preflight makes sure that env's platform can be used before any command
// changes anything: the provider plugins it needs are installed (once), and
// on the docker platform the Docker engine answers. Packages served by
// PULUMI_DEBUG_PROVIDERS need neither.
func (o *Orchestrator) Preflight(ctx context.Context, env string) error {
	platform, err := o.envPlatform(env)
	if err != nil {
		return err
	}
	if platform == string(stacks.PlatformDocker) && !o.attached("docker") {
		host := dockerengine.Host(o.getenv)
		err := dockerengine.Ping(ctx, host, o.getenv("DOCKER_TLS_VERIFY") != "", 10*time.Second)
		var unchecked *dockerengine.ErrUnchecked
		switch {
		case errors.As(err, &unchecked):
			o.logf("%v", err)
		case err != nil:
			return err
		}
	}
	return o.ensurePlugins(ctx, platform)
}

// getenv reads a variable the Pulumi CLI and its plugins will see.
func (o *Orchestrator) getenv(key string) string {
	if v, ok := o.opts.EnvVars[key]; ok {
		return v
	}
	return os.Getenv(key)
}

// attached tells whether pkg's provider is served by PULUMI_DEBUG_PROVIDERS.
func (o *Orchestrator) attached(pkg string) bool {
	for _, a := range strings.Split(o.getenv("PULUMI_DEBUG_PROVIDERS"), ",") {
		if name, _, _ := strings.Cut(a, ":"); name == pkg {
			return true
		}
	}
	return false
}

// envPlatform reads env's platform from its config file.
func (o *Orchestrator) envPlatform(env string) (string, error) {
	f, err := o.envFile(env)
	if err != nil {
		return "", err
	}
	return string(f.Platform()), nil
}

// ensurePlugins installs the provider plugins platform needs, once.
func (o *Orchestrator) ensurePlugins(ctx context.Context, platform string) error {
	need := map[string]string{"docker": DockerPluginVersion}
	if platform == string(stacks.PlatformAWS) {
		need["aws"] = AWSPluginVersion
	}
	for pkg := range need {
		if o.attached(pkg) {
			delete(need, pkg)
		}
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
