// Package version computes the version id of an env: a content hash of
// everything that defines one complete version, so that the same definition
// always gets the same id and any relevant change a new one. It covers
//   - the app's Docker build context as Docker sends it: what its
//     .dockerignore lets through, and the Dockerfile always;
//   - the program's own source (Pulumi.yaml, main.go, go.mod, go.sum and the
//     non-test Go files of stacks/, components/, platforms/ and
//     internal/header/);
//   - the env's config file, Pulumi.<env>.yaml, minus the operation keys
//     (traffic and analysis), which say how phoenix moves traffic and judges
//     a version, not what a version is.
package version

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/dirhash"

	"github.com/phoenix-iac/phoenix/internal/buildcontext"
	"github.com/phoenix-iac/phoenix/stacks"
)

// Length is the number of hex digits of a computed version id.
const Length = 8

// programFiles and programDirs are the program's own source, relative to
// the project directory.
var (
	programFiles = []string{"Pulumi.yaml", "main.go", "go.mod", "go.sum"}
	programDirs  = []string{"stacks", "components", "platforms", "internal/header"}
)

// Input is one file that goes into the hash, under a name that says where it
// comes from ("app/main.go", "program/stacks/name.go", "config/Pulumi.dev.yaml").
type Input struct {
	Name string
	open func() (io.ReadCloser, error)
}

// Compute returns the version id of env in the project at dir.
func Compute(dir, env string) (string, error) {
	inputs, err := Inputs(dir, env)
	if err != nil {
		return "", err
	}
	return Hash(inputs)
}

// Hash hashes inputs with the Go module tree hash (dirhash.Hash1) and returns
// its first Length hex digits.
func Hash(inputs []Input) (string, error) {
	names := make([]string, len(inputs))
	byName := make(map[string]Input, len(inputs))
	for i, in := range inputs {
		names[i] = in.Name
		byName[in.Name] = in
	}
	h1, err := dirhash.Hash1(names, func(name string) (io.ReadCloser, error) { return byName[name].open() })
	if err != nil {
		return "", fmt.Errorf("hashing the version: %w", err)
	}
	sum, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h1, "h1:"))
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sum)[:Length], nil
}

// Inputs lists what defines a version of env, in the project at dir.
func Inputs(dir, env string) ([]Input, error) {
	inputs, def, err := definition(dir, env)
	if err != nil {
		return nil, err
	}
	app, err := buildContext(appDir(dir, def.AppPath))
	if err != nil {
		return nil, err
	}
	return append(inputs, app...), nil
}

// definition lists what defines a version of env besides its artifact:
// the env's config (without the operation keys) and the program; with the
// config as a version sees it.
func definition(dir, env string) ([]Input, *stacks.Config, error) {
	if err := stacks.ValidateEnv(env); err != nil {
		return nil, nil, err
	}
	file, err := stacks.ReadEnvFile(dir, env)
	if err != nil {
		return nil, nil, err
	}
	config, err := file.Canonical()
	if err != nil {
		return nil, nil, err
	}
	def, err := file.Definition()
	if err != nil {
		return nil, nil, err
	}
	program, err := programInputs(dir)
	if err != nil {
		return nil, nil, err
	}
	return append([]Input{{Name: "config/Pulumi." + env + ".yaml", open: bytesOpener(config)}}, program...), def, nil
}

// programInputs are the program's own source in the project at dir.
func programInputs(dir string) ([]Input, error) {
	var inputs []Input
	for _, f := range programFiles {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s is missing: run phoenix from the project directory (the one holding Pulumi.yaml)", p)
		}
		inputs = append(inputs, Input{Name: "program/" + f, open: fileOpener(p)})
	}
	for _, d := range programDirs {
		err := filepath.WalkDir(filepath.Join(dir, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() && e.Name() == "testdata" {
				return filepath.SkipDir
			}
			if e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			rel, _ := filepath.Rel(dir, p)
			inputs = append(inputs, Input{Name: "program/" + filepath.ToSlash(rel), open: fileOpener(p)})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading the program's source: %w", err)
		}
	}
	return inputs, nil
}

// Program returns the hash of the program's own source in the project at
// dir (the "program/" inputs of the version id): versions deployed from
// checkouts with one program hash were planned by the same definition.
func Program(dir string) (string, error) {
	inputs, err := programInputs(dir)
	if err != nil {
		return "", err
	}
	return Hash(inputs)
}

// Promoted returns the version id, in env of the project at dir, of a
// version that runs image (by digest) rather than one built from the
// app: the hash of env's config, the program and the image's digest. The
// same promotion always gets the same id, and never the id of a version
// built from source.
func Promoted(dir, env, image string) (string, error) {
	_, digest, found := strings.Cut(image, "@")
	if !found {
		digest = image
	}
	if !strings.HasPrefix(digest, "sha256:") {
		return "", fmt.Errorf("image %q is not pinned by digest", image)
	}
	inputs, _, err := definition(dir, env)
	if err != nil {
		return "", err
	}
	inputs = append(inputs, Input{Name: "artifact/image", open: bytesOpener([]byte(digest))})
	return Hash(inputs)
}

// Artifact returns the artifact id of env's app in the project at dir: the
// hash of its Docker build context alone (the "app/" inputs of the version
// id). Versions with one artifact id are built from the same sources,
// whatever their env's config or the program: the artifact the version id
// also covers.
func Artifact(dir, env string) (string, error) {
	if err := stacks.ValidateEnv(env); err != nil {
		return "", err
	}
	file, err := stacks.ReadEnvFile(dir, env)
	if err != nil {
		return "", err
	}
	def, err := file.Definition()
	if err != nil {
		return "", err
	}
	app, err := buildContext(appDir(dir, def.AppPath))
	if err != nil {
		return "", err
	}
	return Hash(app)
}

// appDir is the app's directory: appPath, relative to the project at dir.
func appDir(dir, appPath string) string {
	if filepath.IsAbs(appPath) {
		return appPath
	}
	return filepath.Join(dir, appPath)
}

// buildContext lists the files Docker would send as the build context of
// dir (the Dockerfile included), under "app/".
func buildContext(dir string) ([]Input, error) {
	files, err := buildcontext.Files(dir)
	if err != nil {
		return nil, fmt.Errorf("the app's %w; set phoenix:appPath in the env's config file", err)
	}
	inputs := make([]Input, len(files))
	for i, f := range files {
		inputs[i] = Input{Name: "app/" + f.Rel, open: fileOpener(f.Path)}
	}
	return inputs, nil
}

func fileOpener(p string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return os.Open(p) }
}

func bytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}
