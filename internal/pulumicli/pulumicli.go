// Package pulumicli finds the Pulumi CLI for phoenix, or builds it from the
// project's tools module when none is installed, so that a laptop with only
// Go and Docker can run phoenix.
package pulumicli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// Version is the Pulumi CLI version the tools module pins.
const Version = "v3.274.1"

// Find returns the Pulumi CLI to use, in this order: the folder named by
// $PHOENIX_PULUMI_ROOT (holding bin/pulumi), `pulumi` on $PATH, the
// project's .bin/pulumi, and else one it builds there from tools/pulumi.
func Find(ctx context.Context, projectDir string, log io.Writer) (auto.PulumiCommand, error) {
	if root := os.Getenv("PHOENIX_PULUMI_ROOT"); root != "" {
		if _, err := os.Stat(filepath.Join(root, "bin", "pulumi")); err != nil {
			return nil, fmt.Errorf("PHOENIX_PULUMI_ROOT=%s holds no bin/pulumi", root)
		}
		return auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root, SkipVersionCheck: true})
	}
	if _, err := exec.LookPath("pulumi"); err == nil {
		return auto.NewPulumiCommand(&auto.PulumiCommandOptions{})
	}
	root := filepath.Join(projectDir, ".bin", "pulumi")
	bin := filepath.Join(root, "bin", "pulumi")
	if _, err := os.Stat(bin); err != nil {
		if err := build(ctx, projectDir, bin, log); err != nil {
			return nil, err
		}
	}
	return auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root, SkipVersionCheck: true})
}

func build(ctx context.Context, projectDir, bin string, log io.Writer) error {
	tools := filepath.Join(projectDir, "tools", "pulumi")
	if _, err := os.Stat(filepath.Join(tools, "go.mod")); err != nil {
		return fmt.Errorf("no Pulumi CLI found: install it (https://www.pulumi.com/docs/install/) or run phoenix from the project directory, whose tools/pulumi builds one")
	}
	if _, err := exec.LookPath("go"); err != nil {
		return fmt.Errorf("no Pulumi CLI found and no Go toolchain to build one: install Pulumi or Go")
	}
	fmt.Fprintf(log, "phoenix: no Pulumi CLI found; building Pulumi %s into %s (once; a few minutes)\n", Version, filepath.Dir(filepath.Dir(bin)))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin,
		"-ldflags", "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version="+Version,
		"github.com/pulumi/pulumi/pkg/v3/cmd/pulumi")
	cmd.Dir = tools
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the Pulumi CLI in %s: %w", tools, err)
	}
	return nil
}
