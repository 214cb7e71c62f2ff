package analysis

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/phoenix-iac/phoenix/components/caddyconfig"
	"github.com/phoenix-iac/phoenix/internal/dockerengine"
)

// AccessLog collects the production requests of Caddy's access log, as the
// docker platform configures it (caddyconfig): each line names the route
// that took the request and, on the production route, the version whose
// replica answered it or failed to. It is safe for concurrent use: one
// goroutine feeds it while another asks for Stats.
type AccessLog struct {
	mu       sync.Mutex
	requests map[string][]request
	lines    int
	err      error
}

// request is one production request: when it began, how long it took
// (both in nanoseconds) and its status.
type request struct {
	at, took int64
	status   int
}

// NewAccessLog returns an empty access log.
func NewAccessLog() *AccessLog {
	return &AccessLog{requests: map[string][]request{}}
}

// accessLine is the part of an access log line the analysis reads.
type accessLine struct {
	Logger   string      `json:"logger"`
	TS       json.Number `json:"ts"`
	Duration json.Number `json:"duration"`
	Status   int         `json:"status"`
	Route    string      `json:"phoenix_route"`
	Version  string      `json:"phoenix_version"`
}

// Add records one line of the log. Lines that are not production requests
// of the access log, or not JSON, are ignored: Caddy's stdout carries
// only the access log, but a line may be cut by a restart.
func (a *AccessLog) Add(line []byte) {
	var l accessLine
	if json.Unmarshal(line, &l) != nil || l.Logger != caddyconfig.AccessLogger ||
		l.Route != caddyconfig.LogRouteProduction || l.Version == "" {
		return
	}
	// The access log is configured with integer nanoseconds for both; the
	// time is when the answer ended.
	end, err1 := l.TS.Int64()
	took, err2 := l.Duration.Int64()
	if err1 != nil || err2 != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests[l.Version] = append(a.requests[l.Version], request{at: end - took, took: took, status: l.Status})
	a.lines++
}

// Read adds every line of r until it ends; the error is r's, nil at EOF.
func (a *AccessLog) Read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		a.Add(sc.Bytes())
	}
	return sc.Err()
}

// fail records why the log stopped being fed; Stats returns it.
func (a *AccessLog) fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.err = err
}

// Stats returns each version's stats for requests that began in [from, to).
func (a *AccessLog) Stats(from, to time.Time, versions ...string) (map[string]Stats, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return nil, a.err
	}
	out := make(map[string]Stats, len(versions))
	lo, hi := from.UnixNano(), to.UnixNano()
	for _, v := range versions {
		var s Stats
		var took []int64
		for _, r := range a.requests[v] {
			if r.at < lo || r.at >= hi {
				continue
			}
			s.Requests++
			if r.status >= 500 {
				s.Errors++
			}
			took = append(took, r.took)
		}
		slices.Sort(took)
		s.P50, s.P99 = Duration(quantile(took, .50)), Duration(quantile(took, .99))
		out[v] = s
	}
	return out, nil
}

// quantile is the nearest-rank q-quantile of sorted values, 0 for none.
func quantile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.999999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// LogStreamer streams a container's output, as dockerengine.Client does.
type LogStreamer interface {
	Logs(ctx context.Context, container string, opts dockerengine.LogOptions, line func(stream int, line []byte) error) error
}

// CaddySource is the docker platform's Source: the access log of the env's
// load balancer container, followed from a start time.
type CaddySource struct {
	log    *AccessLog
	cancel context.CancelFunc
	done   chan struct{}
}

// NewCaddySource follows the access log of the load balancer container
// from since until Close.
func NewCaddySource(ctx context.Context, logs LogStreamer, container string, since time.Time) *CaddySource {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &CaddySource{log: NewAccessLog(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		err := logs.Logs(ctx, container, dockerengine.LogOptions{Since: since, Follow: true, Stdout: true}, func(_ int, line []byte) error {
			s.log.Add(line)
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("the log stream ended")
		}
		s.log.fail(fmt.Errorf("reading the access log of the load balancer container %s: %w", container, err))
	}()
	return s
}

// Stats implements Source.
func (s *CaddySource) Stats(_ context.Context, from, to time.Time, versions ...string) (map[string]Stats, error) {
	return s.log.Stats(from, to, versions...)
}

// Resolution implements Source: the access log times every request.
func (s *CaddySource) Resolution() time.Duration { return 0 }

// Close stops following the log.
func (s *CaddySource) Close() error {
	s.cancel()
	<-s.done
	return nil
}
