// Package lease is the env lease: the right to change an env, held by one
// phoenix command on one machine at a time. It lives in the state backend
// (any gocloud.dev blob URL: s3://, gs://, azblob://, file://), so every
// machine that shares the backend shares it, and it needs of the store only
// a conditional create (blob's IfNotExist: If-None-Match: * on S3), which
// every one of them offers.
//
// A lease is a sequence of generations, one object each,
// <env>/<token>.json, where the token is the generation's number. Taking
// the lease creates the next generation with IfNotExist: of two machines
// that try at once, one creates it and the other finds it there. So the
// token only grows, and it fences: a holder that was paused past its expiry
// and taken over finds a newer generation (Lease.Check) before it writes.
// Beside its generation the holder keeps <env>/<token>.beat, rewritten by
// a heartbeat while it works; the lease expires TTL after the last beat.
// Releasing writes <env>/<token>.released.
//
// A generation is free when it is released, when it expired, or when its
// holder is a process of this machine (same boot and pid namespace) that
// no longer runs (or whose pid now names another process): the next
// command takes it over at once, naming the dead holder.
package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// DefaultTTL is how long a lease outlives its holder's last heartbeat.
const DefaultTTL = 2 * time.Minute

// Holder says who holds, or held, a lease.
type Holder struct {
	// Command is the phoenix command, such as "deploy".
	Command string `json:"command"`
	// User and Host say who runs it, where.
	User string `json:"user"`
	Host string `json:"host"`
	// PID is the holding process; Machine tells its machine from another
	// of the same host name (boot id and pid namespace), and Start tells
	// it from a later process with the same pid (its start time).
	PID     int    `json:"pid"`
	Machine string `json:"machine,omitempty"`
	Start   uint64 `json:"start,omitempty"`
	// Since is when the lease was taken; TTL how long it lasts past the
	// last heartbeat.
	Since time.Time `json:"since"`
	TTL   Duration  `json:"ttl"`
	// Token is the generation's number: the fencing token.
	Token uint64 `json:"token"`
}

func (h Holder) String() string {
	return fmt.Sprintf("%q (pid %d, %s@%s, since %s)", "phoenix "+h.Command, h.PID, h.User, h.Host, h.Since.UTC().Format(time.RFC3339))
}

// Duration is a time.Duration written in JSON as text, such as "2m0s".
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// HeldError is returned when another command holds the lease.
type HeldError struct {
	Env    string
	Holder Holder
	// Expires is when the lease expires unless its holder beats again.
	Expires time.Time
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("env %s is locked by %s, until %s unless it renews; wait for it to finish or pass --wait (if it runs nowhere any more, clear it with: phoenix unlock --env %s --force)",
		e.Env, e.Holder, e.Expires.UTC().Format(time.RFC3339), e.Env)
}

// FencedError is returned by Check when the lease is no longer this
// command's: another one took it over (after it expired, or by unlock
// --force) or it was released.
type FencedError struct {
	Env   string
	Token uint64
	// By is the newer holder, when there is one.
	By *Holder
}

func (e *FencedError) Error() string {
	if e.By != nil {
		return fmt.Sprintf("the lease of env %s (token %d) was taken over by %s (token %d): this command stops before it changes anything more",
			e.Env, e.Token, *e.By, e.By.Token)
	}
	return fmt.Sprintf("the lease of env %s (token %d) was released: this command stops before it changes anything more", e.Env, e.Token)
}

// Store is where an project's env leases live.
type Store struct {
	bucket *blob.Bucket
	self   func() Holder
	now    func() time.Time
}

// New returns a store of leases in bucket, under whatever prefix the
// bucket has. The caller closes the bucket.
func New(bucket *blob.Bucket) *Store {
	return &Store{bucket: bucket, self: Self, now: time.Now}
}

// Self describes this process as a holder.
func Self() Holder {
	h := Holder{User: "unknown", PID: os.Getpid(), Machine: machineID(), Start: processStart(os.Getpid())}
	h.Host, _ = os.Hostname()
	if u, err := user.Current(); err == nil {
		h.User = u.Username
	}
	return h
}

// Options tune Acquire.
type Options struct {
	// Wait is how long to wait for a held lease; 0 refuses at once.
	Wait time.Duration
	// Poll is the interval between tries while waiting; default 1s.
	Poll time.Duration
	// TTL is how long the lease outlives the last heartbeat; default
	// DefaultTTL. The heartbeat runs every TTL/3.
	TTL time.Duration
	// Waiting, if set, is called whenever Acquire starts waiting on a
	// holder (once per holder), with the holder and when its lease
	// expires unless renewed.
	Waiting func(h Holder, expires time.Time)
}

// Lease is a held lease.
type Lease struct {
	store  *Store
	env    string
	holder Holder
	// TookOver names the holder whose lease this one replaced without
	// its release, and Why says why it could: it expired, or its process
	// is gone. Nil and empty otherwise.
	TookOver *Holder
	Why      string
	// Previous is the holder of the generation before this one, however
	// it ended (released, expired, gone); nil for the first generation.
	// It witnesses where a lock taken during its tenure was taken.
	Previous *Holder

	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	fenced error
}

// Env is the env the lease is for.
func (l *Lease) Env() string { return l.env }

// Token is the lease's fencing token.
func (l *Lease) Token() uint64 { return l.holder.Token }

// Since is when this command took the lease.
func (l *Lease) Since() time.Time { return l.holder.Since }

// TTL is how long the lease outlives its last heartbeat.
func (l *Lease) TTL() time.Duration { return time.Duration(l.holder.TTL) }

// generation is one generation of an env's lease as read.
type generation struct {
	holder   Holder
	beat     time.Time // the last heartbeat, or Since
	released bool
}

func key(env string, token uint64, ext string) string {
	return fmt.Sprintf("%s/%020d.%s", env, token, ext)
}

// latest reads the newest generation of env's lease; nil when there is none.
func (s *Store) latest(ctx context.Context, env string) (*generation, error) {
	tokens, err := s.tokens(ctx, env)
	if err != nil || len(tokens) == 0 {
		return nil, err
	}
	return s.read(ctx, env, tokens[len(tokens)-1])
}

// tokens lists env's generations, oldest first. A generation deleted
// while the listing runs (another command pruning its old ones) fails a
// file system's listing, which stats each file it lists: it lists again.
func (s *Store) tokens(ctx context.Context, env string) ([]uint64, error) {
	for attempt := 1; ; attempt++ {
		out, err := s.list(ctx, env)
		if err == nil || ErrorCode(err) != gcerrors.NotFound || attempt == 5 {
			return out, err
		}
	}
}

// list lists env's generations once, oldest first.
func (s *Store) list(ctx context.Context, env string) ([]uint64, error) {
	it := s.bucket.List(&blob.ListOptions{Prefix: env + "/"})
	var out []uint64
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("listing the leases of env %s: %w", env, err)
		}
		name, ok := strings.CutSuffix(strings.TrimPrefix(obj.Key, env+"/"), ".json")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(name, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

func (s *Store) read(ctx context.Context, env string, token uint64) (*generation, error) {
	b, err := retried(func() ([]byte, error) { return s.bucket.ReadAll(ctx, key(env, token, "json")) })
	if err != nil {
		return nil, fmt.Errorf("reading the lease of env %s: %w", env, err)
	}
	g := &generation{}
	if err := json.Unmarshal(b, &g.holder); err != nil {
		return nil, fmt.Errorf("the lease of env %s (%s) is not readable: %w", env, key(env, token, "json"), err)
	}
	g.holder.Token = token
	g.beat = g.holder.Since
	if a, err := retried(func() (*blob.Attributes, error) { return s.bucket.Attributes(ctx, key(env, token, "beat")) }); err == nil && a.ModTime.After(g.beat) {
		g.beat = a.ModTime
	}
	if ok, err := s.bucket.Exists(ctx, key(env, token, "released")); err != nil {
		return nil, fmt.Errorf("reading the lease of env %s: %w", env, err)
	} else if ok {
		g.released = true
	}
	return g, nil
}

// retried runs read up to five times while it fails with anything but
// "not found": the file system store (fileblob) rewrites a blob's
// attribute file in place, so a read that races a heartbeat's write can
// find it empty for a moment.
func retried[T any](read func() (T, error)) (T, error) {
	var v T
	var err error
	for range 5 {
		if v, err = read(); err == nil || ErrorCode(err) == gcerrors.NotFound {
			return v, err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return v, err
}

// free says whether g can be taken, and whether that is a takeover of a
// holder that did not release it.
func (s *Store) free(g *generation) (free, takeover bool) {
	switch {
	case g == nil || g.released:
		return true, false
	case !s.now().Before(g.beat.Add(time.Duration(g.holder.TTL))):
		return true, true
	case gone(g.holder):
		return true, true
	}
	return false, false
}

// Acquire takes env's lease for command, waiting up to opts.Wait for a
// holder, and starts its heartbeat; Release ends both.
func (s *Store) Acquire(ctx context.Context, env, command string, opts Options) (*Lease, error) {
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	deadline := s.now().Add(opts.Wait)
	var waitedOn uint64
	for {
		g, err := s.latest(ctx, env)
		if err != nil {
			return nil, err
		}
		free, takeover := s.free(g)
		if free {
			next := uint64(1)
			if g != nil {
				next = g.holder.Token + 1
			}
			h := s.self()
			h.Command, h.Since, h.TTL, h.Token = command, s.now().UTC(), Duration(opts.TTL), next
			err := s.create(ctx, key(env, next, "json"), h)
			if err == nil {
				l := &Lease{store: s, env: env, holder: h, stop: make(chan struct{}), done: make(chan struct{})}
				if g != nil {
					prev := g.holder
					l.Previous = &prev
				}
				if takeover {
					dead := g.holder
					l.TookOver = &dead
					l.Why = "its process is gone"
					if !s.now().Before(g.beat.Add(time.Duration(g.holder.TTL))) {
						l.Why = "it expired at " + g.beat.Add(time.Duration(g.holder.TTL)).UTC().Format(time.RFC3339)
					}
				}
				s.prune(ctx, env, next)
				go l.heartbeat()
				return l, nil
			}
			if ErrorCode(err) != gcerrors.FailedPrecondition {
				return nil, fmt.Errorf("taking the lease of env %s: %w", env, err)
			}
			continue // another command created that generation first
		}
		if !s.now().Before(deadline) {
			return nil, &HeldError{Env: env, Holder: g.holder, Expires: g.beat.Add(time.Duration(g.holder.TTL))}
		}
		if opts.Waiting != nil && g.holder.Token != waitedOn {
			waitedOn = g.holder.Token
			opts.Waiting(g.holder, g.beat.Add(time.Duration(g.holder.TTL)))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(opts.Poll):
		}
	}
}

// create writes v as JSON to key, only if key does not exist.
func (s *Store) create(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.bucket.WriteAll(ctx, key, append(b, '\n'), &blob.WriterOptions{IfNotExist: true, ContentType: "application/json"})
}

// prune removes the generations before token's predecessor, which nothing
// reads any more; the predecessor stays, so that the newest generation
// always exists and tokens keep growing. Failures are harmless.
func (s *Store) prune(ctx context.Context, env string, token uint64) {
	tokens, err := s.tokens(ctx, env)
	if err != nil {
		return
	}
	for _, t := range tokens {
		if t+1 >= token {
			continue
		}
		for _, ext := range []string{"beat", "released", "json"} {
			_ = s.bucket.Delete(ctx, key(env, t, ext))
		}
	}
}

// renew checks that the lease is still this command's and writes its
// beat. A beat that fails to write is not an error: the next one may get
// through before the expiry.
func (l *Lease) renew(ctx context.Context) error {
	if err := l.check(ctx); err != nil {
		return err
	}
	_ = l.store.bucket.WriteAll(ctx, key(l.env, l.holder.Token, "beat"), []byte(l.store.now().UTC().Format(time.RFC3339Nano)+"\n"), nil)
	return nil
}

// heartbeat renews the lease every TTL/3 until Release, or until the lease
// turns out not to be this command's any more.
func (l *Lease) heartbeat() {
	defer close(l.done)
	t := time.NewTicker(time.Duration(l.holder.TTL) / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		// A beat gets a third of the TTL: two can fail in a row before
		// the lease expires.
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(l.holder.TTL)/3)
		err := l.renew(ctx)
		cancel()
		var fenced *FencedError
		if errors.As(err, &fenced) {
			l.mu.Lock()
			l.fenced = err
			l.mu.Unlock()
			return
		}
	}
}

// Lost reports, without a request, whether the command already knows its
// lease is no longer its own: its heartbeat found it taken over or
// released, or it was released. Check asks the store.
func (l *Lease) Lost() bool {
	select {
	case <-l.stop:
		return true
	default:
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fenced != nil
}

// Check returns nil while the lease is still this command's, and a
// *FencedError once it is not. Every traffic write and stack removal calls
// it first.
func (l *Lease) Check(ctx context.Context) error {
	l.mu.Lock()
	fenced := l.fenced
	l.mu.Unlock()
	if fenced != nil {
		return fenced
	}
	return l.check(ctx)
}

func (l *Lease) check(ctx context.Context) error {
	tokens, err := l.store.tokens(ctx, l.env)
	if err != nil {
		return err
	}
	if n := len(tokens); n > 0 && tokens[n-1] > l.holder.Token {
		by, err := l.store.read(ctx, l.env, tokens[n-1])
		if err != nil {
			return &FencedError{Env: l.env, Token: l.holder.Token}
		}
		return &FencedError{Env: l.env, Token: l.holder.Token, By: &by.holder}
	}
	released, err := l.store.bucket.Exists(ctx, key(l.env, l.holder.Token, "released"))
	if err != nil {
		return err
	}
	if released {
		return &FencedError{Env: l.env, Token: l.holder.Token}
	}
	return nil
}

// Release stops the heartbeat and gives the lease back, unless it is no
// longer this command's (then it leaves the newer holder alone).
func (l *Lease) Release(ctx context.Context) error {
	select {
	case <-l.stop:
		return nil
	default:
		close(l.stop)
	}
	<-l.done
	if err := l.check(ctx); err != nil {
		var fenced *FencedError
		if errors.As(err, &fenced) {
			return nil
		}
		return fmt.Errorf("releasing the lease of env %s: %w", l.env, err)
	}
	err := l.store.create(ctx, key(l.env, l.holder.Token, "released"), struct {
		At time.Time `json:"at"`
	}{l.store.now().UTC()})
	if err != nil && ErrorCode(err) != gcerrors.FailedPrecondition {
		return fmt.Errorf("releasing the lease of env %s: %w", l.env, err)
	}
	return nil
}

// State is an env's lease as seen now.
type State struct {
	// Held is true while a command holds the lease.
	Held bool
	// Holder is the newest generation's holder; zero when there was none.
	Holder Holder
	// Expires is when a held lease expires unless renewed.
	Expires time.Time
	// Stale is true when the holder neither released nor renewed it, or
	// its process is gone: the next command takes it over.
	Stale bool
}

// Current reads env's lease.
func (s *Store) Current(ctx context.Context, env string) (State, error) {
	g, err := s.latest(ctx, env)
	if err != nil || g == nil {
		return State{}, err
	}
	free, takeover := s.free(g)
	return State{Held: !free, Holder: g.holder, Expires: g.beat.Add(time.Duration(g.holder.TTL)), Stale: takeover}, nil
}

// NotLockedError is Clear's answer for an env whose lease nobody holds.
type NotLockedError struct{ Env string }

func (e *NotLockedError) Error() string { return fmt.Sprintf("env %s is not locked", e.Env) }

// Clear ends env's lease for command (phoenix unlock): when it is stale,
// or held with force. It takes a new generation and releases it at once,
// so the token grows and a holder that still runs is fenced at its next
// check. It returns the holder it cleared.
func (s *Store) Clear(ctx context.Context, env, command string, force bool) (Holder, error) {
	st, err := s.Current(ctx, env)
	if err != nil {
		return Holder{}, err
	}
	if st.Holder.Token == 0 || (!st.Held && !st.Stale) {
		return Holder{}, &NotLockedError{Env: env}
	}
	if st.Held && !force {
		return st.Holder, &HeldError{Env: env, Holder: st.Holder, Expires: st.Expires}
	}
	h := s.self()
	h.Command, h.Since, h.TTL, h.Token = command, s.now().UTC(), Duration(DefaultTTL), st.Holder.Token+1
	if err := s.create(ctx, key(env, h.Token, "json"), h); err != nil {
		return st.Holder, fmt.Errorf("clearing the lease of env %s: %w; try again", env, err)
	}
	l := &Lease{store: s, env: env, holder: h, stop: make(chan struct{}), done: make(chan struct{})}
	close(l.done)
	return st.Holder, l.Release(ctx)
}
