// Package dashboard serves phoenix dashboard: a read-only web page of a
// project's envs (their traffic split, versions, lease and expiry, history)
// and, as it comes, each version's production traffic from the same
// records the canary analysis reads. The page and its script are embedded:
// it needs no network. It changes nothing.
package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-iac/phoenix/internal/analysis"
	"github.com/phoenix-iac/phoenix/internal/lease"
	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

// Reader is what the dashboard reads: the orchestrator's views and the
// env's lease. Nothing of it writes.
type Reader interface {
	Envs(ctx context.Context) (orchestrator.EnvsResult, error)
	Resources(ctx context.Context, env, version string) ([]orchestrator.Resource, error)
	Logs(ctx context.Context, opts orchestrator.LogsOptions, out func(orchestrator.LogLine) error) error
	TrafficSource(ctx context.Context, env string, since time.Time) (analysis.Source, error)
	Lease(ctx context.Context, env string) (lease.State, error)
}

// Options configure a Server.
type Options struct {
	// Reader reads the project's envs. Required.
	Reader Reader
	// Interval is how often the envs' state (status, history, lease) is
	// read again; default 5 s. Each read runs the Pulumi CLI a few times
	// per env.
	Interval time.Duration
	// Window is the width of one traffic point; default 2 s, or the
	// source's resolution when that is coarser (CloudWatch: a minute).
	Window time.Duration
	// Points is how many traffic points each version keeps; default 150.
	Points int
	// Log receives a line for each read that fails; nil for none.
	Log io.Writer
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Snapshot is everything the page shows, as one JSON document: what
// /api/snapshot answers and each server-sent event carries.
type Snapshot struct {
	// Seq numbers the snapshots, from 1.
	Seq int `json:"seq"`
	// At is when the envs' state was read; TrafficAt when the newest
	// traffic point was.
	At        time.Time `json:"at"`
	TrafficAt time.Time `json:"trafficAt"`
	Envs      []Env     `json:"envs"`
	// SameArtifact, SameProgram and Differences compare the envs as
	// phoenix envs does.
	SameArtifact bool                            `json:"sameArtifact"`
	SameProgram  bool                            `json:"sameProgram"`
	Differences  []orchestrator.ConfigDifference `json:"differences"`
	// Error is why the newest read of the state failed; the envs shown
	// are those of the last read that worked.
	Error string `json:"error,omitempty"`
}

// Env is one env as the page shows it.
type Env struct {
	orchestrator.Status
	// Lease is the env's lease when a command holds it (or held it and
	// died: Stale).
	Lease *Lease `json:"lease,omitempty"`
	// History is the env's traffic changes, newest first.
	History []orchestrator.Event `json:"history"`
	// Verdicts are the analysis judgments that decided its traffic
	// changes, newest first (from History).
	Verdicts []Verdict `json:"verdicts"`
	// Traffic is the production traffic of the versions that take or
	// took it (live, candidate, previous), oldest point first.
	Traffic []Series `json:"traffic"`
	// TrafficError is why the traffic figures cannot be read.
	TrafficError string `json:"trafficError,omitempty"`
}

// Verdict is one judgment of the canary analysis, as the traffic change it
// decided recorded it.
type Verdict struct {
	Time time.Time `json:"time"`
	// Step is "canary 10%" or "bake".
	Step string `json:"step"`
	// Verdict is pass, fail or no verdict.
	Verdict analysis.Verdict `json:"verdict"`
	// Then is the traffic change that followed, such as "promote to
	// 8b1e0d4a" or "clear back to 77c0e1f2".
	Then string `json:"then"`
	// Figures are both sides' figures.
	Figures string `json:"figures"`
}

// verdicts reads the judgments out of an env's history: each traffic
// change records the one it followed as "<step>: <verdict>: <figures>".
func verdicts(hist []orchestrator.Event) []Verdict {
	out := []Verdict{}
	for _, e := range hist {
		parts := strings.SplitN(e.Why, ": ", 3)
		if len(parts) < 3 {
			continue
		}
		then := e.Op + " to " + e.To
		if e.Op == "clear" {
			then = "clear back to " + e.To
		}
		if e.Result != "" && e.Result != "succeeded" {
			then += " (" + e.Result + ")"
		}
		out = append(out, Verdict{Time: e.Time, Step: parts[0], Verdict: analysis.Verdict(parts[1]), Then: then, Figures: parts[2]})
	}
	return out
}

// Lease is who holds an env's lease.
type Lease struct {
	lease.Holder
	Expires time.Time `json:"expires"`
	// Stale is true when the holder is gone: the next command takes it.
	Stale bool `json:"stale"`
}

// Series is one version's traffic over time.
type Series struct {
	Version string  `json:"version"`
	Points  []Point `json:"points"`
	// Requests is the sum of the points' requests.
	Requests int `json:"requests"`
}

// Point is one window of a version's production traffic, ending At.
type Point struct {
	At time.Time `json:"at"`
	analysis.Stats
	// Seconds is the window's width.
	Seconds float64 `json:"seconds"`
}

// Server reads the envs on a schedule and serves what it read.
type Server struct {
	opts Options

	// mu guards the snapshot, which the handlers read.
	mu      sync.Mutex
	snap    Snapshot
	encoded []byte
	changed chan struct{} // closed when snap is replaced

	// traffic is each env's traffic, by env: only Load and Run touch it.
	traffic map[string]*envTraffic
}

// envTraffic is one env's open traffic source and the series read from it.
type envTraffic struct {
	src    analysis.Source
	next   time.Time // the end of the next window to read
	window time.Duration
	series map[string][]Point
	err    string
}

// New returns a Server; Run reads, Handler serves.
func New(opts Options) *Server {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.Window <= 0 {
		opts.Window = 2 * time.Second
	}
	if opts.Points <= 0 {
		opts.Points = 150
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	s := &Server{opts: opts, changed: make(chan struct{}), traffic: map[string]*envTraffic{}}
	s.snap = Snapshot{Envs: []Env{}, Differences: []orchestrator.ConfigDifference{}}
	s.encoded, _ = json.Marshal(s.snap)
	return s
}

// Load reads the envs once: the first read, whose failure should stop
// the dashboard before it serves (a broken backend, no env). It returns
// the envs' names.
func (s *Server) Load(ctx context.Context) ([]string, error) {
	res, err := s.opts.Reader.Envs(ctx)
	if err != nil {
		return nil, err
	}
	s.apply(ctx, res, nil)
	var names []string
	for _, e := range res.Envs {
		names = append(names, e.Env)
	}
	return names, nil
}

// Run reads the envs' state every Interval and their traffic every
// second until ctx ends, then closes the traffic sources. One goroutine
// does all the reading, so a slow state read delays the traffic points
// but loses none: they are windows of the load balancer's records.
func (s *Server) Run(ctx context.Context) {
	defer func() {
		for _, t := range s.traffic {
			if t.src != nil {
				t.src.Close()
			}
		}
		s.traffic = map[string]*envTraffic{}
	}()
	last := s.opts.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if s.opts.Now().Sub(last) >= s.opts.Interval {
			res, err := s.opts.Reader.Envs(ctx)
			if ctx.Err() != nil {
				return
			}
			s.apply(ctx, res, err)
			last = s.opts.Now()
		}
		s.readTraffic(ctx)
	}
}

// apply makes a snapshot of a read of the envs; a failed read keeps the
// envs of the last one and says why.
func (s *Server) apply(ctx context.Context, res orchestrator.EnvsResult, err error) {
	if err != nil {
		fmt.Fprintf(s.opts.Log, "phoenix dashboard: reading the envs: %v\n", err)
		s.mu.Lock()
		defer s.mu.Unlock()
		next := s.snap
		next.Error = err.Error()
		s.publish(next)
		return
	}
	envs := make([]Env, len(res.Envs))
	for i, st := range res.Envs {
		e := Env{Status: st, History: []orchestrator.Event{}, Verdicts: []Verdict{}, Traffic: []Series{}}
		// Status read the history already.
		e.History, e.Verdicts = append(e.History, st.History...), verdicts(st.History)
		if ls, err := s.opts.Reader.Lease(ctx, st.Env); err == nil && (ls.Held || ls.Stale) {
			e.Lease = &Lease{Holder: ls.Holder, Expires: ls.Expires, Stale: ls.Stale}
		} else if err != nil {
			fmt.Fprintf(s.opts.Log, "phoenix dashboard: reading env %s's lease: %v\n", st.Env, err)
		}
		envs[i] = e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := Snapshot{
		At: s.opts.Now(), TrafficAt: s.snap.TrafficAt, Envs: envs,
		SameArtifact: res.SameArtifact, SameProgram: res.SameProgram, Differences: res.Differences,
	}
	if next.Differences == nil {
		next.Differences = []orchestrator.ConfigDifference{}
	}
	s.fillTraffic(&next)
	s.publish(next)
}

// readTraffic reads the windows that ended since the last read, for each
// deployed env's live, candidate and previous versions, opening the
// env's source on first use (back to the oldest point it keeps).
func (s *Server) readTraffic(ctx context.Context) {
	s.mu.Lock()
	envs := s.snap.Envs
	s.mu.Unlock()
	now := s.opts.Now()
	for _, e := range envs {
		if !e.Deployed {
			continue
		}
		t := s.traffic[e.Env]
		if t == nil {
			// A source that fails to open is asked again after the next
			// state read (forget), not every second.
			t = &envTraffic{series: map[string][]Point{}}
			s.traffic[e.Env] = t
			since := now.Add(-time.Duration(s.opts.Points) * s.opts.Window)
			src, err := s.opts.Reader.TrafficSource(ctx, e.Env, since)
			if err != nil {
				t.err = err.Error()
				continue
			}
			t.src, t.window = src, max(s.opts.Window, src.Resolution())
			t.next = since.Truncate(t.window).Add(t.window)
		}
		if t.src != nil {
			s.readWindows(ctx, t, e, now)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.snap
	next.Envs = slices.Clone(next.Envs)
	next.TrafficAt = now
	s.fillTraffic(&next)
	s.publish(next)
}

// lag is how long after a window ends it is read: a request is in the
// access log once it is answered.
const lag = time.Second

// readWindows appends t's windows that ended before now - lag.
func (s *Server) readWindows(ctx context.Context, t *envTraffic, e Env, now time.Time) {
	versions := roles(e)
	for k := range t.series {
		if !slices.Contains(versions, k) {
			versions = append(versions, k)
		}
	}
	if len(versions) == 0 {
		return
	}
	for !t.next.After(now.Add(-lag - t.src.Resolution())) {
		from := t.next.Add(-t.window)
		got, err := t.src.Stats(ctx, from, t.next, versions...)
		if err != nil {
			t.err = err.Error()
			t.src.Close()
			t.src = nil
			return
		}
		t.err = ""
		for _, v := range versions {
			pts := append(t.series[v], Point{At: t.next, Stats: got[v], Seconds: t.window.Seconds()})
			if len(pts) > s.opts.Points {
				pts = pts[len(pts)-s.opts.Points:]
			}
			t.series[v] = pts
		}
		t.next = t.next.Add(t.window)
	}
}

// roles are the versions of e whose traffic is drawn.
func roles(e Env) []string {
	var out []string
	for _, v := range []string{e.Live, e.Candidate, e.Previous} {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// fillTraffic puts the series read so far into snap's envs; s.mu is held.
func (s *Server) fillTraffic(snap *Snapshot) {
	for i := range snap.Envs {
		e := &snap.Envs[i]
		e.Traffic, e.TrafficError = []Series{}, ""
		t := s.traffic[e.Env]
		if t == nil {
			continue
		}
		e.TrafficError = t.err
		keep := roles(*e)
		for _, v := range slices.Sorted(maps.Keys(t.series)) {
			if !slices.Contains(keep, v) {
				delete(t.series, v)
				continue
			}
			sr := Series{Version: v, Points: slices.Clone(t.series[v])}
			for _, p := range sr.Points {
				sr.Requests += p.Requests
			}
			e.Traffic = append(e.Traffic, sr)
		}
		slices.SortStableFunc(e.Traffic, func(a, b Series) int {
			return slices.Index(keep, a.Version) - slices.Index(keep, b.Version)
		})
	}
}

// forget drops the traffic sources of envs that a state read no longer
// lists or that failed to open, so that the next read opens them again.
func (s *Server) forget(names map[string]bool) {
	for env, t := range s.traffic {
		if !names[env] || t.src == nil {
			if t.src != nil {
				t.src.Close()
			}
			delete(s.traffic, env)
		}
	}
}

// publish replaces the snapshot and wakes the event streams; s.mu is held.
func (s *Server) publish(next Snapshot) {
	if next.At.IsZero() {
		next.At = s.snap.At
	}
	next.Seq = s.snap.Seq + 1
	b, err := json.Marshal(next)
	if err != nil {
		fmt.Fprintf(s.opts.Log, "phoenix dashboard: %v\n", err)
		return
	}
	if next.At != s.snap.At {
		names := map[string]bool{}
		for _, e := range next.Envs {
			names[e.Env] = e.Deployed
		}
		s.forget(names)
	}
	s.snap, s.encoded = next, b
	close(s.changed)
	s.changed = make(chan struct{})
}

// current returns the snapshot, encoded, and a channel closed when the
// next one replaces it.
func (s *Server) current() (Snapshot, []byte, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap, s.encoded, s.changed
}
