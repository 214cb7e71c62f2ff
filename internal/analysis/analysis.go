// Package analysis judges a new version on the production traffic it
// served: during each canary step it compares the candidate with live on
// error rate and latency, and during the bake period after a promotion it
// compares the new live version with what the previous one did before.
//
// The figures come from the load balancer's own records of each version,
// through a Source: Caddy's access log on the docker platform, the ALB's
// per-target-group CloudWatch metrics on aws. A verdict needs a minimum
// number of requests on both sides; until then there is no verdict.
package analysis

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
)

// Stats are one version's production requests in a window, as the load
// balancer recorded them.
type Stats struct {
	// Requests is the number of requests the version served or failed.
	Requests int `json:"requests"`
	// Errors counts answers of 500 or more, including the load balancer's
	// own 502 and 504 when it could not reach the version.
	Errors int `json:"errors"`
	// P50 and P99 are latency percentiles, as the load balancer measured
	// them (Caddy: the whole request; ALB: the target's response time).
	P50 Duration `json:"p50"`
	P99 Duration `json:"p99"`
}

// ErrorRate is Errors over Requests, 0 with no requests.
func (s Stats) ErrorRate() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Errors) / float64(s.Requests)
}

func (s Stats) String() string {
	return fmt.Sprintf("%d requests, %s errors, p50 %s, p99 %s", s.Requests, percent(s.ErrorRate()), s.P50, s.P99)
}

// Duration is a time.Duration that JSON encodes as milliseconds, the unit
// people read latencies in.
type Duration time.Duration

// MarshalJSON writes the duration in milliseconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "%.3f", float64(d)/float64(time.Millisecond)), nil
}

// UnmarshalJSON reads milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var ms float64
	if _, err := fmt.Sscan(string(b), &ms); err != nil {
		return fmt.Errorf("latency %s is not a number of milliseconds", b)
	}
	*d = Duration(ms * float64(time.Millisecond))
	return nil
}

func (d Duration) String() string {
	t := time.Duration(d)
	switch {
	case t >= time.Second:
		return t.Round(10 * time.Millisecond).String()
	case t >= time.Millisecond:
		return t.Round(100 * time.Microsecond).String()
	default:
		return t.Round(time.Microsecond).String()
	}
}

func percent(f float64) string {
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.2f", 100*f), "0"), ".0") + "%"
}

// Thresholds decide a verdict. They are the env's phoenix:analysis
// setting (stacks.Analysis), overridable by phoenix deploy's flags.
type Thresholds struct {
	// MaxErrorRate is the error rate a new version may always have.
	MaxErrorRate float64 `json:"maxErrorRate"`
	// MaxErrorRateRatio lets a new version have up to this multiple of
	// the error rate its comparison had, when that is above MaxErrorRate.
	MaxErrorRateRatio float64 `json:"maxErrorRateRatio"`
	// MaxLatencyRatio bounds the new version's p50 and p99 to this
	// multiple of its comparison's, plus LatencySlack (for p99, plus the
	// comparison's spread from p50 to p99 when that is more).
	MaxLatencyRatio float64 `json:"maxLatencyRatio"`
	// MinRequests is how many requests each side needs for a verdict.
	MinRequests int `json:"minRequests"`
}

// LatencySlack is added to the latency bounds, so that differences of a
// few milliseconds, which scheduling noise alone makes, never fail a
// version. The p99 bound adds the base's p99 - p50 instead when that is
// more: a tail that wide is noise the base has too.
const LatencySlack = 5 * time.Millisecond

// Verdict is the outcome of a judgment.
type Verdict string

// The verdicts.
const (
	Pass      Verdict = "pass"
	Fail      Verdict = "fail"
	NoVerdict Verdict = "no verdict"
)

// Judgment is a verdict with the figures that decided it.
type Judgment struct {
	Verdict Verdict `json:"verdict"`
	// Reason says why, in words, with the figures.
	Reason string `json:"reason"`
	// New is the version being judged; Base what it is compared with.
	New  Stats `json:"new"`
	Base Stats `json:"base"`
}

// Judge compares the new version's stats with the base's: the live version
// during a canary step, the previous live version before a promotion for
// the bake period.
func Judge(th Thresholds, newer, base Stats) Judgment {
	j := Judgment{New: newer, Base: base}
	if newer.Requests < th.MinRequests || base.Requests < th.MinRequests {
		j.Verdict = NoVerdict
		j.Reason = fmt.Sprintf("too little traffic: %d new and %d base requests, %d each needed (phoenix:analysis minRequests)",
			newer.Requests, base.Requests, th.MinRequests)
		return j
	}
	var fails []string
	allowed := math.Max(th.MaxErrorRate, th.MaxErrorRateRatio*base.ErrorRate())
	if newer.ErrorRate() > allowed {
		fails = append(fails, fmt.Sprintf("error rate %s (%d of %d) is over %s (base %s)",
			percent(newer.ErrorRate()), newer.Errors, newer.Requests, percent(allowed), percent(base.ErrorRate())))
	}
	// The tail of a small sample moves with every scheduling hiccup: the
	// p99 bound also allows the base's own spread from p50 to p99.
	tail := max(Duration(LatencySlack), base.P99-base.P50)
	for _, p := range []struct {
		name      string
		new, base Duration
		slack     Duration
	}{{"p50", newer.P50, base.P50, Duration(LatencySlack)}, {"p99", newer.P99, base.P99, tail}} {
		bound := Duration(th.MaxLatencyRatio*float64(p.base)) + p.slack
		if p.new > bound {
			fails = append(fails, fmt.Sprintf("%s latency %s is over %s (base %s × %g + %s)",
				p.name, p.new, bound, p.base, th.MaxLatencyRatio, p.slack))
		}
	}
	if len(fails) > 0 {
		j.Verdict, j.Reason = Fail, strings.Join(fails, "; ")
		return j
	}
	j.Verdict = Pass
	j.Reason = fmt.Sprintf("error rate %s (base %s), p99 %s (base %s)", percent(newer.ErrorRate()), percent(base.ErrorRate()), newer.P99, base.P99)
	return j
}

// Source gives each version's production traffic in a time window, from
// the load balancer's own records.
type Source interface {
	// Stats returns the stats of each of versions for requests that began
	// in [from, to). A version with no requests has zero Stats.
	Stats(ctx context.Context, from, to time.Time, versions ...string) (map[string]Stats, error)
	// Resolution is how fine-grained the source's time windows are (the
	// access log: exact; CloudWatch: one minute), so that a step lasts
	// long enough to hold data.
	Resolution() time.Duration
	// Close releases what the source holds open.
	Close() error
}
