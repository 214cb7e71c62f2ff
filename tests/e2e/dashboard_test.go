package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/phoenix-iac/phoenix/internal/lockedbuf"
	"github.com/phoenix-iac/phoenix/tests/browser"
)

// dashboardView is phoenix dashboard on the project, open in headless
// Chromium.
type dashboardView struct {
	t   testing.TB
	ctx context.Context
	url string
	// shots is the folder the screenshots are kept in.
	shots string
	// close ends the browser and the dashboard.
	close func()
}

// openDashboard starts the built phoenix's dashboard on a free loopback
// port and opens it in headless Chromium; the test's cleanup ends both by
// their pids.
func (p *project) openDashboard() *dashboardView {
	t := p.t
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(p.bin, "dashboard", "--listen", addr)
	cmd.Dir, cmd.Env = p.dir, p.env
	var out lockedbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting phoenix dashboard: %v", err)
	}
	t.Logf("phoenix dashboard: pid %d on %s", cmd.Process.Pid, addr)
	var once sync.Once
	stopDashboard := func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGINT)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("phoenix dashboard ended with %v after Ctrl-C:\n%s", err, out.String())
				}
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Errorf("phoenix dashboard did not stop within 20s of Ctrl-C:\n%s", out.String())
			}
		})
	}
	t.Cleanup(stopDashboard)
	url := "http://" + addr + "/"
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if resp, err := http.Get(url + "api/snapshot"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("phoenix dashboard did not answer on %s within a minute:\n%s", addr, out.String())
		}
	}
	shots, err := os.MkdirTemp("", "phoenix-e2e-dashboard-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots of the dashboard are kept in %s", shots)
	ctx, stopBrowser := browser.Start(t)
	d := &dashboardView{t: t, ctx: ctx, url: url, shots: shots, close: func() { stopBrowser(); stopDashboard() }}
	if err := chromedp.Do(d.ctx, chromedp.Navigate(url), chromedp.WaitVisible(`section.env[data-env="dev"]`)); err != nil {
		t.Fatalf("opening the dashboard in Chromium: %v", err)
	}
	return d
}

// waitFor waits until the page's expression is true, failing the test
// after timeout with what the page shows.
func (d *dashboardView) waitFor(what, expr string, timeout time.Duration) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		d.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
		text, _ := chromedp.Run(d.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		d.t.Fatalf("the dashboard did not show %s within %s (%v); it shows:\n%.3000s", what, timeout, err, text)
	}
}

// value evaluates an expression on the page.
func (d *dashboardView) value(expr string) string {
	d.t.Helper()
	v, err := chromedp.Run(d.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		d.t.Fatalf("reading the dashboard (%s): %v", expr, err)
	}
	return v
}

// requests is the request count the page shows for version.
func (d *dashboardView) requests(version string) int {
	d.t.Helper()
	var n int
	fmt.Sscan(d.value(fmt.Sprintf(`document.querySelector('.requests[data-env="dev"][data-version=%q]')?.dataset.requests ?? "-1"`, version)), &n)
	return n
}

// expectCountsRise reads the request counts of versions twice, wait
// apart, and expects each to rise: the page follows the traffic.
func (d *dashboardView) expectCountsRise(wait time.Duration, versions ...string) {
	d.t.Helper()
	before := map[string]int{}
	for _, v := range versions {
		before[v] = d.requests(v)
	}
	time.Sleep(wait)
	for _, v := range versions {
		after := d.requests(v)
		d.t.Logf("dashboard: %s's requests %d, then %d after %s", v, before[v], after, wait)
		if before[v] < 0 || after <= before[v] {
			d.t.Errorf("the dashboard's request count of %s went from %d to %d in %s; want it to rise under load", v, before[v], after, wait)
		}
	}
}

// screenshot keeps what the browser shows as name.png in the shots folder.
func (d *dashboardView) screenshot(name string) string {
	d.t.Helper()
	png, err := chromedp.Run(d.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		d.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(d.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		d.t.Error(err)
	}
	d.t.Logf("dashboard screenshot: %s (%d KB)", path, len(png)/1024)
	return path
}

// split is the page's traffic split of env dev.
func split(live string, weight int) string {
	return fmt.Sprintf(`(() => { const s = document.querySelector('.split[data-env="dev"]'); return !!s && s.dataset.live === %q && s.dataset.weight === "%d"; })()`, live, weight)
}
