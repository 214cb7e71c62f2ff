package orchestrator

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/phoenix-iac/phoenix/internal/analysis"
	"github.com/phoenix-iac/phoenix/internal/platform"
	"github.com/phoenix-iac/phoenix/stacks"
)

// AnalysisOptions tune the canary analysis of a deploy: each canary step
// judges the candidate against live on the production traffic each served
// (internal/analysis), and the bake period judges the new live version
// against the previous one.
type AnalysisOptions struct {
	// Off turns the analysis off: a canary step then waits StepWait and
	// passes its health gate, as before.
	Off bool
	// Settings are the thresholds and the bake period: the env's
	// phoenix:analysis (AnalysisSettings), flags applied.
	Settings stacks.Analysis
	// StepTimeout bounds how long a canary step waits for enough traffic
	// for a verdict; default 10 minutes. No verdict by then aborts.
	StepTimeout time.Duration
	// Poll is how often the figures are read; default 1 s, or the
	// source's resolution when that is coarser.
	Poll time.Duration
	// Progress is how often a step that waits for traffic says so;
	// default 10 s.
	Progress time.Duration
}

// StepAnalysis is the judgment of one canary step or of the bake period,
// with the figures that decided it.
type StepAnalysis struct {
	// Step is "canary 10%" or "bake".
	Step string `json:"step"`
	// Weight is the candidate's share of traffic in a canary step.
	Weight int `json:"weight,omitempty"`
	// Version is the version judged; BaseVersion the one it is compared
	// with (live during a canary step, the previous live version when
	// baking). Their figures are New and Base.
	Version     string `json:"version"`
	BaseVersion string `json:"baseVersion"`
	// Seconds is how long the step watched.
	Seconds float64 `json:"seconds"`
	analysis.Judgment
}

// AnalysisError is returned when a canary step or the bake period judged
// the new version bad, or found no verdict in time.
type AnalysisError struct {
	Step StepAnalysis
}

func (e *AnalysisError) Error() string {
	if e.Step.Verdict == analysis.NoVerdict {
		return fmt.Sprintf("%s: no verdict after %.0fs: %s; send it traffic, lower phoenix:analysis minRequests, raise --step-timeout, or pass --analysis=false",
			e.Step.Step, e.Step.Seconds, e.Step.Reason)
	}
	return fmt.Sprintf("%s: the analysis failed %s: %s (%s: %s; %s: %s)",
		e.Step.Step, e.Step.Version, e.Step.Reason, e.Step.Version, e.Step.New, e.Step.BaseVersion, e.Step.Base)
}

// AnalysisSettings returns the env's phoenix:analysis, defaults filled in.
func (o *Orchestrator) AnalysisSettings(env string) (stacks.Analysis, error) {
	f, err := o.envFile(env)
	if err != nil {
		return stacks.Analysis{}, err
	}
	a, err := stacks.ParseAnalysis(f.Get)
	if err != nil {
		return a, fmt.Errorf("%s: %w", filepath.Base(f.Path), err)
	}
	return a, nil
}

// analysisSource opens the load balancer's records of env's traffic from
// since: Caddy's access log on docker.
func (o *Orchestrator) analysisSource(ctx context.Context, env string, st EnvState, since time.Time) (analysis.Source, error) {
	p, f, err := o.platformOf(env)
	if err != nil {
		return nil, err
	}
	an, ok := p.(platform.Analyzer)
	if !ok {
		return nil, fmt.Errorf("the canary analysis has no source of traffic figures on platform %s; pass --analysis=false", p.Name())
	}
	return an.AnalysisSource(ctx, o.opsEnv(env, f, st), since)
}

// watch judges version against base on their production traffic from
// start until a verdict: a failure ends it at once, a pass only once
// minWait has gone by, and with no verdict it waits until timeout. With
// baseBefore, the base's window is the one of the same length just
// before start (the bake period: the previous version no longer serves).
func (o *Orchestrator) watch(ctx context.Context, src analysis.Source, a AnalysisOptions, s StepAnalysis, start time.Time, minWait, timeout time.Duration, baseBefore bool) (StepAnalysis, error) {
	poll := a.Poll
	if poll == 0 {
		poll = time.Second
	}
	poll = max(poll, src.Resolution())
	progress := a.Progress
	if progress == 0 {
		progress = 10 * time.Second
	}
	th := analysis.Thresholds{
		MaxErrorRate:      a.Settings.MaxErrorRate,
		MaxErrorRateRatio: a.Settings.MaxErrorRateRatio,
		MaxLatencyRatio:   a.Settings.MaxLatencyRatio,
		MinRequests:       a.Settings.MinRequests,
	}
	lastSaid := time.Now()
	if t := o.opts.Ticker; t != nil {
		defer fmt.Fprint(t, clearLine)
	}
	for {
		now := time.Now()
		got, err := src.Stats(ctx, start, now, s.Version)
		if err != nil {
			return s, err
		}
		baseFrom, baseTo := start, now
		if baseBefore {
			baseFrom, baseTo = start.Add(-minWait), start
		}
		base, err := src.Stats(ctx, baseFrom, baseTo, s.BaseVersion)
		if err != nil {
			return s, err
		}
		elapsed := now.Sub(start)
		s.Seconds = elapsed.Round(time.Second).Seconds()
		s.Judgment = analysis.Judge(th, got[s.Version], base[s.BaseVersion])
		switch {
		case s.Verdict == analysis.Fail:
			return s, nil
		case s.Verdict == analysis.Pass && elapsed >= minWait:
			return s, nil
		case elapsed >= timeout:
			return s, nil
		}
		if t := o.opts.Ticker; t != nil {
			fmt.Fprint(t, clearLine+fit(tick(s, elapsed, minWait, timeout)))
		}
		if s.Verdict == analysis.NoVerdict && time.Since(lastSaid) >= progress {
			if t := o.opts.Ticker; t != nil {
				fmt.Fprint(t, clearLine) // the log line takes the ticker's place
			}
			o.logf("%s: waiting for traffic: %s %d and %s %d requests of the %d each needs (%s of at most %s)",
				s.Step, s.Version, s.New.Requests, s.BaseVersion, s.Base.Requests, th.MinRequests, elapsed.Round(time.Second), timeout)
			lastSaid = time.Now()
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// clearLine returns a terminal's cursor to the start of its line and
// clears it.
const clearLine = "\r\033[K"

// tick is the one line a long wait draws on a terminal: the step, the
// time gone and left, and the traffic each side has served in it.
func tick(s StepAnalysis, elapsed, minWait, timeout time.Duration) string {
	left := fmt.Sprintf("%s left", clock(minWait-elapsed))
	if elapsed >= minWait {
		left = fmt.Sprintf("waiting for a verdict, at most %s more", clock(timeout-elapsed))
	}
	return fmt.Sprintf("%s: %s gone, %s · %s %d requests, %s errors · %s %d requests, %s errors",
		s.Step, clock(elapsed), left, s.Version, s.New.Requests, percentOf(s.New), s.BaseVersion, s.Base.Requests, percentOf(s.Base))
}

// tickWidth is as much of a progress line as a terminal is sure to hold
// on one line: one that wraps cannot be redrawn in place.
const tickWidth = 120

// fit cuts a progress line to tickWidth characters.
func fit(line string) string {
	if r := []rune(line); len(r) > tickWidth {
		return string(r[:tickWidth-1]) + "…"
	}
	return line
}

// clock is d as m:ss, never below 0:00.
func clock(d time.Duration) string {
	d = max(d, 0).Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

// percentOf is the error rate of st in percent, one decimal.
func percentOf(st analysis.Stats) string {
	if st.Requests == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*st.ErrorRate())
}

// said is how a step's judgment is told: the verdict, then each side's
// figures.
func said(s StepAnalysis) string {
	return fmt.Sprintf("%s: %s: %s %s; %s %s", s.Step, s.Verdict, s.Version, s.New, s.BaseVersion, s.Base)
}

// watcher runs the analysis of one deploy: it opens the source at its
// first step and keeps it for the next ones.
type watcher struct {
	o     *Orchestrator
	env   string
	a     AnalysisOptions
	state EnvState
	src   analysis.Source
}

// open opens the source, reading from since.
func (w *watcher) open(ctx context.Context, since time.Time) error {
	if w.src != nil {
		return nil
	}
	if _, ok := w.state.Outputs[stacks.OutLoadBalancer]; !ok {
		// An env stack from before the output: its first update by this
		// deploy (the candidate route) added it.
		st, _, err := w.o.envState(ctx, w.env)
		if err != nil {
			return err
		}
		w.state = st
	}
	src, err := w.o.analysisSource(ctx, w.env, w.state, since)
	if err != nil {
		return err
	}
	w.src = src
	return nil
}

func (w *watcher) close() {
	if w.src != nil {
		w.src.Close()
	}
}

// step judges one canary step: version against base from now, for at
// least minWait. Without the analysis it only waits minWait. It returns
// the judgment, if any, and an *AnalysisError unless it passed.
func (w *watcher) step(ctx context.Context, weight int, version, base string, minWait time.Duration) (*StepAnalysis, error) {
	if w.a.Off {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(minWait):
			return nil, nil
		}
	}
	start := time.Now()
	if err := w.open(ctx, start.Add(-w.a.Settings.Bake)); err != nil {
		return nil, err
	}
	timeout := w.a.StepTimeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	timeout = max(timeout, minWait)
	sa, err := w.o.watch(ctx, w.src, w.a, StepAnalysis{Step: fmt.Sprintf("canary %d%%", weight), Weight: weight, Version: version, BaseVersion: base}, start, minWait, timeout, false)
	if err != nil {
		return nil, err
	}
	w.o.logf("%s", said(sa))
	if sa.Verdict != analysis.Pass {
		return &sa, &AnalysisError{Step: sa}
	}
	return &sa, nil
}

// bake judges the new live version from promoted for bake, against the
// previous version's traffic in the bake-long window before promoted. A
// failure returns an *AnalysisError; too little traffic keeps the version
// live, with a warning.
func (w *watcher) bake(ctx context.Context, version, previous string, promoted time.Time, bake time.Duration) (*StepAnalysis, error) {
	w.o.logf("bake: watching %s for %s against %s before the promotion", version, bake, previous)
	if err := w.open(ctx, promoted.Add(-bake)); err != nil {
		return nil, err
	}
	sa, err := w.o.watch(ctx, w.src, w.a, StepAnalysis{Step: "bake", Version: version, BaseVersion: previous}, promoted, bake, bake, true)
	if err != nil {
		return nil, err
	}
	w.o.logf("%s", said(sa))
	switch sa.Verdict {
	case analysis.Fail:
		return &sa, &AnalysisError{Step: sa}
	case analysis.NoVerdict:
		w.o.logf("bake: too little traffic to judge %s (%s); it stays live", version, sa.Reason)
	}
	return &sa, nil
}

// lastSaid is the judgment a traffic change follows, for history.
func lastSaid(s *StepAnalysis) string {
	if s == nil {
		return ""
	}
	return said(*s)
}
