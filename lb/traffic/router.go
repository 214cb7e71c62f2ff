package traffic

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Router holds the table in force and the health of its upstreams. Its
// zero value is not usable; see NewRouter.
type Router struct {
	path   string
	poll   time.Duration
	health HealthCheck
	log    *zap.Logger
	client *http.Client

	current atomic.Pointer[snapshot]
	picks   atomic.Uint64 // production requests split by weight so far

	mu       sync.Mutex // guards checkers and raw
	checkers map[string]*checker
	raw      []byte    // the bytes of the table in force
	stamp    fileStamp // the file as last seen
	stop     chan struct{}
	done     chan struct{}
}

// HealthCheck is the active health check of every upstream in the table.
type HealthCheck struct {
	// URI is the path asked for, such as "/healthz".
	URI string
	// Interval is the time between checks of one upstream.
	Interval time.Duration
	// Timeout bounds one check.
	Timeout time.Duration
}

// snapshot is one table as requests see it.
type snapshot struct {
	id        string
	table     *Table
	live      *pool
	candidate *pool
	versionOf map[string]string // upstream address: version
}

// pool is a version's upstreams with their health.
type pool struct {
	version string
	targets []*checker
}

// NewRouter starts watching the table at path, reading it every poll,
// and checking its upstreams' health. Close stops it.
func NewRouter(path string, poll time.Duration, hc HealthCheck, log *zap.Logger) *Router {
	r := &Router{
		path: path, poll: poll, health: hc, log: log,
		client: &http.Client{
			Timeout:   hc.Timeout,
			Transport: &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: 2 * hc.Interval},
			// A health check judges the upstream's own answer.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		checkers: map[string]*checker{},
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	r.current.Store(&snapshot{})
	r.reload()
	go r.watch()
	return r
}

// Destruct implements caddy.Destructor.
func (r *Router) Destruct() error {
	r.Close()
	return nil
}

// Close stops watching and checking.
func (r *Router) Close() {
	select {
	case <-r.stop:
		return
	default:
	}
	close(r.stop)
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	for addr, c := range r.checkers {
		c.close()
		delete(r.checkers, addr)
	}
}

func (r *Router) snapshot() *snapshot { return r.current.Load() }

// fileStamp tells whether a file may have changed without reading it.
type fileStamp struct {
	size    int64
	modTime time.Time
	ino     uint64
}

func (r *Router) watch() {
	defer close(r.done)
	tick := time.NewTicker(r.poll)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
			r.reload()
		}
	}
}

// reload reads the table when the file looks changed and, when its bytes
// differ from the table in force and it is valid, puts it in force. A
// missing or bad file keeps the table in force: the pointer's file stays
// when its writer goes, and a bad table is a writer's mistake that must
// not take the env down.
func (r *Router) reload() {
	info, err := os.Stat(r.path)
	if err != nil {
		return
	}
	stamp := fileStamp{size: info.Size(), modTime: info.ModTime(), ino: inode(info)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if stamp == r.stamp {
		return
	}
	raw, err := os.ReadFile(r.path)
	if err != nil || len(raw) == 0 {
		return
	}
	r.stamp = stamp
	if bytes.Equal(raw, r.raw) {
		return
	}
	t, err := Parse(raw)
	if err != nil {
		r.log.Error("traffic table not loaded; keeping the one in force", zap.String("file", r.path), zap.Error(err))
		r.raw = raw // report a bad table once, not at every poll
		return
	}
	r.raw = raw
	next := &snapshot{id: ID(raw), table: t, versionOf: map[string]string{}}
	seen := map[string]bool{}
	build := func(p *Pool) *pool {
		if p == nil {
			return nil
		}
		out := &pool{version: p.Version}
		for _, addr := range p.Upstreams {
			c, ok := r.checkers[addr]
			if !ok {
				c = r.startChecker(addr)
				r.checkers[addr] = c
			}
			out.targets = append(out.targets, c)
			next.versionOf[addr] = p.Version
			seen[addr] = true
		}
		return out
	}
	next.live, next.candidate = build(t.Live), build(t.Candidate)
	r.current.Store(next)
	for addr, c := range r.checkers {
		if !seen[addr] {
			c.close()
			delete(r.checkers, addr)
		}
	}
	fields := []zap.Field{zap.String("id", next.id), zap.String("env", t.Env)}
	if t.Live != nil {
		fields = append(fields, zap.String("live", t.Live.Version))
	}
	if t.Candidate != nil {
		fields = append(fields, zap.String("candidate", t.Candidate.Version), zap.Int("candidate_weight", t.CandidateWeight))
	}
	r.log.Info("traffic table in force", fields...)
}

// choose returns the pool a production request goes to and the one it
// may fall back on when the first has no healthy upstream: the candidate
// for CandidateWeight of every 100 requests, spread evenly, else live.
func (s *snapshot) choose(picks *atomic.Uint64) (primary, fallback *pool) {
	t := s.table
	if s.candidate == nil || t.CandidateWeight == 0 || t.Candidate.Version == t.Live.Version {
		return s.live, nil
	}
	w := uint64(t.CandidateWeight)
	n := picks.Add(1)
	if n*w/100 != (n-1)*w/100 {
		return s.candidate, s.live
	}
	return s.live, s.candidate
}

// checker is the health of one upstream, checked in its own goroutine
// from the moment the upstream enters the table (it counts as healthy
// until a check says otherwise, as Caddy's own checks do).
type checker struct {
	addr      string
	unhealthy atomic.Bool
	cancel    context.CancelFunc
	done      chan struct{}
}

func (r *Router) startChecker(addr string) *checker {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checker{addr: addr, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		tick := time.NewTicker(r.health.Interval)
		defer tick.Stop()
		for {
			r.check(ctx, c)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return c
}

func (c *checker) close() {
	c.cancel()
	<-c.done
}

// check asks the upstream's health URI once and records the answer: a 200
// is healthy, anything else is not.
func (r *Router) check(ctx context.Context, c *checker) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.addr+r.health.URI, nil)
	if err != nil {
		return
	}
	resp, err := r.client.Do(req)
	if ctx.Err() != nil {
		return // the upstream left the table meanwhile
	}
	healthy := err == nil && resp.StatusCode == http.StatusOK
	if err == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
	}
	if c.unhealthy.Swap(!healthy) == healthy { // it changed
		if healthy {
			r.log.Info("upstream healthy", zap.String("upstream", c.addr))
		} else {
			fields := []zap.Field{zap.String("upstream", c.addr)}
			if err != nil {
				fields = append(fields, zap.Error(err))
			} else {
				fields = append(fields, zap.Int("status", resp.StatusCode))
			}
			r.log.Warn("upstream unhealthy", fields...)
		}
	}
}
