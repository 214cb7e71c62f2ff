// Package buildcontext lists and hashes a Docker build context as Docker
// sends it: every file under the directory that its .dockerignore does not
// exclude, and the Dockerfile always (Docker sends the Dockerfile even when
// .dockerignore names it, so a change to it changes the build).
package buildcontext

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/mod/sumdb/dirhash"
)

// File is one file of a build context.
type File struct {
	// Rel is its slash-separated path relative to the context's directory.
	Rel string
	// Path is where it is on disk.
	Path string
}

// Files lists the build context of dir, sorted by Rel.
func Files(dir string) ([]File, error) {
	info, err := os.Stat(dir)
	if err != nil || !info.IsDir() {
		return nil, fmt.Errorf("build context %s is not a directory", dir)
	}
	// A context that is a link to a directory is read where it points.
	if resolved, err := filepath.EvalSymlinks(dir); err == nil {
		dir = resolved
	}
	var patterns []string
	if f, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		patterns, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, ".dockerignore"), err)
		}
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ".dockerignore"), err)
	}
	var files []File
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		excluded, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if e.IsDir() {
			// A directory is skipped only when nothing under it can be
			// re-included by an exclusion pattern.
			if excluded && !pm.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		if rel == "Dockerfile" {
			excluded = false
		}
		if excluded || !e.Type().IsRegular() {
			return nil
		}
		files = append(files, File{Rel: rel, Path: p})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading build context %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("build context %s is empty after .dockerignore", dir)
	}
	return files, nil
}

// Digest returns the hex SHA-256 tree hash of dir's build context (names and
// contents, as Go's module hash computes it).
func Digest(dir string) (string, error) {
	files, err := Files(dir)
	if err != nil {
		return "", err
	}
	byRel := make(map[string]string, len(files))
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Rel
		byRel[f.Rel] = f.Path
	}
	h1, err := dirhash.Hash1(names, func(name string) (io.ReadCloser, error) { return os.Open(byRel[name]) })
	if err != nil {
		return "", fmt.Errorf("hashing build context %s: %w", dir, err)
	}
	sum, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h1, "h1:"))
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sum), nil
}
