package orchestrator

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/internal/lease"
)

// TestDeadLockOfARemovedStack: the file backend's refusal names the lock
// file and its holder; when cancel cannot clear it (the stack is gone),
// the file is removed.
func TestDeadLockOfARemovedStack(t *testing.T) {
	dir := t.TempDir()
	lockFile := filepath.Join(dir, ".pulumi", "locks", "organization", "phoenix", "dev", "9d90dd42-f755-4c03-ac48-48ddb92bcf13.json")
	os.MkdirAll(filepath.Dir(lockFile), 0o755)
	os.WriteFile(lockFile, []byte("{}"), 0o644)
	msg := fmt.Sprintf("error: could not create stack: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n  file://%s?no_tmp_dir=true: created by root@vm (pid 15214) at 2026-11-27T07:16:24Z", lockFile)
	holders := stackLockPattern.FindAllStringSubmatch(msg, -1)
	if len(holders) != 1 || holders[0][2] != "root" || holders[0][3] != "vm" || holders[0][4] != "15214" {
		t.Fatalf("holders %q", holders)
	}
	if err := removeLockFiles(holders); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lockFile); !os.IsNotExist(err) {
		t.Errorf("the dead lock file is still there: %v", err)
	}
	s3 := stackLockPattern.FindAllStringSubmatch("s3://bucket/.pulumi/locks/organization/phoenix/dev/x.json: created by a@b (pid 1) at now", -1)
	if err := removeLockFiles(s3); err == nil {
		t.Error("removed a lock that is not a file")
	}
}

// TestStackLockGone: a Pulumi stack lock of this host whose pid is gone is
// judged dead only with the lease as a witness that the pid is of this pid
// namespace: it was taken while the lease's previous holder, of this
// machine, held it. Without one (a by-hand pulumi, a twin container with
// the same host name) it is left alone, unless the stack it locks does not
// exist: then it outlived a pulumi killed while creating or removing the
// stack (a destroy killed there, then run again, which found the stack
// removed and released the lease normally: the next deploy's create met
// the lock).
func TestStackLockGone(t *testing.T) {
	ctx := context.Background()
	store, done, err := lease.Open(ctx, "file://"+t.TempDir(), "phoenix")
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	first, err := store.Acquire(ctx, "dev", "deploy", lease.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Release(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	l, err := store.Acquire(ctx, "dev", "rollback", lease.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	if l.Previous == nil || l.Previous.Since != first.Since() {
		t.Fatalf("the second lease's previous holder: %+v, want the first's", l.Previous)
	}
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	dead := exited.Process.Pid
	host, _ := os.Hostname()
	during := first.Since().Add(l.Since().Sub(first.Since()) / 2)
	held := lease.NewContext(ctx, l)
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		host   string
		pid    int
		at     time.Time
		absent bool
		want   bool
	}{
		{name: "taken in the previous holder's tenure, pid gone", ctx: held, host: host, pid: dead, at: during, want: true},
		{name: "taken before the previous holder's tenure", ctx: held, host: host, pid: dead, at: first.Since().Add(-time.Minute)},
		{name: "taken while this command holds the lease", ctx: held, host: host, pid: dead, at: l.Since().Add(time.Millisecond)},
		{name: "its pid runs", ctx: held, host: host, pid: os.Getpid(), at: during},
		{name: "another host", ctx: held, host: "ci-runner-7", pid: dead, at: during},
		{name: "no lease to witness", ctx: ctx, host: host, pid: dead, at: during},
		{name: "a removed stack's, taken before the previous holder's tenure", ctx: held, host: host, pid: dead, at: first.Since().Add(-time.Minute), absent: true, want: true},
		{name: "a removed stack's, its pid runs (init's, older than the lock)", ctx: held, host: host, pid: 1, at: first.Since().Add(-time.Minute), absent: true},
		{name: "a removed stack's, taken while this command holds the lease", ctx: held, host: host, pid: dead, at: l.Since().Add(time.Millisecond), absent: true},
		{name: "a removed stack's, another host", ctx: held, host: "ci-runner-7", pid: dead, at: first.Since().Add(-time.Minute), absent: true},
		{name: "a removed stack's, no lease", ctx: ctx, host: host, pid: dead, at: first.Since().Add(-time.Minute), absent: true},
	} {
		if got, why := stackLockGone(tc.ctx, tc.host, tc.pid, tc.at, tc.absent); got != tc.want {
			t.Errorf("%s: judged gone %v (%s), want %v", tc.name, got, why, tc.want)
		}
	}
}
