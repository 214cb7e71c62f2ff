package dataplane

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/components/caddyconfig"
	"github.com/phoenix-iac/phoenix/internal/analysis"
	"github.com/phoenix-iac/phoenix/stacks"
)

// judge reads Caddy's access log as it is at to and judges cand against
// live on the production requests that began in [from, to), with the
// docker platform's default thresholds but min requests.
func (l *lb) judge(t *testing.T, from, to time.Time, cand, live string, minRequests int) analysis.Judgment {
	t.Helper()
	f, err := os.Open(l.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := analysis.NewAccessLog()
	if err := a.Read(f); err != nil {
		t.Fatal(err)
	}
	st, err := a.Stats(from, to, cand, live)
	if err != nil {
		t.Fatal(err)
	}
	d := stacks.DefaultAnalysis
	return analysis.Judge(analysis.Thresholds{MaxErrorRate: d.MaxErrorRate, MaxErrorRateRatio: d.MaxErrorRateRatio, MaxLatencyRatio: d.MaxLatencyRatio, MinRequests: minRequests}, st[cand], st[live])
}

// watchStep polls the judgment of a canary step as phoenix deploy does: a
// failure at once, a pass once minWait is over, no verdict until timeout.
func (l *lb) watchStep(t *testing.T, cand, live string, minRequests int, minWait, timeout time.Duration) (analysis.Judgment, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		time.Sleep(250 * time.Millisecond)
		// Caddy writes a line when a request ends; give the file a moment.
		j := l.judge(t, start, time.Now().Add(-100*time.Millisecond), cand, live, minRequests)
		took := time.Since(start)
		if j.Verdict == analysis.Fail || (j.Verdict == analysis.Pass && took >= minWait) || took >= timeout {
			return j, took
		}
	}
}

// TestCanaryVerdicts: the canary analysis on real Caddy's access log, with
// real traffic through it to real app processes. Live answers in 40 ms. A
// candidate that passes its health check but fails every 20th request (5%)
// is failed at its first step, and live's share of that step has no failed
// request; one that answers in 60 ms (50% slower) is failed by the latency
// rule; one like live passes; and a step with too little traffic has no
// verdict.
func TestCanaryVerdicts(t *testing.T) {
	slow := "PHOENIX_DELAY=40ms"
	v1 := startVersion(t, "v1", 2, false, slow)
	good := startVersion(t, "v2", 2, false, slow)
	failing := startVersion(t, "v3", 2, false, slow, "PHOENIX_FAIL_EVERY=20")
	slower := startVersion(t, "v4", 2, false, "PHOENIX_DELAY=60ms")

	l := startCaddy(t, caddyconfig.Spec{Live: pool("v1", v1)})
	url := "http://" + l.addr + "/"
	waitFor(t, url, "v1")

	const minRequests = 100
	for _, tt := range []struct {
		name string
		cand string
		reps []*replica
		want analysis.Verdict
	}{
		{"fails 5% of requests", "v3", failing, analysis.Fail},
		{"50% slower", "v4", slower, analysis.Fail},
		{"as good as live", "v2", good, analysis.Pass},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l.apply(t, caddyconfig.Spec{Live: pool("v1", v1), Candidate: pool(tt.cand, tt.reps), CandidateWeight: 10})
			ld := startLoad(url, 16, nil, false)
			j, took := l.watchStep(t, tt.cand, "v1", minRequests, 3*time.Second, time.Minute)
			samples := ld.finish()
			l.write(t, caddyconfig.Spec{Live: pool("v1", v1)}) // the step ends: abort or promote alike here
			t.Logf("%s after %s: %s; %s: %s; v1: %s", j.Verdict, took.Round(time.Millisecond), j.Reason, tt.cand, j.New, j.Base)
			if j.Verdict != tt.want {
				t.Errorf("verdict %s, want %s", j.Verdict, tt.want)
			}
			liveFailed, liveServed := 0, 0
			for _, s := range samples {
				if s.version == "v1" || (s.version == "" && s.err != "") {
					liveServed++
					if s.err != "" || s.status != http.StatusOK {
						liveFailed++
					}
				}
			}
			t.Logf("client side: %d requests, %d answered by live, %d of them failed", len(samples), liveServed, liveFailed)
			if liveFailed > 0 {
				t.Errorf("%d requests on live's share failed", liveFailed)
			}
		})
	}

	t.Run("too little traffic", func(t *testing.T) {
		l.apply(t, caddyconfig.Spec{Live: pool("v1", v1), Candidate: pool("v2", good), CandidateWeight: 10})
		// A trickle: 20 requests a second, 2 of them to the candidate.
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 60 {
				if resp, err := http.Get(url); err == nil {
					resp.Body.Close()
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		j, took := l.watchStep(t, "v2", "v1", minRequests, time.Second, 3*time.Second)
		<-done
		t.Logf("%s after %s: %s", j.Verdict, took.Round(time.Millisecond), j.Reason)
		if j.Verdict != analysis.NoVerdict || took < 3*time.Second || j.Base.Requests == 0 {
			t.Errorf("verdict %s after %s with %d live requests, want no verdict on a trickle of traffic, waited until the timeout", j.Verdict, took, j.Base.Requests)
		}
	})
}
