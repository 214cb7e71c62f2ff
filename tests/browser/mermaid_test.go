package browser

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// mermaidBlock is a Mermaid code block of a Markdown file.
var mermaidBlock = regexp.MustCompile("(?s)```mermaid\n(.*?)```")

// TestMermaidDiagramsRender renders every Mermaid diagram of the golden
// files (the pull-request comment's traffic diagram for a first deploy, a
// canary, a rollback and a violation; the deploy summary's charts) with
// the mermaid package, GitHub's renderer, in headless Chromium: each must
// parse and draw an SVG without a syntax error.
func TestMermaidDiagramsRender(t *testing.T) {
	lib := os.Getenv("PHOENIX_MERMAID")
	if lib == "" {
		t.Fatal("PHOENIX_MERMAID is not set: make browser installs mermaid into .bin/mermaid with npm ci and sets it to its dist/mermaid.min.js")
	}
	js, err := os.ReadFile(lib)
	if err != nil {
		t.Fatal(err)
	}
	diagrams := map[string]string{}
	for _, pattern := range []string{"../../internal/cli/testdata/preview/*.md", "../../internal/cli/testdata/summary/*.md"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range mermaidBlock.FindAllSubmatch(b, -1) {
				diagrams[fmt.Sprintf("%s#%d", filepath.Join(filepath.Base(filepath.Dir(f)), filepath.Base(f)), i+1)] = string(m[1])
			}
		}
	}
	for _, want := range []string{"preview/first.md#1", "preview/canary.md#1", "preview/rollback.md#1", "preview/violations.md#1", "summary/canary.md#1", "summary/aborted.md#2"} {
		if _, ok := diagrams[want]; !ok {
			t.Errorf("no Mermaid diagram %s among the golden files", want)
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/mermaid.min.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write(js)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `<!doctype html><html><body><script src="/mermaid.min.js"></script>
<script>mermaid.initialize({startOnLoad: false, securityLevel: "strict"});</script></body></html>`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, _ := Start(t)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL), chromedp.WaitReady("body")); err != nil {
		t.Fatal(err)
	}
	n := 0
	for name, text := range diagrams {
		t.Run(name, func(t *testing.T) {
			n++
			// mermaid.render rejects a diagram it cannot parse, with the
			// parser's message.
			script := fmt.Sprintf(`mermaid.render("d%d", %q).then(r => r.svg, e => "error: " + (e && e.message || e))`, n, text)
			got, err := chromedp.Run(ctx, chromedp.Evaluate[string](script, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(got, "error: ") || !strings.Contains(got, "<svg") {
				t.Errorf("Mermaid could not draw it: %.400s\n%s", got, text)
			}
			if strings.Contains(got, "Syntax error") {
				t.Errorf("Mermaid drew a syntax error:\n%s", text)
			}
		})
	}
	t.Logf("%d Mermaid diagrams rendered in %s", len(diagrams), Path(t))
}

// TestReadmeShowsTheDashboard: the README shows the dashboard during a
// canary with a screenshot the end-to-end test made (kept under 300 KB).
func TestReadmeShowsTheDashboard(t *testing.T) {
	const shot = "docs/dashboard.png"
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "]("+shot+")") {
		t.Errorf("README.md does not show %s", shot)
	}
	b, err := os.ReadFile(filepath.Join("..", "..", shot))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "\x89PNG\r\n\x1a\n") {
		t.Errorf("%s is not a PNG", shot)
	}
	if len(b) >= 300<<10 {
		t.Errorf("%s is %d KB, want under 300 KB", shot, len(b)>>10)
	}
}
