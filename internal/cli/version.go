package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/phoenix-iac/phoenix/internal/version"
)

// VersionOptions are the options of phoenix version.
type VersionOptions struct {
	Global *GlobalOptions
	Env    string
	JSON   bool
}

func newVersionCmd(f *Factory, g *GlobalOptions, runF func(context.Context, *VersionOptions) error) *cobra.Command {
	opts := &VersionOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "version --env ENV",
		Short: "Print the version id a deploy of the env would use",
		Long: `Print the version id of the env's current definition: a content hash of the
app's build context (honouring .dockerignore), the program's own source and
go.sum, and Pulumi.<env>.yaml minus the keys that move traffic and tune the
canary analysis (not part of a version). The same definition
always gives the same id; any change to it gives a new one.`,
		Example: `  phoenix version --env dev
  phoenix version --env dev --json`,
		Args: noArgs,
		RunE: runE(opts, &opts.Env, nil, runF, func(_ context.Context, opts *VersionOptions) error { return versionRun(f, opts) }),
	}
	cmd.Flags().StringVar(&opts.Env, "env", "", "the env (required)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func versionRun(f *Factory, opts *VersionOptions) error {
	dir, err := f.ProjectDir(opts.Global)
	if err != nil {
		return err
	}
	id, err := version.Compute(dir, opts.Env)
	var res *VersionResult
	if err == nil {
		res = &VersionResult{Env: opts.Env, Version: id, Stack: opts.Env + "." + id}
	}
	return f.show(opts.JSON, res, err, func(w io.Writer) error { return renderVersion(w, *res) })
}

// VersionResult is phoenix version's result.
type VersionResult struct {
	Env     string `json:"env"`
	Version string `json:"version"`
	Stack   string `json:"stack"`
}

// renderVersion is version's human view: the id alone, for scripts.
func renderVersion(w io.Writer, res VersionResult) error {
	_, err := fmt.Fprintln(w, res.Version)
	return err
}

// resolveVersion returns override when set, else the version id computed
// from the project.
func resolveVersion(f *Factory, g *GlobalOptions, env, override string) (string, error) {
	if override != "" {
		return override, nil
	}
	dir, err := f.ProjectDir(g)
	if err != nil {
		return "", err
	}
	return version.Compute(dir, env)
}

// resolveArtifact returns the artifact id of env's app (version.Artifact).
// A deploy of a version named by hand (--version) records none when the
// app cannot be read; one of a computed version id never fails here, as
// the id hashed the same files.
func resolveArtifact(f *Factory, g *GlobalOptions, env string) (string, error) {
	dir, err := f.ProjectDir(g)
	if err != nil {
		return "", err
	}
	return version.Artifact(dir, env)
}

// resolveProgram returns the hash of the program's source (version.Program),
// which a deploy records and a promotion checks. Like the artifact id, a
// deploy of a version named by hand records none when it cannot be read.
func resolveProgram(f *Factory, g *GlobalOptions) (string, error) {
	dir, err := f.ProjectDir(g)
	if err != nil {
		return "", err
	}
	return version.Program(dir)
}
