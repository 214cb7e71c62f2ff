package orchestrator

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/internal/analysis"
	"github.com/phoenix-iac/phoenix/stacks"
)

// fakeSource answers with fixed stats per version, and records the windows
// it was asked for.
type fakeSource struct {
	stats   func(version string, from, to time.Time) analysis.Stats
	windows map[string][2]time.Time
}

func (f *fakeSource) Stats(_ context.Context, from, to time.Time, versions ...string) (map[string]analysis.Stats, error) {
	out := map[string]analysis.Stats{}
	for _, v := range versions {
		out[v] = f.stats(v, from, to)
		f.windows[v] = [2]time.Time{from, to}
	}
	return out, nil
}
func (f *fakeSource) Resolution() time.Duration { return 0 }
func (f *fakeSource) Close() error              { return nil }

func ms(n int) analysis.Duration { return analysis.Duration(time.Duration(n) * time.Millisecond) }

func TestWatch(t *testing.T) {
	good := analysis.Stats{Requests: 500, P50: ms(10), P99: ms(20)}
	bad := analysis.Stats{Requests: 500, Errors: 25, P50: ms(10), P99: ms(20)}
	few := analysis.Stats{Requests: 5, P50: ms(10), P99: ms(20)}
	opts := AnalysisOptions{Settings: stacks.DefaultAnalysis, Poll: 10 * time.Millisecond, Progress: 50 * time.Millisecond}
	for _, tt := range []struct {
		name       string
		cand       analysis.Stats
		want       analysis.Verdict
		minTook    time.Duration
		maxTook    time.Duration
		logHas     string
		baseBefore bool
	}{
		{name: "a bad candidate fails at once, before the step's wait", cand: bad, want: analysis.Fail, maxTook: 200 * time.Millisecond},
		{name: "a good candidate passes once the step's wait is over", cand: good, want: analysis.Pass, minTook: 300 * time.Millisecond, maxTook: 700 * time.Millisecond},
		{name: "too little traffic waits until the timeout, saying so", cand: few, want: analysis.NoVerdict, minTook: 600 * time.Millisecond, logHas: "waiting for traffic: v2 5 and v1 500 requests of the 100 each needs"},
		{name: "the bake compares with the base's window before the start", cand: good, want: analysis.Pass, minTook: 300 * time.Millisecond, baseBefore: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var log, ticker bytes.Buffer
			o := &Orchestrator{opts: Options{Log: &log, Ticker: &ticker}}
			src := &fakeSource{windows: map[string][2]time.Time{}, stats: func(v string, _, _ time.Time) analysis.Stats {
				if v == "v2" {
					return tt.cand
				}
				return good
			}}
			start := time.Now()
			sa, err := o.watch(context.Background(), src, opts, StepAnalysis{Step: "canary 10%", Version: "v2", BaseVersion: "v1"}, start, 300*time.Millisecond, 600*time.Millisecond, tt.baseBefore)
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if sa.Verdict != tt.want {
				t.Errorf("verdict %s (%s), want %s", sa.Verdict, sa.Reason, tt.want)
			}
			if took < tt.minTook || (tt.maxTook > 0 && took > tt.maxTook) {
				t.Errorf("took %s, want between %s and %s", took, tt.minTook, tt.maxTook)
			}
			if !strings.Contains(log.String(), tt.logHas) {
				t.Errorf("log %q does not say %q", log.String(), tt.logHas)
			}
			// On a terminal, one line redrawn in place, cleared at the end.
			// (A failure at the first look draws nothing before it.)
			lines := strings.Split(ticker.String(), clearLine)
			drew := len(lines) > 2 && strings.HasPrefix(lines[1], "canary 10%: 0:00 gone, 0:00 left · v2 ")
			if (!drew && tt.want != analysis.Fail) || lines[len(lines)-1] != "" || strings.Contains(ticker.String(), "\n") {
				t.Errorf("the ticker drew %q", ticker.String())
			}
			w := src.windows["v1"]
			if tt.baseBefore {
				if !w[1].Equal(start) || !w[0].Equal(start.Add(-300*time.Millisecond)) {
					t.Errorf("base window %v, want the step's length before %v", w, start)
				}
			} else if !w[0].Equal(start) {
				t.Errorf("base window from %v, want from the step's start %v", w[0], start)
			}
		})
	}
}

func TestAnalysisErrorNamesTheFiguresAndTheWayOut(t *testing.T) {
	fail := &AnalysisError{Step: StepAnalysis{Step: "canary 10%", Version: "v2", BaseVersion: "v1", Judgment: analysis.Judgment{
		Verdict: analysis.Fail, Reason: "error rate 5% (5 of 100) is over 1%",
		New: analysis.Stats{Requests: 100, Errors: 5}, Base: analysis.Stats{Requests: 900}}}}
	for _, want := range []string{"canary 10%", "the analysis failed v2", "error rate 5%", "v2: 100 requests, 5% errors", "v1: 900 requests, 0% errors"} {
		if !strings.Contains(fail.Error(), want) {
			t.Errorf("%q does not say %q", fail.Error(), want)
		}
	}
	none := &AnalysisError{Step: StepAnalysis{Step: "canary 10%", Seconds: 600, Judgment: analysis.Judgment{Verdict: analysis.NoVerdict, Reason: "too little traffic"}}}
	for _, want := range []string{"no verdict after 600s", "minRequests", "--step-timeout", "--analysis=false"} {
		if !strings.Contains(none.Error(), want) {
			t.Errorf("%q does not say %q", none.Error(), want)
		}
	}
}
