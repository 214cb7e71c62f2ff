package lock

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAcquireRefusesASecondHolder(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, "dev", "deploy", Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir, "dev", "rollback", Options{})
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("got %v, want a HeldError", err)
	}
	if held.Holder.Command != "deploy" || held.Holder.PID != os.Getpid() || held.Stale {
		t.Errorf("got holder %+v stale=%v", held.Holder, held.Stale)
	}
	if !strings.Contains(err.Error(), `"phoenix deploy"`) || !strings.Contains(err.Error(), "--wait") {
		t.Errorf("message %q does not name the holder and the way out", err)
	}
	// Another env is independent.
	other, err := Acquire(dir, "prod", "deploy", Options{})
	if err != nil {
		t.Fatalf("locking another env: %v", err)
	}
	other.Release()
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(dir, "dev", "rollback", Options{})
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Release()
}

func TestAcquireWaits(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, "dev", "deploy", Options{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		l.Release()
	}()
	l2, err := Acquire(dir, "dev", "gc", Options{Wait: 5 * time.Second, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("waiting for the lock: %v", err)
	}
	l2.Release()
}

// deadHolder writes a lock of env held by a process of this host that has
// exited, and returns it.
func deadHolder(t *testing.T, dir, env string) Holder {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	body := `{"command":"deploy","user":"x","host":"` + host + `","pid":` + strconv.Itoa(cmd.Process.Pid) + `,"since":"2026-11-25T10:00:00Z"}`
	if err := os.WriteFile(filepath.Join(dir, env+".lock"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := read(filepath.Join(dir, env+".lock"))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestStaleLockIsTakenOver(t *testing.T) {
	dir := t.TempDir()
	dead := deadHolder(t, dir, "dev")
	l, err := Acquire(dir, "dev", "rollback", Options{})
	if err != nil {
		t.Fatalf("acquiring over a dead holder: %v", err)
	}
	if l.TookOver == nil || l.TookOver.PID != dead.PID || l.TookOver.Command != "deploy" {
		t.Fatalf("TookOver = %+v, want the dead deploy (pid %d)", l.TookOver, dead.PID)
	}
	if h, err := read(filepath.Join(dir, "dev.lock")); err != nil || h.PID != os.Getpid() || h.Command != "rollback" {
		t.Fatalf("lock file now holds %+v (%v), want this process's rollback", h, err)
	}
	// The new holder runs: a second command is refused, not let in.
	_, err = Acquire(dir, "dev", "gc", Options{})
	var held *HeldError
	if !errors.As(err, &held) || held.Stale || held.Holder.PID != os.Getpid() {
		t.Fatalf("a second command got %v, want a HeldError naming the live holder", err)
	}
	l.Release()
}

func TestHolderOnAnotherHostIsNotTakenOver(t *testing.T) {
	dir := t.TempDir()
	body := `{"command":"deploy","user":"x","host":"elsewhere.example","pid":1,"since":"2026-11-25T10:00:00Z"}`
	if err := os.WriteFile(filepath.Join(dir, "dev.lock"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Acquire(dir, "dev", "deploy", Options{})
	var held *HeldError
	if !errors.As(err, &held) || held.Stale {
		t.Fatalf("got %v, want a HeldError that is not stale", err)
	}
	if !strings.Contains(err.Error(), "phoenix unlock --env dev --force") {
		t.Errorf("message %q does not name the way out", err)
	}
	if _, err := Clear(dir, "dev", false); err == nil {
		t.Error("Clear without force removed a lock whose holder may run elsewhere")
	}
	if _, err := Clear(dir, "dev", true); err != nil {
		t.Errorf("Clear with force: %v", err)
	}
}

func TestStaleLockIsClearedByUnlock(t *testing.T) {
	dir := t.TempDir()
	deadHolder(t, dir, "dev")
	if _, err := Clear(dir, "dev", false); err != nil {
		t.Fatalf("clearing a stale lock: %v", err)
	}
	l, err := Acquire(dir, "dev", "deploy", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l.TookOver != nil {
		t.Errorf("TookOver = %+v after the lock was cleared", l.TookOver)
	}
	// A live holder is not cleared without force.
	if _, err := Clear(dir, "dev", false); err == nil {
		t.Error("cleared a lock held by a running process")
	}
	l.Release()
}

// TestRacingTakeOversLetOneIn: many commands find one stale lock at once:
// exactly one takes it over, and every other is refused naming the winner.
func TestRacingTakeOversLetOneIn(t *testing.T) {
	for round := range 20 {
		dir := t.TempDir()
		deadHolder(t, dir, "dev")
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		won := make(chan *Lock, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := Acquire(dir, "dev", "gc", Options{})
				if err != nil {
					errs <- err
					return
				}
				won <- l
			}()
		}
		wg.Wait()
		close(errs)
		close(won)
		if len(won) != 1 {
			t.Fatalf("round %d: %d commands got the lock, want 1", round, len(won))
		}
		for err := range errs {
			var held *HeldError
			if !errors.As(err, &held) || held.Holder.Command != "gc" || held.Stale {
				t.Fatalf("round %d: a loser got %v, want a HeldError naming the winner", round, err)
			}
		}
		(<-won).Release()
	}
}

// TestRacingAcquiresSeeACompleteHolder: many commands racing for one env:
// one wins, and every other is refused naming it; none sees a half-written
// lock file.
func TestRacingAcquiresSeeACompleteHolder(t *testing.T) {
	for round := range 20 {
		dir := t.TempDir()
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		won := make(chan *Lock, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := Acquire(dir, "dev", "deploy", Options{})
				if err != nil {
					errs <- err
					return
				}
				won <- l
			}()
		}
		wg.Wait()
		close(errs)
		close(won)
		if len(won) != 1 {
			t.Fatalf("round %d: %d commands got the lock, want 1", round, len(won))
		}
		for err := range errs {
			var held *HeldError
			if !errors.As(err, &held) || held.Holder.Command != "deploy" {
				t.Fatalf("round %d: a loser got %v, want a HeldError naming the winner", round, err)
			}
		}
		(<-won).Release()
	}
}

// TestGoneSeesZombies: a process that exited but was not reaped is gone,
// though signal 0 still reaches it.
func TestGoneSeesZombies(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	// Not reaped yet: a zombie once it exits.
	deadline := time.Now().Add(5 * time.Second)
	for !Gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d exited but Gone is false", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Wait()
	if !Gone(pid) {
		t.Errorf("pid %d reaped but Gone is false", pid)
	}
	if Gone(os.Getpid()) {
		t.Error("Gone is true for this running process")
	}
}
