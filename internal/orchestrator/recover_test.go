package orchestrator

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
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
