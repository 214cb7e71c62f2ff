package e2e

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// No image registry is reachable here, so the base images the product's
// Dockerfiles name are made from local files with `docker import`, under the
// names the Dockerfiles use, and `FROM` resolves them locally. The
// Dockerfiles build unchanged.
//
//   - golang:1.26: this machine's Go toolchain, a static busybox for the
//     shell of RUN steps, as a file module proxy (GOPROXY=file://) the
//     modules that the load balancer's build (lb/) needs, copied from
//     this machine's module cache, and a Go build cache holding the
//     packages of lb/ and app/ compiled as their Dockerfiles compile them
//     (CGO_ENABLED=0, -trimpath), by make tools and by this test on the
//     host: the images' builds run `go build` from source with no network,
//     as they do for users, and find compiled what has not changed since,
//     so that they link rather than spend minutes compiling Caddy again
//     inside the engine. The real image has no build cache: a user's
//     build compiles the standard library first, some 17 s more on 2
//     cores for app/ (BenchmarkPromotion times deploys both ways);
//   - caddy:2.11.9-alpine: busybox (the table writer runs sh, cp, mv,
//     tail) and the static Caddy that lb/ builds at that version;
//   - gcr.io/distroless/static-debian12:nonroot: a passwd and group with the
//     nonroot user (65532), which `USER nonroot:nonroot` needs.

// baseImage is one stand-in: its name, its files and its settings.
type baseImage struct {
	name    string
	changes []string // Dockerfile instructions for docker import --change
	build   func(w *tarWriter) error
}

// baseImages says whether an earlier test of this run made the stand-ins.
var baseImages struct {
	sync.Mutex
	made bool
}

// makeBaseImages imports every stand-in into the engine at DOCKER_HOST.
func makeBaseImages(t testing.TB, caddy, gocache string) {
	t.Helper()
	// Once per engine: the tests of one run share it.
	baseImages.Lock()
	defer baseImages.Unlock()
	if baseImages.made {
		return
	}
	defer func() { baseImages.made = !t.Failed() }()
	warmGoCache(t, gocache)
	busybox := needBusybox(t)
	images := []baseImage{
		golangStandIn(t, gocache),
		{
			name: "caddy:2.11.9-alpine",
			changes: []string{
				"ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
				"ENV XDG_CONFIG_HOME=/config",
				"ENV XDG_DATA_HOME=/data",
				`CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile"]`,
			},
			build: func(w *tarWriter) error {
				for _, d := range []string{"config", "data", "etc/caddy", "usr/bin"} {
					w.dir(d, 0o755)
				}
				w.dir("tmp", 0o1777)
				if err := w.busybox(busybox, shell); err != nil {
					return err
				}
				return w.file(caddy, "usr/bin/caddy", 0o755)
			},
		},
		{
			name:    "gcr.io/distroless/static-debian12:nonroot",
			changes: []string{"USER 65532:65532", "WORKDIR /home/nonroot"},
			build: func(w *tarWriter) error {
				w.dir("etc", 0o755)
				w.bytes("etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n", 0o644)
				w.bytes("etc/group", "root:x:0:\nnonroot:x:65532:\n", 0o644)
				w.dir("home/nonroot", 0o700, 65532)
				w.dir("tmp", 0o1777)
				return nil
			},
		},
	}
	for _, img := range images {
		importImage(t, img)
	}
}

// needBusybox is the static busybox the stand-ins' shells are.
func needBusybox(t testing.TB) string {
	t.Helper()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("no busybox: install busybox-static (apt-get install busybox-static; .ci/run does)")
	}
	return busybox
}

// shell is what the stand-ins' busybox is linked as.
var shell = []string{"sh", "cp", "mv", "rm", "cat", "ls", "mkdir", "tail", "sleep", "env", "true", "wget"}

// golangStandIn is the golang:1.26 stand-in. Its Go build cache is a copy
// of gocache; with gocache "" it has none, as the real image has none: a
// build in it compiles the standard library first.
func golangStandIn(t testing.TB, gocache string) baseImage {
	t.Helper()
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	busybox := needBusybox(t)
	proxy, err := moduleProxy(filepath.Join("..", "..", "lb"))
	if err != nil {
		t.Fatalf("the load balancer's modules for the golang stand-in: %v", err)
	}
	return baseImage{
		name: "golang:1.26",
		changes: []string{
			"ENV PATH=/usr/local/go/bin:/bin",
			"ENV GOTOOLCHAIN=local",
			"ENV HOME=/root",
			"ENV GOCACHE=/root/.cache/go-build",
			"ENV GOFLAGS=-mod=mod",
			"ENV GOPROXY=file:///goproxy",
			"ENV GOSUMDB=off",
		},
		build: func(w *tarWriter) error {
			w.dir("root", 0o755)
			w.dir("root/.cache", 0o755)
			if gocache != "" {
				if err := w.tree(gocache, "root/.cache/go-build", func(string) bool { return false }); err != nil {
					return err
				}
			}
			w.dir("tmp", 0o1777)
			if err := w.busybox(busybox, shell); err != nil {
				return err
			}
			dirs := map[string]bool{}
			for _, f := range proxy {
				name := "goproxy/" + f.name
				var parents []string
				for d := filepath.Dir(name); d != "." && !dirs[d]; d = filepath.Dir(d) {
					parents = append(parents, d)
					dirs[d] = true
				}
				for i := len(parents) - 1; i >= 0; i-- {
					w.dir(parents[i], 0o755)
				}
				if err := w.file(f.src, name, 0o644); err != nil {
					return err
				}
			}
			return w.tree(strings.TrimSpace(string(goroot)), "usr/local/go", func(rel string) bool {
				// Sources of tests and docs are not needed to build.
				return rel == "test" || rel == "doc" || rel == "api" || rel == "misc" ||
					strings.HasPrefix(rel, "pkg/linux_amd64_race") || strings.HasSuffix(rel, "_test.go") || strings.Contains(rel, "/testdata")
			})
		},
	}
}

// importImage imports img into the engine at DOCKER_HOST.
func importImage(t testing.TB, img baseImage) {
	t.Helper()
	start := time.Now()
	rootfs, err := os.Create(filepath.Join(t.TempDir(), "rootfs.tar"))
	if err != nil {
		t.Fatal(err)
	}
	w := &tarWriter{tw: tar.NewWriter(rootfs)}
	if err := img.build(w); err != nil {
		t.Fatalf("stand-in %s: %v", img.name, err)
	}
	if err := w.close(); err != nil {
		t.Fatalf("stand-in %s: %v", img.name, err)
	}
	size, _ := rootfs.Seek(0, io.SeekCurrent)
	if _, err := rootfs.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	args := []string{"import"}
	for _, c := range img.changes {
		args = append(args, "--change", c)
	}
	args = append(args, "-", img.name)
	cmd := exec.Command("docker", args...)
	cmd.Stdin = rootfs
	out, err := cmd.CombinedOutput()
	rootfs.Close()
	if err != nil {
		t.Fatalf("docker import %s: %v\n%s", img.name, err, out)
	}
	t.Logf("stand-in image %s made in %s (%d MB)", img.name, time.Since(start).Round(100*time.Millisecond), size>>20)
}

// warmGoCache builds lb/ and app/ on the host as their Dockerfiles build
// them, into gocache: make tools' Caddy build filled it already, so this
// compiles what changed since and links.
func warmGoCache(t testing.TB, gocache string) {
	t.Helper()
	start := time.Now()
	for _, dir := range []string{"lb", "app"} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(t.TempDir(), dir), ".")
		cmd.Dir = filepath.Join("..", "..", dir)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOCACHE="+gocache)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s into the golang stand-in's build cache: %v\n%s", dir, err, out)
		}
	}
	t.Logf("the golang stand-in's build cache (%s) holds lb/ and app/ as their Dockerfiles compile them (%s)", gocache, time.Since(start).Round(100*time.Millisecond))
}

// proxyFile is one file of a module proxy: its path in the proxy and on disk.
type proxyFile struct{ name, src string }

// moduleProxy lists the files of a module proxy that serves the build of
// the module in dir: every go.mod file this machine's module cache holds
// (Go's version selection reads the go.mod of versions it does not select,
// and they are small: a few MB in all), and the zips of the modules whose
// packages the build compiles. The module cache's download folder is laid
// out as a proxy (GOPROXY=file://), so the files are copied as they are.
// The modules are already in the cache: make tools built lb/.
func moduleProxy(dir string) ([]proxyFile, error) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{if .Version}}{{.Path}}@{{.Version}}{{end}}{{end}}", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly", "GOPROXY=off")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("go list -deps in %s: %v\n%s", dir, err, ee.Stderr)
		}
		return nil, err
	}
	cache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return nil, err
	}
	download := filepath.Join(strings.TrimSpace(string(cache)), "cache", "download")
	var files []proxyFile
	err = filepath.WalkDir(download, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(p, ".mod") {
			return err
		}
		rel, _ := filepath.Rel(download, p)
		files = append(files, proxyFile{name: filepath.ToSlash(rel), src: p})
		return nil
	})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, m := range strings.Fields(string(out)) {
		if seen[m] {
			continue // several packages of one module
		}
		seen[m] = true
		path, version, _ := strings.Cut(m, "@")
		base := escapeModulePath(path) + "/@v/" + version
		for _, ext := range []string{".info", ".zip"} {
			src := filepath.Join(download, filepath.FromSlash(base+ext))
			if _, err := os.Stat(src); err != nil {
				return nil, fmt.Errorf("module %s is not in the module cache: build lb/ once (make tools)", m)
			}
			files = append(files, proxyFile{name: base + ext, src: src})
		}
	}
	return files, nil
}

// escapeModulePath escapes a module path as the module cache and proxies
// do: each upper-case letter becomes '!' and its lower case.
func escapeModulePath(path string) string {
	var b strings.Builder
	for _, r := range path {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// tarWriter writes an image's root file system; the first error sticks.
type tarWriter struct {
	tw  *tar.Writer
	err error
}

func (w *tarWriter) header(h *tar.Header) {
	if w.err == nil {
		h.ModTime = time.Unix(0, 0)
		w.err = w.tw.WriteHeader(h)
	}
}

func (w *tarWriter) dir(name string, mode int64, owner ...int) {
	h := &tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode}
	if len(owner) == 1 {
		h.Uid, h.Gid = owner[0], owner[0]
	}
	w.header(h)
}

func (w *tarWriter) bytes(name, body string, mode int64) {
	w.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body))})
	if w.err == nil {
		_, w.err = io.WriteString(w.tw, body)
	}
}

func (w *tarWriter) file(src, name string, mode int64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	w.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: info.Size()})
	if w.err == nil {
		_, w.err = io.Copy(w.tw, f)
	}
	return w.err
}

func (w *tarWriter) symlink(name, target string) {
	w.header(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777})
}

// busybox puts a static busybox at /bin/busybox with the applets named.
func (w *tarWriter) busybox(src string, applets []string) error {
	w.dir("bin", 0o755)
	if err := w.file(src, "bin/busybox", 0o755); err != nil {
		return err
	}
	for _, a := range applets {
		w.symlink("bin/"+a, "busybox")
	}
	return w.err
}

// tree copies the directory src to name, leaving out what skip names
// (given paths relative to src).
func (w *tarWriter) tree(src, name string, skip func(rel string) bool) error {
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		rel = filepath.ToSlash(rel)
		if rel != "." && skip(rel) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		dst := name
		if rel != "." {
			dst = name + "/" + rel
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		switch {
		case e.IsDir():
			w.dir(dst, int64(info.Mode().Perm()))
		case e.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			w.symlink(dst, target)
		case e.Type().IsRegular():
			return w.file(p, dst, int64(info.Mode().Perm()))
		}
		return w.err
	})
	if err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return w.err
}

func (w *tarWriter) close() error {
	if w.err != nil {
		return w.err
	}
	return w.tw.Close()
}
