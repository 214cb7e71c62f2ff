// Package lock keeps two phoenix commands from changing one env at once. A
// lock is a file created exclusively in a directory shared by everyone who
// deploys the env (next to the file backend's state); it records who holds
// it and since when, so that the refusal can say so.
//
// A lock left behind by a process of this host that no longer runs (killed,
// or its machine slept through a crash) is stale: Acquire takes it over and
// says whose it was, so that the command that follows can repair what the
// dead one left half done. A holder on another host, or one that still
// runs, is refused: only `phoenix unlock --force` clears those.
package lock

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Holder says who holds a lock.
type Holder struct {
	// Command is the phoenix command holding it, such as "deploy".
	Command string `json:"command"`
	// User and Host say who runs it, where.
	User string `json:"user"`
	Host string `json:"host"`
	// PID is the holding process.
	PID int `json:"pid"`
	// Since is when it was taken.
	Since time.Time `json:"since"`
}

// HeldError is returned when someone else holds the lock.
type HeldError struct {
	Env    string
	Holder Holder
	// Stale is true when the holder is a process of this host that no
	// longer runs. Acquire takes such locks over; Clear reports it.
	Stale bool
}

func (e *HeldError) Error() string {
	h := e.Holder
	msg := fmt.Sprintf("env %s is locked by %q (pid %d, %s@%s) since %s",
		e.Env, "phoenix "+h.Command, h.PID, h.User, h.Host, h.Since.Format(time.RFC3339))
	if e.Stale {
		return msg + "; that process is gone: the next phoenix command takes the lock over"
	}
	return msg + "; wait for it to finish or pass --wait (if it runs nowhere any more, clear it with: phoenix unlock --env " + e.Env + " --force)"
}

// Lock is a held lock.
type Lock struct {
	path string
	// TookOver names the dead holder whose stale lock this one replaced;
	// nil when the lock was free.
	TookOver *Holder
}

// Options tune Acquire.
type Options struct {
	// Wait is how long to wait for a held lock; 0 refuses at once.
	Wait time.Duration
	// Poll is the interval between tries while waiting; default 500ms.
	Poll time.Duration
	// Now returns the time; default time.Now.
	Now func() time.Time
}

// Acquire takes the lock of env in dir for command.
func Acquire(dir, env, command string, opts Options) (*Lock, error) {
	if opts.Poll == 0 {
		opts.Poll = 500 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the lock directory: %w", err)
	}
	path := filepath.Join(dir, env+".lock")
	deadline := opts.Now().Add(opts.Wait)
	for {
		err := create(path, command, opts.Now())
		if err == nil {
			return &Lock{path: path}, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("locking env %s: %w", env, err)
		}
		h, rerr := read(path)
		if errors.Is(rerr, os.ErrNotExist) {
			continue // released between our two calls
		}
		if rerr != nil {
			return nil, fmt.Errorf("env %s is locked but its lock file %s is unreadable (%v); remove it if no phoenix command runs", env, path, rerr)
		}
		if stale(h) {
			l, err := takeOver(path, command, h, opts.Now())
			if err != nil {
				return nil, fmt.Errorf("taking over the stale lock of env %s: %w", env, err)
			}
			if l != nil {
				return l, nil
			}
			continue // another command took it over first, or it was released
		}
		if !opts.Now().Before(deadline) {
			return nil, &HeldError{Env: env, Holder: h}
		}
		time.Sleep(opts.Poll)
	}
}

// takeOver replaces the stale lock at path, held by dead, with one of our
// own. Two commands may find the same stale lock: an exclusive flock on a
// file beside it serialises them, and the lock is re-read under it, so only
// the first removes dead's lock; the second finds a live holder (or none)
// and returns nil to try again.
func takeOver(path, command string, dead Holder, now time.Time) (*Lock, error) {
	guard, err := os.OpenFile(path+".takeover", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer guard.Close()
	if err := syscall.Flock(int(guard.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	defer syscall.Flock(int(guard.Fd()), syscall.LOCK_UN)
	h, err := read(path)
	if err != nil || h.PID != dead.PID || h.Host != dead.Host || !h.Since.Equal(dead.Since) {
		return nil, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := create(path, command, now); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, nil
		}
		return nil, err
	}
	return &Lock{path: path, TookOver: &dead}, nil
}

// Release gives the lock back.
func (l *Lock) Release() error {
	if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("releasing lock: %w", err)
	}
	return nil
}

// Clear removes the lock of env if it is stale, or unconditionally with
// force, and returns the holder it removed.
func Clear(dir, env string, force bool) (Holder, error) {
	path := filepath.Join(dir, env+".lock")
	h, err := read(path)
	if errors.Is(err, os.ErrNotExist) {
		return Holder{}, fmt.Errorf("env %s is not locked", env)
	}
	if err == nil && !force && !stale(h) {
		return h, &HeldError{Env: env, Holder: h}
	}
	if err := os.Remove(path); err != nil {
		return h, err
	}
	return h, nil
}

// create takes the lock: it writes the holder to a temporary file and
// links it to path, which fails if path exists. The lock file so appears
// with its content complete, and a reader never sees it half written.
func create(path, command string, now time.Time) error {
	host, _ := os.Hostname()
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	b, err := json.Marshal(Holder{Command: command, User: name, Host: host, PID: os.Getpid(), Since: now.UTC()})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".lock-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Link(tmp.Name(), path)
}

func read(path string) (Holder, error) {
	var h Holder
	b, err := os.ReadFile(path)
	if err != nil {
		return h, err
	}
	return h, json.Unmarshal(b, &h)
}

// stale reports whether h is a process of this host that no longer runs.
func stale(h Holder) bool {
	host, _ := os.Hostname()
	return h.Host == host && h.PID > 0 && Gone(h.PID)
}

// Gone reports whether process pid no longer runs on this host: it does
// not exist, or it is a zombie. A killed process whose parent died too is
// reparented to the system's init, and in a container that init may never
// reap it: it stays a zombie, which signal 0 still reaches.
func Gone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false // not Linux, or not ours to read: assume it runs
	}
	// The state follows the command name, which is in parentheses and
	// may itself hold spaces and parentheses.
	rest := string(b[bytes.LastIndexByte(b, ')')+1:])
	fields := strings.Fields(rest)
	return len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
}
