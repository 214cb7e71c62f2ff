package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/internal/cli"
	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

// traffic sends production requests to the env until stopped.
func traffic(t *testing.T, url string) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if resp, err := http.Get(url); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

type deployOutput struct {
	orchestrator.DeployResult
	Error string `json:"error"`
}

func decodeDeploy(t *testing.T, r result) deployOutput {
	t.Helper()
	var out deployOutput
	if err := json.Unmarshal([]byte(r.out), &out); err != nil {
		t.Fatalf("deploy --json printed no JSON: %v\n%s", err, r)
	}
	return out
}

// TestCLICanaryAnalysis runs the canary analysis through the real engine:
// the load balancer's access log (the fake writes it as the rendered Caddy
// config says Caddy would) judges each step; a good candidate is promoted,
// one that fails 10% of production requests, though healthy, is aborted
// with live untouched, and too little traffic ends in no verdict. Each
// outcome is in the JSON result, the message and history.
func TestCLICanaryAnalysis(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	stop := traffic(t, fmt.Sprintf("http://127.0.0.1:%d/", c.lb.port))
	flags := []string{"--canary", "50", "--step-wait", "300ms", "--min-requests", "30", "--json"}

	// The fake answers in microseconds, where one scheduler pause on a busy
	// machine is milliseconds, over the latency rule's 5 ms margin: the good
	// versions' latency is left out here (the data-plane test judges latency
	// on real traffic); errors and the request counts are judged.
	lenient := []string{"--max-latency-ratio", "100"}
	good := decodeDeploy(t, c.deploy("v2", slices.Concat(flags, lenient)...))
	if len(good.Analysis) != 1 || good.Analysis[0].Verdict != "pass" || good.Analysis[0].New.Requests < 30 || good.Analysis[0].Base.Requests < 30 {
		t.Fatalf("a good candidate: analysis %+v, want one passed step with 30 requests on each side", good.Analysis)
	}
	t.Logf("good candidate: %s", good.Analysis[0].Reason)

	c.lb.failEvery("v3", 10)
	r := c.run(append([]string{"deploy", "--env", "dev", "--version", "v3", "--gate-count", "3", "--gate-timeout", "5s"}, flags...)...)
	if r.code != cli.ExitChangeFailed {
		t.Fatalf("a candidate failing 10%% of requests: %s", r)
	}
	bad := decodeDeploy(t, r)
	if n := len(bad.Analysis); n != 1 || bad.Analysis[0].Verdict != "fail" || !strings.Contains(bad.Analysis[0].Reason, "error rate 9.") && !strings.Contains(bad.Analysis[0].Reason, "error rate 10") {
		t.Fatalf("a failing candidate: analysis %+v, want one failed step naming its 10%% error rate", bad.Analysis)
	}
	if !strings.Contains(bad.Error, "the analysis failed v3") || !strings.Contains(r.errOut, "live is still v2") {
		t.Errorf("the failure does not say what was judged and what was done: %s", r)
	}
	t.Logf("failing candidate: %s", bad.Analysis[0].Reason)
	if st := c.status(); st.Live != "v2" || st.Candidate != "" {
		t.Errorf("after the aborted canary: live %q candidate %q, want v2 and none", st.Live, st.Candidate)
	}
	h := c.history()
	if h[0].Op != "clear" || h[0].From != "v3" || !strings.Contains(h[0].Why, "fail") || !strings.Contains(h[0].Why, "v3") {
		t.Errorf("history's newest event %+v, want the clear of v3 with the failed analysis", h[0])
	}

	// The bake: a version promoted at once (no canary step) that fails 10%
	// of its requests is judged against v2's traffic before it, and
	// rolled back to v2.
	c.lb.failEvery("v5", 10)
	r = c.run("deploy", "--env", "dev", "--version", "v5", "--gate-count", "3", "--gate-timeout", "5s", "--bake", "2s", "--min-requests", "30", "--json")
	baked := decodeDeploy(t, r)
	if r.code != cli.ExitChangeFailed || len(baked.Analysis) != 1 || baked.Analysis[0].Step != "bake" || baked.Analysis[0].Verdict != "fail" || baked.Analysis[0].BaseVersion != "v2" {
		t.Fatalf("a promoted version failing 10%% in its bake: want exit %d and a failed bake against v2, got %s", cli.ExitChangeFailed, r)
	}
	t.Logf("failing bake: %s", baked.Analysis[0].Reason)
	if !strings.Contains(r.errOut, "live is back on v2") {
		t.Errorf("the failed bake does not say that live is back on v2: %s", r)
	}
	if st := c.status(); st.Live != "v2" {
		t.Errorf("after the failed bake live is %q, want v2 back", st.Live)
	}
	if h := c.history(); h[0].Op != "clear" || h[0].To != "v2" || !strings.Contains(h[0].Why, "bake: fail") {
		t.Errorf("history's newest event %+v, want the return to v2 with the failed bake", h[0])
	}
	good2 := decodeDeploy(t, c.deploy("v6", slices.Concat([]string{"--bake", "1s", "--min-requests", "30", "--json"}, lenient)...))
	if len(good2.Analysis) != 1 || good2.Analysis[0].Verdict != "pass" {
		t.Errorf("a good version's bake: %+v, want a pass", good2.Analysis)
	}

	stop()
	r = c.run("deploy", "--env", "dev", "--version", "v4", "--gate-count", "3", "--gate-timeout", "5s",
		"--canary", "50", "--step-wait", "100ms", "--step-timeout", "1s", "--min-requests", "30", "--json")
	none := decodeDeploy(t, r)
	if r.code != cli.ExitChangeFailed || len(none.Analysis) != 1 || none.Analysis[0].Verdict != "no verdict" || !strings.Contains(none.Error, "no verdict") {
		t.Errorf("no traffic: want exit %d and no verdict, got %s", cli.ExitChangeFailed, r)
	}
	if st := c.status(); st.Live != "v6" {
		t.Errorf("after no verdict live is %q, want v6", st.Live)
	}
}
