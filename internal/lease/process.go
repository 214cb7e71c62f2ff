package lease

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// machineID tells this machine's processes from those of another machine
// with the same host name (containers with --network host share it): the
// kernel's boot id and this process's pid namespace. Empty where the
// system does not say (not Linux): then no holder counts as this machine's.
func machineID() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(boot)) + "/" + ns
}

// processStart is the start time of process pid, in clock ticks since boot
// (field 22 of /proc/<pid>/stat); 0 when it cannot be read.
func processStart(pid int) uint64 {
	fields, err := statFields(pid)
	if err != nil || len(fields) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(fields[19], 10, 64)
	return n
}

// statFields returns the fields of /proc/<pid>/stat after the command
// name, which is in parentheses and may itself hold spaces and
// parentheses: the process state first.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])), nil
}

// gone reports whether h's process is known to run no more: it is of this
// machine (same boot, same pid namespace) and its pid names no process, a
// zombie, or a process that started at another time (the pid was reused).
// A holder elsewhere is never judged gone: its lease expires instead.
func gone(h Holder) bool {
	self := machineID()
	if self == "" || h.Machine != self || h.PID <= 0 {
		return false
	}
	if ProcessGone(h.PID) {
		return true
	}
	return h.Start != 0 && processStart(h.PID) != h.Start
}

// ProcessGone reports whether process pid of this pid namespace runs no
// more: it does not exist, or it is a zombie. A killed process whose
// parent died too is reparented to the system's init, and in a container
// that init may never reap it: it stays a zombie, which signal 0 still
// reaches.
func ProcessGone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	fields, err := statFields(pid)
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	return len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
}

// ProcessNewer reports whether process pid of this pid namespace started
// after t: then it is not the process that was pid at t (the pid was
// reused). False when the start time cannot be read.
func ProcessNewer(pid int, t time.Time) bool {
	ticks := processStart(pid)
	boot := bootTime()
	if ticks == 0 || boot.IsZero() {
		return false
	}
	// The kernel counts in USER_HZ, 100 on every Linux architecture Go
	// supports. A second of slack covers the rounding of both times.
	started := boot.Add(time.Duration(ticks) * time.Second / 100)
	return started.After(t.Add(time.Second))
}

// bootTime is when the system booted (btime in /proc/stat); zero when it
// cannot be read.
func bootTime() time.Time {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return time.Unix(n, 0)
			}
		}
	}
	return time.Time{}
}
