package lease

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
)

// clock is a settable time for the tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fileStore is a store on a folder, with its own clock and a holder that
// the test names.
func fileStore(t *testing.T, dir string, c *clock, host string) *Store {
	t.Helper()
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s := New(blob.PrefixedBucket(b, Prefix+"phoenix/"))
	s.now = c.now
	s.self = func() Holder { return Holder{User: "u", Host: host, PID: 1234, Machine: "elsewhere"} }
	return s
}

func release(t *testing.T, l *Lease) {
	t.Helper()
	if err := l.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestLeaseRules(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	a, b := fileStore(t, dir, c, "runner-a"), fileStore(t, dir, c, "laptop-b")
	opts := Options{TTL: time.Minute}

	la, err := a.Acquire(ctx, "dev", "deploy", opts)
	if err != nil {
		t.Fatal(err)
	}
	if la.Token() != 1 || la.TookOver != nil {
		t.Errorf("first lease: token %d, took over %v; want 1, nil", la.Token(), la.TookOver)
	}

	t.Run("a held lease is refused, naming its holder and expiry", func(t *testing.T) {
		_, err := b.Acquire(ctx, "dev", "rollback", opts)
		var held *HeldError
		if !errors.As(err, &held) {
			t.Fatalf("got %v, want a HeldError", err)
		}
		if held.Holder.Host != "runner-a" || held.Holder.Command != "deploy" || !held.Expires.Equal(c.now().Add(time.Minute)) {
			t.Errorf("got %+v", held)
		}
		if !strings.Contains(err.Error(), "phoenix unlock --env dev --force") {
			t.Errorf("the message names no way out: %v", err)
		}
	})
	t.Run("another env is free", func(t *testing.T) {
		l, err := b.Acquire(ctx, "prod", "deploy", opts)
		if err != nil {
			t.Fatal(err)
		}
		release(t, l)
	})

	release(t, la)
	lb, err := b.Acquire(ctx, "dev", "rollback", opts)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	if lb.Token() != 2 || lb.TookOver != nil {
		t.Errorf("after release: token %d, took over %v; want 2, nil", lb.Token(), lb.TookOver)
	}
	if err := la.Check(ctx); err == nil {
		t.Error("a released lease still checks as held")
	}

	t.Run("an expired lease is taken over and its holder fenced", func(t *testing.T) {
		c.add(time.Minute) // b neither renewed nor released it
		lc, err := a.Acquire(ctx, "dev", "deploy", opts)
		if err != nil {
			t.Fatal(err)
		}
		if lc.Token() != 3 || lc.TookOver == nil || lc.TookOver.Host != "laptop-b" {
			t.Fatalf("got token %d, took over %+v; want 3 from laptop-b", lc.Token(), lc.TookOver)
		}
		var fenced *FencedError
		if err := lb.Check(ctx); !errors.As(err, &fenced) || fenced.By == nil || fenced.By.Token != 3 {
			t.Fatalf("the old holder's check: %v, want fenced by token 3", err)
		}
		// Its release leaves the new holder alone.
		release(t, lb)
		if err := lc.Check(ctx); err != nil {
			t.Errorf("the new holder lost its lease to the old one's release: %v", err)
		}
		release(t, lc)
	})

	t.Run("a heartbeat keeps a lease past its first expiry", func(t *testing.T) {
		s := fileStore(t, dir, &clock{t: time.Now()}, "runner-a")
		s.now = time.Now
		l, err := s.Acquire(ctx, "beat", "deploy", Options{TTL: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(7 * time.Second)
		o := fileStore(t, dir, &clock{}, "laptop-b")
		o.now = time.Now
		if _, err := o.Acquire(ctx, "beat", "deploy", Options{}); err == nil {
			t.Fatal("the lease expired although its holder beat")
		}
		release(t, l)
	})

	t.Run("unlock --force fences the holder", func(t *testing.T) {
		l, err := a.Acquire(ctx, "dev", "deploy", opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Clear(ctx, "dev", "unlock", false); err == nil {
			t.Fatal("a held lease was cleared without --force")
		}
		h, err := b.Clear(ctx, "dev", "unlock", true)
		if err != nil || h.Host != "runner-a" {
			t.Fatalf("got %+v, %v; want runner-a's lease cleared", h, err)
		}
		if err := l.Check(ctx); err == nil {
			t.Error("the holder still holds after unlock --force")
		}
		if _, err := b.Clear(ctx, "dev", "unlock", true); err == nil || !strings.Contains(err.Error(), "not locked") {
			t.Errorf("clearing a free lease: %v, want not locked", err)
		}
		n, err := a.Acquire(ctx, "dev", "deploy", opts)
		if err != nil {
			t.Fatal(err)
		}
		if n.Token() <= l.Token() {
			t.Errorf("token %d after %d: tokens must only grow", n.Token(), l.Token())
		}
		release(t, n)
	})
}

// TestDeadHolderOnThisMachine: a holder that is a process of this machine
// and runs no more is taken over at once; the same pid on another machine
// (same host name, other boot or pid namespace) is not.
func TestDeadHolderOnThisMachine(t *testing.T) {
	if machineID() == "" {
		t.Fatal("this system does not say its boot id and pid namespace")
	}
	ctx := context.Background()
	dir := t.TempDir()
	c := &clock{t: time.Now()}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	dead := Self()
	dead.PID, dead.Start = cmd.Process.Pid, processStart(cmd.Process.Pid)

	s := fileStore(t, dir, c, dead.Host)
	s.self = func() Holder { return dead }
	if _, err := s.Acquire(ctx, "dev", "deploy", Options{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	other := fileStore(t, dir, c, dead.Host)
	other.self = Self
	if _, err := other.Acquire(ctx, "dev", "deploy", Options{TTL: time.Hour}); err == nil {
		t.Fatal("a running holder was taken over")
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := other.Acquire(ctx, "dev", "deploy", Options{TTL: time.Hour})
	if err != nil {
		t.Fatalf("a dead holder of this machine was not taken over: %v", err)
	}
	if l.TookOver == nil || l.TookOver.PID != dead.PID {
		t.Errorf("took over %+v, want pid %d", l.TookOver, dead.PID)
	}
	release(t, l)

	twin := dead
	twin.Machine = "another-boot/pid:[1]"
	s.self = func() Holder { return twin }
	if _, err := s.Acquire(ctx, "prod", "deploy", Options{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Acquire(ctx, "prod", "deploy", Options{TTL: time.Hour}); err == nil {
		t.Error("a holder on another machine with the same host name and a dead pid here was taken over")
	}
}

func TestBucketURL(t *testing.T) {
	tests := []struct {
		in, url, prefix, err string
	}{
		{in: "file:///var/state", url: "file:///var/state"},
		{in: "s3://bucket?region=us-east-1", url: "s3://bucket?region=us-east-1"},
		{in: "s3://bucket/team/state?endpoint=127.0.0.1:9000&disableSSL=true&s3ForcePathStyle=true&region=us-east-1",
			url:    "s3://bucket?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=us-east-1&request_checksum_calculation=when_required&use_path_style=true",
			prefix: "team/state/"},
		{in: "s3://bucket?endpoint=https://minio:9000&disableSSL=true",
			url: "s3://bucket?endpoint=https%3A%2F%2Fminio%3A9000&request_checksum_calculation=when_required"},
		{in: "s3://bucket?disableSSL=maybe", err: "not true or false"},
		{in: "https://api.pulumi.com", err: "Pulumi Cloud"},
		{in: "gs://bucket", url: "gs://bucket"},
		{in: "gs://bucket/team/?universe_domain=example.com", url: "gs://bucket?universe_domain=example.com", prefix: "team/"},
		{in: "azblob://state/team?storage_account=acme", url: "azblob://state?storage_account=acme", prefix: "team/"},
		{in: "ftp://state", err: "PHOENIX_LEASE_URL"},
		{in: "file://relative", err: "absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "")
			got, prefix, err := bucketURL(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("got %q, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.url || prefix != tt.prefix {
				t.Errorf("got %q %q %v, want %q %q", got, prefix, err, tt.url, tt.prefix)
			}
		})
	}
}

// TestProcessGoneSeesZombies: a process that exited but was not reaped is
// gone, though signal 0 still reaches it.
func TestProcessGoneSeesZombies(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for !ProcessGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d exited but ProcessGone is false", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Wait()
	if !ProcessGone(pid) {
		t.Errorf("pid %d reaped but ProcessGone is false", pid)
	}
	if ProcessGone(os.Getpid()) {
		t.Error("ProcessGone is true for this running process")
	}
}

// TestProcessNewer: a process is newer than a time before it started and
// not newer than a time after; so a lock that names a reused pid, written
// before that pid's process started, is told apart from a live holder's.
func TestProcessNewer(t *testing.T) {
	before := time.Now().Add(-5 * time.Second)
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if !ProcessNewer(cmd.Process.Pid, before) {
		t.Errorf("a process started now is not newer than 5 s ago")
	}
	if ProcessNewer(cmd.Process.Pid, time.Now().Add(5*time.Second)) {
		t.Errorf("a process started now is newer than 5 s from now")
	}
	if ProcessNewer(os.Getpid(), time.Now()) {
		t.Errorf("this test's process is newer than now")
	}
}
