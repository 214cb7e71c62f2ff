// Package browser starts headless Chromium for the tests that look at what
// phoenix draws: the dashboard (tests/e2e) and the Mermaid diagrams of the
// pull-request comment and the deploy summary (this package's test).
package browser

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// Path is the Chromium binary: PHOENIX_CHROMIUM, else chromium on PATH.
// A test that needs it fails without it: .ci/run installs Debian's
// chromium package.
func Path(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("PHOENIX_CHROMIUM"); p != "" {
		return p
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("no Chromium: install Debian's chromium package (apt-get install chromium), as .ci/run does, or set PHOENIX_CHROMIUM to its binary")
	}
	return p
}

// Start starts headless Chromium with a fresh profile and returns a
// browser context for chromedp and the function that ends the browser
// process (and waits for it); the test's cleanup calls it too. Chromium's
// own network traffic (updates, sync, field trials) is turned off: the
// machine has no network, and the pages tested load nothing from it.
func Start(t testing.TB) (context.Context, func()) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Path(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			cancelAlloc() // kills the browser process and waits for it
		})
	}
	t.Cleanup(stop)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx, stop
}
