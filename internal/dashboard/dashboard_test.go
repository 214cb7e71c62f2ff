package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/internal/analysis"
	"github.com/phoenix-iac/phoenix/internal/lease"
	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// rateSource answers each version's requests at a fixed rate per second,
// one error in ten for "bad".
type rateSource struct {
	rate   map[string]int
	failed error
	closed bool
}

func (s *rateSource) Stats(_ context.Context, from, to time.Time, versions ...string) (map[string]analysis.Stats, error) {
	if s.failed != nil {
		return nil, s.failed
	}
	out := map[string]analysis.Stats{}
	for _, v := range versions {
		n := s.rate[v] * int(to.Sub(from)/time.Second)
		st := analysis.Stats{Requests: n, P50: analysis.Duration(3 * time.Millisecond), P99: analysis.Duration(9 * time.Millisecond)}
		if v == "bad" {
			st.Errors = n / 10
		}
		out[v] = st
	}
	return out, nil
}
func (s *rateSource) Resolution() time.Duration { return 0 }
func (s *rateSource) Close() error              { s.closed = true; return nil }

// fakeReader is an env dev in the middle of a canary: v2 takes 10% of
// the traffic, v1 is live, v0 was live before, deploy holds the lease.
type fakeReader struct {
	mu       sync.Mutex
	envs     orchestrator.EnvsResult
	envsErr  error
	src      *rateSource
	srcErr   error
	opened   []time.Time
	resource []orchestrator.Resource
}

func newFakeReader() *fakeReader {
	return &fakeReader{
		envs: orchestrator.EnvsResult{Envs: []orchestrator.Status{{
			Env: "dev", Deployed: true, Platform: "docker", URL: "http://localhost:8080",
			Live: "v1", Candidate: "v2", CandidateWeight: 10, Previous: "v0", Retention: 2, History: history(),
			Versions: []orchestrator.VersionInfo{
				{Version: "v2", Stack: "dev.v2", Role: "candidate", Complete: true, Resources: 4},
				{Version: "v1", Stack: "dev.v1", Role: "live", Complete: true, Resources: 4},
				{Version: "v0", Stack: "dev.v0", Role: "previous", Complete: true, Resources: 4},
			},
		}}},
		src:      &rateSource{rate: map[string]int{"v1": 9, "v2": 1}},
		resource: []orchestrator.Resource{{Type: "docker:index/container:Container", Name: "dev-v2-0"}},
	}
}

func (r *fakeReader) Envs(context.Context) (orchestrator.EnvsResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.envs, r.envsErr
}

// history is env dev's: v2 routed as the candidate after a passed check.
func history() []orchestrator.Event {
	return []orchestrator.Event{
		{Update: 3, Time: t0, Op: "canary", From: "v1", To: "v2", Weight: 10, By: "ci", Result: "succeeded",
			Why: "candidate: pass: v2 20 requests, 0.0% errors, p50 3ms, p99 9ms; v1 180 requests, 0.0% errors, p50 3ms, p99 9ms"},
		{Update: 2, Time: t0.Add(-time.Hour), Op: "promote", From: "v0", To: "v1", By: "ci", Result: "succeeded"},
	}
}

func (r *fakeReader) Resources(_ context.Context, env, version string) ([]orchestrator.Resource, error) {
	return r.resource, nil
}

func (r *fakeReader) Logs(_ context.Context, opts orchestrator.LogsOptions, out func(orchestrator.LogLine) error) error {
	for i := range 3 {
		if err := out(orchestrator.LogLine{Time: t0.Add(time.Duration(i) * time.Second), Version: opts.Version, Source: "dev-" + opts.Version + "-0", Line: "served /"}); err != nil {
			return err
		}
	}
	return nil
}

func (r *fakeReader) TrafficSource(_ context.Context, _ string, since time.Time) (analysis.Source, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opened = append(r.opened, since)
	if r.srcErr != nil {
		return nil, r.srcErr
	}
	return r.src, nil
}

func (r *fakeReader) Lease(context.Context, string) (lease.State, error) {
	return lease.State{Held: true, Holder: lease.Holder{Command: "deploy", User: "ci", Host: "runner-7", PID: 42, Since: t0}}, nil
}

func newServer(t *testing.T, r *fakeReader) (*Server, *clock) {
	t.Helper()
	c := &clock{now: t0}
	s := New(Options{Reader: r, Window: 2 * time.Second, Points: 10, Now: c.Now})
	if _, err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, c
}

func series(t *testing.T, snap Snapshot, version string) Series {
	t.Helper()
	for _, s := range snap.Envs[0].Traffic {
		if s.Version == version {
			return s
		}
	}
	t.Fatalf("no traffic series of %s in %+v", version, snap.Envs[0].Traffic)
	return Series{}
}

// TestTrafficIsReadInWindows: each read adds the windows that ended, for
// live, candidate and previous, and keeps at most Points of them.
func TestTrafficIsReadInWindows(t *testing.T) {
	r := newFakeReader()
	s, c := newServer(t, r)
	ctx := context.Background()
	s.readTraffic(ctx)
	snap, _, _ := s.current()
	// The source is opened back to the oldest point kept: 10 windows of 2s.
	if len(r.opened) != 1 || !r.opened[0].Equal(t0.Add(-20*time.Second)) {
		t.Fatalf("sources opened since %v, want once since %v", r.opened, t0.Add(-20*time.Second))
	}
	// Windows ending up to now - 1s are read: 19s back to -1s → 9 windows.
	live, cand := series(t, snap, "v1"), series(t, snap, "v2")
	if got, want := len(live.Points), 9; got != want {
		t.Fatalf("got %d points of live, want %d", got, want)
	}
	if live.Requests != 9*9*2 || cand.Requests != 9*2 {
		t.Errorf("got %d live and %d candidate requests, want %d and %d", live.Requests, cand.Requests, 9*9*2, 9*2)
	}
	if prev := series(t, snap, "v0"); prev.Requests != 0 || len(prev.Points) != 9 {
		t.Errorf("previous: %+v, want 9 empty points", prev)
	}
	c.Add(6 * time.Second)
	s.readTraffic(ctx)
	next, _, _ := s.current()
	live2 := series(t, next, "v1")
	if len(live2.Points) != 10 || live2.Requests <= live.Requests || next.Seq <= snap.Seq {
		t.Errorf("after 6s: %d points, %d requests (before %d), seq %d (before %d); want 10 points and more requests",
			len(live2.Points), live2.Requests, live.Requests, next.Seq, snap.Seq)
	}
	if last := live2.Points[len(live2.Points)-1]; !last.At.Equal(t0.Add(4*time.Second)) || last.Seconds != 2 {
		t.Errorf("newest point %+v, want the window ending at +4s, 2s wide", last)
	}
	if len(r.opened) != 1 {
		t.Errorf("the source was opened %d times, want once", len(r.opened))
	}
}

// TestStateIsShown: the snapshot carries status, lease, history and the
// verdicts read out of the history.
func TestStateIsShown(t *testing.T) {
	s, _ := newServer(t, newFakeReader())
	snap, _, _ := s.current()
	e := snap.Envs[0]
	if e.Lease == nil || e.Lease.Command != "deploy" || e.Lease.Host != "runner-7" {
		t.Errorf("lease %+v, want deploy's on runner-7", e.Lease)
	}
	if len(e.History) != 2 {
		t.Errorf("got %d history events, want 2", len(e.History))
	}
	want := Verdict{Time: t0, Step: "candidate", Verdict: analysis.Pass, Then: "canary to v2",
		Figures: "v2 20 requests, 0.0% errors, p50 3ms, p99 9ms; v1 180 requests, 0.0% errors, p50 3ms, p99 9ms"}
	if len(e.Verdicts) != 1 || e.Verdicts[0] != want {
		t.Errorf("verdicts %+v, want [%+v]", e.Verdicts, want)
	}
}

// TestFailedReadsAreSaid: a state read that fails keeps the envs of the
// last one and says why; a traffic source that fails is said, closed, and
// opened again after the next state read.
func TestFailedReadsAreSaid(t *testing.T) {
	r := newFakeReader()
	s, c := newServer(t, r)
	ctx := context.Background()
	s.readTraffic(ctx)
	r.src.failed = errors.New("the log stream ended")
	c.Add(4 * time.Second)
	s.readTraffic(ctx)
	snap, _, _ := s.current()
	if got := snap.Envs[0].TrafficError; got != "the log stream ended" || !r.src.closed {
		t.Errorf("traffic error %q, closed %v; want the source's error, and the source closed", got, r.src.closed)
	}
	r.envsErr = errors.New("the backend is gone")
	s.apply(ctx, orchestrator.EnvsResult{}, r.envsErr)
	snap, _, _ = s.current()
	if snap.Error != "the backend is gone" || len(snap.Envs) != 1 || snap.Envs[0].Live != "v1" {
		t.Errorf("after a failed read: error %q, envs %d; want the error and the last envs", snap.Error, len(snap.Envs))
	}
	r.envsErr, r.src.failed = nil, nil
	res, _ := r.Envs(ctx)
	c.Add(time.Second)
	s.apply(ctx, res, nil)
	s.readTraffic(ctx)
	snap, _, _ = s.current()
	if snap.Error != "" || snap.Envs[0].TrafficError != "" || len(r.opened) != 2 {
		t.Errorf("after a good read: error %q, traffic error %q, sources opened %d; want none, none, 2",
			snap.Error, snap.Envs[0].TrafficError, len(r.opened))
	}
}

// TestEventsStreamEachSnapshot: /api/events sends the current snapshot at
// once, then each new one.
func TestEventsStreamEachSnapshot(t *testing.T) {
	r := newFakeReader()
	s, c := newServer(t, r)
	srv := httptest.NewServer(s.Handler(HandlerOptions{}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content type %q", ct)
	}
	events := make(chan Snapshot)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var snap Snapshot
				if json.Unmarshal([]byte(data), &snap) != nil {
					close(events)
					return
				}
				events <- snap
			}
		}
		close(events)
	}()
	next := func() Snapshot {
		t.Helper()
		select {
		case snap, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			return snap
		case <-time.After(10 * time.Second):
			t.Fatal("no event in 10s")
		}
		return Snapshot{}
	}
	first := next()
	if first.Seq != 1 || first.Envs[0].Env != "dev" {
		t.Fatalf("first event: seq %d, envs %+v", first.Seq, first.Envs)
	}
	c.Add(3 * time.Second)
	s.readTraffic(context.Background())
	second := next()
	if second.Seq <= first.Seq || series(t, second, "v2").Requests == 0 {
		t.Errorf("second event: seq %d, candidate series %+v; want a newer one with requests", second.Seq, second.Envs[0].Traffic)
	}
}

func get(t *testing.T, h http.Handler, method, host, path string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.Host = host
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestOnlyLoopbackAndOnlyReads: by default only requests addressed to
// loopback are answered (DNS rebinding); nothing but GET is.
func TestOnlyLoopbackAndOnlyReads(t *testing.T) {
	s, _ := newServer(t, newFakeReader())
	h := s.Handler(HandlerOptions{})
	for _, tt := range []struct {
		method, host string
		public       bool
		want         int
	}{
		{"GET", "127.0.0.1:9000", false, 200},
		{"GET", "localhost:9000", false, 200},
		{"GET", "[::1]:9000", false, 200},
		{"GET", "attacker.example:9000", false, 403},
		{"GET", "192.168.1.5:9000", false, 403},
		{"GET", "attacker.example:9000", true, 200},
		{"POST", "127.0.0.1:9000", false, 405},
		{"DELETE", "127.0.0.1:9000", false, 405},
	} {
		h := h
		if tt.public {
			h = s.Handler(HandlerOptions{Public: true})
		}
		if got := get(t, h, tt.method, tt.host, "/api/snapshot").Code; got != tt.want {
			t.Errorf("%s %s (public %v): got %d, want %d", tt.method, tt.host, tt.public, got, tt.want)
		}
	}
}

// TestPageIsEmbedded: the page and its script come from the binary, with
// a policy that lets it load nothing else.
func TestPageIsEmbedded(t *testing.T) {
	s, _ := newServer(t, newFakeReader())
	h := s.Handler(HandlerOptions{})
	page := get(t, h, "GET", "127.0.0.1:9000", "/")
	if page.Code != 200 || !strings.Contains(page.Body.String(), `src="app.js"`) {
		t.Fatalf("GET /: %d %q", page.Code, page.Body.String())
	}
	if csp := page.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("content security policy %q", csp)
	}
	for path, ctype := range map[string]string{"/app.js": "javascript", "/style.css": "text/css"} {
		w := get(t, h, "GET", "127.0.0.1:9000", path)
		if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), ctype) || w.Body.Len() < 500 {
			t.Errorf("GET %s: %d, %q, %d bytes", path, w.Code, w.Header().Get("Content-Type"), w.Body.Len())
		}
	}
	for _, path := range []string{"/", "/app.js", "/style.css"} {
		if body := get(t, h, "GET", "127.0.0.1:9000", path).Body.String(); strings.Contains(body, "https://") || strings.Contains(body, "@import") {
			t.Errorf("%s loads something from the network", path)
		}
	}
}

// TestVersionPage: a version's resources, the cut-overs that name it and
// its newest log lines; an unknown env or version is a 404 that says why.
func TestVersionPage(t *testing.T) {
	s, _ := newServer(t, newFakeReader())
	h := s.Handler(HandlerOptions{LogLines: 2})
	w := get(t, h, "GET", "127.0.0.1:9000", "/api/envs/dev/versions/v2")
	var v Version
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &v) != nil {
		t.Fatalf("got %d %q", w.Code, w.Body.String())
	}
	if v.Stack != "dev.v2" || len(v.Resources) != 1 || len(v.CutOvers) != 1 || v.CutOvers[0].Op != "canary" {
		t.Errorf("version %+v", v)
	}
	if len(v.Logs) != 2 || !v.Logs[1].Time.Equal(t0.Add(2*time.Second)) {
		t.Errorf("logs %+v, want the newest 2", v.Logs)
	}
	for path, want := range map[string]string{
		"/api/envs/dev/versions/v9":  "version dev.v9 does not exist; phoenix status --env dev lists",
		"/api/envs/prod/versions/v1": "env prod is not one the dashboard shows",
	} {
		w := get(t, h, "GET", "127.0.0.1:9000", path)
		body, _ := io.ReadAll(w.Body)
		if w.Code != 404 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %q, want 404 %q", path, w.Code, body, want)
		}
	}
}
